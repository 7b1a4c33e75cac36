export { ConfigCache, scriptKeyOf, type CachedWebhook, type ConfigCacheOptions } from './config-cache.js';
export { RunRecorder, type RunRecorderOptions } from './run-recorder.js';
export { InboundHandler, normaliseHeaders, type InboundHandlerDeps, type InboundRequest } from './inbound-handler.js';
export { createInboundRouter, type InboundRouterOptions } from './router.js';
export { executeScript, type ActionCaller, type ScriptOutcome, type ScriptTarget } from './execute-script.js';
export { extractEventType, eventMatches } from './event-type.js';
export { verifySignature, type VerifyInput } from './verifiers/index.js';
