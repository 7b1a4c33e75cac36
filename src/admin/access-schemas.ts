import { API_KEY_ROLES } from '../store/types.js';
import { dryRunSchema, patchWebhookSchema } from './schemas.js';

/** ajv schemas of the admin API's key, event-catalog and script-tool inputs (the rest are in schemas.ts). */

const TENANT_ID = { type: 'string', minLength: 1, maxLength: 200 } as const;

/**
 * `POST /keys`. A platform key is `{role: "admin"}` without `tenantId`; a tenant key names its tenant
 * (a tenant owner's own tenant is the default) and one of `owner`, `admin`, `member`.
 */
export const createKeySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['role'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    role: { enum: [...API_KEY_ROLES] },
    tenantId: { anyOf: [{ type: 'null' }, TENANT_ID] },
  },
} as const;

/** `POST /dry-run`: a script that is not saved yet, with the fields of the webhook it would belong to. */
export const unsavedDryRunSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['body', 'jsScript'],
  properties: {
    ...dryRunSchema.properties,
    provider: patchWebhookSchema.properties.provider,
    emitEvents: patchWebhookSchema.properties.emitEvents,
  },
} as const;

/** The type of {@link unsavedDryRunSchema} (kept by hand; the schema is what validates). */
export interface UnsavedDryRunBody {
  body: unknown;
  headers?: Record<string, string>;
  jsScript: string;
  allowedActions?: string[];
  provider?: string;
  emitEvents?: string[] | null;
}

/** Shapes of answers, for the OpenAPI document (not used to validate). */
export const keyViewSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: ['string', 'null'] },
    prefix: { type: 'string' },
    role: { enum: [...API_KEY_ROLES] },
    tenantId: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    lastUsedAt: { type: ['string', 'null'], format: 'date-time', description: 'When the key was last used (about a minute\'s accuracy); null = never' },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;
