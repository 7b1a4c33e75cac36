import { AppError } from '../errors.js';
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

/**
 * The largest envelope sent (bytes of its JSON). It is also `WebhookReceiver`'s default body limit, so a
 * receiver left at its defaults takes every delivery; an event whose envelope would be larger is refused
 * when it is emitted (`payload_too_large`), not failed at every endpoint later.
 */
export const MAX_ENVELOPE_BYTES = 1024 * 1024;

/** An event's envelope serialised but for its id and timestamp, which are set when it is written. */
export interface SerialisedEvent {
  event: string;
  dataJson: string;
  metadataJson: string;
}

/** The envelope's JSON: what `JSON.stringify` gives for `{id, event, version, timestamp, data, metadata}`. */
export function envelopeJson(id: string, timestamp: string, parts: SerialisedEvent): string {
  return `{"id":${JSON.stringify(id)},"event":${JSON.stringify(parts.event)},"version":"1","timestamp":${JSON.stringify(timestamp)},"data":${parts.dataJson},"metadata":${parts.metadataJson}}`;
}

/** An id and a timestamp as long as the real ones (a UUID; an ISO 8601 time of years 0–9999). */
const ENVELOPE_ID_PLACEHOLDER = '00000000-0000-0000-0000-000000000000';
const ENVELOPE_TIMESTAMP_PLACEHOLDER = '0000-01-01T00:00:00.000Z';

/**
 * Serialises an event's data and metadata once, when it is emitted — what is sent is what was checked,
 * whatever the caller does with its objects afterwards — and refuses one whose envelope would be larger
 * than `MAX_ENVELOPE_BYTES`.
 * @throws AppError `payload_too_large`; `validation_failed` when its data or metadata is not JSON-serialisable
 */
export function serialiseEvent(event: string, data: unknown, metadata: Record<string, unknown>): SerialisedEvent {
  let parts: SerialisedEvent;
  try {
    parts = { event, dataJson: JSON.stringify(data === undefined ? null : data), metadataJson: JSON.stringify(metadata) };
  } catch (cause) {
    // A BigInt, a cycle, a throwing toJSON: refused here, alone, rather than failing the shared outbox write.
    throw new AppError('validation_failed', `The event "${event}" cannot be sent as JSON: ${(cause as Error).message}`, { cause });
  }
  const json = envelopeJson(ENVELOPE_ID_PLACEHOLDER, ENVELOPE_TIMESTAMP_PLACEHOLDER, parts);
  // A UTF-16 unit is at most three UTF-8 bytes: most envelopes need no byte count.
  if (json.length * 3 <= MAX_ENVELOPE_BYTES) return parts;
  const bytes = Buffer.byteLength(json);
  if (bytes <= MAX_ENVELOPE_BYTES) return parts;
  throw new AppError('payload_too_large', `The event "${event}" would be sent as a ${bytes}-byte envelope; an outgoing webhook carries at most ${MAX_ENVELOPE_BYTES} bytes.`, { details: { event, bytes, limit: MAX_ENVELOPE_BYTES } });
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
