// `node scripts/queue-sql-cost.mjs` (after `npm run build`): the CPU PostgreSQL's backends spend per delivery on
// each statement of the durable queue, and what parts of the schema cost, measured as variants of it in one run.
//
// Runs the engine's real statements (the outbox write, the claim, the batched completion) with node-postgres,
// one connection each, one statement at a time, and reads each connection's backend CPU from /proc/<pid>/schedstat,
// so it must run on PostgreSQL's machine. What those three backends spend is all it counts: not the WAL writer
// (which flushes the commits that do not wait for the disk), autovacuum, the checkpointer, or the lookup of the
// subscribed endpoints — bench:outbound's PostgreSQL figure counts every PostgreSQL process. Each variant is a fresh
// schema, migrated, then changed by the variant's DDL; the variants take turns round by round, so machine noise
// hits them all alike. Per round: 8 events to 4 endpoints written in one outbox statement (32 deliveries, as
// bench:outbound's 8 emitters batch them), then completed in batches of 16 (successes: an attempt row each, one
// health row per endpoint). The first 50 rounds of each variant are a warm-up and are not counted.
//
// QUEUE_PATH=handoff (default): the deliveries are written already leased, as the hand-off writes them.
// QUEUE_PATH=claim: they are written pending and leased by the claim (32 at a time) before completing.
// Other options (env): QUEUE_EVENTS (16000 per variant, each to 4 endpoints), QUEUE_VARIANTS (comma-separated,
// default all), DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
//
// The variants are measurements, not configurations: each removes something the engine relies on — the foreign
// keys' cascading deletes and integrity, the (status, id) index behind the admin API's status filter, the claim's
// due index. `no-queue-indexes` is the most a completion could gain by being a HOT update (no index entry
// written), and is skipped for the claim path.
import pg from 'pg';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';

const { createLogger, createStore } = await import('../dist/src/index.js');
const { uuidv7 } = await import('../dist/src/store/index.js');
const { WRITE_COMPLETIONS } = await import('../dist/src/outbound/completion-writer.js');
const { INSERT_MESSAGES_AND_DELIVERIES, CLAIM } = await import('../dist/src/outbound/delivery-queue.js');

const path = process.env.QUEUE_PATH ?? 'handoff';
const events = Number(process.env.QUEUE_EVENTS ?? 16000);
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ENDPOINTS = 4;
const EVENTS_PER_WRITE = 8;
const COMPLETION_BATCH = 16;

const VARIANTS = {
  schema: [],
  'no-message-fk': ['alter table outbound_deliveries drop constraint outbound_deliveries_message_id_fkey'],
  'no-webhook-fk': ['alter table outbound_deliveries drop constraint outbound_deliveries_webhook_id_fkey'],
  'no-attempt-fk': ['alter table outbound_attempts drop constraint outbound_attempts_delivery_id_fkey'],
  'no-foreign-keys': [
    'alter table outbound_deliveries drop constraint outbound_deliveries_message_id_fkey',
    'alter table outbound_deliveries drop constraint outbound_deliveries_webhook_id_fkey',
    'alter table outbound_attempts drop constraint outbound_attempts_delivery_id_fkey',
  ],
  'no-status-index': ['drop index outbound_deliveries_status_idx'],
  'no-queue-indexes': [
    'drop index outbound_deliveries_status_idx',
    'drop index outbound_deliveries_finished_idx',
    'drop index outbound_deliveries_due_idx',
    'alter table outbound_deliveries set (fillfactor = 70)',
  ],
};
const names = (process.env.QUEUE_VARIANTS ?? Object.keys(VARIANTS).join(','))
  .split(',')
  .filter((name) => !(path === 'claim' && name === 'no-queue-indexes'));
for (const name of names) if (!VARIANTS[name]) throw new Error(`unknown variant ${name}; known: ${Object.keys(VARIANTS).join(', ')}`);

/** A connection's backend CPU so far, in ms (its time on a CPU, from /proc/<pid>/schedstat, in ns). */
async function backendCpu(client) {
  const { rows: [{ pid }] } = await client.query('select pg_backend_pid() as pid');
  return () => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

const payload = JSON.stringify({ id: randomUUID(), event: 'bench.order.created', version: '1', timestamp: new Date().toISOString(), data: { orderId: 'ord_00000001', customer: { id: 'cus_4242', email: 'ada@example.com' }, amount: 12_345, currency: 'EUR', items: [{ sku: 'sku_1', qty: 2 }, { sku: 'sku_2', qty: 1 }] }, metadata: {} });

/** A fresh schema for `variant` (added to `benches` at once, so that it is dropped whatever fails), migrated and changed, with 4 endpoints and a connection per statement. */
async function setUp(variant, benches) {
  const schema = `hookgate_queue_sql_${process.pid}_${variant.replace(/-/g, '_')}`;
  const store = await createStore({ databaseUrl, schema, logger: createLogger('error') });
  const bench = { variant, schema, store, clients: [], endpoints: [], spent: { outbox: 0, claim: 0, completion: 0 }, delivered: 0, halves: [0, 0], halfDelivered: [0, 0] };
  benches.push(bench);
  await store.migrate();
  for (const ddl of VARIANTS[variant]) await store.knex.raw(ddl);
  for (let i = 0; i < ENDPOINTS; i++) {
    const secret = `whsec_${Buffer.alloc(32, i + 1).toString('base64')}`;
    bench.endpoints.push((await store.createOutgoingWebhook({ url: `http://127.0.0.1:${9000 + i}/hook`, secret, events: ['bench.order.created'] })).id);
  }
  const connect = async () => {
    const client = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${schema}` });
    bench.clients.push(client);
    await client.connect();
    return { client, cpu: await backendCpu(client) };
  };
  bench.outbox = await connect();
  bench.claim = await connect();
  bench.completion = await connect();
}

async function tearDown(bench) {
  await Promise.all(bench.clients.map((c) => c.end().catch(() => undefined)));
  await bench.store.knex.raw('drop schema if exists ?? cascade', [bench.schema]).catch((err) => console.error(`could not drop schema ${bench.schema}`, err));
  await bench.store.close().catch(() => undefined);
}

/** One round on one variant: 8 events written, (claimed,) and completed; its backend CPU added up when `counted`. */
async function round(bench, counted, half) {
  const timed = async (who, key, query) => {
    const before = who.cpu();
    const result = await who.client.query(query);
    const ms = who.cpu() - before;
    if (counted) {
      bench.spent[key] += ms;
      bench.halves[half] += ms;
    }
    return result;
  };
  const now = new Date();
  const at = now.toISOString();
  const leaseEnds = new Date(now.getTime() + 45_000).toISOString();
  const messages = [];
  const deliveries = [];
  for (let e = 0; e < EVENTS_PER_WRITE; e++) {
    const messageId = uuidv7(now.getTime());
    messages.push({ id: messageId, event: 'bench.order.created', tenant_id: null, payload, at });
    for (const webhookId of bench.endpoints) {
      const leased = path === 'handoff';
      deliveries.push({ id: uuidv7(now.getTime()), message_id: messageId, webhook_id: webhookId, status: leased ? 'sending' : 'pending', available_at: leased ? leaseEnds : at, lease_token: leased ? randomUUID() : null, lease_owner: leased ? 'queue-sql-cost' : null, attempts: leased ? 1 : 0, at });
    }
  }
  await timed(bench.outbox, 'outbox', { name: INSERT_MESSAGES_AND_DELIVERIES.name, text: INSERT_MESSAGES_AND_DELIVERIES.text, values: [JSON.stringify(messages), JSON.stringify(deliveries)] });
  let held = deliveries.map((d) => ({ id: d.id, webhookId: d.webhook_id, leaseToken: d.lease_token }));
  if (path === 'claim') {
    const claimNow = new Date().toISOString();
    const { rows } = await timed(bench.claim, 'claim', {
      name: CLAIM.name,
      text: CLAIM.text,
      values: [claimNow, false, '{}', deliveries.length, 64, '{}', deliveries.length, claimNow, deliveries.length, 'queue-sql-cost', claimNow, 15_000, claimNow],
    });
    held = rows.map((r) => ({ id: r.id, webhookId: r.webhook_id, leaseToken: r.lease_token }));
  }
  for (let i = 0; i < held.length; i += COMPLETION_BATCH) {
    const batch = held.slice(i, i + COMPLETION_BATCH);
    const done = new Date().toISOString();
    const states = batch.map((d) => ({ id: d.id, lease_token: d.leaseToken, status: 'succeeded', available_at: done, last_status_code: 200, last_error: null, now: done, completed_at: done }));
    const attempts = batch.map((d) => ({ id: uuidv7(Date.now()), delivery_id: d.id, attempt_number: 1, worker: 'queue-sql-cost', started_at: done, duration_ms: 1.5, status_code: 200, response_excerpt: '{"received":true}', response_truncated: false, error: null, outcome: 'succeeded' }));
    const health = [...new Set(batch.map((d) => d.webhookId))].sort().map((webhook_id) => ({ webhook_id, at: done }));
    const values = [JSON.stringify(batch.map((d) => d.id)), JSON.stringify(states), JSON.stringify(attempts), JSON.stringify(health)];
    const { rows } = await timed(bench.completion, 'completion', { name: WRITE_COMPLETIONS.name, text: WRITE_COMPLETIONS.text, values });
    if (rows.length !== batch.length) throw new Error(`${bench.variant}: ${rows.length} of ${batch.length} completions held their lease`);
  }
  if (counted) {
    bench.delivered += held.length;
    bench.halfDelivered[half] += held.length;
  }
}

console.log(`PostgreSQL backend CPU per delivery (µs), ${path} path: ${events} events x ${ENDPOINTS} endpoints per variant, the variants taking turns round by round`);
const benches = [];
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const bench of benches) await tearDown(bench);
}
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void cleanup().finally(() => process.exit(130)));
try {
  for (const name of names) await setUp(name, benches);
  const rounds = Math.ceil(events / EVENTS_PER_WRITE);
  const warmUp = 50;
  for (let r = 0; r < warmUp + rounds; r++) {
    // Planner statistics gathered halfway through the warm-up, so that the prepared plans settle on them before anything counts.
    if (r === warmUp / 2) {
      for (const bench of benches) await bench.outbox.client.query('analyze outbound_messages, outbound_deliveries, outbound_attempts, outbound_endpoint_health, webhooks');
    }
    // Each round starts with the next variant, so none always runs right after another.
    for (let i = 0; i < benches.length; i++) await round(benches[(r + i) % benches.length], r >= warmUp, r - warmUp < rounds / 2 ? 0 : 1);
  }
  const per = (ms, count) => (count > 0 ? (1000 * ms) / count : NaN);
  const totalOf = (bench) => per(bench.spent.outbox + bench.spent.claim + bench.spent.completion, bench.delivered);
  const baseline = totalOf(benches[0]);
  for (const bench of benches) {
    const column = (key) => `${key} ${per(bench.spent[key], bench.delivered).toFixed(1)}`;
    const halves = bench.halves.map((ms, i) => (bench.halfDelivered[i] > 0 ? per(ms, bench.halfDelivered[i]).toFixed(0) : '-')).join(' / ');
    console.log(
      `${bench.variant.padEnd(17)} ${column('outbox')}  ${path === 'claim' ? `${column('claim')}  ` : ''}${column('completion')}  ` +
        `total ${totalOf(bench).toFixed(1)} (halves ${halves})  vs ${benches[0].variant} ${(totalOf(bench) / baseline).toFixed(2)}x`,
    );
  }
} finally {
  await cleanup();
}
