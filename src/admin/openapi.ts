import { ERRORS } from '../errors.js';
import { ADMIN_ROUTES, type AdminRouteSpec } from './route-table.js';

const ROLE_TEXT = {
  platform: 'platform admin',
  keys: 'platform admin or tenant owner',
  manage: 'platform admin, tenant owner or tenant admin',
  read: 'any key',
} as const;

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { enum: Object.keys(ERRORS).sort() }, message: { type: 'string' }, details: {} },
    },
  },
} as const;

function parameters(spec: AdminRouteSpec): object[] {
  const out: object[] = [];
  for (const match of spec.path.matchAll(/:([A-Za-z_]+)/g)) {
    out.push({ name: match[1], in: 'path', required: true, schema: { type: 'string' } });
  }
  const query = spec.query as { properties?: Record<string, object> } | undefined;
  for (const [name, schema] of Object.entries(query?.properties ?? {})) {
    out.push({ name, in: 'query', required: false, schema });
  }
  return out;
}

function operation(spec: AdminRouteSpec): object {
  const responses: Record<string, object> = {};
  for (const [status, description] of Object.entries(spec.responses)) {
    responses[status] = status === '204' ? { description } : { description, content: { 'application/json': { schema: spec.responseSchema ?? {} } } };
  }
  const error = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
  responses['400'] = error('Invalid input: `validation_failed` with ajv details (`path`, `message`, `keyword`, `params`), or a rule of the route');
  responses['401'] = error('Missing (`auth_missing`), unknown or revoked (`auth_invalid`) key');
  responses['403'] = error('The key lacks the role (`forbidden`)');
  if (spec.path.includes(':')) responses['404'] = error('No such record, or one this key may not see (another tenant\'s answers as if it did not exist)');
  responses.default = error('Any other error (conflicts, body too large, wrong content type, unavailable…): codes in docs/errors.md');
  return {
    operationId: `${spec.method}${spec.path.replace(/[:/.-]+([a-z])?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
    summary: spec.summary,
    description: `Needs: ${ROLE_TEXT[spec.permission]}.`,
    parameters: parameters(spec),
    ...(spec.body ? { requestBody: { required: true, content: { 'application/json': { schema: spec.body } } } } : {}),
    responses,
  };
}

/**
 * The OpenAPI 3.1 document of `/admin/api`, made from {@link ADMIN_ROUTES}: the request schemas in it are
 * the very objects ajv validates with, so the document cannot drift from the validation.
 */
export function buildOpenApiDocument(version = '0.1.0'): Record<string, unknown> {
  const paths: Record<string, Record<string, object>> = {};
  for (const spec of ADMIN_ROUTES) {
    const path = spec.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    (paths[path] ??= {})[spec.method] = operation(spec);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'hookgate admin API', version },
    servers: [{ url: '/admin/api' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key or HOOKGATE_ADMIN_TOKEN' } },
      schemas: { Error: errorSchema },
    },
    paths,
  };
}
