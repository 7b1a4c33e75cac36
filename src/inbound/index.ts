export { ConfigCache, configChannel, scriptKeyOf, type CachedWebhook, type ConfigCacheOptions } from './config-cache.js';
export { RunRecorder, type RunRecorderOptions } from './run-recorder.js';
export {
  InboundHandler,
  normaliseHeaders,
  withoutCredentials,
  type InboundAnswer,
  type InboundHandlerDeps,
  type InboundRequest,
  type ProcessItem,
} from './inbound-handler.js';
export { Inbox, type InboxItem, type NewInboxItem, type StoredRequest } from './inbox.js';
export { InboxWorker, type InboxWorkerOptions } from './inbox-worker.js';
export { deliveryIdOf, DEFAULT_RETENTION_SEC } from './delivery-id.js';
export { bodyKindOf, parseBody, type BodyKind } from './request-body.js';
export { RateLimiter } from './rate-limiter.js';
export { createInboundEndpoint, INBOUND_PATH, inboundProviderOf, type InboundEndpoint, type InboundRouterOptions } from './router.js';
export { executeScript, toScriptResponse, type ActionCaller, type ScriptOutcome, type ScriptResponse, type ScriptTarget } from './execute-script.js';
export { extractEventType, eventMatches } from './event-type.js';
export { verifySignature, type Verifier, type VerifyInput } from './verifiers/index.js';
