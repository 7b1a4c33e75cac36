import { keyViewSchema } from './access-schemas.js';
import { createInboundWebhookSchema, createOutgoingWebhookSchema, DELIVERY_STATUSES, RUN_STATUSES } from './schemas.js';

/**
 * JSON Schemas of the admin API's answers, for the OpenAPI document (`responseSchema` in route-table.ts).
 * They are not used to validate at run time; test/e2e/admin-matrix.test.ts validates every answer it gets
 * against them, with unlisted fields refused, so a field added to a view without its schema fails there.
 * Field schemas are taken from the input schemas (schemas.ts) wherever a field is written as it is read.
 */

const inbound = createInboundWebhookSchema.properties;
const outgoing = createOutgoingWebhookSchema.properties;

const UUID = { type: 'string', format: 'uuid' } as const;
const DATE_TIME = { type: 'string', format: 'date-time' } as const;
const NULLABLE_DATE_TIME = { type: ['string', 'null'], format: 'date-time' } as const;
const NULLABLE_STRING = { type: ['string', 'null'] } as const;

const webhookCommon = {
  id: UUID,
  isActive: { type: 'boolean' },
  tenantId: inbound.tenantId,
  events: inbound.events,
  createdAt: DATE_TIME,
  updatedAt: DATE_TIME,
} as const;
const COMMON_REQUIRED = ['id', 'direction', 'isActive', 'tenantId', 'events', 'createdAt', 'updatedAt'];

/** `verify` as read: every setting but the secrets, which show only as `hasSecret`. */
const { secret: _secret, secrets: _secrets, ...verifySettings } = inbound.verify.properties;

export const inboundWebhookViewSchema = {
  type: 'object',
  required: [...COMMON_REQUIRED, 'provider', 'jsScript', 'scriptVersion', 'allowedActions', 'emitEvents', 'verify'],
  properties: {
    ...webhookCommon,
    direction: inbound.direction,
    provider: inbound.provider,
    jsScript: inbound.jsScript,
    scriptVersion: { type: 'integer', minimum: 1 },
    allowedActions: inbound.allowedActions,
    emitEvents: inbound.emitEvents,
    verify: { type: 'object', required: ['scheme', 'hasSecret'], properties: { ...verifySettings, hasSecret: { type: 'boolean' } } },
    mode: inbound.mode,
    bodyLimitBytes: inbound.bodyLimitBytes,
    idempotency: inbound.idempotency,
    rateLimit: inbound.rateLimit,
  },
} as const;

/** An outgoing webhook as read: never its secret, only `secretPrefix`. */
export const outgoingWebhookViewSchema = {
  type: 'object',
  required: [...COMMON_REQUIRED, 'url', 'maxRetries', 'retryDelayMs', 'timeoutMs', 'secretPrefix'],
  properties: {
    ...webhookCommon,
    direction: outgoing.direction,
    url: outgoing.url,
    maxRetries: outgoing.maxRetries,
    retryDelayMs: outgoing.retryDelayMs,
    timeoutMs: outgoing.timeoutMs,
    secretPrefix: { type: 'string', pattern: '^whsec_' },
    /** In `GET /webhooks/:id` only; null until its first delivery ends. */
    health: {
      type: ['object', 'null'],
      required: ['consecutiveFailures', 'failingSince', 'lastFailureAt', 'lastSuccessAt', 'disabledAt', 'disabledReason'],
      properties: {
        consecutiveFailures: { type: 'integer', minimum: 0 },
        failingSince: NULLABLE_STRING,
        lastFailureAt: NULLABLE_STRING,
        lastSuccessAt: NULLABLE_STRING,
        disabledAt: NULLABLE_STRING,
        disabledReason: NULLABLE_STRING,
      },
    },
  },
} as const;

/** The 201 of an outgoing create and the answer of rotate-secret: the only ones with `secret`. */
export const outgoingWebhookWithSecretSchema = {
  ...outgoingWebhookViewSchema,
  required: [...outgoingWebhookViewSchema.required, 'secret'],
  properties: { ...outgoingWebhookViewSchema.properties, secret: { type: 'string', pattern: '^whsec_' } },
} as const;

export const webhookViewSchema = { oneOf: [inboundWebhookViewSchema, outgoingWebhookViewSchema] } as const;
export const createdWebhookSchema = { oneOf: [inboundWebhookViewSchema, outgoingWebhookWithSecretSchema] } as const;

const itemsOf = (items: object) => ({ type: 'object', required: ['items'], properties: { items: { type: 'array', items } } }) as const;

export const webhookListSchema = itemsOf(webhookViewSchema);

const consoleLine = {
  type: 'object',
  required: ['level', 'message', 'atMs'],
  properties: { level: { enum: ['log', 'info', 'warn', 'error', 'debug'] }, message: { type: 'string' }, atMs: { type: 'number' } },
} as const;

const actionCall = {
  type: 'object',
  required: ['id', 'ok', 'durationMs'],
  properties: { id: { type: 'string' }, ok: { type: 'boolean' }, durationMs: { type: 'number' }, error: { type: 'string' }, args: { type: 'array' } },
} as const;

const runError = {
  type: ['object', 'null'],
  required: ['code', 'message'],
  properties: { code: { type: 'string' }, message: { type: 'string' }, line: { type: 'integer' }, column: { type: 'integer' } },
} as const;

export const runSchema = {
  type: 'object',
  required: ['id', 'webhookId', 'provider', 'eventType', 'status', 'durationMs', 'scriptVersion', 'actionsCalled', 'logs', 'error', 'emittedEvent', 'createdAt'],
  properties: {
    id: UUID,
    webhookId: { anyOf: [{ type: 'null' }, UUID] },
    provider: { type: 'string' },
    eventType: NULLABLE_STRING,
    status: { enum: [...RUN_STATUSES] },
    durationMs: { type: 'number', minimum: 0 },
    scriptVersion: { type: ['integer', 'null'] },
    actionsCalled: { type: 'array', items: actionCall },
    logs: { type: 'array', items: consoleLine },
    error: runError,
    emittedEvent: NULLABLE_STRING,
    createdAt: DATE_TIME,
    inboxId: { anyOf: [{ type: 'null' }, UUID] },
    replayOf: { anyOf: [{ type: 'null' }, UUID] },
  },
} as const;

export const runPageSchema = {
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: { items: { type: 'array', items: runSchema }, nextCursor: NULLABLE_STRING },
} as const;

/** `GET /runs/:id/request`: the stored request, body as received (text). */
export const runRequestSchema = {
  type: 'object',
  required: ['contentType', 'headers', 'body', 'receivedAt'],
  properties: { contentType: { type: 'string' }, headers: { type: 'object', additionalProperties: { type: 'string' } }, body: { type: 'string' }, receivedAt: DATE_TIME },
} as const;

export const replayedRunSchema = { ...runSchema, required: [...runSchema.required, 'replayOf'], properties: { ...runSchema.properties, replayOf: UUID } } as const;

export const dryRunResultSchema = {
  type: 'object',
  required: ['status', 'result', 'emit', 'logs', 'actionsCalled', 'durationMs'],
  properties: {
    status: { enum: [...RUN_STATUSES] },
    result: {},
    emit: { type: ['object', 'null'], required: ['event', 'data'], properties: { event: { type: 'string' }, data: {} } },
    logs: runSchema.properties.logs,
    actionsCalled: runSchema.properties.actionsCalled,
    durationMs: runSchema.properties.durationMs,
    error: { ...runError, type: 'object' },
  },
} as const;

export const scriptVersionsSchema = itemsOf({
  type: 'object',
  required: ['version', 'jsScript', 'createdAt'],
  properties: { version: { type: 'integer', minimum: 1 }, jsScript: { type: 'string' }, createdAt: DATE_TIME },
});

export const actionListSchema = itemsOf({
  type: 'object',
  required: ['id', 'label', 'category', 'description', 'dependsOn', 'params', 'enabled', 'available', 'unavailableReason'],
  properties: {
    id: { type: 'string' },
    label: { type: 'string' },
    category: { type: 'string' },
    description: { type: 'string' },
    dependsOn: { type: 'array', items: { type: 'string' } },
    params: { type: ['object', 'null'] },
    enabled: { type: 'boolean' },
    available: { type: 'boolean' },
    unavailableReason: {
      type: ['object', 'null'],
      required: ['code', 'message'],
      properties: { code: { enum: ['disabled', 'not_allowed', 'dependency_unavailable'] }, message: { type: 'string' }, dependency: { type: 'string' } },
    },
  },
});

export const settingsSchema = {
  type: 'object',
  required: ['enabledWebhookActions'],
  properties: { enabledWebhookActions: { type: 'array', items: { type: 'string' } } },
} as const;

export const eventTypesSchema = {
  type: 'object',
  required: ['items', 'strict'],
  properties: {
    items: {
      type: 'array',
      items: { type: 'object', required: ['name', 'description', 'schema'], properties: { name: { type: 'string' }, description: NULLABLE_STRING, schema: { type: 'object' } } },
    },
    strict: { type: 'boolean' },
  },
} as const;

export const emitResultSchema = {
  type: 'object',
  required: ['event', 'messageId', 'deliveries'],
  properties: { event: { type: 'string' }, messageId: { anyOf: [{ type: 'null' }, UUID] }, deliveries: { type: 'integer', minimum: 0 } },
} as const;

const attemptError = { type: ['object', 'null'], required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } as const;

const attemptSchema = {
  type: 'object',
  required: ['id', 'number', 'worker', 'startedAt', 'durationMs', 'statusCode', 'responseExcerpt', 'responseTruncated', 'error', 'outcome'],
  properties: {
    id: UUID,
    number: { type: 'integer', minimum: 1 },
    worker: { type: 'string' },
    startedAt: DATE_TIME,
    durationMs: { type: 'number', minimum: 0 },
    statusCode: { type: ['integer', 'null'] },
    responseExcerpt: NULLABLE_STRING,
    responseTruncated: { type: 'boolean' },
    error: attemptError,
    outcome: { enum: ['succeeded', 'retry', 'failed'] },
  },
} as const;

export const deliverySchema = {
  type: 'object',
  required: ['id', 'messageId', 'webhookId', 'event', 'status', 'test', 'attemptCount', 'nextAttemptAt', 'lastStatusCode', 'lastError', 'createdAt', 'updatedAt', 'completedAt', 'attempts'],
  properties: {
    id: UUID,
    messageId: UUID,
    webhookId: UUID,
    event: { type: 'string' },
    status: { enum: [...DELIVERY_STATUSES] },
    test: { type: 'boolean' },
    attemptCount: { type: 'integer', minimum: 0 },
    nextAttemptAt: NULLABLE_DATE_TIME,
    lastStatusCode: { type: ['integer', 'null'] },
    lastError: attemptError,
    createdAt: DATE_TIME,
    updatedAt: DATE_TIME,
    completedAt: NULLABLE_DATE_TIME,
    attempts: { type: 'array', items: attemptSchema },
  },
} as const;

export const deliveryListSchema = {
  type: 'object',
  required: ['items', 'nextCursor'],
  properties: { items: { type: 'array', items: deliverySchema }, nextCursor: { anyOf: [{ type: 'null' }, UUID] } },
} as const;

export const testPingSchema = {
  type: 'object',
  required: ['attempt', 'delivery'],
  properties: { attempt: { anyOf: [{ type: 'null' }, attemptSchema] }, delivery: deliverySchema },
} as const;

/** A key as listed: never the key itself, nor its hash. */
export const keySchema = { ...keyViewSchema, required: ['id', 'name', 'prefix', 'role', 'tenantId', 'createdAt', 'revokedAt'] } as const;
export const keyListSchema = itemsOf(keySchema);
/** The 201 of `POST /keys`: the only answer with `key`. */
export const createdKeySchema = {
  ...keySchema,
  required: [...keySchema.required, 'key'],
  properties: { ...keySchema.properties, key: { type: 'string', pattern: '^hg_' } },
} as const;

export const openApiDocumentSchema = {
  type: 'object',
  required: ['openapi', 'info', 'paths'],
  properties: { openapi: { const: '3.1.0' }, info: { type: 'object' }, servers: { type: 'array' }, security: { type: 'array' }, components: { type: 'object' }, paths: { type: 'object' } },
} as const;
