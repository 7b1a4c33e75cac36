/**
 * Outgoing webhooks: signing, the SSRF-guarded HTTP client, the retry policy, and the durable delivery
 * queue (outbox + leases) with its worker.
 */
export { OutboundService, type EngineOutboundOptions, type OutboundOptions, type OutgoingWebhookInput, type OutgoingWebhookUpdate } from './outbound-service.js';
export { WebhookSender, SECRET_PREFIX, type SignInput, type SignatureHeaders } from './signing.js';
export { WebhookReceiver, type WebhookReceiverOptions, type WebhookHandler, type ReceivedDelivery, type ReceivedRequest, type ReceiverResponse } from './webhook-receiver.js';
export { createHttpTransport, type HttpTransport, type HttpTransportOptions, type OutgoingRequest, type AttemptResult, type AttemptError } from './http-transport.js';
export { checkAddress, parseWebhookUrl, resolveWebhookTarget, systemResolver, type Resolver, type UrlPolicy } from './url-guard.js';
export { backoffDelayMs, classifyAttempt, nextStep, parseRetryAfter } from './retry-policy.js';
export { WORKER_DEFAULTS, type DeliveryWorkerConfig } from './delivery-worker.js';
export { serialiseEvent, MAX_ENVELOPE_BYTES, type SerialisedEvent } from './types.js';
export { groupMatchingDeliveries, matchingDeliveryIds, type DeliveryFilter, type DeliveryGroup } from './delivery-search.js';
export type { ClaimedDelivery, Enqueued, EnqueueInput } from './delivery-queue.js';
export type { AttemptOutcome } from './attempt-delivery.js';
export type { PruneResult } from './delivery-retention.js';
export {
  DELIVERY_STATUSES,
  WEBHOOK_DISABLED_EVENT,
  WEBHOOK_TEST_EVENT,
  type Delivery,
  type DeliveryAttempt,
  type DeliveryQuery,
  type DeliveryStatus,
  type Envelope,
  type OperationalEvent,
  type WebhookDisabledData,
} from './types.js';
