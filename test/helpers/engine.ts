import type { AddressInfo } from 'node:net';
import { createEngine, type Engine, type EngineOptions } from '../../src/index.js';
import type { EmittedEvent } from '../../src/events/index.js';
import { createSilentLogger } from '../../src/logger.js';
import type { Store } from '../../src/store/types.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface ActionCall {
  id: string;
  args: unknown[];
}

export interface TestEngine {
  engine: Engine;
  baseUrl: string;
  /** Calls made to the test actions, in order. */
  calls: ActionCall[];
  /** Events the engine emitted. */
  events: EmittedEvent[];
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any }>;
  inbound(provider: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/**
 * An engine on a real HTTP port with three test actions: `crm.tag` (no deps), `billing.cancel`
 * (one string argument) and `billing.notify` (depends on billing.cancel). Each records its call.
 */
export async function startTestEngine(store: Store, options: Partial<EngineOptions> = {}): Promise<TestEngine> {
  const calls: ActionCall[] = [];
  const events: EmittedEvent[] = [];
  const engine = createEngine({
    store,
    logger: createSilentLogger(),
    adminToken: ADMIN_TOKEN,
    configPollMs: 100,
    runFlushMs: 5,
    ...options,
    sandbox: { processes: 1, isolatesPerProcess: 4, ...options.sandbox },
  });
  engine.actions
    .register({ id: 'crm.tag', label: 'Tag', category: 'CRM', description: 'Tags a contact', fn: (...args: unknown[]) => { calls.push({ id: 'crm.tag', args }); return { tagged: true }; } })
    .register({
      id: 'billing.cancel',
      label: 'Cancel',
      category: 'Billing',
      description: 'Cancels a subscription',
      params: { type: 'array', items: [{ type: 'string' }], minItems: 1, maxItems: 1 },
      fn: async (id: string) => { calls.push({ id: 'billing.cancel', args: [id] }); return { cancelled: id }; },
    })
    .register({
      id: 'billing.notify',
      label: 'Notify',
      category: 'Billing',
      description: 'Notifies a user',
      dependsOn: ['billing.cancel'],
      fn: async (...args: unknown[]) => { calls.push({ id: 'billing.notify', args }); if (args[0] === 'explode') throw new Error('SMTP at 10.0.0.7 refused'); return args[0] === 'bigint' ? 10n : 'sent'; },
    });
  engine.onEvent((e) => { events.push(e); });
  const server = await engine.listen(0);
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const send = async (url: string, init: RequestInit) => {
    const res = await fetch(url, init);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // not JSON; keep the text
    }
    return { status: res.status, body };
  };

  return {
    engine,
    baseUrl,
    calls,
    events,
    api(method, path, body, token = ADMIN_TOKEN) {
      const headers: Record<string, string> = {};
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      return send(`${baseUrl}/admin/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    },
    inbound(provider, body, headers = {}) {
      const raw = typeof body === 'string' ? body : JSON.stringify(body);
      return send(`${baseUrl}/tools/webhook/${provider}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
    },
    close: () => engine.close(),
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
