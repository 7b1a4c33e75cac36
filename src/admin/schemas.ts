import { VERIFY_SCHEMES } from '../store/types.js';

/** ajv schemas of the admin API's inputs: the single source for request validation. */

const PROVIDER = { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]*$', maxLength: 100 } as const;
const EVENT_NAME = { type: 'string', minLength: 1, maxLength: 200 } as const;
const ACTION_ID = { type: 'string', minLength: 1, maxLength: 128 } as const;

const verify = {
  type: 'object',
  additionalProperties: false,
  required: ['scheme'],
  properties: {
    scheme: { enum: [...VERIFY_SCHEMES] },
    secret: { type: 'string', minLength: 1, maxLength: 1000 },
    secrets: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 1000 }, minItems: 1, maxItems: 10 },
    header: { type: 'string', pattern: '^[A-Za-z0-9-]+$', maxLength: 100 },
    toleranceSec: { type: 'integer', minimum: 1, maximum: 86400 },
    prefix: { type: 'string', maxLength: 50 },
    encoding: { enum: ['hex', 'base64'] },
    timestampHeader: { type: 'string', pattern: '^[A-Za-z0-9-]+$', maxLength: 100 },
    username: { type: 'string', minLength: 1, maxLength: 200 },
  },
  if: { properties: { scheme: { not: { const: 'none' } } } },
  then: { anyOf: [{ required: ['secret'] }, { required: ['secrets'] }] },
} as const;

const HEADER_NAME = { type: 'string', pattern: '^[A-Za-z0-9-]+$', maxLength: 100 } as const;

/** Inbound hardening (issue 5): async mode, per-webhook body limit, delivery-id source, rate limit. */
const inboundHardeningFields = {
  mode: { enum: ['sync', 'async'] },
  bodyLimitBytes: { anyOf: [{ type: 'null' }, { type: 'integer', minimum: 1, maximum: 64 * 1024 * 1024 }] },
  idempotency: {
    anyOf: [
      { type: 'null' },
      {
        type: 'object',
        additionalProperties: false,
        properties: {
          header: HEADER_NAME,
          jsonPath: { type: 'string', pattern: '^[A-Za-z0-9_$-]+(\\.[A-Za-z0-9_$-]+)*$', maxLength: 200 },
          retentionSec: { type: 'integer', minimum: 1, maximum: 90 * 86400 },
          enabled: { type: 'boolean' },
        },
      },
    ],
  },
  rateLimit: {
    anyOf: [
      { type: 'null' },
      {
        type: 'object',
        additionalProperties: false,
        required: ['perSecond'],
        properties: { perSecond: { type: 'number', exclusiveMinimum: 0, maximum: 100_000 }, burst: { type: 'integer', minimum: 1, maximum: 100_000 } },
      },
    ],
  },
} as const;

const inboundFields = {
  direction: { const: 'inbound' },
  provider: PROVIDER,
  jsScript: { type: 'string', maxLength: 256 * 1024 },
  allowedActions: { type: 'array', items: ACTION_ID, uniqueItems: true, maxItems: 500 },
  events: { type: 'array', items: EVENT_NAME, minItems: 1, uniqueItems: true, maxItems: 500 },
  emitEvents: { anyOf: [{ type: 'null' }, { type: 'array', items: EVENT_NAME, uniqueItems: true, maxItems: 500 }] },
  verify,
  isActive: { type: 'boolean' },
  tenantId: { anyOf: [{ type: 'null' }, { type: 'string', minLength: 1, maxLength: 200 }] },
  ...inboundHardeningFields,
} as const;

export const createInboundWebhookSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['direction', 'provider', 'jsScript'],
  properties: inboundFields,
} as const;

export const patchWebhookSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: inboundFields,
} as const;

export const settingsPatchSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['enabledWebhookActions'],
  properties: {
    enabledWebhookActions: { type: 'array', items: ACTION_ID, uniqueItems: true, maxItems: 1000 },
  },
} as const;

export const RUN_STATUSES = ['ok', 'error', 'timeout', 'memory', 'limit', 'crashed', 'ignored', 'rejected'] as const;

export const runsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    provider: PROVIDER,
    status: { enum: [...RUN_STATUSES] },
    limit: { type: 'integer', minimum: 1 },
    cursor: { type: 'string', minLength: 1, maxLength: 500 },
  },
} as const;

export const dryRunSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['body'],
  properties: {
    body: {},
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    jsScript: { type: 'string', maxLength: 256 * 1024 },
    allowedActions: inboundFields.allowedActions,
  },
} as const;

/* Outgoing webhooks (src/outbound): fields, deliveries and events. */

const outgoingFields = {
  direction: { const: 'outgoing' },
  url: { type: 'string', minLength: 1, maxLength: 2048 },
  events: inboundFields.events,
  isActive: { type: 'boolean' },
  tenantId: inboundFields.tenantId,
  maxRetries: { type: 'integer', minimum: 0, maximum: 20 },
  retryDelayMs: { type: 'integer', minimum: 10, maximum: 3_600_000 },
  timeoutMs: { type: 'integer', minimum: 100, maximum: 120_000 },
} as const;

export const createOutgoingWebhookSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['direction', 'url'],
  properties: outgoingFields,
} as const;

export const patchOutgoingWebhookSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: outgoingFields,
} as const;

export const DELIVERY_STATUSES = ['pending', 'sending', 'succeeded', 'failed'] as const;

/** `GET /webhooks`. */
export const webhooksQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { direction: { enum: ['inbound', 'outgoing'] } },
} as const;

/** The actions on one webhook or delivery that take no input (test, rotate-secret, redeliver): an empty body, or `{}`. */
export const noInputSchema = { type: 'object', additionalProperties: false, properties: {} } as const;

/** A UUID, in either case, as a pattern (the admin API's validators load no ajv formats). */
const UUID_STRING = { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' } as const;

export const deliveriesQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    webhookId: UUID_STRING,
    status: { enum: [...DELIVERY_STATUSES] },
    limit: { type: 'integer', minimum: 1 },
    /** The `nextCursor` of the previous page (anything else: `invalid_cursor`, as on /runs and /audit). */
    cursor: { type: 'string', minLength: 1, maxLength: 500 },
  },
} as const;

export const emitEventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['event'],
  properties: {
    event: EVENT_NAME,
    data: {},
    tenantId: inboundFields.tenantId,
    metadata: { type: 'object' },
  },
} as const;

/** `POST /webhooks`: discriminated on `direction`, so a 400 lists only the errors of the chosen kind. */
export const createWebhookSchema = {
  type: 'object',
  required: ['direction'],
  properties: { direction: { enum: ['inbound', 'outgoing'] } },
  if: { type: 'object', properties: { direction: { const: 'outgoing' } } },
  then: createOutgoingWebhookSchema,
  else: createInboundWebhookSchema,
} as const;
