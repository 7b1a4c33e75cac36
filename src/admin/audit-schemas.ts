import { API_KEY_ROLES, AUDIT_ACTIONS, AUDIT_TARGET_TYPES } from '../store/types.js';

/** ajv schema of `GET /audit`'s query, and the JSON Schemas of its answer (for the OpenAPI document). */

export const auditQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    targetId: { type: 'string', minLength: 1, maxLength: 200, description: 'Entries about this object (webhook, key, delivery, run or event message id)' },
    action: { enum: [...AUDIT_ACTIONS] },
    actorKeyId: { type: 'string', minLength: 1, maxLength: 200, description: 'Entries made with this API key' },
    limit: { type: 'integer', minimum: 1, description: 'Page size, default 50, capped at 200' },
    cursor: { type: 'string', minLength: 1, maxLength: 500, description: 'The previous page\'s `nextCursor`' },
  },
} as const;

const NULLABLE_STRING = { type: ['string', 'null'] } as const;

/** One field's change: `before` and/or `after`; secrets are "[redacted]", a script is a reference. */
const fieldChangeSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    before: {},
    after: {},
    linesAdded: { type: 'integer', minimum: 0, description: 'Script changes: lines in the new version not in the old' },
    linesRemoved: { type: 'integer', minimum: 0, description: 'Script changes: lines in the old version not in the new' },
  },
} as const;

export const auditEntrySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'at', 'actorKeyId', 'actorRole', 'actorTenantId', 'tenantId', 'action', 'targetType', 'targetId', 'changes'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    at: { type: 'string', format: 'date-time' },
    actorKeyId: { ...NULLABLE_STRING, description: 'The API key that made the change; null = the HOOKGATE_ADMIN_TOKEN bootstrap token' },
    actorRole: { enum: [...API_KEY_ROLES] },
    actorTenantId: { ...NULLABLE_STRING, description: 'The key\'s tenant; null = a platform key' },
    tenantId: { ...NULLABLE_STRING, description: 'The tenant of the changed object; null = global' },
    action: { enum: [...AUDIT_ACTIONS] },
    targetType: { enum: [...AUDIT_TARGET_TYPES] },
    targetId: { ...NULLABLE_STRING, description: 'null for the global settings, and for an event no endpoint took' },
    changes: {
      type: 'object',
      description: 'Field path (nested fields dotted, e.g. `verify.secret`) → its change',
      additionalProperties: fieldChangeSchema,
    },
  },
} as const;

export const auditPageSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['items', 'nextCursor'],
  properties: { items: { type: 'array', items: auditEntrySchema }, nextCursor: NULLABLE_STRING },
} as const;
