import type { Knex } from 'knex';

/**
 * The initial schema. Plain SQL, one statement per call: PGlite runs each query through the extended
 * protocol, which takes a single statement.
 */
const UP = [
  // A single-row counter. The trigger below bumps it in the same transaction as every webhook or
  // settings write, so a process can tell its config cache is stale with one cheap query.
  `create table config_version (
     id boolean primary key default true check (id),
     version bigint not null default 0
   )`,
  `insert into config_version (id, version) values (true, 0)`,
  // SET search_path FROM CURRENT pins the schema the migration ran in, so the trigger finds
  // config_version whatever the writer's search_path is.
  `create function hookgate_bump_config_version() returns trigger
     language plpgsql
     set search_path from current
   as $$
   begin
     update config_version set version = version + 1;
     return null;
   end
   $$`,

  `create table webhooks (
     id uuid primary key default gen_random_uuid(),
     direction text not null check (direction in ('inbound', 'outgoing')),
     tenant_id text,
     is_active boolean not null default true,
     events jsonb not null default '["*"]' check (jsonb_typeof(events) = 'array'),
     provider text,
     js_script text,
     script_version integer,
     allowed_actions jsonb,
     emit_events jsonb,
     verify jsonb,
     url text,
     secret text,
     max_retries integer,
     retry_delay_ms integer,
     timeout_ms integer,
     created_at timestamptz not null default now(),
     updated_at timestamptz not null default now(),
     constraint webhooks_inbound_fields check (direction <> 'inbound' or (
       provider is not null and js_script is not null and script_version is not null
       and allowed_actions is not null and verify is not null)),
     constraint webhooks_outgoing_fields check (direction <> 'outgoing' or (
       url is not null and secret is not null and max_retries is not null
       and retry_delay_ms is not null and timeout_ms is not null))
   )`,
  // Provider names are unique among inbound webhooks only (findByProvider).
  `create unique index webhooks_inbound_provider_key on webhooks (provider) where direction = 'inbound'`,
  // findByEvent: events @> '["<event>"]' OR events @> '["*"]' over active outgoing webhooks.
  `create index webhooks_outgoing_events_idx on webhooks using gin (events jsonb_path_ops)
     where direction = 'outgoing' and is_active`,
  `create trigger webhooks_bump_config_version after insert or update or delete on webhooks
     for each row execute function hookgate_bump_config_version()`,
  `create trigger webhooks_truncate_bump_config_version after truncate on webhooks
     for each statement execute function hookgate_bump_config_version()`,

  `create table script_versions (
     webhook_id uuid not null references webhooks (id) on delete cascade,
     version integer not null,
     js_script text not null,
     created_at timestamptz not null default now(),
     primary key (webhook_id, version)
   )`,

  `create table settings (
     key text primary key,
     value jsonb not null,
     updated_at timestamptz not null default now()
   )`,
  `create trigger settings_bump_config_version after insert or update or delete on settings
     for each row execute function hookgate_bump_config_version()`,
  `create trigger settings_truncate_bump_config_version after truncate on settings
     for each statement execute function hookgate_bump_config_version()`,

  // Run history outlives its webhook, so webhook_id has no foreign key.
  `create table runs (
     id uuid primary key,
     webhook_id uuid,
     provider text not null,
     event_type text,
     status text not null,
     duration_ms double precision not null,
     script_version integer,
     actions_called jsonb not null default '[]',
     logs jsonb not null default '[]',
     error jsonb,
     emitted_event text,
     created_at timestamptz not null default now()
   )`,
  // Keyset pagination newest first: (created_at, id) < (cursor) order by created_at desc, id desc.
  `create index runs_created_at_idx on runs (created_at, id)`,
  `create index runs_provider_created_at_idx on runs (provider, created_at, id)`,
  `create index runs_status_created_at_idx on runs (status, created_at, id)`,

  `create table admin_tokens (
     id text primary key,
     token_hash text not null unique,
     prefix text not null,
     role text not null,
     created_at timestamptz not null default now()
   )`,
];

const DOWN = [
  'drop table if exists admin_tokens',
  'drop table if exists runs',
  'drop table if exists settings',
  'drop table if exists script_versions',
  'drop table if exists webhooks',
  'drop function if exists hookgate_bump_config_version()',
  'drop table if exists config_version',
];

export async function up(knex: Knex): Promise<void> {
  for (const sql of UP) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const sql of DOWN) await knex.raw(sql);
}
