import { createHmac, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { KnexStore } from '../../src/store/index.js';
import { listenerName, notifyChannel } from '../../src/store/index.js';
import { rowsOf } from '../../src/outbound/rows.js';
import { storeFactories } from '../helpers/stores.js';
import { startReceiver, type Receiver, type ReceivedRequest, type Responder } from '../helpers/receiver.js';
import { startOutbound, type TestOutbound } from '../helpers/outbound.js';
import { waitFor } from '../helpers/engine.js';

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
const hexHmac = (key: string, body: string) => createHmac('sha256', key).update(body).digest('hex');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe.each(storeFactories())('delivery worker on $name', (factory) => {
  let store: KnexStore;
  let receiver: Receiver;
  const routes = new Map<string, Responder>();
  const running: TestOutbound[] = [];

  beforeAll(async () => {
    store = await factory.create();
    receiver = await startReceiver((req, res) => (routes.get(req.path) ?? (() => 404))(req, res));
  });
  // Each test's workers stop with it, so no worker of an earlier test takes a later test's deliveries.
  afterEach(async () => {
    await Promise.all(running.splice(0).map((o) => o.stop()));
  });
  afterAll(async () => {
    await receiver?.close();
    await store?.close();
  });

  const outbound = async (options: Parameters<typeof startOutbound>[1] = {}) => {
    const o = await startOutbound(store, options);
    running.push(o);
    return o;
  };
  /** A fresh path on the receiver answered by `responder`, and an event name of its own. */
  const endpoint = (responder: Responder) => {
    const path = `/${unique('hook')}`;
    routes.set(path, responder);
    return { url: `${receiver.url}${path}`, path, event: unique('evt'), requests: () => receiver.requests.filter((r: ReceivedRequest) => r.path === path) };
  };

  it('delivers the envelope with the contract headers, verifiable with standardwebhooks and a plain HMAC', async () => {
    const o = await outbound();
    const ep = endpoint(() => 204);
    const { webhook, secret } = await o.service.createWebhook({ url: ep.url, events: [ep.event] });
    expect(secret).toMatch(/^whsec_/);
    const enqueued = await o.service.publish({ event: ep.event, data: { amount: 42 }, tenantId: null, metadata: { source: 'test', tenantId: null } });
    const seen = await o.waitForAttempt((a) => a.delivery.id === enqueued!.deliveryIds[0]);
    expect(seen.outcome.step.status).toBe('succeeded');

    const [req] = ep.requests();
    expect(req).toBeDefined();
    const envelope = new Webhook(secret).verify(req!.body, req!.headers as Record<string, string>);
    expect(envelope).toEqual({ id: enqueued!.messageId, event: ep.event, version: '1', timestamp: expect.any(String), data: { amount: 42 }, metadata: { source: 'test', tenantId: null } });
    expect(req!.headers['x-webhook-signature']).toBe(`sha256=${hexHmac(secret, req!.body)}`);
    expect(req!.headers['x-webhook-event']).toBe(ep.event);
    expect(req!.headers['x-webhook-delivery']).toMatch(UUID);
    expect(new Date(req!.headers['x-webhook-timestamp'] as string).getTime() / 1000).toBe(Number(req!.headers['webhook-timestamp']));
    expect(req!.headers['webhook-id']).toBe(enqueued!.deliveryIds[0]);

    const [delivery] = await o.service.listDeliveries({ webhookId: webhook.id, limit: 10 });
    expect(delivery).toMatchObject({ id: enqueued!.deliveryIds[0], messageId: enqueued!.messageId, event: ep.event, status: 'succeeded', attemptCount: 1, lastStatusCode: 204, lastError: null, nextAttemptAt: null });
    expect(delivery!.attempts).toEqual([
      expect.objectContaining({ id: req!.headers['x-webhook-delivery'], number: 1, statusCode: 204, outcome: 'succeeded', error: null, worker: o.service.workerId }),
    ]);
    expect((await o.service.health(webhook.id))?.consecutiveFailures).toBe(0);
  });

  it('retries 5xx and timeouts with back-off: same webhook-id, a new X-Webhook-Delivery per attempt', async () => {
    const o = await outbound({ random: () => 0.5 });
    let calls = 0;
    const ep = endpoint(() => (++calls === 1 ? 503 : calls === 2 ? new Promise<void>(() => undefined) : 200));
    const { webhook } = await o.service.createWebhook({ url: ep.url, events: [ep.event], maxRetries: 3, retryDelayMs: 20, timeoutMs: 300 });
    const enqueued = await o.service.publish({ event: ep.event, data: null, tenantId: null, metadata: {} });
    await o.waitForAttempt((a) => a.delivery.id === enqueued!.deliveryIds[0] && a.outcome.step.status === 'succeeded');

    const requests = ep.requests();
    expect(requests).toHaveLength(3);
    expect(new Set(requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([enqueued!.deliveryIds[0]]));
    expect(new Set(requests.map((r) => r.headers['x-webhook-delivery'])).size).toBe(3);
    expect(new Set(requests.map((r) => r.body)).size).toBe(1);
    const [delivery] = await o.service.listDeliveries({ webhookId: webhook.id, limit: 1 });
    // Back-off with random() = 0.5: 20 ms, then 40 ms (after the 300 ms timeout), between the attempts' starts
    // (the receiver's clock would add how long each request took to arrive, which varies under load).
    const started = delivery!.attempts.map((a) => Date.parse(a.startedAt));
    expect(started[1]! - started[0]!).toBeGreaterThanOrEqual(20);
    expect(started[2]! - started[1]!).toBeGreaterThanOrEqual(300 + 40);

    expect(delivery!.status).toBe('succeeded');
    expect(delivery!.attempts.map((a) => [a.outcome, a.statusCode, a.error?.code ?? null])).toEqual([
      ['retry', 503, 'http_503'],
      ['retry', null, 'timeout'],
      ['succeeded', 200, null],
    ]);
    expect(delivery!.attempts[1]!.durationMs).toBeGreaterThanOrEqual(290);
  });

  it('fails at once on a 4xx; gives up after maxRetries on 5xx and shows it as failed', async () => {
    const o = await outbound();
    const bad = endpoint((_req, res) => res.writeHead(422, { 'content-type': 'application/json' }).end('{"error":"nope"}'));
    const down = endpoint(() => 500);
    const a = await o.service.createWebhook({ url: bad.url, events: [bad.event], retryDelayMs: 10 });
    const b = await o.service.createWebhook({ url: down.url, events: [down.event], maxRetries: 2, retryDelayMs: 10 });
    const e1 = await o.service.publish({ event: bad.event, data: 1, tenantId: null, metadata: {} });
    const e2 = await o.service.publish({ event: down.event, data: 2, tenantId: null, metadata: {} });
    await o.waitForAttempt((x) => x.delivery.id === e1!.deliveryIds[0] && x.outcome.step.status === 'failed');
    await o.waitForAttempt((x) => x.delivery.id === e2!.deliveryIds[0] && x.outcome.step.status === 'failed');

    const [first] = await o.service.listDeliveries({ webhookId: a.webhook.id, limit: 5 });
    expect(first).toMatchObject({ status: 'failed', attemptCount: 1, lastStatusCode: 422, lastError: { code: 'http_422' } });
    expect(first!.attempts[0]).toMatchObject({ responseExcerpt: '{"error":"nope"}', outcome: 'failed' });
    const [second] = await o.service.listDeliveries({ webhookId: b.webhook.id, status: 'failed', limit: 5 });
    expect(second).toMatchObject({ status: 'failed', attemptCount: 3, lastStatusCode: 500 });
    expect(second!.attempts.map((x) => x.outcome)).toEqual(['retry', 'retry', 'failed']);
    expect(down.requests()).toHaveLength(3);
    expect((await o.service.listDeliveries({ status: 'failed', limit: 100 })).map((d) => d.id)).toEqual(expect.arrayContaining([first!.id, second!.id]));
  });

  it('honours Retry-After on 429', async () => {
    const o = await outbound();
    let calls = 0;
    const ep = endpoint((_req, res) => (++calls === 1 ? res.writeHead(429, { 'retry-after': '1' }).end() : res.writeHead(200).end()));
    await o.service.createWebhook({ url: ep.url, events: [ep.event], retryDelayMs: 10 });
    const enqueued = await o.service.publish({ event: ep.event, data: null, tenantId: null, metadata: {} });
    const first = await o.waitForAttempt((a) => a.delivery.id === enqueued!.deliveryIds[0]);
    expect(first.outcome.step).toMatchObject({ status: 'pending', delayMs: 1000 });
    const pending = await o.service.getDelivery(enqueued!.deliveryIds[0]!);
    expect(pending!.status).toBe('pending');
    expect(Date.parse(pending!.nextAttemptAt!) - Date.parse(pending!.attempts[0]!.startedAt)).toBeGreaterThanOrEqual(1000);
    await o.waitForAttempt((a) => a.delivery.id === enqueued!.deliveryIds[0] && a.outcome.step.status === 'succeeded');
    const [r1, r2] = ep.requests();
    expect(r2!.receivedAt - r1!.receivedAt).toBeGreaterThanOrEqual(990);
  });

  it('410 Gone disables the endpoint at once and emits webhook.disabled', async () => {
    const o = await outbound();
    const ep = endpoint(() => 410);
    const { webhook } = await o.service.createWebhook({ url: ep.url, events: [ep.event], tenantId: 'acme' });
    const enqueued = await o.service.publish({ event: ep.event, data: null, tenantId: 'acme', metadata: {} });
    await o.waitForAttempt((a) => a.delivery.id === enqueued!.deliveryIds[0]);
    expect((await store.getWebhook(webhook.id))?.isActive).toBe(false);
    expect(o.operational).toEqual([
      { event: 'webhook.disabled', tenantId: 'acme', data: expect.objectContaining({ webhookId: webhook.id, url: ep.url, reason: 'gone', lastStatusCode: 410 }) },
    ]);
    expect(await o.service.health(webhook.id)).toMatchObject({ disabledReason: 'gone', consecutiveFailures: 1 });
    expect(await o.service.publish({ event: ep.event, data: null, tenantId: 'acme', metadata: {} })).toBeNull();
    // Switching it back on clears the record.
    await o.service.updateWebhook(webhook.id, { isActive: true });
    expect(await o.service.health(webhook.id)).toMatchObject({ disabledReason: null, consecutiveFailures: 0, failingSince: null });
    await o.service.updateWebhook(webhook.id, { isActive: false });
  });

  it('disables an endpoint that keeps failing for the configured stretch (injected clock)', async () => {
    let clock = Date.now();
    const o = await outbound({ now: () => clock, disableAfterMs: 60_000, disableMinFailures: 3 });
    const ep = endpoint(() => 500);
    const { webhook } = await o.service.createWebhook({ url: ep.url, events: [ep.event], maxRetries: 0 });
    const send = async () => {
      const e = await o.service.publish({ event: ep.event, data: null, tenantId: null, metadata: {} });
      return o.waitForAttempt((a) => a.delivery.id === e!.deliveryIds[0]);
    };
    await send();
    clock += 61_000;
    await send(); // long enough, but only 2 failures in a row
    expect((await store.getWebhook(webhook.id))?.isActive).toBe(true);
    expect(o.operational).toHaveLength(0);
    await send(); // 3 failures over 61 s: disabled
    expect((await store.getWebhook(webhook.id))?.isActive).toBe(false);
    expect(o.operational).toEqual([
      expect.objectContaining({ event: 'webhook.disabled', data: expect.objectContaining({ webhookId: webhook.id, reason: 'failing', consecutiveFailures: 3 }) }),
    ]);
    await o.stop();
  });

  it('a success ends a failing stretch', async () => {
    let clock = Date.now();
    const o = await outbound({ now: () => clock, disableAfterMs: 60_000, disableMinFailures: 1 });
    let ok = false;
    const ep = endpoint(() => (ok ? 204 : 500));
    const { webhook } = await o.service.createWebhook({ url: ep.url, events: [ep.event], maxRetries: 0 });
    const send = async () => {
      const e = await o.service.publish({ event: ep.event, data: null, tenantId: null, metadata: {} });
      return o.waitForAttempt((a) => a.delivery.id === e!.deliveryIds[0]);
    };
    await send();
    ok = true;
    await send();
    ok = false;
    clock += 61_000;
    await send();
    expect((await store.getWebhook(webhook.id))?.isActive).toBe(true);
    await o.stop();
  });

  it('after a rotation, signs with the new and the old secret until the grace period ends', async () => {
    let clock = Date.now();
    const o = await outbound({ now: () => clock, secretGraceMs: 60_000 });
    const ep = endpoint(() => 204);
    const created = await o.service.createWebhook({ url: ep.url, events: [ep.event] });
    const rotated = await o.service.rotateSecret(created.webhook.id);
    expect(rotated.secret).not.toBe(created.secret);
    const send = async () => {
      const e = await o.service.publish({ event: ep.event, data: null, tenantId: null, metadata: {} });
      await o.waitForAttempt((a) => a.delivery.id === e!.deliveryIds[0]);
      return ep.requests().at(-1)!;
    };
    const during = await send();
    expect((during.headers['webhook-signature'] as string).split(' ')).toHaveLength(2);
    expect((during.headers['x-webhook-signature'] as string).split(' ')).toEqual([`sha256=${hexHmac(rotated.secret, during.body)}`, `sha256=${hexHmac(created.secret, during.body)}`]);
    // The official library's clock is real; ours is only moved forward below.
    for (const secret of [rotated.secret, created.secret]) expect(() => new Webhook(secret).verify(during.body, during.headers as Record<string, string>)).not.toThrow();

    clock += 60_001;
    const after = await send();
    expect(after.headers['x-webhook-signature']).toBe(`sha256=${hexHmac(rotated.secret, after.body)}`);
    expect((after.headers['webhook-signature'] as string).split(' ')).toHaveLength(1);
    await o.stop();
  });

  it('test ping: sent now, once, returned with its attempt; redeliver queues a finished delivery again', async () => {
    const o = await outbound();
    let status = 500;
    const ep = endpoint((_req, res) => res.writeHead(status).end('pong'));
    const { webhook, secret } = await o.service.createWebhook({ url: ep.url, events: [ep.event], maxRetries: 3, retryDelayMs: 10 });
    const ping = await o.service.sendTest(webhook.id);
    expect(ping).toMatchObject({ event: 'webhook.test', test: true, status: 'failed', attemptCount: 1, lastStatusCode: 500 });
    expect(ping.attempts).toEqual([expect.objectContaining({ statusCode: 500, responseExcerpt: 'pong', outcome: 'failed' })]);
    const [req] = ep.requests();
    expect(new Webhook(secret).verify(req!.body, req!.headers as Record<string, string>)).toMatchObject({ event: 'webhook.test', data: { webhookId: webhook.id } });
    // Tests never count against the endpoint's health.
    expect(await o.service.health(webhook.id)).toBeNull();

    status = 200;
    const redelivered = await o.service.redeliver(ping.id);
    expect(redelivered.status).toBe('pending');
    await o.waitForAttempt((a) => a.delivery.id === ping.id && a.outcome.step.status === 'succeeded');
    const again = await o.service.getDelivery(ping.id);
    expect(again).toMatchObject({ status: 'succeeded', attemptCount: 2 });
    expect(ep.requests().map((r) => r.headers['webhook-id'])).toEqual([ping.id, ping.id]);
    await expect(o.service.redeliver('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ code: 'delivery_not_found' });
  });

  it('checks the URL again on every delivery, and skips endpoints switched off after the event', async () => {
    const publisher = await outbound({ worker: false });
    const ep = endpoint(() => 204);
    const blocked = await publisher.service.createWebhook({ url: ep.url, events: [ep.event] });
    const paused = await publisher.service.createWebhook({ url: ep.url, events: [ep.event] });
    const enqueued = await publisher.service.publish({ event: ep.event, data: null, tenantId: null, metadata: {} });
    await publisher.service.updateWebhook(paused.webhook.id, { isActive: false });

    // A worker whose rules forbid loopback: the saved URL is now refused, without retrying.
    const strict = await outbound({ allowPrivateNetworks: false });
    for (const id of enqueued!.deliveryIds) await strict.waitForAttempt((a) => a.delivery.id === id);
    const [b] = await strict.service.listDeliveries({ webhookId: blocked.webhook.id, limit: 1 });
    expect(b).toMatchObject({ status: 'failed', attemptCount: 1, lastError: { code: 'url_blocked' } });
    const [p] = await strict.service.listDeliveries({ webhookId: paused.webhook.id, limit: 1 });
    expect(p).toMatchObject({ status: 'failed', lastError: { code: 'endpoint_inactive' }, attempts: [] });
    expect(ep.requests()).toHaveLength(0);
    await expect(strict.service.redeliver(p!.id)).rejects.toMatchObject({ code: 'webhook_inactive' });
    await expect(strict.service.createWebhook({ url: ep.url })).rejects.toMatchObject({ code: 'url_blocked' });
    await strict.stop();
  });

  it.runIf(factory.name === 'postgres')('an outbox write that committed but lost its answer is written again under the same ids and lease, and sent once, at once', async () => {
    type Conn = { query: (config: { name?: string }, ...rest: unknown[]) => Promise<unknown> };
    const client = store.knex.client as { acquireConnection: () => Promise<Conn> };
    const acquire = client.acquireConnection;
    const patched = new WeakSet<Conn>();
    let dropped = 0;
    let armed = false;
    // The connection "drops" right after PostgreSQL committed the first outbox write: the caller sees an error.
    client.acquireConnection = async function (this: unknown) {
      const conn = await acquire.call(this);
      if (!patched.has(conn)) {
        patched.add(conn);
        const query = conn.query;
        conn.query = async function (this: unknown, config, ...rest) {
          const result = await query.call(this, config, ...rest);
          if (armed && dropped === 0 && config?.name === 'hookgate_outbox_write') {
            dropped += 1;
            throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
          }
          return result;
        };
      }
      return conn;
    };
    try {
      // Lease margin and timeout long: were the row left to its lease, the test would time out.
      const o = await outbound({ worker: { leaseMarginMs: 15_000 } });
      const ep = endpoint(() => 204);
      await o.service.createWebhook({ url: ep.url, events: [ep.event], timeoutMs: 30_000 });
      // A first event sent and recorded: the worker is idle and caught up, so the next one is handed over.
      const warmUp = await o.service.publish({ event: ep.event, data: { order: 41 }, tenantId: null, metadata: {} });
      await o.waitForAttempt((a) => a.delivery.id === warmUp!.deliveryIds[0], 5000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      armed = true;
      const enqueued = await o.service.publish({ event: ep.event, data: { order: 42 }, tenantId: null, metadata: {} });
      expect(dropped).toBe(1);
      const seen = await o.waitForAttempt((a) => a.delivery.id === enqueued!.deliveryIds[0], 5000);
      expect(seen.outcome).toMatchObject({ step: { status: 'succeeded' }, completed: { leaseHeld: true } });
      expect(seen.delivery.attemptNumber).toBe(1);
      expect(await store.knex('outbound_messages').where('id', enqueued!.messageId).count<[{ count: string }]>('* as count')).toEqual([{ count: '1' }]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(ep.requests().map((r) => r.headers['webhook-id'])).toEqual([warmUp!.deliveryIds[0], enqueued!.deliveryIds[0]]);
    } finally {
      client.acquireConnection = acquire;
    }
  });

  it.runIf(factory.name === 'postgres')('wakes a worker in another process by NOTIFY, also after its listen connection was cut', async () => {
    // The worker polls only every 20 s here: anything faster is the NOTIFY.
    const publisher = await outbound({ worker: false });
    const worker = await outbound({ worker: { pollMs: 20_000 } });
    const ep = endpoint(() => 204);
    await publisher.service.createWebhook({ url: ep.url, events: [ep.event] });
    const send = async () => {
      const t0 = Date.now();
      const e = await publisher.service.publish({ event: ep.event, data: null, tenantId: null, metadata: {} });
      await worker.waitForAttempt((a) => a.delivery.id === e!.deliveryIds[0], 5000);
      return Date.now() - t0;
    };
    expect(await send()).toBeLessThan(2000);

    const [current] = rowsOf<{ schema: string }>(await store.knex.raw('select current_schema() as schema'));
    const name = listenerName(notifyChannel(current!.schema));
    const killed = rowsOf<{ ok: boolean }>(await store.knex.raw('select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = ?', [name]));
    expect(killed).toEqual([{ ok: true }]);
    // It reconnects (and looks at the queue once it has, for whatever it missed).
    await waitFor(async () => {
      const rows = rowsOf(await store.knex.raw('select 1 from pg_stat_activity where application_name = ?', [name]));
      return rows.length === 1 ? true : undefined;
    }, 5000, 'the listener to reconnect');
    expect(await send()).toBeLessThan(2000);
  });

  it('hands a published delivery straight to its own idle worker: written already leased to it, with no claim', async () => {
    const o = await outbound();
    const ep = endpoint(() => new Promise<number>((resolve) => setTimeout(() => resolve(204), 300)));
    await o.service.createWebhook({ url: ep.url, events: [ep.event] });
    // Once the worker's claim (one runs at start) has found nothing older in the queue, a publish is written
    // already leased to it; until then (a slow start) publishes are queued and claimed as usual.
    const published: string[] = [];
    const row = await waitFor(async () => {
      const e = await o.service.publish({ event: ep.event, data: null, tenantId: null, metadata: {} });
      published.push(e!.deliveryIds[0]!);
      // Leased by the outbox write itself, not by a claim after it: the row is still the version that
      // statement wrote (the same transaction id as its message's row).
      const [written] = rowsOf<{ status: string; lease_owner: string | null; attempt_count: number; as_written: boolean }>(
        await store.knex.raw(
          `select d.status, d.lease_owner, d.attempt_count, d.xmin = m.xmin as as_written
           from outbound_deliveries d join outbound_messages m on m.id = d.message_id where d.id = ?`,
          [e!.deliveryIds[0]!],
        ),
      );
      return written?.status === 'sending' && written.as_written ? written : undefined;
    }, 5000, 'a publish handed to the worker');
    expect(row).toEqual({ status: 'sending', lease_owner: o.service.workerId, attempt_count: 1, as_written: true });
    const seen = await o.waitForAttempt((a) => a.delivery.id === published.at(-1), 2000);
    expect(seen.outcome.attempt).toMatchObject({ number: 1, outcome: 'succeeded', worker: o.service.workerId });
    for (const id of published) await o.waitForAttempt((a) => a.delivery.id === id);
  });

  /**
   * Publishes `count` events at once (one outbox write) through `publisher` and waits until `o` has sent
   * every one of them; resolves with how many of them each claim meanwhile took (claims that took none left
   * out), read from the claim statement as knex reports it.
   */
  const claimsOfBurst = async (o: TestOutbound, publisher: TestOutbound, event: string, count: number): Promise<number[]> => {
    const claims: string[][] = [];
    const onResponse = (response: unknown, query: { sql?: string }) => {
      if (!query.sql?.includes('for update of d skip locked')) return;
      const rows = (Array.isArray(response) ? response : (response as { rows?: unknown[] } | undefined)?.rows) ?? [];
      claims.push((rows as Array<{ id: string }>).map((row) => row.id));
    };
    store.knex.on('query-response', onResponse);
    let ids: string[];
    try {
      const burst = await Promise.all(Array.from({ length: count }, (_, i) => publisher.service.publish({ event, data: i, tenantId: null, metadata: {} })));
      ids = burst.map((e) => e!.deliveryIds[0]!);
      for (const id of ids) await o.waitForAttempt((a) => a.delivery.id === id && a.outcome.step.status === 'succeeded', 5000);
    } finally {
      store.knex.off('query-response', onResponse);
    }
    return claims.map((claim) => claim.filter((id) => ids.includes(id)).length).filter((n) => n > 0);
  };

  /**
   * A worker with one slot and an endpoint answering in `answerMs`, after ten deliveries one at a time (so
   * that the worker knows the endpoint's pace).
   */
  const pacedWorker = async (answerMs: number, pollMs: number) => {
    const o = await outbound({ worker: { concurrency: 1, perEndpointConcurrency: 1, leaseMarginMs: 5000, pollMs } });
    const ep = endpoint(() => new Promise<number>((resolve) => setTimeout(() => resolve(204), answerMs)));
    await o.service.createWebhook({ url: ep.url, events: [ep.event] });
    for (let i = 0; i < 10; i++) {
      const e = await o.service.publish({ event: ep.event, data: i, tenantId: null, metadata: {} });
      await o.waitForAttempt((a) => a.delivery.id === e!.deliveryIds[0]);
    }
    return { o, ep };
  };

  /**
   * Publishes `count` events at once (one outbox write), up to three times until `expected` of their
   * deliveries went through a claim rather than the hand-off (a machine stall of a few hundred ms in the last
   * answers would make a fast endpoint look slow for a moment); resolves with the last count.
   */
  const claimedOfBurst = async (answerMs: number, count: number, expected: number) => {
    // No poll: a claim running when the burst is written would have it refused the hand-off, whatever the pace.
    const { o, ep } = await pacedWorker(answerMs, 20_000);
    let result = -1;
    for (let tries = 0; tries < 3 && result !== expected; tries++) {
      result = (await claimsOfBurst(o, o, ep.event, count)).reduce((a, b) => a + b, 0);
    }
    return result;
  };

  it('hands an endpoint that answers fast up to three waiting rows per slot, so a burst costs no claim', async () => {
    // One slot, answers in 5 ms: the slot's request and three waiting rows, all handed over.
    expect(await claimedOfBurst(5, 4, 0)).toBe(0);
  });

  it("claims a fast endpoint's queued rows up to three waiting per slot at once", async () => {
    // On PostgreSQL the publisher's NOTIFY wakes the worker, and no poll hides a claim that stops short; the
    // embedded store has no NOTIFY between processes, so there the poll wakes it.
    const { o, ep } = await pacedWorker(5, factory.name === 'postgres' ? 20_000 : 200);
    // Written by a process without a worker, so all pending, for this worker to claim.
    const publisher = await outbound({ worker: false });
    // Up to three backlogs, as in claimedOfBurst: a stall in the last answers makes the endpoint look slow a moment.
    let sizes: number[] = [];
    for (let tries = 0; tries < 3 && sizes[0] !== 4; tries++) {
      sizes = await claimsOfBurst(o, publisher, ep.event, 8);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(8);
    }
    // One slot and three waiting rows: the first claim takes four (it took two before), then as room frees.
    expect(sizes[0]).toBe(4);
  });

  it('hands an endpoint that answers slowly one waiting row per slot; the rest of a burst is claimed as slots free', async () => {
    // Answers in 400 ms: rows waiting three deep would wait over a second, so two are handed over and two queued.
    expect(await claimedOfBurst(400, 4, 2)).toBe(2);
  });

  it('retries on time while every other delivery goes by hand-over (no poll for 20 s)', async () => {
    const o = await outbound({ worker: { pollMs: 20_000 } });
    let calls = 0;
    const ep = endpoint(() => (++calls === 1 ? 503 : 204));
    await o.service.createWebhook({ url: ep.url, events: [ep.event], retryDelayMs: 100 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const e = await o.service.publish({ event: ep.event, data: null, tenantId: null, metadata: {} });
    const first = await o.waitForAttempt((a) => a.delivery.id === e!.deliveryIds[0]);
    expect(first.outcome.step.status).toBe('pending');
    const t0 = Date.now();
    const second = await o.waitForAttempt((a) => a.delivery.id === e!.deliveryIds[0] && a.outcome.step.status === 'succeeded', 5000);
    // Back-off of 100 ms with jitter: well under a second, not the 20 s poll.
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(second.outcome.attempt?.number).toBe(2);
  });

  it('a retry that falls due while the claim looks is claimed at once, not at the poll (no poll for 20 s)', async () => {
    // The clock jumps 300 ms as the claim that follows the first attempt is sent: the retry (due 100 ms after
    // the first attempt) falls due while that claim runs, after the moment it looked from.
    let offset = 0;
    let armed = false;
    const onQuery = (q: { sql: string }) => {
      if (armed && q.sql.includes('with candidates')) offset = 300;
    };
    store.knex.on('query', onQuery);
    try {
      const o = await outbound({ worker: { pollMs: 20_000 }, now: () => Date.now() + offset, random: () => 0.5 });
      let requests = 0;
      const ep = endpoint(() => (++requests === 1 ? 503 : 204));
      await o.service.createWebhook({ url: ep.url, events: [ep.event], retryDelayMs: 100 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      armed = true;
      const e = await o.service.publish({ event: ep.event, data: null, tenantId: null, metadata: {} });
      const first = await o.waitForAttempt((a) => a.delivery.id === e!.deliveryIds[0]);
      expect(first.outcome.step).toMatchObject({ status: 'pending', delayMs: 100 });
      const t0 = Date.now();
      await o.waitForAttempt((a) => a.delivery.id === e!.deliveryIds[0] && a.outcome.step.status === 'succeeded', 5000);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      store.knex.removeListener('query', onQuery);
    }
  });

  /**
   * A worker taking one request per endpoint at a time, with no poll for 20 s, and two endpoints: one that
   * never answers and one that answers 503 once, then 204 (retried after `retryDelayMs`). `hold` notes rows
   * sent to the hanging one; `cleanUp` stops the worker and fails those rows, so that no later test's worker
   * finds them due.
   */
  const besideHangingEndpoint = async (retryDelayMs: number) => {
    const o = await outbound({ worker: { concurrency: 4, perEndpointConcurrency: 1, pollMs: 20_000, stopTimeoutMs: 100 } });
    const hanging = endpoint(() => new Promise<void>(() => undefined));
    let calls = 0;
    const flaky = endpoint(() => (++calls === 1 ? 503 : 204));
    await o.service.createWebhook({ url: hanging.url, events: [hanging.event], maxRetries: 0, timeoutMs: 10_000 });
    await o.service.createWebhook({ url: flaky.url, events: [flaky.event], retryDelayMs });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stuck: string[] = [];
    return {
      o,
      hanging,
      flaky,
      hold: (enqueued: { deliveryIds: string[] } | null) => stuck.push(...enqueued!.deliveryIds),
      cleanUp: async () => {
        await o.stop();
        await store.knex('outbound_deliveries').whereIn('id', stuck).update({ status: 'failed', lease_token: null });
      },
    };
  };

  it('retries on time while another due row waits for its endpoint, at its cap here (no poll for 20 s)', async () => {
    const { o, hanging, flaky, hold, cleanUp } = await besideHangingEndpoint(100);
    try {
      // One sending and one waiting here (the endpoint's cap with prefetch); the third is due and stays queued.
      for (let i = 0; i < 3; i++) hold(await o.service.publish({ event: hanging.event, data: i, tenantId: null, metadata: {} }));
      await waitFor(() => hanging.requests().length === 1 || undefined);
      const e = await o.service.publish({ event: flaky.event, data: null, tenantId: null, metadata: {} });
      const first = await o.waitForAttempt((a) => a.delivery.id === e!.deliveryIds[0]);
      expect(first.outcome.step.status).toBe('pending');
      const t0 = Date.now();
      await o.waitForAttempt((a) => a.delivery.id === e!.deliveryIds[0] && a.outcome.step.status === 'succeeded', 5000);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      await cleanUp();
    }
  });

  it('retries on time after a claim that left an endpoint at its cap (no poll for 20 s)', async () => {
    const { o, hanging, flaky, hold, cleanUp } = await besideHangingEndpoint(1000);
    try {
      const e = await o.service.publish({ event: flaky.event, data: null, tenantId: null, metadata: {} });
      const first = await o.waitForAttempt((a) => a.delivery.id === e!.deliveryIds[0]);
      expect(first.outcome.step.status).toBe('pending');
      const t0 = Date.now();
      // The retry is due in about a second. Meanwhile another process queues two rows for the hanging
      // endpoint, which the next claim takes (on PostgreSQL its NOTIFY wakes the loop at once): one hangs, one
      // waits behind it at the endpoint's cap, and nothing else wakes the loop before the retry is due.
      const publisher = await outbound({ worker: false });
      for (let i = 0; i < 2; i++) hold(await publisher.service.publish({ event: hanging.event, data: i, tenantId: null, metadata: {} }));
      await o.waitForAttempt((a) => a.delivery.id === e!.deliveryIds[0] && a.outcome.step.status === 'succeeded', 5000);
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      await cleanUp();
    }
  });

  it('sends in publish order when the worker is full: later deliveries are not handed over past older queued ones, and queued ones go as slots free (no poll for 20 s)', async () => {
    const o = await outbound({ worker: { concurrency: 1, perEndpointConcurrency: 1, pollMs: 20_000 } });
    const ep = endpoint(() => new Promise<number>((resolve) => setTimeout(() => resolve(204), 30)));
    await o.service.createWebhook({ url: ep.url, events: [ep.event] });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await o.service.publish({ event: ep.event, data: { i }, tenantId: null, metadata: {} }))!.deliveryIds[0]!);
    for (const id of ids) await o.waitForAttempt((a) => a.delivery.id === id, 5000);
    expect(ep.requests().map((r) => r.headers['webhook-id'])).toEqual(ids);
  });

  it("sends another endpoint's delivery queued behind a hanging endpoint's backlog", async () => {
    const publisher = await outbound({ worker: false });
    const hanging = endpoint(() => new Promise(() => undefined));
    const ok = endpoint(() => 204);
    await publisher.service.createWebhook({ url: hanging.url, events: [hanging.event], maxRetries: 0, timeoutMs: 10_000 });
    await publisher.service.createWebhook({ url: ok.url, events: [ok.event] });
    // Running before the rows come, so that its first claim (which looks far) finds none of them.
    const worker = await outbound({ worker: { concurrency: 4, perEndpointConcurrency: 2, stopTimeoutMs: 100 } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // More rows in front than any claim's window holds (an ordinary claim's: twice its room, at least 64; a
    // wide claim's: 2000), all of an endpoint already at its cap here.
    const backlog = await Promise.all(Array.from({ length: 2500 }, () => publisher.service.publish({ event: hanging.event, data: null, tenantId: null, metadata: {} })));
    const behind = await publisher.service.publish({ event: ok.event, data: null, tenantId: null, metadata: {} });
    const seen = await worker.waitForAttempt((a) => a.delivery.id === behind!.deliveryIds[0], 5000);
    expect(seen.outcome.step.status).toBe('succeeded');
    // Meanwhile the hanging endpoint holds its two slots and no more.
    expect(hanging.requests()).toHaveLength(2);
    await worker.stop();
    // Leave nothing due behind for the next test's workers.
    await store.knex('outbound_deliveries').whereIn('id', backlog.flatMap((e) => e!.deliveryIds)).update({ status: 'failed', lease_token: null });
  });

  it('attempts cut short by shutdowns never use up the retry budget: after five restarts the delivery is still sent', async () => {
    const publisher = await outbound({ worker: false });
    let hangs = 5;
    const ep = endpoint(() => (hangs-- > 0 ? new Promise<number>(() => undefined) : 204));
    await publisher.service.createWebhook({ url: ep.url, events: [ep.event], maxRetries: 0, timeoutMs: 10_000 });
    const e = await publisher.service.publish({ event: ep.event, data: null, tenantId: null, metadata: {} });
    const id = e!.deliveryIds[0]!;
    for (let restart = 1; restart <= 5; restart++) {
      const o = await outbound({ worker: { stopTimeoutMs: 100 } });
      await waitFor(() => (ep.requests().length === restart ? true : undefined), 5000, `request ${restart} to arrive`);
      await o.stop();
    }
    const o = await outbound();
    const sent = await o.waitForAttempt((a) => a.delivery.id === id, 5000);
    expect(sent.outcome.step.status).toBe('succeeded');
    const delivery = await o.service.getDelivery(id);
    expect(delivery!.attempts.map((a) => a.error?.code ?? a.outcome)).toEqual(['aborted', 'aborted', 'aborted', 'aborted', 'aborted', 'succeeded']);
  });

  it('on stop, an attempt still hanging after the grace period is aborted and due again at once', async () => {
    const o = await outbound({ worker: { stopTimeoutMs: 100 } });
    const ep = endpoint(() => new Promise(() => undefined));
    await o.service.createWebhook({ url: ep.url, events: [ep.event], maxRetries: 0, timeoutMs: 10_000 });
    const e = await o.service.publish({ event: ep.event, data: null, tenantId: null, metadata: {} });
    await waitFor(() => (ep.requests().length === 1 ? true : undefined), 5000, 'the request to arrive');
    const t0 = Date.now();
    await o.stop();
    expect(Date.now() - t0).toBeLessThan(3000);
    const delivery = await o.service.getDelivery(e!.deliveryIds[0]!);
    // Even with maxRetries 0: our own shutdown is not the endpoint's failure.
    expect(delivery).toMatchObject({ status: 'pending', attempts: [expect.objectContaining({ outcome: 'retry', error: expect.objectContaining({ code: 'aborted' }) })] });
    expect(Date.parse(delivery!.nextAttemptAt!)).toBeLessThanOrEqual(Date.now());
    expect(await o.service.health(delivery!.webhookId)).toBeNull();
    // Leave nothing due behind for the next test's workers.
    await store.knex('outbound_deliveries').where('id', delivery!.id).update({ status: 'failed' });
  });
});
