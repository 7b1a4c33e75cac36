import 'reflect-metadata';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEngine, createLogger, createStore, exitOnSignals, type Config, type Engine, type Logger, type Store } from '../src/index.js';
import { BillingService, DEMO_STRIPE_SCRIPT } from './billing-service.js';
import { defineDemoEvents } from './event-types.js';

export interface DemoServer {
  engine: Engine;
  store: Store;
  server: Server;
  logger: Logger;
  /** Stops listening, then closes the engine and the store (releasing the embedded store's lock). */
  close(): Promise<void>;
}

/**
 * The demo app on the configured store, with the seed's actions and a `stripe` webhook: what `npm start`
 * and `hookgate serve` run.
 *
 * @example
 * const demo = await startDemo(loadConfig());
 * await demo.close();
 */
export async function startDemo(config: Readonly<Config>): Promise<DemoServer> {
  const logger = createLogger(config.logLevel);
  const store = await createStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, secretKey: config.secretKey, logger });
  const engine = createEngine({
    store,
    logger,
    adminToken: config.adminToken,
    allowInsecureUrls: config.allowInsecureUrls,
    allowPrivateNetworks: config.allowPrivateNetworks,
    sandbox: { limits: { timeoutMs: config.scriptTimeoutMs, memoryMb: config.scriptMemoryMb } },
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    metricsToken: config.metricsToken,
    runRetentionDays: config.runRetentionDays,
    outbound: { retentionDays: config.deliveryRetentionDays },
  });
  const billing = new BillingService(store.knex);
  engine.actions.registerInstance(billing);
  defineDemoEvents(engine);
  engine.onEvent((e) => {
    logger.info('event emitted', { event: e.event, metadata: e.metadata });
  });

  let server: Server;
  try {
    server = await engine.listen(config.port, config.host);
    await billing.prepare();
    if (!(await store.findByProvider('stripe'))) {
      await store.createInboundWebhook({
        provider: 'stripe',
        jsScript: DEMO_STRIPE_SCRIPT,
        allowedActions: ['subscription.cancel', 'subscription.notifyUser'],
        verify: { scheme: 'none' },
      });
    }
  } catch (err) {
    await engine.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
  const where = config.databaseUrl ? 'PostgreSQL' : `embedded PGlite in ${config.dataDir}`;
  // The bound port, not the configured one: PORT=0 picks a free port.
  logger.info(`hookgate demo listening on http://${config.host}:${(server.address() as AddressInfo).port} (${where})`);

  return {
    engine,
    store,
    server,
    logger,
    async close() {
      server.close();
      await engine.close();
      await store.close();
    },
  };
}

/**
 * Runs the demo until SIGINT or SIGTERM, then shuts it down gracefully (`engine.close()`) and exits 0; a
 * second signal, or the shutdown overrunning its deadline by 5 s, exits 1 at once.
 */
export async function serveDemo(config: Readonly<Config>): Promise<DemoServer> {
  const starting = startDemo(config);
  // Before anything is announced: a SIGTERM that follows "listening on" at once must find the handler (a
  // signal during the start waits for it, then shuts down).
  exitOnSignals({ close: async () => (await starting).close(), logger: createLogger(config.logLevel), forceAfterMs: config.shutdownTimeoutMs + 5000 });
  return starting;
}
