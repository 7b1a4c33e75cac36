import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { storeFactories } from '../helpers/stores.js';

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

/** Prometheus text format → `name{a="x",b="y"}` (labels sorted) → value. Written here, not taken from prom-client. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) throw new Error(`unparsable metrics line: ${line}`);
    const labels = [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort();
    samples.set(`${match[1]}{${labels.join(',')}}`, Number(match[3]));
  }
  return samples;
}

const key = (name: string, labels: Record<string, string> = {}) =>
  `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`;

describe.each(storeFactories())('health and metrics on $name', (factory) => {
  let store: KnexStore | undefined;
  let t: TestEngine;
  let receiver: Receiver;

  beforeAll(async () => {
    store = await factory.create();
    receiver = await startReceiver(() => 204);
    t = await startTestEngine(store, { allowInsecureUrls: true, allowPrivateNetworks: true, outbound: { worker: { pollMs: 100, leaseMarginMs: 1000, stopTimeoutMs: 1000 } } });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await store?.close();
  });

  const get = async (path: string, base = t.baseUrl) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  };
  const scrape = async (base = t.baseUrl) => {
    const res = await get('/metrics', base);
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain');
    return { text: res.text, samples: parseMetrics(res.text) };
  };

  it('GET /healthz answers 200 without auth', async () => {
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 with every check ok', async () => {
    const res = await get('/readyz');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok', sandbox: 'ok' } });
  });

  it('GET /metrics counts inbound requests, script runs, action calls and deliveries', async () => {
    const event = unique('order.paid');
    const good = unique('good');
    const bad = unique('bad');
    const hook = await t.api('POST', '/webhooks', { direction: 'outgoing', url: `${receiver.url}/in`, events: [event] });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    for (const [provider, jsScript] of [
      [good, `await actions['crm.tag']('c-1'); result = { event: '${event}', data: { n: body.n } };`],
      [bad, `throw new Error('boom');`],
    ]) {
      const res = await t.api('POST', '/webhooks', { direction: 'inbound', provider, jsScript, allowedActions: ['crm.tag'] });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }

    const ok = await t.inbound(good, { n: 1 });
    expect(ok.status).toBe(200);
    expect((await t.inbound(bad, { n: 2 })).status).toBe(200);
    expect((await t.inbound(unique('nobody'), { n: 3 })).status).toBe(404);
    await receiver.waitForRequests(1, 10_000);

    const delivered = key('hookgate_deliveries_total', { outcome: 'succeeded' });
    // The attempt is counted when the receiver answers; its row leaves the queue when the completion
    // writer's batch commits, a moment later: wait for both.
    const { text, samples } = await waitFor(async () => {
      const scraped = await scrape();
      return scraped.samples.get(delivered) === 1 && scraped.samples.get(key('hookgate_delivery_queue_depth')) === 0 ? scraped : undefined;
    }, 10_000, 'the delivery to be counted and the queue to drain');

    expect(samples.get(key('hookgate_inbound_requests_total', { provider: good, status: '200' }))).toBe(1);
    expect(samples.get(key('hookgate_inbound_requests_total', { provider: bad, status: '200' }))).toBe(1);
    // The URL's provider name is the sender's choice: never a label.
    expect(samples.get(key('hookgate_inbound_requests_total', { provider: 'unknown', status: '404' }))).toBe(1);
    expect(samples.get(key('hookgate_script_duration_seconds_count', { provider: good, status: 'ok' }))).toBe(1);
    expect(samples.get(key('hookgate_script_duration_seconds_count', { provider: bad, status: 'error' }))).toBe(1);
    expect(samples.get(key('hookgate_script_duration_seconds_sum', { provider: good, status: 'ok' }))).toBeGreaterThan(0);
    expect(samples.get(key('hookgate_action_calls_total', { action: 'crm.tag', outcome: 'ok' }))).toBe(1);
    expect(samples.get(key('hookgate_deliveries_total', { outcome: 'failed' }))).toBeUndefined();
    expect(samples.get(key('hookgate_sandbox_pool_in_flight'))).toBe(0);
    expect(samples.get(key('hookgate_sandbox_pool_queued'))).toBe(0);
    expect(samples.get(key('hookgate_sandbox_isolate_events', { event: 'isolatesCreated' }))).toBeGreaterThan(0);
    expect(samples.get(key('hookgate_sandbox_isolate_events', { event: 'inlineRuns' }))).toBe(0);
    expect(samples.get(key('hookgate_sandbox_isolate_events', { event: 'maxHeapUsedBytes' }))).toBeUndefined();
    expect(samples.get(key('hookgate_delivery_queue_depth'))).toBe(0);
    expect(samples.get(key('hookgate_delivery_oldest_pending_age_seconds'))).toBe(0);
    expect(text).not.toContain(ok.body.runId);
    expect(text).not.toContain(receiver.url);
  });

  it('a second engine in the process has its own registry; metrics: false serves no /metrics', async () => {
    const second = await startTestEngine(store!);
    const off = await startTestEngine(store!, { metrics: false });
    try {
      const { samples } = await scrape(second.baseUrl);
      expect([...samples.keys()].filter((k) => k.startsWith('hookgate_inbound_requests_total'))).toEqual([]);
      expect((await get('/metrics', off.baseUrl)).status).toBe(404);
      expect((await get('/healthz', off.baseUrl)).status).toBe(200);
    } finally {
      await off.close();
      await second.close();
    }
  });

  it('metricsToken: /metrics answers only its bearer token; /healthz and /readyz stay open for probes', async () => {
    const token = 'metrics-token-0123456789';
    const guarded = await startTestEngine(store!, { metricsToken: token });
    try {
      const scrapeWith = async (authorization?: string) => {
        const res = await fetch(`${guarded.baseUrl}/metrics`, authorization ? { headers: { authorization } } : {});
        return { status: res.status, authenticate: res.headers.get('www-authenticate'), text: await res.text() };
      };
      const none = await scrapeWith();
      expect(none).toMatchObject({ status: 401, authenticate: 'Bearer' });
      expect(JSON.parse(none.text).error.code).toBe('auth_missing');
      for (const wrong of [`Bearer ${token}x`, 'Bearer metrics-token', `Basic ${token}`]) {
        const res = await scrapeWith(wrong);
        expect(res.status, wrong).toBe(401);
        expect(res.text).not.toContain('hookgate_');
      }
      const ok = await scrapeWith(`Bearer ${token}`);
      expect(ok.status).toBe(200);
      expect(parseMetrics(ok.text).size).toBeGreaterThan(0);
      // The scheme is case-insensitive (RFC 7235) and the spaces around the token do not matter.
      expect((await scrapeWith(`bearer  ${token} `)).status).toBe(200);
      expect((await get('/healthz', guarded.baseUrl)).status).toBe(200);
      expect((await get('/readyz', guarded.baseUrl)).status).toBe(200);
    } finally {
      await guarded.close();
    }
    await expect(startTestEngine(store!, { metricsToken: 'short' })).rejects.toMatchObject({ code: 'config_invalid' });
  });

  it('GET /readyz answers 503 naming migrations while one is pending', async () => {
    // A fresh engine: the first engine's readiness cached its passed migrations check.
    const fresh = await startTestEngine(store!);
    const [last] = await store!.knex('knex_migrations').orderBy('id', 'desc').limit(1);
    await store!.knex('knex_migrations').where({ id: last.id }).delete();
    try {
      const res = await get('/readyz', fresh.baseUrl);
      expect(res.status).toBe(503);
      expect(JSON.parse(res.text)).toEqual({ status: 'not_ready', checks: { database: 'ok', migrations: 'failing', sandbox: 'ok' }, failing: ['migrations'] });
    } finally {
      await store!.knex('knex_migrations').insert(last);
      await fresh.close();
    }
    expect((await get('/readyz')).status).toBe(200);
  });

  it('GET /readyz answers 503 naming the database once the store is closed', async () => {
    await store!.close();
    store = undefined;
    const res = await get('/readyz');
    expect(res.status).toBe(503);
    const body = JSON.parse(res.text);
    expect(body).toMatchObject({ status: 'not_ready', checks: { database: 'failing', sandbox: 'ok' } });
    expect(body.failing).toContain('database');
    expect((await get('/healthz')).status).toBe(200);
  });
});
