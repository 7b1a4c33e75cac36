import type { ConsoleLine, RunError } from '../sandbox/types.js';
import type {
  ActionCallRecord,
  AdminTokenRecord,
  InboundWebhook,
  OutgoingWebhook,
  NewRunRecord,
  RunRecord,
  RunRecordStatus,
  VerifyConfig,
  Webhook,
  InboundMode,
  IdempotencyConfig,
  RateLimitConfig,
} from './types.js';

/*
 * Database rows (snake_case, as the drivers return them) and their mapping to domain objects.
 * jsonb values are written as JSON text: node-postgres would turn a JS array into a PostgreSQL array
 * literal. bigint/count come back as strings from node-postgres and as numbers from PGlite, hence Number().
 */

export interface DbWebhook {
  id: string;
  direction: 'inbound' | 'outgoing';
  tenant_id: string | null;
  is_active: boolean;
  events: string[];
  provider: string | null;
  js_script: string | null;
  script_version: number | null;
  allowed_actions: string[] | null;
  emit_events: string[] | null;
  verify: VerifyConfig | null;
  mode?: InboundMode;
  body_limit_bytes?: number | null;
  idempotency?: IdempotencyConfig | null;
  rate_limit?: RateLimitConfig | null;
  url: string | null;
  secret: string | null;
  max_retries: number | null;
  retry_delay_ms: number | null;
  timeout_ms: number | null;
  created_at: Date;
  updated_at: Date;
}

export interface DbScriptVersion {
  webhook_id: string;
  version: number;
  js_script: string;
  created_at: Date;
}

export interface DbRun {
  id: string;
  webhook_id: string | null;
  provider: string;
  event_type: string | null;
  status: RunRecordStatus;
  duration_ms: number;
  script_version: number | null;
  actions_called: ActionCallRecord[];
  logs: ConsoleLine[];
  error: RunError | null;
  emitted_event: string | null;
  created_at: Date;
  inbox_id?: string | null;
  replay_of?: string | null;
}

export interface DbAdminToken {
  id: string;
  token_hash: string;
  prefix: string;
  role: AdminTokenRecord['role'];
  tenant_id: string | null;
  name: string | null;
  revoked_at: Date | null;
  last_used_at?: Date | null;
  created_at: Date;
}

/** JSON text for a jsonb parameter; null stays SQL NULL. */
export function jsonb(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

export function toIso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

export function toInboundWebhook(row: DbWebhook): InboundWebhook {
  return {
    id: row.id,
    direction: 'inbound',
    isActive: row.is_active,
    tenantId: row.tenant_id,
    events: row.events,
    provider: row.provider ?? '',
    jsScript: row.js_script ?? '',
    scriptVersion: Number(row.script_version ?? 1),
    allowedActions: row.allowed_actions ?? [],
    emitEvents: row.emit_events,
    verify: row.verify ?? { scheme: 'none' },
    mode: row.mode ?? 'sync',
    bodyLimitBytes: row.body_limit_bytes ?? null,
    idempotency: row.idempotency ?? null,
    rateLimit: row.rate_limit ?? null,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

export function toOutgoingWebhook(row: DbWebhook): OutgoingWebhook {
  return {
    id: row.id,
    direction: 'outgoing',
    isActive: row.is_active,
    tenantId: row.tenant_id,
    events: row.events,
    url: row.url ?? '',
    secret: row.secret ?? '',
    maxRetries: Number(row.max_retries),
    retryDelayMs: Number(row.retry_delay_ms),
    timeoutMs: Number(row.timeout_ms),
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

export function toWebhook(row: DbWebhook): Webhook {
  return row.direction === 'inbound' ? toInboundWebhook(row) : toOutgoingWebhook(row);
}

export function toRunRecord(row: DbRun): RunRecord {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    provider: row.provider,
    eventType: row.event_type,
    status: row.status,
    durationMs: Number(row.duration_ms),
    scriptVersion: row.script_version === null ? null : Number(row.script_version),
    actionsCalled: row.actions_called,
    logs: row.logs,
    error: row.error,
    emittedEvent: row.emitted_event,
    createdAt: toIso(row.created_at),
    // Only runs of a stored request have one (not ignored-before-storage or rejected ones, nor older runs).
    ...(row.inbox_id ? { inboxId: row.inbox_id } : {}),
    ...(row.replay_of ? { replayOf: row.replay_of } : {}),
  };
}

/**
 * `JSON.stringify(value)` with every NUL character replaced by U+FFFD: PostgreSQL's text and jsonb refuse
 * `\u0000`, so one NUL from a script's console line or a request body would fail a whole batched insert.
 * Only an escape preceded by an even number of backslashes is a NUL (`\\u0000` is a backslash and text).
 */
export function jsonWithoutNul(value: unknown): string {
  const text = JSON.stringify(value);
  return text.includes('\\u0000') ? text.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd') : text;
}

/** One run as an element of the JSON array the batched insert expands (jsonb columns as JSON values). */
export function runInsertRow(run: NewRunRecord): Record<string, unknown> {
  return {
    id: run.id,
    webhook_id: run.webhookId,
    provider: run.provider,
    event_type: run.eventType,
    status: run.status,
    duration_ms: run.durationMs,
    script_version: run.scriptVersion,
    actions_called: run.actionsCalled ?? [],
    logs: run.logs ?? [],
    error: run.error ?? null,
    emitted_event: run.emittedEvent,
    created_at: run.createdAt,
    inbox_id: run.inboxId ?? null,
    replay_of: run.replayOf ?? null,
    request_content_type: run.request?.contentType ?? null,
    request_headers: run.request?.headers ?? null,
    request_body: run.request?.body ?? null,
  };
}

/** The columns of a run record (not the stored request some rows carry: see `Inbox.requestOf`). */
export const RUN_COLUMNS = ['id', 'webhook_id', 'provider', 'event_type', 'status', 'duration_ms', 'script_version', 'actions_called', 'logs', 'error', 'emitted_event', 'created_at', 'inbox_id', 'replay_of'] as const;

export function toAdminToken(row: DbAdminToken): AdminTokenRecord {
  return {
    id: row.id,
    tokenHash: row.token_hash,
    prefix: row.prefix,
    role: row.role,
    tenantId: row.tenant_id ?? null,
    name: row.name ?? null,
    revokedAt: row.revoked_at ? toIso(row.revoked_at) : null,
    lastUsedAt: row.last_used_at ? toIso(row.last_used_at) : null,
    createdAt: toIso(row.created_at),
  };
}
