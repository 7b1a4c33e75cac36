import type { RequestHandler } from 'express';
import { createKeySchema, unsavedDryRunSchema } from './access-schemas.js';
import { auditPageSchema, auditQuerySchema } from './audit-schemas.js';
import { requirePermission, type Permission } from './principal.js';
import {
  actionListSchema,
  createdKeySchema,
  createdWebhookSchema,
  deliveryListSchema,
  deliverySchema,
  dryRunResultSchema,
  emitResultSchema,
  eventTypesSchema,
  keyListSchema,
  openApiDocumentSchema,
  outgoingWebhookWithSecretSchema,
  replayedRunSchema,
  runPageSchema,
  runRequestSchema,
  runSchema,
  scriptVersionsSchema,
  settingsSchema,
  testPingSchema,
  webhookListSchema,
  webhookViewSchema,
} from './response-schemas.js';
import {
  createWebhookSchema,
  deliveriesQuerySchema,
  dryRunSchema,
  emitEventSchema,
  noInputSchema,
  patchOutgoingWebhookSchema,
  patchWebhookSchema,
  runsQuerySchema,
  settingsPatchSchema,
  webhooksQuerySchema,
} from './schemas.js';

/**
 * Every admin route in one table: its role, its input schemas (the same objects ajv validates with) and
 * what it answers. The permission guard and the OpenAPI document are both made from it, and a test checks
 * that every route the router serves is listed here.
 */
export interface AdminRouteSpec {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** Express syntax, relative to `/admin/api`. */
  path: string;
  /** The least a key needs; handlers narrow further (inbound webhooks are platform-only, tenants see their own records). */
  permission: Permission;
  summary: string;
  body?: object;
  query?: object;
  /** Success status → description. */
  responses: Record<string, string>;
  /** JSON Schema of the success answer (src/admin/response-schemas.ts); every route that answers a body has one. */
  responseSchema?: object;
}

export const ADMIN_ROUTES: readonly AdminRouteSpec[] = [
  { method: 'get', path: '/openapi.json', permission: 'read', summary: 'This OpenAPI 3.1 document', responses: { 200: 'The document' }, responseSchema: openApiDocumentSchema },
  { method: 'get', path: '/webhooks', permission: 'read', summary: 'List webhooks, of one `direction` if given (a tenant key sees its tenant\'s outgoing webhooks)', query: webhooksQuerySchema, responses: { 200: '`{items}`' }, responseSchema: webhookListSchema },
  { method: 'post', path: '/webhooks', permission: 'manage', summary: 'Create an inbound (platform admin) or outgoing webhook', body: createWebhookSchema, responses: { 201: 'The webhook; an outgoing one with its `secret`, shown this once' }, responseSchema: createdWebhookSchema },
  { method: 'get', path: '/webhooks/:id', permission: 'read', summary: 'Read a webhook', responses: { 200: 'The webhook (never a secret); an outgoing one with `health` (failures in a row, failing since, last failure and success, disabled at and why)' }, responseSchema: webhookViewSchema },
  {
    method: 'patch',
    path: '/webhooks/:id',
    permission: 'manage',
    summary: 'Partial update, checked against the stored webhook\'s direction',
    body: { anyOf: [patchWebhookSchema, patchOutgoingWebhookSchema] }, // anyOf: `{isActive: false}` fits both
    responses: { 200: 'The webhook' },
    responseSchema: webhookViewSchema,
  },
  { method: 'delete', path: '/webhooks/:id', permission: 'manage', summary: 'Delete a webhook', responses: { 204: 'Deleted' } },
  { method: 'post', path: '/webhooks/:id/rotate-secret', permission: 'manage', summary: 'Outgoing: new secret, returned once; the old one signs for 24 h more', body: noInputSchema, responses: { 200: 'The webhook with its new `secret`' }, responseSchema: outgoingWebhookWithSecretSchema },
  { method: 'post', path: '/webhooks/:id/test', permission: 'manage', summary: 'Outgoing: send a `webhook.test` ping now', body: noInputSchema, responses: { 200: '`{attempt, delivery}`' }, responseSchema: testPingSchema },
  { method: 'post', path: '/webhooks/:id/dry-run', permission: 'platform', summary: 'Inbound: run the saved or a given script on a sample payload with stub actions', body: dryRunSchema, responses: { 200: '`{status, result, emit, logs, actionsCalled, durationMs, error?}`' }, responseSchema: dryRunResultSchema },
  { method: 'post', path: '/dry-run', permission: 'platform', summary: 'Run a script not saved yet on a sample payload with stub actions', body: unsavedDryRunSchema, responses: { 200: '`{status, result, emit, logs, actionsCalled, durationMs, error?}`' }, responseSchema: dryRunResultSchema },
  { method: 'get', path: '/webhooks/:id/versions', permission: 'platform', summary: 'Inbound: every saved version of the script, newest first', responses: { 200: '`{items: [{version, jsScript, createdAt}]}`' }, responseSchema: scriptVersionsSchema },
  { method: 'get', path: '/actions', permission: 'read', summary: 'Registered actions with `enabled`, `available`, `unavailableReason`', responses: { 200: '`{items}`' }, responseSchema: actionListSchema },
  { method: 'get', path: '/settings', permission: 'platform', summary: 'Global settings', responses: { 200: '`{enabledWebhookActions}`' }, responseSchema: settingsSchema },
  { method: 'patch', path: '/settings', permission: 'platform', summary: 'Change the global settings', body: settingsPatchSchema, responses: { 200: 'The saved settings' }, responseSchema: settingsSchema },
  { method: 'get', path: '/event-types', permission: 'read', summary: 'The event catalog: every defined event type with the JSON Schema of its data', responses: { 200: '`{items: [{name, description, schema}], strict}`' }, responseSchema: eventTypesSchema },
  { method: 'post', path: '/events', permission: 'manage', summary: 'Emit an event (checked against the event catalog; the engine\'s own webhook.test and webhook.disabled, metadata provider/runId, and an envelope over 1 MiB (413) are refused); a tenant key emits for its tenant and is told of the deliveries to its own endpoints', body: emitEventSchema, responses: { 202: '`{event, messageId, deliveries}`' }, responseSchema: emitResultSchema },
  { method: 'get', path: '/runs', permission: 'platform', summary: 'Inbound script runs, newest first', query: runsQuerySchema, responses: { 200: '`{items, nextCursor}`' }, responseSchema: runPageSchema },
  { method: 'get', path: '/runs/:id', permission: 'platform', summary: 'One run', responses: { 200: 'The run' }, responseSchema: runSchema },
  {
    method: 'get',
    path: '/runs/:id/request',
    permission: 'platform',
    summary: 'The stored request a run processed: content type, headers (credentials removed) and the body as received',
    responses: { 200: '`{contentType, headers, body, receivedAt}`' },
    responseSchema: runRequestSchema,
  },
  {
    method: 'post',
    path: '/runs/:id/replay',
    permission: 'platform',
    summary: 'Re-run the stored request of a run against the current script, with real actions, as a new run',
    responses: { 201: 'The new run, with `replayOf`' },
    responseSchema: replayedRunSchema,
  },
  { method: 'get', path: '/deliveries', permission: 'read', summary: 'Outgoing deliveries newest first, with their attempts; `cursor` = the previous page\'s `nextCursor`', query: deliveriesQuerySchema, responses: { 200: '`{items, nextCursor}`' }, responseSchema: deliveryListSchema },
  { method: 'get', path: '/deliveries/:id', permission: 'read', summary: 'One delivery', responses: { 200: 'The delivery' }, responseSchema: deliverySchema },
  { method: 'post', path: '/deliveries/:id/redeliver', permission: 'manage', summary: 'Queue a finished delivery again with a new retry budget (one waiting for its retry: due now, its budget kept; 409 while being sent)', body: noInputSchema, responses: { 202: 'The delivery' }, responseSchema: deliverySchema },
  { method: 'get', path: '/keys', permission: 'keys', summary: 'API keys (prefix, role, tenant; never the key)', responses: { 200: '`{items}`' }, responseSchema: keyListSchema },
  { method: 'post', path: '/keys', permission: 'keys', summary: 'Create an API key; the key is returned this once', body: createKeySchema, responses: { 201: 'The key record with `key`' }, responseSchema: createdKeySchema },
  { method: 'delete', path: '/keys/:id', permission: 'keys', summary: 'Revoke a key (it answers 401 from then on)', responses: { 204: 'Revoked' } },
  {
    method: 'get',
    path: '/audit',
    permission: 'manage',
    summary: 'The audit log newest first: who changed what (secrets redacted); a tenant owner or admin sees its tenant\'s outgoing webhooks, keys, events and deliveries',
    query: auditQuerySchema,
    responses: { 200: '`{items, nextCursor}`' },
    responseSchema: auditPageSchema,
  },
];

function pathPattern(path: string): RegExp {
  const source = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:([A-Za-z_]+)/g, '[^/]+');
  return new RegExp(`^${source}/?$`);
}

const COMPILED = ADMIN_ROUTES.map((spec) => ({ spec, pattern: pathPattern(spec.path) }));

/** The spec of a request, if any route matches. */
export function findRouteSpec(method: string, path: string): AdminRouteSpec | undefined {
  const m = method.toLowerCase();
  return COMPILED.find((c) => c.spec.method === m && c.pattern.test(path))?.spec;
}

/**
 * The role check of every admin route, from {@link ADMIN_ROUTES}. A route missing from the table needs the
 * platform admin (fail closed: a tenant key gets 403 even for an unknown path, the platform admin the 404).
 */
export const permissionGuard: RequestHandler = (req, res, next) => {
  requirePermission(res, findRouteSpec(req.method, req.path)?.permission ?? 'platform');
  next();
};
