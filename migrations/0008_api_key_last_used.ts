import type { Knex } from 'knex';

/**
 * When an API key was last used, for `hookgate keys list` and `GET /admin/api/keys`. Written when the auth
 * middleware looks a key up (at most once per key, process and cache period, never on the request path's
 * critical section), so it is accurate to about a minute, not to the request.
 */
const UP = [`alter table admin_tokens add column last_used_at timestamptz`];

const DOWN = ['alter table admin_tokens drop column if exists last_used_at'];

export async function up(knex: Knex): Promise<void> {
  for (const sql of UP) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const sql of DOWN) await knex.raw(sql);
}
