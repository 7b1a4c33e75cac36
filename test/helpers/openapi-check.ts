import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { findRouteSpec } from '../../src/admin/route-table.js';
import type { TestEngine } from './engine.js';

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

type Json = Record<string, unknown>;

/**
 * Checks real admin API answers against `GET /admin/api/openapi.json`. Each answer is validated with the
 * schema the document gives its route and status (or `default`), compiled by ajv as JSON Schema 2020-12
 * (OpenAPI 3.1's dialect) with formats. Object schemas that list `properties` are made closed
 * (`additionalProperties: false`) first, so a field the document does not name — a `secret` in a read,
 * a new field nobody documented — fails the check.
 */
export interface OpenApiChecker {
  /** Throws when `body` is not what the document says `method path` answers with `status`. */
  check(method: string, path: string, status: number, body: unknown): void;
  /** Throws when the document's request schema of `method path` refuses `body` (a body the API accepted). */
  checkRequest(method: string, path: string, body: unknown): void;
  /** `"<method> <route path> <status>"` of every answer checked. */
  readonly seen: Set<string>;
}

/** Follows the document's local `$ref`s (`#/components/…`), so each schema compiles on its own. */
function inline(node: unknown, doc: Json): unknown {
  if (Array.isArray(node)) return node.map((n) => inline(n, doc));
  if (node === null || typeof node !== 'object') return node;
  const ref = (node as Json).$ref;
  if (typeof ref === 'string' && ref.startsWith('#/')) {
    const target = ref.slice(2).split('/').reduce<unknown>((at, key) => (at as Json)[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
    if (target === undefined) throw new Error(`The OpenAPI document has a dangling $ref ${ref}`);
    return inline(target, doc);
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, inline(v, doc)]));
}

const SUBSCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'] as const;
const SUBSCHEMAS = ['items', 'additionalProperties', 'not', 'contains'] as const;

/** A copy of a schema in which every object schema with `properties` refuses other properties. */
export function closed(schema: unknown): unknown {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema;
  const s = { ...(schema as Json) };
  if (s.properties && typeof s.properties === 'object') {
    s.properties = Object.fromEntries(Object.entries(s.properties as Json).map(([k, v]) => [k, closed(v)]));
    if (s.additionalProperties === undefined && s.patternProperties === undefined) s.additionalProperties = false;
  }
  for (const key of SUBSCHEMA_LISTS) if (Array.isArray(s[key])) s[key] = (s[key] as unknown[]).map(closed);
  for (const key of SUBSCHEMAS) if (s[key] && typeof s[key] === 'object') s[key] = closed(s[key]);
  return s;
}

export function createOpenApiChecker(doc: Json): OpenApiChecker {
  const ajv = addFormats(new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictTuples: false, strictRequired: false }));
  const compiled = new Map<string, ValidateFunction>();
  const seen = new Set<string>();
  const paths = doc.paths as Record<string, Record<string, Json>>;

  const compile = (key: string, schema: unknown): ValidateFunction => {
    let validate = compiled.get(key);
    if (!validate) {
      validate = ajv.compile(closed(inline(schema, doc)) as object);
      compiled.set(key, validate);
    }
    return validate;
  };
  const operationOf = (method: string, path: string): { route: string; op: Json } | null => {
    const spec = findRouteSpec(method, path.split('?')[0]!);
    if (!spec) return null;
    const op = paths[spec.path.replace(/:([A-Za-z_]+)/g, '{$1}')]?.[spec.method];
    if (!op) throw new Error(`${method} ${spec.path} is in the route table but not in the OpenAPI document`);
    return { route: `${spec.method} ${spec.path}`, op };
  };
  const fail = (what: string, validate: ValidateFunction, body: unknown): never => {
    throw new Error(`${what} does not match the OpenAPI document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 2000)}`);
  };

  return {
    seen,
    check(method, path, status, body) {
      const found = operationOf(method, path);
      if (!found) {
        // Not a route of the table (a 404 for an unknown path): still an error body of the catalogue.
        const validate = compile('Error', { $ref: '#/components/schemas/Error' });
        if (!validate(body)) fail(`${method} ${path} ${status}`, validate, body);
        return;
      }
      const responses = found.op.responses as Record<string, Json>;
      const response = responses[String(status)] ?? (status >= 400 ? responses.default : undefined);
      if (!response) throw new Error(`${found.route} answered ${status}, which the OpenAPI document does not list`);
      const content = response.content as Record<string, Json> | undefined;
      if (!content) {
        if (body !== null && body !== '') throw new Error(`${found.route} ${status}: the document says no body, got ${JSON.stringify(body)}`);
      } else {
        const schema = content['application/json']?.schema;
        if (schema === undefined) throw new Error(`${found.route} ${status}: no application/json schema`);
        const validate = compile(`${found.route} ${responses[String(status)] ? status : 'default'}`, schema);
        if (!validate(body)) fail(`${found.route} ${status}`, validate, body);
      }
      seen.add(`${found.route} ${status}`);
    },
    checkRequest(method, path, body) {
      const found = operationOf(method, path);
      const schema = ((found?.op.requestBody as Json | undefined)?.content as Record<string, Json> | undefined)?.['application/json']?.schema;
      if (!found || schema === undefined) return;
      // Request schemas are the ones the API validates with: taken as they are (they say themselves what they refuse).
      const key = `request ${found.route}`;
      let validate = compiled.get(key);
      if (!validate) {
        validate = ajv.compile(inline(schema, doc) as object);
        compiled.set(key, validate);
      }
      if (!validate(body)) fail(`The request body of ${found.route}`, validate, body);
    },
  };
}

/**
 * `t.api` with every answer checked against the document, and every accepted request body against its
 * request schema. Load the document with {@link loadOpenApiChecker} first.
 */
export function checkedApi(t: TestEngine, checker: OpenApiChecker): TestEngine['api'] {
  return async (method, path, body, token) => {
    const res = await t.api(method, path, body, token);
    checker.check(method, path, res.status, res.body);
    if (res.status < 300 && body !== undefined) checker.checkRequest(method, path, body);
    return res;
  };
}

export async function loadOpenApiChecker(t: TestEngine): Promise<OpenApiChecker> {
  const res = await t.api('GET', '/openapi.json');
  if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}`);
  const checker = createOpenApiChecker(res.body as Json);
  checker.check('GET', '/openapi.json', res.status, res.body);
  return checker;
}
