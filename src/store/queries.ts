import type { Knex } from 'knex';
import { type DbWebhook, jsonb, RUN_COLUMNS } from './rows.js';
import { CURSOR_TIMESTAMP_SQL, decodeRunCursor } from './run-cursor.js';
import type { InboundWebhookPatch, OutgoingWebhookPatch, RunQuery } from './types.js';

/*
 * The store's hot queries, one small function each, taking the knex instance or a transaction.
 * Exported so tests can EXPLAIN exactly what the store runs.
 */

export type Db = Knex | Knex.Transaction;

/** The inbound webhook of a provider (uses `webhooks_inbound_provider_key`). */
export function queryInboundByProvider(db: Db, provider: string): Knex.QueryBuilder<DbWebhook, DbWebhook[]> {
  return db<DbWebhook>('webhooks').whereRaw(`direction = 'inbound'`).andWhere('provider', provider);
}

/**
 * Active outgoing webhooks taking an event (or `*`), global plus the tenant's (only global ones for a null
 * tenant): the condition, with two placeholders (the event as a one-element JSON array, the tenant id). It
 * repeats the partial GIN index's own predicate (`direction = 'outgoing' and is_active`) literally so the
 * planner can use it. The outbox write runs it as a prepared statement (delivery-queue.ts).
 */
export const OUTGOING_BY_EVENT = `direction = 'outgoing' and is_active and (events @> ?::jsonb or events @> '["*"]'::jsonb) and (tenant_id is null or tenant_id = ?::text)`;

/** Active outgoing webhooks taking `event` (see OUTGOING_BY_EVENT), oldest first. */
export function queryOutgoingByEvent(db: Db, event: string, tenantId: string | null): Knex.QueryBuilder<DbWebhook, DbWebhook[]> {
  return db<DbWebhook>('webhooks')
    .whereRaw(OUTGOING_BY_EVENT, [jsonb([event]), tenantId])
    .orderBy([{ column: 'created_at' }, { column: 'id' }]);
}

/** One page of runs, newest first, keyset-paginated on (created_at, id); fetches one extra row to tell if more follow. */
export function queryRunsPage(db: Db, query: RunQuery, limit: number): Knex.QueryBuilder {
  const q = db('runs').select(...RUN_COLUMNS, db.raw(`${CURSOR_TIMESTAMP_SQL} as cursor_ts`));
  if (query.provider !== undefined) q.where('provider', query.provider);
  if (query.status !== undefined) q.where('status', query.status);
  if (query.cursor !== undefined) {
    const after = decodeRunCursor(query.cursor);
    q.whereRaw('(created_at, id) < (?::timestamptz, ?::uuid)', [after.createdAt, after.id]);
  }
  return q.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit + 1);
}

/** The config version (bumped by triggers on `webhooks` and `settings`). */
export async function readConfigVersion(db: Db): Promise<number> {
  const row = await db('config_version').first<{ version: string | number } | undefined>('version');
  return Number(row?.version ?? 0);
}

export function inboundColumns(input: InboundWebhookPatch): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  if (input.provider !== undefined) columns.provider = input.provider;
  if (input.jsScript !== undefined) columns.js_script = input.jsScript;
  if (input.allowedActions !== undefined) columns.allowed_actions = jsonb(input.allowedActions);
  if (input.events !== undefined) columns.events = jsonb(input.events);
  if (input.emitEvents !== undefined) columns.emit_events = jsonb(input.emitEvents);
  if (input.verify !== undefined) columns.verify = jsonb(input.verify);
  if (input.isActive !== undefined) columns.is_active = input.isActive;
  if (input.tenantId !== undefined) columns.tenant_id = input.tenantId;
  if (input.mode !== undefined) columns.mode = input.mode;
  if (input.bodyLimitBytes !== undefined) columns.body_limit_bytes = input.bodyLimitBytes;
  if (input.idempotency !== undefined) columns.idempotency = jsonb(input.idempotency);
  if (input.rateLimit !== undefined) columns.rate_limit = jsonb(input.rateLimit);
  return columns;
}

export function outgoingColumns(input: OutgoingWebhookPatch): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  if (input.url !== undefined) columns.url = input.url;
  if (input.secret !== undefined) columns.secret = input.secret;
  if (input.events !== undefined) columns.events = jsonb(input.events);
  if (input.isActive !== undefined) columns.is_active = input.isActive;
  if (input.tenantId !== undefined) columns.tenant_id = input.tenantId;
  if (input.maxRetries !== undefined) columns.max_retries = input.maxRetries;
  if (input.retryDelayMs !== undefined) columns.retry_delay_ms = input.retryDelayMs;
  if (input.timeoutMs !== undefined) columns.timeout_ms = input.timeoutMs;
  return columns;
}
