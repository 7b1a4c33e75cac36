import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import express from 'express';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type EngineOptions } from '../../src/index.js';
import { createSilentLogger } from '../../src/logger.js';
import { OutboundService } from '../../src/outbound/index.js';
import { createStore, type KnexStore } from '../../src/store/index.js';
import { ADMIN_TOKEN, waitFor } from '../helpers/engine.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { spawnEngineProcess, type EngineProcess } from '../helpers/spawn-engine.js';
import { TEST_DATABASE_URL } from '../helpers/stores.js';

/*
 * SIGTERM for real: engine processes (test/helpers/shutdown-engine-process.ts, signals handled as `npm start`
 * handles them) on PostgreSQL, loopback receivers, and a second process that takes over what the first left.
 */

/** Everything a test opened, undone after it (processes first, then receivers, then schemas). */
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function openSchema(): Promise<KnexStore> {
  const schema = `hg_shutdown_${randomBytes(4).toString('hex')}`;
  // The same data dir as the child processes: they share its secret.key.
  const store = await createStore({ databaseUrl: TEST_DATABASE_URL, dataDir: './data-unused', schema, poolMax: 4 });
  cleanups.push(async () => {
    await store.knex.raw('drop schema if exists ?? cascade', [schema]).catch(() => undefined);
    await store.close();
  });
  await store.migrate();
  return store;
}

async function receiver(responder: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(responder);
  cleanups.push(() => r.close());
  return r;
}

/** This process only writes to the outbox (and reads the log); the engine processes deliver. */
async function publisherOn(store: KnexStore): Promise<OutboundService> {
  const publisher = new OutboundService({ store, logger: createSilentLogger(), allowInsecureUrls: true, allowPrivateNetworks: true, worker: false });
  await publisher.start();
  cleanups.push(() => publisher.stop());
  return publisher;
}

async function engineProcess(store: KnexStore, env: Record<string, string>): Promise<EngineProcess> {
  const child = await spawnEngineProcess(
    {
      DATABASE_URL: TEST_DATABASE_URL,
      HG_SCHEMA: (store.knex.client.config as { searchPath: string[] }).searchPath[0]!,
      LOG_LEVEL: 'info',
      ...env,
    },
    { script: 'test/helpers/shutdown-engine-process.ts', captureStderr: true },
  );
  cleanups.push(() => child.kill9());
  return child;
}

/** SIGTERM; resolves with how the process ended and how long that took. */
async function sigterm(child: EngineProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const t0 = Date.now();
  child.child.kill('SIGTERM');
  const exit = await child.exited;
  return { ...exit, ms: Date.now() - t0 };
}

async function statuses(store: KnexStore): Promise<Record<string, number>> {
  const rows: Array<{ status: string; n: string }> = await store.knex('outbound_deliveries').select('status').count({ n: '*' }).groupBy('status');
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SIGTERM mid-drain of the delivery queue', () => {
  it('exits 0 at once; in-flight attempts are recorded, claimed-but-unsent ones go back; the next process sends each of 200 exactly once', async () => {
    const store = await openSchema();
    // Slow answers (200–300 ms), so the first process is mid-drain when it is told to stop.
    const slow = await receiver(() => sleep(200 + Math.random() * 100).then(() => 204));
    const publisher = await publisherOn(store);
    // A lease margin of a minute: a delivery left leased rather than put back would hold up the second process
    // far past this test's waits, so the test fails unless the first process releases what it did not send.
    const env = {
      HG_OUTBOUND: JSON.stringify({ pollMs: 200, leaseMarginMs: 60_000, concurrency: 10, perEndpointConcurrency: 20 }),
      HOOKGATE_SHUTDOWN_TIMEOUT_MS: '10000',
    };
    const first = await engineProcess(store, env);
    const { webhook } = await publisher.createWebhook({ url: `${slow.url}/batch`, timeoutMs: 10_000, maxRetries: 3, retryDelayMs: 50 });
    const published = await Promise.all(Array.from({ length: 200 }, (_, i) => publisher.publish({ event: 'order.created', data: { i }, tenantId: null, metadata: {} })));
    const ids = published.flatMap((e) => e!.deliveryIds);
    expect(new Set(ids).size).toBe(200);

    await slow.waitForRequests(30, 20_000);
    const exit = await sigterm(first);
    expect(exit, first.stderr()).toMatchObject({ code: 0, signal: null });
    // Nothing in flight takes longer than one slow answer; the deadline (10 s) was never needed.
    expect(exit.ms).toBeLessThan(5000);
    expect(first.stderr()).toContain('shutting down');
    expect(first.stderr()).toContain('shut down cleanly');

    // Every request the first process sent was answered and recorded before it exited; nothing is left leased.
    const afterFirst = await statuses(store);
    const sentByFirst = slow.requests.length;
    expect(afterFirst.sending ?? 0).toBe(0);
    expect(afterFirst.succeeded).toBe(sentByFirst);
    expect(afterFirst.pending).toBe(200 - sentByFirst);
    expect(afterFirst.pending).toBeGreaterThan(0);
    // Rows it had claimed but not started went back unsent: pending, due, and with the claim's attempt counters
    // taken back (a row never claimed has updated_at = created_at; a put-back one was touched).
    const pending: Array<{ attempt_count: number; lease_token: string | null; available_at: Date; touched: boolean }> = await store
      .knex('outbound_deliveries')
      .where('status', 'pending')
      .select('attempt_count', 'lease_token', 'available_at', store.knex.raw('updated_at > created_at as touched'));
    expect(pending.every((p) => p.attempt_count === 0 && p.lease_token === null && p.available_at.getTime() <= Date.now())).toBe(true);
    expect(pending.filter((p) => p.touched).length).toBeGreaterThan(0);

    const t0 = Date.now();
    const second = await engineProcess(store, env);
    await waitFor(async () => ((await statuses(store)).succeeded === 200 ? true : undefined), 30_000, 'all 200 deliveries to succeed');
    // Well within the lease margin (60 s): the put-back rows were due at once.
    expect(Date.now() - t0).toBeLessThan(30_000);

    // The receiver saw every delivery exactly once.
    expect(slow.requests).toHaveLength(200);
    const perDelivery = countBy(slow.requests, (r) => r.headers['webhook-id'] as string);
    expect(new Set(perDelivery.keys())).toEqual(new Set(ids));
    expect([...perDelivery.values()].every((n) => n === 1)).toBe(true);
    // The log shows each delivered, with one attempt, numbered 1, made by one process or the other (both took part).
    const deliveries = await publisher.listDeliveries({ webhookId: webhook.id, limit: 200 });
    expect(deliveries).toHaveLength(200);
    for (const d of deliveries) {
      expect(d.status).toBe('succeeded');
      expect(d.attempts.map((a) => [a.number, a.outcome])).toEqual([[1, 'succeeded']]);
    }
    const pids = countBy(deliveries, (d) => d.attempts[0]!.worker.split(':').at(-2)!);
    expect(pids.get(String(first.pid))).toBe(sentByFirst);
    expect(pids.get(String(second.pid))).toBe(200 - sentByFirst);

    expect(await sigterm(second)).toMatchObject({ code: 0, signal: null });
  }, 90_000);
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function postJson(url: string, body: unknown, agent: http.Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** A GET on a keep-alive agent; resolves with the socket it used, left idle in the agent's pool. */
function getOnKeepAlive(url: string, agent: http.Agent): Promise<{ status: number; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    let socket: net.Socket | undefined;
    http
      .get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, socket: socket! }));
      })
      .on('socket', (s: net.Socket) => (socket = s))
      .on('error', reject);
  });
}

function tryConnect(port: number): Promise<'connected' | 'refused'> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', () => resolve('refused'));
  });
}

describe('SIGTERM with an inbound request in flight', () => {
  it('the request gets its 200 and its run is recorded; idle keep-alive connections are closed and new connections refused at once', async () => {
    const store = await openSchema();
    // The action the script awaits POSTs here: ~1 s, and the test knows when it started.
    const actionTarget = await receiver(() => sleep(1000).then(() => 200));
    const child = await engineProcess(store, { HOOKGATE_SHUTDOWN_TIMEOUT_MS: '10000' });
    const port = Number(new URL(child.baseUrl).port);
    const created = await fetch(`${child.baseUrl}/admin/api/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        direction: 'inbound',
        provider: 'slow',
        verify: { scheme: 'none' },
        allowedActions: ['test.post'],
        jsScript: "const status = await actions['test.post'](body.url); console.log('action answered', status);",
      }),
    });
    expect(created.status).toBe(201);

    const agent = new http.Agent({ keepAlive: true });
    cleanups.push(async () => agent.destroy());
    // An idle keep-alive connection: it must not hold the shutdown open.
    const idle = await getOnKeepAlive(`${child.baseUrl}/healthz`, agent);
    expect(idle.status).toBe(200);
    const idleClosed = once(idle.socket, 'close');

    let answered = false;
    // On a keep-alive connection of its own (the agent above would reuse the idle one).
    const postAgent = new http.Agent({ keepAlive: true });
    cleanups.push(async () => postAgent.destroy());
    const inFlight = postJson(`${child.baseUrl}/tools/webhook/slow`, { url: `${actionTarget.url}/action` }, postAgent).finally(() => {
      answered = true;
    });
    await actionTarget.waitForRequests(1);
    const t0 = Date.now();
    child.child.kill('SIGTERM');

    // While the run is still awaiting its action: the idle connection is closed, and no new one is accepted.
    await idleClosed;
    await waitFor(async () => ((await tryConnect(port)) === 'refused' ? true : undefined), 3000, 'new connections to be refused');
    expect(answered).toBe(false);

    const answer = await inFlight;
    expect(answer.status, answer.body).toBe(200);
    const { runId } = JSON.parse(answer.body) as { runId: string };
    expect(runId).toEqual(expect.any(String));
    // Its connection is not kept for another request.
    expect(answer.headers.connection).toBe('close');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);

    const exit = await child.exited;
    expect(exit, child.stderr()).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await tryConnect(port)).toBe('refused');

    // The run was flushed before the store closed.
    const run = await store.knex('runs').where('id', runId).first();
    expect(run).toMatchObject({ provider: 'slow', status: 'ok', error: null });
    expect(run.actions_called).toEqual([expect.objectContaining({ id: 'test.post', ok: true })]);
    expect(JSON.stringify(run.logs)).toContain('action answered 200');
  }, 60_000);
});

describe('engine.close() with the router mounted in a host app', () => {
  it('/readyz answers 503 shutting_down while the request in flight finishes, and its run is recorded', async () => {
    const store = await openSchema();
    const actionTarget = await receiver(() => sleep(800).then(() => 200));
    const engine: Engine = createEngine({ store, logger: createSilentLogger(), adminToken: ADMIN_TOKEN, runFlushMs: 5, allowInsecureUrls: true, allowPrivateNetworks: true, sandbox: { processes: 1 } });
    engine.actions.register({
      id: 'test.post',
      label: 'POST',
      category: 'Test',
      description: 'POSTs to a URL',
      fn: async (url: string) => (await fetch(url, { method: 'POST' })).status,
    });
    await engine.start();
    cleanups.push(() => engine.close());
    const app = express();
    app.use(engine.router);
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await store.createInboundWebhook({ provider: 'slowhost', verify: { scheme: 'none' }, allowedActions: ['test.post'], jsScript: "await actions['test.post'](body.url);" });
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    const inFlight = fetch(`${base}/tools/webhook/slowhost`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: actionTarget.url }) });
    await actionTarget.waitForRequests(1);
    const closed = engine.close();
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'shutting_down' });

    const answer = await inFlight;
    expect(answer.status).toBe(200);
    const { runId } = (await answer.json()) as { runId: string };
    await closed;
    // Closed: not ready, for want of everything (the host's server still answers).
    expect(await (await fetch(`${base}/readyz`)).json()).toMatchObject({ status: 'not_ready' });
    const run = await store.knex('runs').where('id', runId).first();
    expect(run).toMatchObject({ provider: 'slowhost', status: 'ok' });
  }, 60_000);
});

describe('the shutdown deadline', () => {
  it('past it, a hanging attempt is aborted and due again at once, a hanging request is cut off and its run recorded as crashed; the process exits in time; the next one delivers', async () => {
    const store = await openSchema();
    let hang = true;
    // Hangs (never answers) until told otherwise.
    const stuck = await receiver(() => (hang ? new Promise(() => undefined) : 204));
    // What the inbound script's action calls: never answers.
    const stuckAction = await receiver(() => new Promise(() => undefined));
    const publisher = await publisherOn(store);
    // The script's own limit (20 s) is longer than the shutdown deadline (1.5 s): only the deadline ends the run.
    const env = { HG_OUTBOUND: JSON.stringify({ pollMs: 200, leaseMarginMs: 60_000 }), HOOKGATE_SHUTDOWN_TIMEOUT_MS: '1500', HOOKGATE_SCRIPT_TIMEOUT_MS: '20000' };
    const first = await engineProcess(store, env);
    // A 30 s timeout and no retries: only the shutdown deadline can end this attempt, and being cut off by our
    // own shutdown must neither use up the (empty) retry budget nor count as the endpoint's failure.
    const { webhook } = await publisher.createWebhook({ url: `${stuck.url}/hang`, timeoutMs: 30_000, maxRetries: 0 });
    const [id] = (await publisher.publish({ event: 'order.created', data: { n: 1 }, tenantId: null, metadata: {} }))!.deliveryIds;
    const created = await fetch(`${first.baseUrl}/admin/api/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ direction: 'inbound', provider: 'stuck', verify: { scheme: 'none' }, allowedActions: ['test.post'], jsScript: "await actions['test.post'](body.url);" }),
    });
    expect(created.status).toBe(201);
    const request = fetch(`${first.baseUrl}/tools/webhook/stuck`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: stuckAction.url }) }).then(
      (res) => ({ status: res.status }),
      (err: Error & { cause?: { code?: string } }) => ({ error: err.cause?.code ?? err.message }),
    );
    await stuck.waitForRequests(1);
    await stuckAction.waitForRequests(1);

    const exit = await sigterm(first);
    expect(exit, first.stderr()).toMatchObject({ code: 0, signal: null });
    // It waited for the deadline (1.5 s), then cut off what was left and recorded it: a few hundred ms more at most.
    expect(exit.ms).toBeGreaterThanOrEqual(1400);
    expect(exit.ms).toBeLessThan(1500 + 2500);

    // The request got no answer (its connection was closed at the deadline: a sender retries); its run was
    // ended by the sandbox's close and recorded.
    expect(await request).toEqual({ error: expect.any(String) });
    const runs = await store.knex('runs').where('provider', 'stuck');
    expect(runs).toEqual([expect.objectContaining({ status: 'crashed', error: expect.objectContaining({ code: 'sandbox_closed' }) })]);

    // Not marked delivered: pending, lease released, due at once, the aborted attempt logged as a retry.
    const afterFirst = await publisher.getDelivery(id!);
    expect(afterFirst).toMatchObject({ status: 'pending', attemptCount: 1, lastStatusCode: null, lastError: expect.objectContaining({ code: 'aborted' }) });
    expect(afterFirst!.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'retry', statusCode: null, error: expect.objectContaining({ code: 'aborted' }) })]);
    expect(Date.parse(afterFirst!.nextAttemptAt!)).toBeLessThanOrEqual(Date.now());
    const [row] = await store.knex('outbound_deliveries').where('id', id).select('lease_token');
    expect(row.lease_token).toBeNull();
    expect(await publisher.health(webhook.id)).toBeNull();

    hang = false;
    const second = await engineProcess(store, env);
    const delivered = await waitFor(async () => {
      const d = await publisher.getDelivery(id!);
      return d?.status === 'succeeded' ? d : undefined;
    }, 20_000, 'the delivery to succeed');
    expect(delivered.attempts.map((a) => [a.number, a.outcome, a.error?.code ?? null])).toEqual([
      [1, 'retry', 'aborted'],
      [2, 'succeeded', null],
    ]);
    expect(delivered.attempts[1]!.worker).toContain(`:${second.pid}:`);
    // At least once: the receiver got the request twice (it may have acted on the first, which it never
    // answered) — same webhook-id to deduplicate on, a new X-Webhook-Delivery per attempt.
    expect(stuck.requests).toHaveLength(2);
    expect(stuck.requests.map((r) => r.headers['webhook-id'])).toEqual([id, id]);
    expect(new Set(stuck.requests.map((r) => r.headers['x-webhook-delivery'])).size).toBe(2);

    expect(await sigterm(second)).toMatchObject({ code: 0, signal: null });
  }, 60_000);
});

/** The state of a `test.wait` action: it records each call and hangs while `hang` is true. */
function waitAction(): { hang: boolean; calls: string[] } {
  return { hang: true, calls: [] };
}

/** An in-process engine with a 500 ms shutdown deadline, a 20 s script limit and the `test.wait` action. */
function engineWith(store: KnexStore, waits: { hang: boolean; calls: string[] }, extra: Partial<EngineOptions> = {}): Engine {
  const engine = createEngine({ store, logger: createSilentLogger(), adminToken: ADMIN_TOKEN, runFlushMs: 5, shutdownTimeoutMs: 500, sandbox: { processes: 1, limits: { timeoutMs: 20_000 } }, ...extra });
  engine.actions.register({
    id: 'test.wait',
    label: 'Wait',
    category: 'Test',
    description: 'Hangs while told to',
    fn: (id: string) => {
      waits.calls.push(id);
      return waits.hang ? new Promise(() => undefined) : 'done';
    },
  });
  cleanups.push(() => engine.close());
  return engine;
}

describe('the shutdown deadline and the inbox', () => {
  it('an async run still going at the deadline is recorded as crashed and put back; the next engine runs it', async () => {
    const store = await openSchema();
    const waits = waitAction();
    const { calls } = waits;
    const engineOn = () => engineWith(store, waits, { inbox: { pollMs: 100 } });
    const first = engineOn();
    const server = await first.listen(0);
    await store.createInboundWebhook({ provider: 'queued', mode: 'async', verify: { scheme: 'none' }, allowedActions: ['test.wait'], jsScript: "await actions['test.wait'](body.id);" });
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/tools/webhook/queued`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'job-1' }) });
    expect(res.status).toBe(202);
    const { runId } = (await res.json()) as { runId: string };
    await waitFor(() => (calls.length === 1 ? true : undefined), 10_000, 'the run to call its action');

    const t0 = Date.now();
    await first.close();
    expect(Date.now() - t0).toBeLessThan(500 + 2500);
    const [item] = await store.knex('inbox').where('provider', 'queued');
    // Put back without using up an attempt: being cut off by a shutdown is not the item's fault.
    expect(item).toMatchObject({ status: 'pending', run_id: expect.not.stringMatching(runId), lease_until: null, attempts: 0 });
    expect(await store.knex('runs').where('id', runId).first()).toMatchObject({ status: 'crashed', error: expect.objectContaining({ code: 'sandbox_closed' }) });

    waits.hang = false;
    const second = engineOn();
    await second.start();
    await waitFor(async () => ((await store.knex('inbox').where('id', item.id).first()).status === 'done' ? true : undefined), 10_000, 'the item to be run again');
    expect(calls).toEqual(['job-1', 'job-1']);
    // The item is marked done before its run record's batch is written (runFlushMs): wait for the record.
    const rerun = await waitFor(async () => (await store.knex('runs').where('id', item.run_id).first()) ?? undefined, 5000, 'the second run to be recorded');
    expect(rerun).toMatchObject({ status: 'ok' });
  }, 60_000);

  it('a sync request with a delivery id cut off at the deadline is run by the sender\'s retry, not answered as a duplicate', async () => {
    const store = await openSchema();
    const waits = waitAction();
    const { calls } = waits;
    const engineOn = () => engineWith(store, waits);
    await store.createInboundWebhook({ provider: 'keyed', verify: { scheme: 'none' }, allowedActions: ['test.wait'], jsScript: "await actions['test.wait'](body.id);" });
    const send = (port: number) =>
      fetch(`http://127.0.0.1:${port}/tools/webhook/keyed`, { method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': 'msg_keyed_1' }, body: JSON.stringify({ id: 'job-2' }) });
    const first = engineOn();
    const firstPort = ((await first.listen(0)).address() as AddressInfo).port;
    const cut = send(firstPort).then((res) => res.status, (err: Error) => err.message);
    await waitFor(() => (calls.length === 1 ? true : undefined), 10_000, 'the run to call its action');
    await first.close();
    expect(await cut).toEqual(expect.any(String)); // no answer: the sender retries
    expect(await store.knex('inbox').where('provider', 'keyed').whereIn('status', ['done', 'running'])).toEqual([]);

    waits.hang = false;
    const second = engineOn();
    const retry = await send(((await second.listen(0)).address() as AddressInfo).port);
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual({ received: true, runId: expect.any(String) });
    expect(calls).toEqual(['job-2', 'job-2']);
  }, 60_000);
});
