import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';

interface Answer {
  status: number;
  code?: string;
  runId?: string;
  duplicate?: boolean;
  retryAfter: string | null;
  at: number;
}

interface Message {
  n: number;
  /** Sent as X-GitHub-Delivery (→ the inbox, de-duplicated), or null (sync, stored with its run). */
  deliveryId: string | null;
  answers: Answer[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The database goes away under traffic — a PostgreSQL of the test's own, stopped (fast mode: sessions are
 * terminated) and started again, never the machine's shared server. Senders behave like real ones: each
 * message is sent until it gets a 2xx. What must hold: while the database is down, inbound answers 503
 * `database_unavailable` with Retry-After (never a 500, never a 200 whose run or event is then lost); it
 * answers 200 again within seconds of the restart; the process keeps running; and every message ends up
 * with its run recorded and its emitted event delivered, while no outgoing delivery is marked failed.
 */
describe('PostgreSQL stopped and restarted under traffic', () => {
  let pg: PrivatePostgres;
  let store: KnexStore;
  let t: TestEngine;
  let receiver: Receiver;

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    store = await createStore({ databaseUrl: pg.url, secretKey: randomBytes(32).toString('hex'), poolMax: 4 });
    await store.migrate();
    receiver = await startReceiver(() => 204);
    t = await startTestEngine(store, {
      allowInsecureUrls: true,
      allowPrivateNetworks: true,
      // A sync item whose event could not be stored is run again by the inbox worker once its lease runs out.
      inbox: { leaseMs: 2000, pollMs: 100 },
      outbound: { worker: { pollMs: 200, leaseMarginMs: 1000, stopTimeoutMs: 1000 } },
    });
    const inbound = await t.api('POST', '/webhooks', {
      direction: 'inbound',
      provider: 'orders',
      allowedActions: ['crm.tag'],
      jsScript: "await actions['crm.tag'](String(body.n));\nresult = { event: 'order.seen', data: { n: body.n } };",
    });
    expect(inbound.status, JSON.stringify(inbound.body)).toBe(201);
    const outgoing = await t.api('POST', '/webhooks', { direction: 'outgoing', url: `${receiver.url}/hooks`, events: ['order.seen'], timeoutMs: 2000, retryDelayMs: 100 });
    expect(outgoing.status, JSON.stringify(outgoing.body)).toBe(201);
  }, 90_000);

  afterAll(async () => {
    // Up again if a test failed half-way, so that the engine's close can write what it holds.
    if (pg && !pg.running) await pg.start().catch(() => undefined);
    await t?.close();
    await receiver?.close();
    await store?.close().catch(() => undefined);
    await pg?.cleanup();
  });

  async function send(message: Message): Promise<Answer> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (message.deliveryId) headers['x-github-delivery'] = message.deliveryId;
    const res = await fetch(`${t.baseUrl}/tools/webhook/orders`, { method: 'POST', headers, body: JSON.stringify({ n: message.n }) });
    const body = (await res.json()) as { runId?: string; duplicate?: boolean; error?: { code: string } };
    const answer: Answer = { status: res.status, retryAfter: res.headers.get('retry-after'), at: Date.now() };
    if (body.error) answer.code = body.error.code;
    if (body.runId) answer.runId = body.runId;
    if (body.duplicate) answer.duplicate = true;
    message.answers.push(answer);
    return answer;
  }

  it('answers 503 while it is down, 200 again within seconds, and loses no run and no event', async () => {
    const messages: Message[] = [];
    const senders = new Set<Promise<void>>();
    let driving = true;
    // A sender: retries the message after a 503 (as Stripe or GitHub would, only sooner) until it gets a 2xx.
    const deliver = async (message: Message) => {
      for (;;) {
        const answer = await send(message);
        if (answer.status !== 503) return;
        await sleep(50);
      }
    };
    const driver = (async () => {
      for (let n = 0; driving; n++) {
        const message: Message = { n, deliveryId: n % 2 === 0 ? `delivery-${n}` : null, answers: [] };
        messages.push(message);
        const sending = deliver(message).finally(() => senders.delete(sending));
        senders.add(sending);
        while (senders.size >= 3) await Promise.race(senders);
        await sleep(20);
      }
    })();
    const answers = () => messages.flatMap((m) => m.answers);

    try {
      await waitFor(() => (answers().filter((a) => a.status === 200).length >= 15 ? true : undefined), 20_000, '15 answers before the stop');
      await pg.stop();
      const stoppedAt = Date.now();
      await waitFor(() => (answers().filter((a) => a.status === 503 && a.at > stoppedAt).length >= 10 ? true : undefined), 20_000, '503s while the database is down');
      // What the cache does not hold and the admin API: 503 as well, not a 500.
      const unknown = await fetch(`${t.baseUrl}/tools/webhook/not-cached`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect([unknown.status, ((await unknown.json()) as { error: { code: string } }).error.code, unknown.headers.get('retry-after')]).toEqual([503, 'database_unavailable', '1']);
      expect(await t.api('GET', '/webhooks')).toMatchObject({ status: 503, body: { error: { code: 'database_unavailable' } } });

      await pg.start();
      const restartedAt = Date.now();
      const firstOk = await waitFor(() => answers().find((a) => a.status === 200 && a.at > restartedAt), 5000, 'a 200 after the restart');
      expect(firstOk.at - restartedAt).toBeLessThan(5000);
      await waitFor(() => (answers().filter((a) => a.status === 200 && a.at > restartedAt).length >= 10 ? true : undefined), 20_000, '200s after the restart');
    } finally {
      driving = false;
      await driver;
      await Promise.all([...senders]);
    }

    // Never a 500: 200 (ran, or a duplicate of a stored request) or 503 database_unavailable with Retry-After.
    const all = answers();
    const unexpected = all.filter((a) => a.status !== 200 && !(a.status === 503 && a.code === 'database_unavailable' && a.retryAfter !== null));
    expect(unexpected).toEqual([]);
    expect(all.filter((a) => a.status === 503).length).toBeGreaterThanOrEqual(10);
    expect(messages.every((m) => m.answers.at(-1)?.status === 200)).toBe(true);

    // Every run answered 200 is recorded (those answered while the database went away were kept and written after).
    const ranIds = all.filter((a) => a.status === 200 && a.runId).map((a) => a.runId as string);
    await waitFor(async () => {
      const rows: Array<{ id: string }> = await store.knex('runs').whereIn('id', ranIds).select('id');
      return rows.length === ranIds.length ? true : undefined;
    }, 10_000, 'a run record for every 200');

    // Every message's event reaches the receiver (at least once: an attempt whose outcome could not be
    // recorded is sent again when its lease runs out; a stored request whose event was lost runs again).
    const expected = messages.map((m) => m.n);
    const seen = () => new Set(receiver.requests.map((r) => (JSON.parse(r.body) as { data: { n: number } }).data.n));
    await waitFor(() => (expected.every((n) => seen().has(n)) ? true : undefined), 20_000, 'every event delivered').catch((err: Error) => {
      throw new Error(`${err.message}; missing ${expected.filter((n) => !seen().has(n)).join(',')}`);
    });

    // Deliveries paused and resumed: none was marked failed, and all end succeeded.
    await waitFor(async () => {
      const open: Array<{ status: string; count: string }> = await store.knex('outbound_deliveries').groupBy('status').select('status').count({ count: '*' });
      return open.every((row) => row.status === 'succeeded') ? true : undefined;
    }, 20_000, 'every delivery succeeded');
    expect(await store.knex('outbound_deliveries').where('status', 'failed').count({ count: '*' }).first()).toMatchObject({ count: '0' });

    // The process lived through it and reports ready again.
    expect((await fetch(`${t.baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.baseUrl}/readyz`)).status).toBe(200);
  }, 90_000);
});
