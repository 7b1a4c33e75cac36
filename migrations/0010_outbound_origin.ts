import type { Knex } from 'knex';

/**
 * Where a queued message came from, for the log lines of its delivery attempts: the request id and the run
 * id of the inbound request (or admin request) that emitted it. Kept beside the payload, not in it, so the
 * envelope receivers see stays as the contract says, and a worker in another process — or after a
 * restart — logs the same request id. Nullable without a default: adding them rewrites no row.
 */
const UP = [
  `alter table outbound_messages add column request_id text`,
  `alter table outbound_messages add column run_id uuid`,
];

const DOWN = ['alter table outbound_messages drop column if exists run_id', 'alter table outbound_messages drop column if exists request_id'];

export async function up(knex: Knex): Promise<void> {
  for (const sql of UP) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const sql of DOWN) await knex.raw(sql);
}
