import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { notifyChannel } from '../../src/store/index.js';
import { waitFor } from '../helpers/engine.js';
import { startOutbound } from '../helpers/outbound.js';
import { startReceiver } from '../helpers/receiver.js';
import { storeFactories, TEST_DATABASE_URL } from '../helpers/stores.js';

/*
 * The worker's stop with a claim under way, on PostgreSQL (a table lock holds the claim back for as long as
 * the test wants, and pg_locks shows when it is waiting).
 */

const postgres = storeFactories().find((f) => f.name === 'postgres')!;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe('delivery worker stop', () => {
  it('rows claimed by a claim that was under way when stop came go back unsent', async () => {
    const store = await postgres.create();
    cleanups.push(() => store.close());
    const receiver = await startReceiver(() => 204);
    cleanups.push(() => receiver.close());
    const publisher = await startOutbound(store, { worker: false });
    cleanups.push(() => publisher.stop());
    await publisher.service.createWebhook({ url: `${receiver.url}/stop`, events: ['stop.test'] });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(...(await publisher.service.publish({ event: 'stop.test', data: { i }, tenantId: null, metadata: {} }))!.deliveryIds);
    // Its NOTIFYs sent (stop waits for them), so the ones heard from here on are the stopping worker's.
    await publisher.stop();
    const { schema } = (await store.knex.raw('select current_schema() as schema')).rows[0] as { schema: string };
    const listener = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await listener.connect();
    cleanups.push(() => listener.end());
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.channel));
    await listener.query(`LISTEN "${notifyChannel(schema)}"`);

    // The queue table locked: the worker's first claim waits on it.
    const trx = await store.knex.transaction();
    cleanups.push(() => trx.rollback());
    await trx.raw('lock table outbound_deliveries in access exclusive mode');
    const worker = await startOutbound(store, { worker: { pollMs: 20_000 } });
    cleanups.push(() => worker.stop());
    await waitFor(async () => {
      const waiting = await store.knex.raw(`select 1 from pg_locks where not granted and relation = 'outbound_deliveries'::regclass`);
      return waiting.rows.length > 0 ? true : undefined;
    }, 5000, 'the claim to wait on the lock');

    const stopping = worker.stop();
    await trx.commit();
    await stopping;

    // The claim went through (its rows were leased), but stop put every row back, due and not counted as an attempt.
    expect(receiver.requests.map((r) => [r.path, r.headers['webhook-id']])).toEqual([]);
    const rows: Array<{ status: string; attempt_count: number; lease_token: string | null; touched: boolean }> = await store
      .knex('outbound_deliveries')
      .whereIn('id', ids)
      .select('status', 'attempt_count', 'lease_token', store.knex.raw('updated_at > created_at as touched'));
    expect(rows).toEqual(ids.map(() => ({ status: 'pending', attempt_count: 0, lease_token: null, touched: true })));
    // Other processes are told at once (NOTIFY), not left to find the rows at their next poll.
    await waitFor(async () => (heard.length > 0 ? true : undefined), 3000, 'a NOTIFY for the rows put back');
  }, 30_000);
});
