import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KnexStore } from '../../src/store/index.js';
import type { PreparedStatement } from '../../src/store/prepared-statement.js';
import { CLAIM, SUBSCRIBED_ENDPOINTS } from '../../src/outbound/delivery-queue.js';
import { WRITE_COMPLETIONS } from '../../src/outbound/completion-writer.js';
import { storeFactories } from '../helpers/stores.js';

const postgres = storeFactories().find((f) => f.name === 'postgres')!;

/** A value as an SQL literal, for EXECUTE. */
function literal(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number') return String(value);
  return `'${String(value).replace(/'/g, "''")}'`;
}

let probes = 0;

/**
 * The plan PostgreSQL keeps for a prepared statement once it stops planning each call with its values (a
 * generic plan), as EXPLAIN shows it, in a transaction that is rolled back.
 */
async function genericPlan(store: KnexStore, statement: PreparedStatement, values: unknown[], settings: string[] = []): Promise<string> {
  let plan = '';
  await store.knex
    .transaction(async (trx) => {
      await trx.raw('set local plan_cache_mode = force_generic_plan');
      for (const setting of settings) await trx.raw(`set local ${setting}`);
      // PREPARE outlives the transaction, on a pooled connection: a name of its own each time.
      const name = `generic_probe_${(probes += 1)}`;
      await trx.raw(`prepare ${name} as ${statement.text}`);
      const result = (await trx.raw(`explain execute ${name}(${values.map(literal).join(', ')})`)) as { rows: Array<Record<string, string>> };
      plan = result.rows.map((r) => r['QUERY PLAN']).join('\n');
      throw new Error('rollback');
    })
    .catch((err: Error) => {
      if (err.message !== 'rollback') throw err;
    });
  return plan;
}

// The queue's prepared statements keep one plan per connection, made without the values of any one call:
// with a large backlog that plan must still find its rows by index, never by scanning the queue.
describe('generic plans of the queue statements on PostgreSQL, with a backlog', () => {
  let store: KnexStore;
  let webhookId: string;
  beforeAll(async () => {
    store = await postgres.create();
    const webhook = await store.createOutgoingWebhook({ url: 'https://example.com/hook', secret: 'whsec_dGVzdA==', events: ['plan.test'] });
    webhookId = webhook.id;
    const messageId = randomUUID();
    await store.knex.raw(`insert into outbound_messages (id, event, payload) values (?, 'plan.test', '{}')`, [messageId]);
    // 20,000 retries due in an hour, 20,000 delivered, 500 due now.
    await store.knex.raw(
      `insert into outbound_deliveries (id, message_id, webhook_id, status, available_at, completed_at)
       select gen_random_uuid(), ?, ?, s.status, now() + s.shift + g * interval '1 ms', case when s.status = 'succeeded' then now() end
       from generate_series(1, 20000) g,
            (values ('pending', interval '1 hour'), ('succeeded', interval '-1 day')) as s(status, shift)`,
      [messageId, webhookId],
    );
    await store.knex.raw(
      `insert into outbound_deliveries (id, message_id, webhook_id, status, available_at)
       select gen_random_uuid(), ?, ?, 'pending', now() - interval '1 minute' + g * interval '1 ms' from generate_series(1, 500) g`,
      [messageId, webhookId],
    );
    // This schema's tables only (a bare ANALYZE would go through every test schema in the database).
    await store.knex.raw('analyze webhooks, outbound_messages, outbound_deliveries');
  }, 60_000);
  afterAll(() => store?.close());

  it('the claim walks the due index, also when it skips the endpoints at their cap', async () => {
    const now = new Date().toISOString();
    for (const skipCapped of [false, true]) {
      const plan = await genericPlan(store, CLAIM, [now, skipCapped, '{}', 16, 64, '{}', 16, now, 32, 'worker', now, 15_000, now]);
      expect(plan).toContain('outbound_deliveries_due_idx');
      expect(plan).not.toMatch(/Seq Scan on outbound_deliveries/);
    }
  });

  it('the batched completion looks its deliveries up by primary key', async () => {
    const ids = (await store.knex('outbound_deliveries').limit(20).pluck('id')) as string[];
    const now = new Date().toISOString();
    const deliveries = ids.map((id) => ({ id, lease_token: randomUUID(), status: 'succeeded', available_at: now, last_status_code: 204, last_error: null, now, completed_at: now }));
    const plan = await genericPlan(store, WRITE_COMPLETIONS, [JSON.stringify(ids), JSON.stringify(deliveries), '[]', JSON.stringify([{ webhook_id: webhookId, at: now }])]);
    expect(plan).toContain('outbound_deliveries_pkey');
    expect(plan).not.toMatch(/Seq Scan on outbound_deliveries/);
  });

  it('the outbox write finds subscribed endpoints by the events index', async () => {
    // A handful of webhooks make a scan the cheapest plan; forbid it to see which index the plan can use.
    const plan = await genericPlan(store, SUBSCRIBED_ENDPOINTS, ['["plan.test"]', 'tenant-1'], ['enable_seqscan = off']);
    expect(plan).toContain('webhooks_outgoing_events_idx');
  });
});
