import type { ConsoleLine, RunError, RunStatus } from '../sandbox/types.js';

export type WebhookDirection = 'inbound' | 'outgoing';

export const VERIFY_SCHEMES = ['none', 'stripe', 'github', 'standard-webhooks', 'hmac-sha256'] as const;
export type VerifyScheme = (typeof VERIFY_SCHEMES)[number];

/** How an inbound webhook checks its sender. `secret` is never returned by the admin API. */
export interface VerifyConfig {
  scheme: VerifyScheme;
  secret?: string;
  /** Header carrying the signature (hmac-sha256; others have their provider's header). */
  header?: string;
  /** Allowed clock skew for timestamped schemes (default 300). */
  toleranceSec?: number;
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

export type RunRecordStatus = RunStatus | 'ignored';

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
  role: 'admin';
  createdAt: string;
}

/** Webhook lookups of the seed; a host app may bring its own implementation. */
export interface WebhookStore {
  /** The inbound webhook for a provider, active or not; null when none. */
  findByProvider(provider: string): Promise<InboundWebhook | null>;
  /** Active outgoing webhooks subscribed to `event` (or `*`), global ones plus those of `tenantId`. */
  findByEvent(event: string, tenantId?: string | null): Promise<OutgoingWebhook[]>;
  getWebhook(id: string): Promise<Webhook | null>;
  listWebhooks(filter?: { direction?: WebhookDirection; tenantId?: string | null }): Promise<Webhook[]>;
  /** Throws AppError `provider_conflict` when the provider exists. */
  createInboundWebhook(input: NewInboundWebhook): Promise<InboundWebhook>;
  /** null when not found (or not inbound). Throws `provider_conflict` on a clash. */
  updateInboundWebhook(id: string, patch: InboundWebhookPatch): Promise<InboundWebhook | null>;
  createOutgoingWebhook(input: NewOutgoingWebhook): Promise<OutgoingWebhook>;
  /** Partial update (also how a secret is rotated); null when not found (or not outgoing). */
  updateOutgoingWebhook(id: string, patch: OutgoingWebhookPatch): Promise<OutgoingWebhook | null>;
  /** true when a row was deleted. */
  deleteWebhook(id: string): Promise<boolean>;
  /** Every stored version of a webhook's script, newest first. */
  listScriptVersions(webhookId: string): Promise<Array<{ version: number; jsScript: string; createdAt: string }>>;
}

export interface SettingsStore {
  /** null on a fresh store where settings were never saved. */
  getSettings(): Promise<Settings | null>;
  saveSettings(settings: Settings): Promise<Settings>;
}

export interface RunStore {
  insertRuns(runs: RunRecord[]): Promise<void>;
  listRuns(query: RunQuery): Promise<Page<RunRecord>>;
  getRun(id: string): Promise<RunRecord | null>;
}

export interface AdminTokenStore {
  findAdminTokenByHash(tokenHash: string): Promise<AdminTokenRecord | null>;
  insertAdminToken(record: Omit<AdminTokenRecord, 'createdAt'>): Promise<AdminTokenRecord>;
  countAdminTokens(): Promise<number>;
}

/**
 * A counter bumped in the same transaction as every webhook or settings change, so every process
 * sharing the database can tell its config cache is stale with one cheap query.
 */
export interface ConfigVersionStore {
  getConfigVersion(): Promise<number>;
}

export interface Store extends WebhookStore, SettingsStore, RunStore, AdminTokenStore, ConfigVersionStore {
  readonly kind: 'postgres' | 'pglite';
  /** Runs the knex migrations (idempotent). */
  migrate(): Promise<void>;
  /** Throws when the database cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
