import type { Knex } from 'knex';

/**
 * Outgoing webhooks: the outbox (messages and one delivery per endpoint), the attempt log, endpoint
 * health, and the secrets a rotation keeps signing for a while. Plain SQL, one statement per call
 * (PGlite's extended protocol takes a single statement).
 */
const UP = [
  // Secrets replaced by a rotation, still signing until they expire: [{"secret": "whsec_…", "expiresAt": "…"}].
  `alter table webhooks add column previous_secrets jsonb not null default '[]'`,

  // One row per emitted event that had at least one subscriber. `payload` is the exact envelope text every
  // endpoint receives on every attempt (text, not jsonb: jsonb would reorder keys and change the bytes).
  `create table outbound_messages (
     id uuid primary key,
     event text not null,
     tenant_id text,
     payload text not null,
     created_at timestamptz not null default now()
   )`,

  // One row per (message, endpoint): the queue. `available_at` is when the row may next be claimed: the
  // next attempt's due time while pending, the lease's expiry while sending. A worker that dies mid-send
  // leaves a `sending` row whose lease runs out, and any worker claims it again.
  `create table outbound_deliveries (
     id uuid primary key,
     message_id uuid not null references outbound_messages (id) on delete cascade,
     webhook_id uuid not null references webhooks (id) on delete cascade,
     status text not null check (status in ('pending', 'sending', 'succeeded', 'failed')),
     is_test boolean not null default false,
     available_at timestamptz not null,
     lease_token uuid,
     lease_owner text,
     round_attempts integer not null default 0,
     attempt_count integer not null default 0,
     last_status_code integer,
     last_error jsonb,
     created_at timestamptz not null default now(),
     updated_at timestamptz not null default now(),
     completed_at timestamptz
   )`,
  // The claim: open rows in due order. Partial, so finished deliveries never slow it down.
  `create index outbound_deliveries_due_idx on outbound_deliveries (available_at, id) where status in ('pending', 'sending')`,
  // GET /admin/api/deliveries?webhookId=…&status=…, newest first (ids are UUIDv7).
  `create index outbound_deliveries_webhook_idx on outbound_deliveries (webhook_id, id)`,
  `create index outbound_deliveries_status_idx on outbound_deliveries (status, id)`,
  `create index outbound_deliveries_message_idx on outbound_deliveries (message_id)`,

  // Every attempt. `id` is the attempt's X-Webhook-Delivery; numbers are handed out at claim time, so an
  // attempt lost with its process leaves a gap rather than a clash.
  `create table outbound_attempts (
     id uuid primary key,
     delivery_id uuid not null references outbound_deliveries (id) on delete cascade,
     attempt_number integer not null,
     worker text not null,
     started_at timestamptz not null,
     duration_ms double precision not null,
     status_code integer,
     response_excerpt text,
     response_truncated boolean not null default false,
     error jsonb,
     outcome text not null check (outcome in ('succeeded', 'retry', 'failed')),
     unique (delivery_id, attempt_number)
   )`,

  // Kept apart from webhooks: it changes on every attempt, and a write to webhooks bumps the config
  // version every process polls.
  `create table outbound_endpoint_health (
     webhook_id uuid primary key references webhooks (id) on delete cascade,
     consecutive_failures integer not null default 0,
     failing_since timestamptz,
     last_failure_at timestamptz,
     last_success_at timestamptz,
     disabled_at timestamptz,
     disabled_reason text
   )`,
];

const DOWN = [
  'drop table if exists outbound_endpoint_health',
  'drop table if exists outbound_attempts',
  'drop table if exists outbound_deliveries',
  'drop table if exists outbound_messages',
  'alter table webhooks drop column if exists previous_secrets',
];

export async function up(knex: Knex): Promise<void> {
  for (const sql of UP) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const sql of DOWN) await knex.raw(sql);
}
