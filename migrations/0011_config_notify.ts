import type { Knex } from 'knex';

/**
 * Config changes wake the other processes at once: the version bump also sends a NOTIFY on a channel of
 * this schema (`hookgate_config_` + the first 16 hex digits of md5(schema); see `configChannel`), which each
 * PostgreSQL engine LISTENs on to drop its config cache. The version poll stays as the fallback (a missed
 * notification while a listener reconnects). NOTIFY is sent at commit, once per transaction and payload.
 */

/** The trigger function that bumps the version, with `extra` statements after the bump. */
function bumpFunction(extra: string): string {
  return `create or replace function hookgate_bump_config_version() returns trigger
     language plpgsql
     set search_path from current
   as $$
   begin
     update config_version set version = version + 1;${extra}
     return null;
   end
   $$`;
}

const UP = [bumpFunction(`\n     perform pg_notify('hookgate_config_' || substr(md5(current_schema()), 1, 16), '');`)];

/** As migration 0001 made it. */
const DOWN = [bumpFunction('')];

export async function up(knex: Knex): Promise<void> {
  for (const sql of UP) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const sql of DOWN) await knex.raw(sql);
}
