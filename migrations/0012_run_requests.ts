import type { Knex } from 'knex';

/**
 * A sync request without a delivery id (nothing to de-duplicate, nothing to run again after a crash: the
 * sender waits and retries) is kept only so that its run can be shown and replayed. It is now written in the
 * run's own row instead of an `inbox` row of its own: one row per request instead of two. The run's
 * `inbox_id` still names the stored request; `Inbox.requestOf` reads it from either place.
 */
const UP = [
  `alter table runs add column request_content_type text, add column request_headers jsonb, add column request_body text`,
  // The inbox purge clears requests kept in run rows after inbox.purgeAfterSec, oldest first: only rows that
  // still hold one are indexed.
  `create index runs_request_created_at_idx on runs (created_at) where request_body is not null`,
];

const DOWN = [
  'drop index if exists runs_request_created_at_idx',
  'alter table runs drop column if exists request_content_type, drop column if exists request_headers, drop column if exists request_body',
];

export async function up(knex: Knex): Promise<void> {
  for (const sql of UP) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const sql of DOWN) await knex.raw(sql);
}
