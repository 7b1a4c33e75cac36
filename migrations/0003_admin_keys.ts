import type { Knex } from 'knex';

/**
 * API keys with roles and tenants. `admin_tokens` keeps every key (only the SHA-256 of the key is stored):
 * a platform key has role `admin` and no tenant; a tenant key has role `owner`, `admin` or `member` and a
 * tenant. Revoking sets `revoked_at`; the row stays, so the list shows who had access and until when.
 */
const UP = [
  `alter table admin_tokens add column name text`,
  `alter table admin_tokens add column tenant_id text`,
  `alter table admin_tokens add column revoked_at timestamptz`,
  `alter table admin_tokens add constraint admin_tokens_role_check check (
     (tenant_id is null and role = 'admin') or (tenant_id is not null and role in ('owner', 'admin', 'member')))`,
  `create index admin_tokens_tenant_idx on admin_tokens (tenant_id, created_at)`,
];

const DOWN = [
  'drop index if exists admin_tokens_tenant_idx',
  'alter table admin_tokens drop constraint if exists admin_tokens_role_check',
  'alter table admin_tokens drop column if exists revoked_at',
  'alter table admin_tokens drop column if exists tenant_id',
  'alter table admin_tokens drop column if exists name',
];

export async function up(knex: Knex): Promise<void> {
  for (const sql of UP) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const sql of DOWN) await knex.raw(sql);
}
