import type { Knex } from 'knex';

/**
 * The audit log: one row per change made through the admin API (webhooks, scripts, secrets, settings, keys)
 * and per operation (events emitted, deliveries redelivered, runs replayed). `changes` holds field-level
 * before/after values with every secret replaced by "[redacted]" and scripts by a reference (version,
 * sha256, line counts), never their text. Rows are only ever inserted. No foreign keys: the history
 * outlives the webhooks and keys it names. Plain SQL, one statement per call (PGlite's extended protocol).
 */
const UP = [
  `create table audit_log (
     id uuid primary key,
     at timestamptz not null default now(),
     actor_key_id text,
     actor_role text not null,
     actor_tenant_id text,
     tenant_id text,
     action text not null,
     target_type text not null,
     target_id text,
     changes jsonb not null default '{}' check (jsonb_typeof(changes) = 'object')
   )`,
  // Keyset pagination newest first, (at, id) < (cursor), over everything, a tenant's entries, one target's
  // history and one key's doings. The action filter rides on these (audit writes are rare; reads are few).
  `create index audit_log_at_idx on audit_log (at, id)`,
  `create index audit_log_tenant_idx on audit_log (tenant_id, at, id)`,
  `create index audit_log_target_idx on audit_log (target_id, at, id)`,
  `create index audit_log_actor_idx on audit_log (actor_key_id, at, id)`,
];

const DOWN = ['drop table if exists audit_log'];

export async function up(knex: Knex): Promise<void> {
  for (const sql of UP) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const sql of DOWN) await knex.raw(sql);
}
