/** The admin API's shapes as the page reads them (see README, "Admin API"). */

export const VERIFY_SCHEMES = ['none', 'stripe', 'github', 'standard-webhooks', 'shopify', 'slack', 'hmac-sha256', 'basic', 'api-key'] as const;
export type VerifyScheme = (typeof VERIFY_SCHEMES)[number];

interface WebhookBase {
  id: string;
  isActive: boolean;
  tenantId: string | null;
  events: string[];
  createdAt: string;
  updatedAt: string;
}

export interface InboundWebhook extends WebhookBase {
  direction: 'inbound';
  provider: string;
  jsScript: string;
  allowedActions: string[];
  emitEvents: string[] | null;
  /** As the API shows it: never a secret; scheme-specific fields (prefix, encoding, username…) pass through. */
  verify: { scheme: VerifyScheme; header?: string; toleranceSec?: number; username?: string; hasSecret: boolean } & Record<string, unknown>;
}

export interface OutgoingWebhook extends WebhookBase {
  direction: 'outgoing';
  url: string;
  maxRetries: number;
  retryDelayMs: number;
  timeoutMs: number;
  secretPrefix: string;
  secret?: string;
  /** From GET /webhooks/:id only; null before its first delivery ends. */
  health?: EndpointHealth | null;
}

export interface EndpointHealth {
  consecutiveFailures: number;
  failingSince: string | null;
  lastFailureAt: string | null;
  lastSuccessAt: string | null;
  disabledAt: string | null;
  /** `gone`: it answered 410; `failing`: it kept failing too long. */
  disabledReason: string | null;
}

export type Webhook = InboundWebhook | OutgoingWebhook;

export interface Action {
  id: string;
  label: string;
  category: string;
  description?: string;
  dependsOn: string[];
  enabled: boolean;
  available: boolean;
  /** Why it cannot run (the first cause): switched off, or a dependency that cannot run. */
  unavailableReason: { code: string; message: string; dependency?: string } | null;
}

export interface ConsoleLine {
  level: string;
  message: string;
  atMs: number;
}

export interface ActionCall {
  id: string;
  ok: boolean;
  durationMs: number;
  error?: string;
  args?: unknown[];
}

export interface RunError {
  code: string;
  message: string;
  line?: number;
  column?: number;
}

export interface Run {
  id: string;
  webhookId: string | null;
  provider: string;
  eventType: string | null;
  status: string;
  durationMs: number;
  actionsCalled: ActionCall[];
  logs: ConsoleLine[];
  error: RunError | null;
  emittedEvent: string | null;
  createdAt: string;
  /** The stored request a replay re-runs; null when none was kept (ignored, rejected or purged). */
  inboxId?: string | null;
  /** Set on a run made by a replay. */
  replayOf?: string;
}

/** `GET /runs/:id/request`: the request a run processed, as it was stored. */
export interface StoredRequest {
  contentType: string;
  /** Lower-cased, credentials removed. */
  headers: Record<string, string>;
  /** The raw body text as received. */
  body: string;
  receivedAt: string;
}

export interface DryRunResult {
  status: string;
  result: unknown;
  emit?: unknown;
  logs: ConsoleLine[];
  actionsCalled: ActionCall[];
  durationMs: number;
  error?: RunError;
}

export interface Attempt {
  id: string;
  number: number;
  startedAt: string;
  durationMs: number;
  statusCode: number | null;
  responseExcerpt: string | null;
  responseTruncated: boolean;
  error: { code: string; message: string } | null;
  outcome: string;
}

export interface Delivery {
  id: string;
  messageId: string;
  webhookId: string;
  event: string;
  status: string;
  test: boolean;
  attemptCount: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: { code: string; message: string } | null;
  createdAt: string;
  completedAt: string | null;
  attempts: Attempt[];
}

export interface Items<T> {
  items: T[];
  nextCursor?: string | null;
}
