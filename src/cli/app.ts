import type { Knex } from 'knex';
import { BillingService } from '../../demo/billing-service.js';
import { defineDemoEvents } from '../../demo/event-types.js';
import { ActionRegistry } from '../actions/index.js';
import { EventCatalog } from '../events/index.js';

/*
 * The app `hookgate` serves: this repository's demo (demo/app.ts). Its actions and event catalog are what
 * `run-script` checks a script against; they live here, in one place, so another app's CLI swaps only this.
 */

/**
 * A registry of the app's actions for dry runs, plus a stub for each extra id: nothing in it is ever
 * called (dry runs answer every action call with null), only its ids and `dependsOn` matter.
 */
export function dryRunRegistry(extraIds: readonly string[] = []): ActionRegistry {
  const registry = new ActionRegistry();
  // Never called, so the service needs no database.
  registry.registerInstance(new BillingService(undefined as unknown as Knex));
  for (const id of extraIds) {
    if (registry.has(id)) continue;
    registry.register({ id, label: id, category: 'Other', description: 'A stub given with --actions', fn: () => null });
  }
  return registry;
}

/** The app's event catalog: what a script's `result.event` must name. */
export function appEventCatalog(): EventCatalog {
  const events = new EventCatalog();
  defineDemoEvents({ events });
  return events;
}

/** Starts the app's server until SIGINT/SIGTERM (`hookgate serve`). Loaded on demand: it pulls in the engine. */
export async function serveApp(...args: Parameters<typeof import('../../demo/app.js').serveDemo>): Promise<void> {
  const { serveDemo } = await import('../../demo/app.js');
  await serveDemo(...args);
}
