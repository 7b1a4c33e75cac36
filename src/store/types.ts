import type { ConsoleLine, RunError, RunStatus } from '../sandbox/types.js';

export type WebhookDirection = 'inbound' | 'outgoing';

export const VERIFY_SCHEMES = [
  'none',
  'stripe',
  'github',
  'standard-webhooks',
  'shopify',
  'slack',
  'hmac-sha256',
  'basic',
  'api-key',
] as const;
export type VerifyScheme = (typeof VERIFY_SCHEMES)[number];

/** How an inbound webhook checks its sender. `secret` and `secrets` are never returned by the admin API. */
export interface VerifyConfig {
  scheme: VerifyScheme;
  secret?: string;
  /** More active secrets (rotation): a request signed with any of `secret` and `secrets` is accepted. */
  secrets?: string[];
  /** Header carrying the signature (hmac-sha256, default X-Webhook-Signature) or the key (api-key, default X-Api-Key). */
  header?: string;
  /** Allowed clock skew for timestamped schemes (default 300). */
  toleranceSec?: number;
  /** hmac-sha256: text before the signature (e.g. `sha256=`); when unset a `sha256=` prefix is optional. */
  prefix?: string;
  /** hmac-sha256: how the MAC is written (default hex). */
  encoding?: 'hex' | 'base64';
  /** hmac-sha256: header with a unix timestamp; when set, the MAC covers `${timestamp}.${body}` and the tolerance applies. */
  timestampHeader?: string;
  /** basic: the expected user name (the secrets are the accepted passwords). */
  username?: string;
}

/** How an inbound webhook runs: `sync` answers after the script ran; `async` stores, answers 202, and a worker runs it. */
export type InboundMode = 'sync' | 'async';

/** Where an inbound request's delivery id comes from, for de-duplication. */
export interface IdempotencyConfig {
  /** A request header carrying the delivery id (e.g. `X-GitHub-Delivery`). */
  header?: string;
  /** A dotted path into the JSON body (e.g. `id`, `event.id`). */
  jsonPath?: string;
  /** How long a delivery id is remembered (default 7 days). */
  retentionSec?: number;
  /** `false` switches de-duplication off. */
  enabled?: boolean;
}

/** Per-provider request rate limit (a token bucket per process). */
export interface RateLimitConfig {
  /** Sustained requests per second. */
  perSecond: number;
  /** Bucket size (default = perSecond). */
  burst?: number;
}

interface WebhookBase {
  id: string;
  direction: WebhookDirection;
  isActive: boolean;
  /** null = global (platform) webhook. */
  tenantId: string | null;
  /** Event types this webhook takes; `*` matches all. */
  events: string[];
  createdAt: string;
  updatedAt: string;
}

export interface InboundWebhook extends WebhookBase {
  direction: 'inbound';
  provider: string;
  jsScript: string;
  /** Increases by one each time `jsScript` changes; every version is kept in `script_versions`. */
  scriptVersion: number;
  allowedActions: string[];
  /** When set, a script may only emit these events. */
  emitEvents: string[] | null;
  verify: VerifyConfig;
  /*
   * Inbound hardening (issue 5). Optional so a host's own store keeps compiling; the knex store always
   * fills them in.
   */
  /** Default `sync`. */
  mode?: InboundMode;
  /** Largest accepted body in bytes; null = the engine's default (1 MiB). */
  bodyLimitBytes?: number | null;
  /** Delivery-id source; null = the provider's default (Stripe `id`, `X-GitHub-Delivery`, `webhook-id`). */
  idempotency?: IdempotencyConfig | null;
  rateLimit?: RateLimitConfig | null;
}

export interface OutgoingWebhook extends WebhookBase {
  direction: 'outgoing';
  url: string;
  secret: string;
  maxRetries: number;
  retryDelayMs: number;
  timeoutMs: number;
}

export type Webhook = InboundWebhook | OutgoingWebhook;

export interface NewInboundWebhook {
  provider: string;
  jsScript: string;
  allowedActions?: string[];
  events?: string[];
  emitEvents?: string[] | null;
  verify?: VerifyConfig;
  isActive?: boolean;
  tenantId?: string | null;
  mode?: InboundMode;
  bodyLimitBytes?: number | null;
  idempotency?: IdempotencyConfig | null;
  rateLimit?: RateLimitConfig | null;
}

export type InboundWebhookPatch = Partial<NewInboundWebhook>;

export interface NewOutgoingWebhook {
  url: string;
  secret: string;
  events?: string[];
  isActive?: boolean;
  tenantId?: string | null;
  maxRetries?: number;
  retryDelayMs?: number;
  timeoutMs?: number;
}

export type OutgoingWebhookPatch = Partial<NewOutgoingWebhook>;

export interface Settings {
  enabledWebhookActions: string[];
}

/** One action call made by a script run. */
export interface ActionCallRecord {
  id: string;
  ok: boolean;
  durationMs: number;
  /** Error code when !ok. */
  error?: string;
}

/** `rejected`: the request failed verification (the script did not run). */
export type RunRecordStatus = RunStatus | 'ignored' | 'rejected';

export interface RunRecord {
  /** UUIDv7: the `runId` the inbound answer gave. */
  id: string;
  webhookId: string | null;
  provider: string;
  eventType: string | null;
  status: RunRecordStatus;
  durationMs: number;
  scriptVersion: number | null;
  actionsCalled: ActionCallRecord[];
  logs: ConsoleLine[];
  error: RunError | null;
  /** The event the run emitted (`result.event`), if any. */
  emittedEvent: string | null;
  createdAt: string;
  /** The stored request this run processed (an `inbox` row, or the run's own row): it can be read back and replayed. */
  inboxId?: string | null;
  /** Set on a run made by `POST /admin/api/runs/:id/replay`: the run whose stored request it re-ran. */
  replayOf?: string | null;
}

/**
 * A run record as it is written: with the request itself when the run's stored request lives in the run's
 * own row (sync, no delivery id; see `Inbox.requestOf`). Never read back with the record.
 */
export type NewRunRecord = RunRecord & { request?: RunRequest };

/** An inbound request as stored for display and replay. */
export interface RunRequest {
  contentType: string;
  /** Lower-cased request headers, credentials removed. */
  headers: Record<string, string>;
  /** The raw body text exactly as received. */
  body: string;
}

export interface RunQuery {
  provider?: string;
  status?: RunRecordStatus;
  limit: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface AdminTokenRecord {
  id: string;
  /** SHA-256 hex of the token. */
  tokenHash: string;
  /** First characters of the token, for display. */
  prefix: string;
  /** With `tenantId` null only `admin` (the platform admin); a tenant key is `owner`, `admin` or `member`. */
  role: ApiKeyRole;
  /** null (or absent) = a platform key. */
  tenantId?: string | null;
  /** A label chosen at creation. */
  name?: string | null;
  /** Set when the key was revoked; a revoked key answers 401. */
  revokedAt?: string | null;
  /** When the auth middleware last looked the key up (about a minute's accuracy); null = never used. */
  lastUsedAt?: string | null;
  createdAt: string;
}

export const API_KEY_ROLES = ['owner', 'admin', 'member'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

/** Webhook lookups of the seed; a host app may bring its own implementation. */
export interface WebhookStore {
  /** The inbound webhook for a provider, active or not; null when none. */
  findByProvider(provider: string): Promise<InboundWebhook | null>;
  /** Active outgoing webhooks subscribed to `event` (or `*`), global ones plus those of `tenantId`. */
  findByEvent(event: string, tenantId?: string | null): Promise<OutgoingWebhook[]>;
  getWebhook(id: string): Promise<Webhook | null>;
  listWebhooks(filter?: { direction?: WebhookDirection; tenantId?: string | null }): Promise<Webhook[]>;
  /** Throws AppError `provider_conflict` when the provider exists. */
  createInboundWebhook(input: NewInboundWebhook, actor?: AuditActor): Promise<InboundWebhook>;
  /** null when not found (or not inbound). Throws `provider_conflict` on a clash. */
  updateInboundWebhook(id: string, patch: InboundWebhookPatch, actor?: AuditActor): Promise<InboundWebhook | null>;
  createOutgoingWebhook(input: NewOutgoingWebhook, actor?: AuditActor): Promise<OutgoingWebhook>;
  /** Partial update (also how a secret is rotated); null when not found (or not outgoing). */
  updateOutgoingWebhook(id: string, patch: OutgoingWebhookPatch, actor?: AuditActor): Promise<OutgoingWebhook | null>;
  /** true when a row was deleted. */
  deleteWebhook(id: string, actor?: AuditActor): Promise<boolean>;
  /** Every stored version of a webhook's script, newest first. */
  listScriptVersions(webhookId: string): Promise<Array<{ version: number; jsScript: string; createdAt: string }>>;
}

export interface SettingsStore {
  /** null on a fresh store where settings were never saved. */
  getSettings(): Promise<Settings | null>;
  saveSettings(settings: Settings, actor?: AuditActor): Promise<Settings>;
}

export interface RunStore {
  insertRuns(runs: NewRunRecord[]): Promise<void>;
  listRuns(query: RunQuery): Promise<Page<RunRecord>>;
  getRun(id: string): Promise<RunRecord | null>;
}

export interface AdminTokenStore {
  findAdminTokenByHash(tokenHash: string): Promise<AdminTokenRecord | null>;
  insertAdminToken(record: Omit<AdminTokenRecord, 'createdAt'>, actor?: AuditActor): Promise<AdminTokenRecord>;
  countAdminTokens(): Promise<number>;
  /** Keys oldest first, revoked ones included; `tenantId` given = only that tenant's (null = platform keys). */
  listAdminTokens(filter?: { tenantId?: string | null }): Promise<AdminTokenRecord[]>;
  /** Marks a key revoked (idempotent); null when there is no such key. */
  revokeAdminToken(id: string, actor?: AuditActor): Promise<AdminTokenRecord | null>;
  /** Records that a key was used now (a store may skip writes less than a minute apart). Optional for a host's own store. */
  touchAdminToken?(id: string): Promise<void>;
}

/** Who made a change: the admin API's caller (structurally its `Principal`). */
export interface AuditActor {
  /** The API key's id; null for the HOOKGATE_ADMIN_TOKEN bootstrap token, which is not a stored key. */
  keyId: string | null;
  role: ApiKeyRole;
  /** null = a platform key. */
  tenantId: string | null;
}

export const AUDIT_ACTIONS = [
  'webhook.created',
  'webhook.updated',
  'webhook.deleted',
  'webhook.secret_rotated',
  'settings.updated',
  'key.created',
  'key.revoked',
  'event.emitted',
  'delivery.redelivered',
  'run.replayed',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** What an entry is about. Inbound webhooks, runs and settings belong to the platform whatever their tenant. */
export const AUDIT_TARGET_TYPES = ['inbound_webhook', 'outgoing_webhook', 'settings', 'api_key', 'event', 'delivery', 'run'] as const;
export type AuditTargetType = (typeof AUDIT_TARGET_TYPES)[number];

/**
 * One field's change. Created objects have only `after`, deleted ones only `before`, updates both (null for
 * absent). A secret is the string "[redacted]" (an array of them for a list of secrets); a script is
 * `{version, sha256, lines}`, and a changed script also carries `linesAdded` / `linesRemoved`.
 */
export interface AuditFieldChange {
  before?: unknown;
  after?: unknown;
  linesAdded?: number;
  linesRemoved?: number;
}

/** Field path (nested fields dotted: `verify.secret`) → its change. */
export type AuditChanges = Record<string, AuditFieldChange>;

export interface NewAuditEntry {
  actor: AuditActor;
  action: AuditAction;
  targetType: AuditTargetType;
  /** null for the global settings. */
  targetId: string | null;
  /** The tenant of the changed object (null = global). */
  tenantId: string | null;
  changes: AuditChanges;
}

export interface AuditEntry {
  /** UUIDv7. */
  id: string;
  at: string;
  actorKeyId: string | null;
  actorRole: ApiKeyRole;
  actorTenantId: string | null;
  tenantId: string | null;
  action: AuditAction;
  targetType: AuditTargetType;
  targetId: string | null;
  changes: AuditChanges;
}

export interface AuditQuery {
  targetId?: string;
  action?: AuditAction;
  actorKeyId?: string;
  /** Only entries about this tenant's objects… */
  tenantId?: string;
  /** …and of these target types (how a tenant key's view is scoped). */
  targetTypes?: readonly AuditTargetType[];
  limit: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
}

/**
 * The audit log. The write methods of the other store interfaces take an optional `AuditActor`: given one,
 * the knex store writes the entry in the same transaction as the change (a change that alters nothing
 * writes none). `insertAuditEntry` is for operations recorded after they happen.
 */
export interface AuditStore {
  insertAuditEntry(entry: NewAuditEntry): Promise<AuditEntry>;
  /** Newest first, keyset-paginated like `listRuns`. */
  listAuditEntries(query: AuditQuery): Promise<Page<AuditEntry>>;
}

/**
 * A counter bumped in the same transaction as every webhook or settings change, so every process
 * sharing the database can tell its config cache is stale with one cheap query.
 */
export interface ConfigVersionStore {
  getConfigVersion(): Promise<number>;
}

export interface Store extends WebhookStore, SettingsStore, RunStore, AdminTokenStore, AuditStore, ConfigVersionStore {
  readonly kind: 'postgres' | 'pglite';
  /** Runs the knex migrations (idempotent). */
  migrate(): Promise<void>;
  /** Throws when the database cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
