/**
 * hookgate: run admin-authored scripts on third-party webhooks in an isolated-vm sandbox, with actions
 * your services expose through `@webhookAction`.
 */
export { createEngine, type Engine, type EngineOptions, type EngineInboxOptions, type EmitOptions } from './engine.js';
export { webhookAction, ActionRegistry, computeAvailability } from './actions/index.js';
export type { ActionDefinition, ActionMetadata, Availability, RegisteredAction, UnavailableReason } from './actions/index.js';
export { createStore } from './store/index.js';
export type {
  Store,
  WebhookStore,
  SettingsStore,
  RunStore,
  Webhook,
  InboundWebhook,
  OutgoingWebhook,
  VerifyConfig,
  InboundMode,
  IdempotencyConfig,
  RateLimitConfig,
  Settings,
  RunRecord,
  NewRunRecord,
  RunRequest,
} from './store/types.js';
export { createSandbox, checkScriptSyntax } from './sandbox/index.js';
export type { Sandbox, SandboxLimits, SandboxOptions, SandboxRunResult } from './sandbox/types.js';
export type { EmittedEvent, EventListener, EventOrigin } from './events/index.js';
export { EventCatalog, type EventTypeDefinition, type DefineEventOptions } from './events/index.js';
export type { AdminTokenStore, AdminTokenRecord, ApiKeyRole } from './store/types.js';
export { verifySignature } from './inbound/index.js';
export { WebhookSender, type SignInput, type SignatureHeaders } from './outbound/index.js';
export { WebhookReceiver, type WebhookReceiverOptions, type WebhookHandler, type ReceivedDelivery, type ReceivedRequest, type ReceiverResponse } from './outbound/index.js';
export type { Delivery, DeliveryAttempt, DeliveryStatus, Envelope, EngineOutboundOptions, Enqueued, WebhookDisabledData } from './outbound/index.js';
export { loadConfig, type Config } from './config.js';
export { AppError, ERRORS, type ErrorCode } from './errors.js';
export { createLogger, type Logger } from './logger.js';
export { exitOnSignals, type ExitOnSignalsOptions } from './exit-on-signals.js';
