import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/logger.js';
import { OutboundService } from '../../src/outbound/index.js';
import { rowsOf } from '../../src/outbound/rows.js';
import { createStore, type KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { spawnEngineProcess, type EngineProcess } from '../helpers/spawn-engine.js';
import { TEST_DATABASE_URL } from '../helpers/stores.js';

/*
 * Several engine processes on one PostgreSQL, for real: child processes spawned with tsx, a loopback
 * receiver, and SIGKILL for the crash.
 */

const WORKER = { pollMs: 200, leaseMarginMs: 500, stopTimeoutMs: 1000, concurrency: 10, perEndpointConcurrency: 4 };

async function openSchema(prefix: string): Promise<{ store: KnexStore; drop: () => Promise<void> }> {
  const schema = `${prefix}_${randomBytes(4).toString('hex')}`;
  // The same data dir as the child processes (test/helpers/outbound-engine-process.ts): they share its secret.key.
  const store = await createStore({ databaseUrl: TEST_DATABASE_URL, dataDir: './data-unused', schema, poolMax: 4 });
  await store.migrate();
  return {
    store,
    drop: async () => {
      await store.knex.raw('drop schema if exists ?? cascade', [schema]).catch(() => undefined);
      await store.close();
    },
  };
}

const env = (store: KnexStore) => ({
  DATABASE_URL: TEST_DATABASE_URL,
  HG_SCHEMA: (store.knex.client.config as { searchPath: string[] }).searchPath[0]!,
  HG_OUTBOUND: JSON.stringify(WORKER),
});

async function statuses(store: KnexStore): Promise<Record<string, number>> {
  const rows: Array<{ status: string; n: string }> = await store.knex('outbound_deliveries').select('status').count({ n: '*' }).groupBy('status');
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/**
 * For a crash test: a schema of its own, a receiver that hangs every request until `hang` is set false, an
 * outbox-only service in this process (to create webhooks and read the log; the engine processes deliver),
 * and the spawned processes to stop at the end.
 */
function crashFixture(prefix: string) {
  const f = { hang: true, children: [] as EngineProcess[] } as {
    db: Awaited<ReturnType<typeof openSchema>>;
    publisher: OutboundService;
    receiver: Receiver;
    children: EngineProcess[];
    hang: boolean;
  };
  beforeAll(async () => {
    f.db = await openSchema(prefix);
    // `/probe…` answers after 300 ms whatever `hang` says.
    f.receiver = await startReceiver((req) =>
      req.path.startsWith('/probe') ? new Promise((resolve) => setTimeout(() => resolve(204), 300)) : f.hang ? new Promise(() => undefined) : 204,
    );
    f.publisher = new OutboundService({ store: f.db.store, logger: createSilentLogger(), allowInsecureUrls: true, allowPrivateNetworks: true, worker: false });
    await f.publisher.start();
  });
  afterAll(async () => {
    await Promise.all(f.children.map((c) => c.stop()));
    await f.publisher?.stop();
    await f.receiver?.close();
    await f.db?.drop();
  });
  return f;
}

describe('two engine processes share one delivery queue', () => {
  let db: Awaited<ReturnType<typeof openSchema>>;
  let a: TestEngine;
  let b: EngineProcess;
  let receiver: Receiver;

  beforeAll(async () => {
    db = await openSchema('hg_outshare');
    // Each request takes a little while, so neither process can take the whole batch alone.
    receiver = await startReceiver(() => new Promise((resolve) => setTimeout(() => resolve(204), 25)));
    a = await startTestEngine(db.store, { allowInsecureUrls: true, allowPrivateNetworks: true, outbound: { worker: WORKER } });
    b = await spawnEngineProcess(env(db.store));
  }, 60_000);
  afterAll(async () => {
    await b?.stop();
    await a?.close();
    await receiver?.close();
    await db?.drop();
  });

  it('sends each delivery exactly once, and both processes take part', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await a.api('POST', '/webhooks', { direction: 'outgoing', url: `${receiver.url}/ep${i}`, events: ['order.created'] })).status).toBe(201);
    }
    const emitB = (body: unknown) =>
      fetch(`${b.baseUrl}/admin/api/events`, { method: 'POST', headers: { authorization: `Bearer test-admin-token-0123456789abcdef`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    for (let i = 0; i < 30; i++) {
      // Half through each process: either one's outbox write wakes both (NOTIFY).
      if (i % 2 === 0) expect((await a.api('POST', '/events', { event: 'order.created', data: { i } })).status).toBe(202);
      else expect((await emitB({ event: 'order.created', data: { i } })).status).toBe(202);
    }
    await waitFor(async () => ((await statuses(db.store)).succeeded === 90 ? true : undefined), 20_000, '90 deliveries to succeed');

    const perDelivery = new Map<string, number>();
    for (const r of receiver.requests) perDelivery.set(r.headers['webhook-id'] as string, (perDelivery.get(r.headers['webhook-id'] as string) ?? 0) + 1);
    expect(perDelivery.size).toBe(90);
    expect([...perDelivery.values()].every((n) => n === 1)).toBe(true);
    const workers: Array<{ worker: string }> = await db.store.knex('outbound_attempts').distinct('worker');
    const pids = new Set(workers.map((w) => Number(w.worker.split(':').at(-2))));
    expect(pids).toEqual(new Set([process.pid, b.pid]));
  });
});

describe('kill -9 of a process mid-delivery loses nothing', () => {
  const f = crashFixture('hg_outcrash');

  it('after a restart every delivery completes; the ones in flight at the crash are sent again', async () => {
    const { webhook } = await f.publisher.createWebhook({ url: `${f.receiver.url}/crash`, timeoutMs: 1500, maxRetries: 3, retryDelayMs: 50 });
    const first = await spawnEngineProcess(env(f.db.store));
    f.children.push(first);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(...(await f.publisher.publish({ event: 'job.done', data: { i }, tenantId: null, metadata: {} }))!.deliveryIds);

    // The first process holds 4 deliveries (its per-endpoint cap) in flight, waiting on the receiver, and
    // as many more claimed, waiting for a slot…
    const inFlight = await f.receiver.waitForRequests(4);
    const leasedRows = () => f.db.store.knex('outbound_deliveries').where('status', 'sending').select('id', 'available_at') as Promise<Array<{ id: string; available_at: Date }>>;
    await waitFor(async () => ((await leasedRows()).length === 8 ? true : undefined), 5000, '8 leased deliveries');
    const killedAt = Date.now();
    await first.kill9();
    f.hang = false;
    const leased = await leasedRows();
    expect(leased.map((l) => l.id)).toEqual(expect.arrayContaining(inFlight.map((r) => r.headers['webhook-id'])));

    // …and a restarted process finishes everything: the pending ones at once, the leased ones when their lease ends.
    const second = await spawnEngineProcess(env(f.db.store));
    f.children.push(second);
    await waitFor(async () => ((await statuses(f.db.store)).succeeded === 10 ? true : undefined), 20_000, 'all 10 deliveries to succeed');

    const received = new Map<string, number>();
    for (const r of f.receiver.requests) received.set(r.headers['webhook-id'] as string, (received.get(r.headers['webhook-id'] as string) ?? 0) + 1);
    expect(new Set(received.keys())).toEqual(new Set(ids));
    const lost = new Set(inFlight.map((r) => r.headers['webhook-id'] as string));
    for (const id of ids) expect(received.get(id), id).toBe(lost.has(id) ? 2 : 1);

    // The attempt lost with the first process (sent, or only claimed) left a gap (number 1); the retry is
    // number 2, by the second process, once the lease had run out.
    const attempts: Array<{ delivery_id: string; attempt_number: number; worker: string; started_at: Date }> = await f.db.store
      .knex('outbound_attempts')
      .whereIn('delivery_id', leased.map((l) => l.id));
    expect(attempts).toHaveLength(8);
    for (const attempt of attempts) {
      expect(attempt.attempt_number).toBe(2);
      expect(attempt.worker).toContain(`:${second.pid}:`);
      const lease = leased.find((l) => l.id === attempt.delivery_id)!;
      expect(new Date(attempt.started_at).getTime()).toBeGreaterThanOrEqual(new Date(lease.available_at).getTime());
    }
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    const [delivery] = await f.publisher.listDeliveries({ webhookId: webhook.id, limit: 10 });
    expect(delivery!.status).toBe('succeeded');
  });
});

describe('kill -9 of a process holding deliveries it took straight from its own emits', () => {
  const f = crashFixture('hg_outhand');

  it('loses none: they were written leased to it, and are sent again once the leases run out', async () => {
    const jobs = await f.publisher.createWebhook({ url: `${f.receiver.url}/handed`, events: ['job.done'], timeoutMs: 1500, maxRetries: 3, retryDelayMs: 50 });
    const probes = await f.publisher.createWebhook({ url: `${f.receiver.url}/probe`, events: ['probe'] });
    // No poll while it emits: a claim running at that moment (a poll's) would send an emit to the queue instead.
    const first = await spawnEngineProcess({ ...env(f.db.store), HG_OUTBOUND: JSON.stringify({ ...WORKER, pollMs: 60_000 }) });
    f.children.push(first);
    const emit = async (event: string, data: unknown) => {
      const res = await fetch(`${first.baseUrl}/admin/api/events`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token-0123456789abcdef', 'content-type': 'application/json' }, body: JSON.stringify({ event, data }) });
      expect(res.status).toBe(202);
    };
    // Each delivery row of an endpoint, and whether it is still the version the outbox write made: leased by
    // that write (a hand-off), not by a claim after it.
    const deliveryRows = async (webhookId: string) =>
      rowsOf<{ id: string; status: string; lease_owner: string | null; attempt_count: number; as_written: boolean }>(
        await f.db.store.knex.raw(
          `select d.id, d.status, d.lease_owner, d.attempt_count, d.xmin = m.xmin as as_written
           from outbound_deliveries d join outbound_messages m on m.id = d.message_id where d.webhook_id = ? order by d.id`,
          [webhookId],
        ),
      );
    // Once its worker's claims have found the queue empty, its emits are handed straight to it: one probe at a time until one is.
    await waitFor(async () => {
      await emit('probe', {});
      const last = (await deliveryRows(probes.webhook.id)).at(-1);
      if (last?.status === 'sending' && last.as_written) return true;
      await waitFor(async () => ((await deliveryRows(probes.webhook.id)).at(-1)?.status === 'succeeded' ? true : undefined), 5000, 'the probe');
      return undefined;
    }, 10_000, 'an emit handed to the worker');

    for (let i = 0; i < 6; i++) await emit('job.done', { i });
    const rows = await deliveryRows(jobs.webhook.id);
    // Written leased to the emitting process (4 sending, 2 waiting for a slot), never pending.
    expect(rows).toHaveLength(6);
    for (const row of rows) expect(row).toMatchObject({ status: 'sending', lease_owner: expect.stringContaining(`:${first.pid}:`), attempt_count: 1, as_written: true });
    await waitFor(() => (f.receiver.requests.filter((r) => r.path === '/handed').length === 4 ? true : undefined), 5000, '4 requests in flight');
    await first.kill9();
    f.hang = false;

    const second = await spawnEngineProcess(env(f.db.store));
    f.children.push(second);
    await waitFor(async () => ((await deliveryRows(jobs.webhook.id)).every((r) => r.status === 'succeeded') ? true : undefined), 20_000, 'all 6 deliveries to succeed');
    const attempts: Array<{ delivery_id: string; attempt_number: number; worker: string }> = await f.db.store.knex('outbound_attempts').whereIn('delivery_id', rows.map((r) => r.id));
    expect(attempts).toHaveLength(6);
    for (const attempt of attempts) expect(attempt).toMatchObject({ attempt_number: 2, worker: expect.stringContaining(`:${second.pid}:`) });
  });
});
