import type { AttemptError } from './http-transport.js';

export const DELIVERY_STATUSES = ['pending', 'sending', 'succeeded', 'failed'] as const;
/** `pending`: waiting for its (next) attempt; `sending`: leased by a worker; then `succeeded` or `failed`. */
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export type AttemptOutcome = 'succeeded' | 'retry' | 'failed';

/** The JSON body every endpoint receives. */
export interface Envelope {
  /** The message id: the same for every endpoint the event went to. */
  id: string;
  event: string;
  version: '1';
  /** When the event was emitted (ISO 8601). */
  timestamp: string;
  data: unknown;
  metadata: Record<string, unknown>;
}

/** One attempt as the admin API shows it. */
export interface DeliveryAttempt {
  /** The attempt's `X-Webhook-Delivery`. */
  id: string;
  number: number;
  worker: string;
  startedAt: string;
  durationMs: number;
  statusCode: number | null;
  responseExcerpt: string | null;
  responseTruncated: boolean;
  error: AttemptError | null;
  outcome: AttemptOutcome;
}

/** One (message, endpoint) pair and its attempts. Its id is the `webhook-id` header. */
export interface Delivery {
  id: string;
  messageId: string;
  webhookId: string;
  event: string;
  status: DeliveryStatus;
  /** A `webhook.test` ping from `POST /webhooks/:id/test`: never retried. */
  test: boolean;
  attemptCount: number;
  /** When the next attempt is due (pending) or the lease ends (sending); null once finished. */
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: AttemptError | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  attempts: DeliveryAttempt[];
}

export interface DeliveryQuery {
  webhookId?: string;
  /** Only deliveries to webhooks of this tenant (the admin API's tenant keys). */
  tenantId?: string;
  status?: DeliveryStatus;
  /** Only deliveries older than this one (the next page of a newest-first list: the last id of the previous page). */
  before?: string;
  limit: number;
}

/** Data of the `webhook.disabled` operational event. */
export interface WebhookDisabledData {
  webhookId: string;
  url: string;
  /** `gone`: the endpoint answered 410; `failing`: it kept failing for longer than the configured stretch. */
  reason: 'gone' | 'failing';
  consecutiveFailures: number;
  failingSince: string | null;
  lastStatusCode: number | null;
  lastError: AttemptError | null;
}

/** An event the outgoing side itself emits (`webhook.disabled`). */
export interface OperationalEvent {
  event: string;
  data: unknown;
  tenantId: string | null;
}

export const WEBHOOK_TEST_EVENT = 'webhook.test';
export const WEBHOOK_DISABLED_EVENT = 'webhook.disabled';
