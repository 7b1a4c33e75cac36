import type { Knex } from 'knex';

/**
 * Inbound hardening: per-webhook mode, body limit, idempotency and rate-limit settings; the inbox (every
 * accepted inbound request, stored before it runs); and the link from a run to its stored request.
 * Plain SQL, one statement per call (PGlite's extended protocol takes a single statement).
 */
const UP = [
  `alter table webhooks add column mode text not null default 'sync' check (mode in ('sync', 'async'))`,
  `alter table webhooks add column body_limit_bytes integer`,
  `alter table webhooks add column idempotency jsonb`,
  `alter table webhooks add column rate_limit jsonb`,

  // One row per accepted request. `body` is the raw text exactly as received (JSON or form-encoded, so
  // always text). A row is `running` while a process holds its lease: sync requests are inserted that way
  // by the process answering them; async ones are inserted `pending` and claimed by a worker. A process
  // that dies mid-run leaves a `running` row whose lease runs out, and any worker claims it again.
  `create table inbox (
     id uuid primary key,
     webhook_id uuid,
     provider text not null,
     delivery_key text,
     mode text not null check (mode in ('sync', 'async')),
     status text not null check (status in ('pending', 'running', 'done', 'failed')),
     content_type text not null,
     headers jsonb not null,
     body text not null,
     attempts integer not null default 0,
     lease_until timestamptz,
     available_at timestamptz not null default now(),
     run_id uuid,
     last_error text,
     received_at timestamptz not null default now(),
     finished_at timestamptz
   )`,
  // Idempotency is the database's job, not memory's: two processes inserting the same delivery id at the
  // same moment cannot both succeed.
  `create unique index inbox_delivery_key on inbox (provider, delivery_key) where delivery_key is not null`,
  // The worker's claim: due pending rows and running rows whose lease ran out.
  `create index inbox_claim_idx on inbox (available_at) where status in ('pending', 'running')`,
  `create index inbox_received_at_idx on inbox (received_at)`,

  `alter table runs add column inbox_id uuid`,
];

const DOWN = [
  'alter table runs drop column if exists inbox_id',
  'drop table if exists inbox',
  'alter table webhooks drop column if exists rate_limit',
  'alter table webhooks drop column if exists idempotency',
  'alter table webhooks drop column if exists body_limit_bytes',
  'alter table webhooks drop column if exists mode',
];

export async function up(knex: Knex): Promise<void> {
  for (const sql of UP) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const sql of DOWN) await knex.raw(sql);
}
