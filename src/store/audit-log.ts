import type { Knex } from 'knex';
import { keyChanges, settingsChanges, webhookChanges } from '../audit/index.js';
import type { Db } from './queries.js';
import { jsonb, toIso } from './rows.js';
import { cursorTimestampSql, decodeRunCursor, pageOf } from './run-cursor.js';
import { uuidv7 } from './uuidv7.js';
import type {
  AdminTokenRecord,
  AuditAction,
  AuditActor,
  AuditChanges,
  AuditEntry,
  AuditQuery,
  AuditTargetType,
  NewAuditEntry,
  Page,
  Settings,
  Webhook,
} from './types.js';

/*
 * The audit log's SQL (table from migrations/0007_audit_log.ts). Entries are written with the `db` of the
 * change they record, a transaction where there is one, so the change and its entry commit together.
 */

export interface DbAuditEntry {
  id: string;
  at: Date;
  actor_key_id: string | null;
  actor_role: AuditEntry['actorRole'];
  actor_tenant_id: string | null;
  tenant_id: string | null;
  action: AuditAction;
  target_type: AuditTargetType;
  target_id: string | null;
  changes: AuditChanges;
}

/** Page size bound of `listAuditEntries`. */
export const MAX_AUDIT_PAGE = 1000;

const AT_CURSOR_SQL = cursorTimestampSql('at');

export function toAuditEntry(row: DbAuditEntry): AuditEntry {
  return {
    id: row.id,
    at: toIso(row.at),
    actorKeyId: row.actor_key_id,
    actorRole: row.actor_role,
    actorTenantId: row.actor_tenant_id,
    tenantId: row.tenant_id,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    changes: row.changes,
  };
}

/** An entry before its actor is known: what the store's write methods build. */
type ChangeEntry = Omit<NewAuditEntry, 'actor'>;

/** Appends one entry. */
export async function insertAuditEntry(db: Db, entry: NewAuditEntry): Promise<AuditEntry> {
  const rows: DbAuditEntry[] = await db('audit_log')
    .insert({
      id: uuidv7(),
      actor_key_id: entry.actor.keyId,
      actor_role: entry.actor.role,
      actor_tenant_id: entry.actor.tenantId,
      tenant_id: entry.tenantId,
      action: entry.action,
      target_type: entry.targetType,
      target_id: entry.targetId,
      changes: jsonb(entry.changes),
    })
    .returning('*');
  return toAuditEntry(rows[0] as DbAuditEntry);
}

/**
 * The store's write path: records `entry` for `actor` when there is an actor (a change made through the
 * admin API) and something changed; a no-op update writes nothing.
 */
export async function recordChange(db: Db, actor: AuditActor | undefined, entry: ChangeEntry): Promise<void> {
  if (!actor || Object.keys(entry.changes).length === 0) return;
  await insertAuditEntry(db, { ...entry, actor });
}

/** A webhook created (null `before`), updated or deleted (null `after`). */
export function webhookEntry(action: AuditAction, before: Webhook | null, after: Webhook | null): ChangeEntry {
  const webhook = (after ?? before) as Webhook;
  return {
    action,
    targetType: webhook.direction === 'inbound' ? 'inbound_webhook' : 'outgoing_webhook',
    targetId: webhook.id,
    tenantId: webhook.tenantId,
    changes: webhookChanges(before, after),
  };
}

export function settingsEntry(before: Settings | null, after: Settings): ChangeEntry {
  return { action: 'settings.updated', targetType: 'settings', targetId: null, tenantId: null, changes: settingsChanges(before, after) };
}

/**
 * A delivery queued again (`POST /admin/api/deliveries/:id/redeliver`, `hookgate deliveries redeliver`):
 * audited right after it succeeded, since the queue's SQL is not the store's transaction.
 */
export function redeliveryEntry(actor: AuditActor, deliveryId: string, tenantId: string | null, before: string | undefined, after: string): NewAuditEntry {
  return { actor, action: 'delivery.redelivered', targetType: 'delivery', targetId: deliveryId, tenantId, changes: { status: { before, after } } };
}

/** A key created (null `before`) or revoked. */
export function keyEntry(before: AdminTokenRecord | null, after: AdminTokenRecord): ChangeEntry {
  return {
    action: before ? 'key.revoked' : 'key.created',
    targetType: 'api_key',
    targetId: after.id,
    tenantId: after.tenantId ?? null,
    changes: keyChanges(before, after),
  };
}

/** One page newest first, keyset-paginated on (at, id); fetches one extra row to tell if more follow. */
export function queryAuditPage(db: Db, query: AuditQuery, limit: number): Knex.QueryBuilder {
  const q = db('audit_log').select('*', db.raw(`${AT_CURSOR_SQL} as cursor_ts`));
  if (query.targetId !== undefined) q.where('target_id', query.targetId);
  if (query.action !== undefined) q.where('action', query.action);
  if (query.actorKeyId !== undefined) q.where('actor_key_id', query.actorKeyId);
  if (query.tenantId !== undefined) q.where('tenant_id', query.tenantId);
  if (query.targetTypes !== undefined) q.whereIn('target_type', [...query.targetTypes]);
  if (query.cursor !== undefined) {
    const after = decodeRunCursor(query.cursor);
    q.whereRaw('(at, id) < (?::timestamptz, ?::uuid)', [after.createdAt, after.id]);
  }
  return q.orderBy([{ column: 'at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit + 1);
}

export async function listAuditEntries(db: Db, query: AuditQuery): Promise<Page<AuditEntry>> {
  const limit = Math.min(Math.max(Math.trunc(query.limit) || 1, 1), MAX_AUDIT_PAGE);
  if (query.targetTypes?.length === 0) return { items: [], nextCursor: null };
  const rows = (await queryAuditPage(db, query, limit)) as Array<DbAuditEntry & { cursor_ts: string }>;
  return pageOf(rows, limit, toAuditEntry);
}
