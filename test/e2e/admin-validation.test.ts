import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttemptResult, OutgoingRequest } from '../../src/outbound/http-transport.js';
import type { Resolver } from '../../src/outbound/url-guard.js';
import type { Store } from '../../src/store/types.js';
import { ADMIN_TOKEN, startTestEngine, type TestEngine } from '../helpers/engine.js';
import { checkedApi, loadOpenApiChecker, type OpenApiChecker } from '../helpers/openapi-check.js';
import { storeFactories } from '../helpers/stores.js';

/*
 * Every input rule of the admin API with its error code and field path, on an engine with the default URL
 * policy (https only, no private networks) and a strict event catalog. Every answer is validated against
 * GET /admin/api/openapi.json. DNS is a fixed table; nothing leaves the machine.
 */

const HOSTS: Record<string, string[]> = {
  'hooks.example.test': ['93.184.216.34'],
  'loopback.example.test': ['127.0.0.1'],
  'mixed.example.test': ['93.184.216.34', '192.168.1.10'], // one forbidden answer refuses the name
  'v6-mapped.example.test': ['::ffff:10.0.0.1'],
};
const resolver: Resolver = async (host) => {
  const addresses = HOSTS[host];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};
const transport = async (_request: OutgoingRequest): Promise<AttemptResult> => ({ statusCode: 204, retryAfter: null, responseExcerpt: '', responseTruncated: false, durationMs: 1, error: null });

const OK_URL = 'https://hooks.example.test/in';
const INBOUND = { direction: 'inbound', provider: 'valid', jsScript: 'result = null;' };
const OUTGOING = { direction: 'outgoing', url: OK_URL };

/** A refused request: its code, and for `validation_failed` the field path (and ajv keyword) one detail must have. */
interface Rule {
  rule: string;
  method: string;
  path: string;
  body?: unknown;
  status: number;
  code: string;
  at?: string;
  keyword?: string;
  /** Matched against `error.details` (codes other than validation_failed). */
  details?: unknown;
}

describe.each(storeFactories())('admin API input rules on $name', (factory) => {
  let store: Store;
  let t: TestEngine;
  let openapi: OpenApiChecker;
  let api: TestEngine['api'];
  let inbound: any;
  let outgoing: any;

  beforeAll(async () => {
    store = await factory.create();
    t = await startTestEngine(store, { outbound: { worker: false, resolver, transport } });
    t.engine.events
      .define('org-created', { type: 'object', required: ['orgId'], properties: { orgId: { type: 'string' } } })
      .define('x.done', {});
    openapi = await loadOpenApiChecker(t);
    api = checkedApi(t, openapi);
    inbound = (await api('POST', '/webhooks', { ...INBOUND, provider: 'taken' })).body;
    outgoing = (await api('POST', '/webhooks', { ...OUTGOING, events: ['org-created'] })).body;
    expect(inbound.id && outgoing.id).toBeTruthy();
  }, 120_000); // a fresh PGlite store takes seconds, more on a busy machine
  afterAll(async () => {
    await t?.close();
    await store?.close();
  });

  const rules = (): Rule[] => {
    const create = (rule: string, body: object, code: string, more: Partial<Rule> = {}): Rule => ({
      rule,
      method: 'POST',
      path: '/webhooks',
      body,
      status: 400,
      code,
      ...more,
    });
    const patchIn = (rule: string, body: object, code: string, more: Partial<Rule> = {}): Rule => ({ rule, method: 'PATCH', path: `/webhooks/${inbound.id}`, body, status: 400, code, ...more });
    const patchOut = (rule: string, body: object, code: string, more: Partial<Rule> = {}): Rule => ({ rule, method: 'PATCH', path: `/webhooks/${outgoing.id}`, body, status: 400, code, ...more });
    const invalid = (at: string, keyword: string) => ({ at, keyword });
    return [
      // Inbound webhooks
      create('provider pattern', { ...INBOUND, provider: 'Bad Name' }, 'validation_failed', invalid('/provider', 'pattern')),
      create('provider length', { ...INBOUND, provider: 'p'.repeat(101) }, 'validation_failed', invalid('/provider', 'maxLength')),
      create('provider required', { direction: 'inbound', jsScript: '' }, 'validation_failed', { at: '/', keyword: 'required' }),
      create('direction', { ...INBOUND, direction: 'sideways' }, 'validation_failed', invalid('/direction', 'enum')),
      create('unknown field', { ...INBOUND, colour: 'blue' }, 'validation_failed', invalid('/colour', 'additionalProperties')),
      create('unknown field in verify', { ...INBOUND, verify: { scheme: 'none', extra: 1 } }, 'validation_failed', invalid('/verify/extra', 'additionalProperties')),
      create('verify scheme', { ...INBOUND, verify: { scheme: 'md5' } }, 'validation_failed', invalid('/verify/scheme', 'enum')),
      create('verify secret required', { ...INBOUND, verify: { scheme: 'github' } }, 'validation_failed', invalid('/verify', 'required')),
      create('events not empty', { ...INBOUND, events: [] }, 'validation_failed', invalid('/events', 'minItems')),
      create('allowedActions unique', { ...INBOUND, allowedActions: ['crm.tag', 'crm.tag'] }, 'validation_failed', invalid('/allowedActions', 'uniqueItems')),
      create('bodyLimitBytes bounds', { ...INBOUND, bodyLimitBytes: 0 }, 'validation_failed', invalid('/bodyLimitBytes', 'minimum')),
      create('script compiles', { ...INBOUND, jsScript: 'const a = 1;\nconst b = ;' }, 'script_compile_error', { details: { line: 2, column: expect.any(Number), message: expect.any(String) } }),
      create('allowedActions registered', { ...INBOUND, allowedActions: ['crm.tag', 'ghost.action'] }, 'unknown_action', { details: { unknown: ['ghost.action'] } }),
      create('emitEvents in catalog', { ...INBOUND, emitEvents: ['x.done', 'nope'] }, 'event_unknown', { details: { path: '/emitEvents', unknown: ['nope'] } }),
      create('provider unique', { ...INBOUND, provider: 'taken' }, 'provider_conflict', { status: 409 }),
      patchIn('provider unique on rename', { provider: 'taken-too' }, 'provider_conflict', { status: 409 }), // 'taken-too' is made below
      patchIn('patch not empty', {}, 'validation_failed', invalid('/', 'minProperties')),
      patchIn('patch provider pattern', { provider: 'UPPER' }, 'validation_failed', invalid('/provider', 'pattern')),
      patchIn('patch script compiles', { jsScript: 'if (' }, 'script_compile_error', { details: { line: 1, column: expect.any(Number) } }),
      patchIn('patch allowedActions registered', { allowedActions: ['ghost.action'] }, 'unknown_action', { details: { unknown: ['ghost.action'] } }),
      patchIn('patch emitEvents in catalog', { emitEvents: ['nope'] }, 'event_unknown', { details: { path: '/emitEvents' } }),
      patchIn('patch: outgoing fields on an inbound webhook', { url: OK_URL }, 'validation_failed', invalid('/url', 'additionalProperties')),
      patchIn('patch: direction is not changed', { direction: 'outgoing' }, 'validation_failed', invalid('/direction', 'const')),
      { rule: 'rotate-secret is outgoing only', method: 'POST', path: `/webhooks/${inbound.id}/rotate-secret`, status: 400, code: 'webhook_direction_mismatch' },
      { rule: 'test ping is outgoing only', method: 'POST', path: `/webhooks/${inbound.id}/test`, status: 400, code: 'webhook_direction_mismatch' },

      // Outgoing webhooks: URL rules (default policy: https only, public addresses only)
      create('url https only', { ...OUTGOING, url: 'http://hooks.example.test/in' }, 'url_insecure'),
      create('url not private', { ...OUTGOING, url: 'https://10.0.0.5/in' }, 'url_blocked'),
      create('url not loopback by name', { ...OUTGOING, url: 'https://localhost/in' }, 'url_blocked'),
      create('url not resolving to loopback', { ...OUTGOING, url: 'https://loopback.example.test/in' }, 'url_blocked'),
      create('url with any private answer', { ...OUTGOING, url: 'https://mixed.example.test/in' }, 'url_blocked'),
      create('url IPv4-mapped private', { ...OUTGOING, url: 'https://v6-mapped.example.test/in' }, 'url_blocked'),
      create('url decimal loopback', { ...OUTGOING, url: 'https://2130706433/in' }, 'url_blocked'),
      create('url not metadata', { ...OUTGOING, url: 'https://169.254.169.254/latest' }, 'url_blocked'),
      create('url resolves', { ...OUTGOING, url: 'https://nowhere.example.test/in' }, 'url_unresolvable', { details: { host: 'nowhere.example.test' } }),
      create('url absolute', { ...OUTGOING, url: 'not a url' }, 'url_invalid'),
      create('url http(s) scheme', { ...OUTGOING, url: 'ftp://hooks.example.test/in' }, 'url_invalid'),
      create('url without credentials', { ...OUTGOING, url: 'https://user:pass@hooks.example.test/in' }, 'url_invalid'),
      create('url required', { direction: 'outgoing' }, 'validation_failed', { at: '/', keyword: 'required' }),
      create('url length', { ...OUTGOING, url: `https://hooks.example.test/${'a'.repeat(2048)}` }, 'validation_failed', invalid('/url', 'maxLength')),
      // Outgoing webhooks: bounds and fields
      create('maxRetries maximum', { ...OUTGOING, maxRetries: 21 }, 'validation_failed', invalid('/maxRetries', 'maximum')),
      create('maxRetries minimum', { ...OUTGOING, maxRetries: -1 }, 'validation_failed', invalid('/maxRetries', 'minimum')),
      create('maxRetries integer', { ...OUTGOING, maxRetries: 1.5 }, 'validation_failed', invalid('/maxRetries', 'type')),
      create('timeoutMs minimum', { ...OUTGOING, timeoutMs: 99 }, 'validation_failed', invalid('/timeoutMs', 'minimum')),
      create('timeoutMs maximum', { ...OUTGOING, timeoutMs: 120_001 }, 'validation_failed', invalid('/timeoutMs', 'maximum')),
      create('retryDelayMs minimum', { ...OUTGOING, retryDelayMs: 9 }, 'validation_failed', invalid('/retryDelayMs', 'minimum')),
      create('secret is not writable', { ...OUTGOING, secret: 'whsec_mine' }, 'validation_failed', invalid('/secret', 'additionalProperties')),
      create('inbound fields on an outgoing webhook', { ...OUTGOING, provider: 'x' }, 'validation_failed', invalid('/provider', 'additionalProperties')),
      create('events in catalog', { ...OUTGOING, events: ['org-created', 'org-deleted'] }, 'event_unknown', { details: { path: '/events', unknown: ['org-deleted'] } }),
      patchOut('patch url https only', { url: 'http://hooks.example.test/in' }, 'url_insecure'),
      patchOut('patch url not resolving to loopback', { url: 'https://loopback.example.test/in' }, 'url_blocked'),
      patchOut('patch timeoutMs maximum', { timeoutMs: 10 ** 6 }, 'validation_failed', invalid('/timeoutMs', 'maximum')),
      patchOut('patch secret is not writable', { secret: 'whsec_mine' }, 'validation_failed', invalid('/secret', 'additionalProperties')),
      patchOut('patch: inbound fields on an outgoing webhook', { jsScript: '' }, 'validation_failed', invalid('/jsScript', 'additionalProperties')),
      patchOut('patch events in catalog', { events: ['nope'] }, 'event_unknown', { details: { path: '/events' } }),
      patchOut('patch not empty', {}, 'validation_failed', invalid('/', 'minProperties')),
      { rule: 'dry-run is inbound only', method: 'POST', path: `/webhooks/${outgoing.id}/dry-run`, body: { body: {} }, status: 400, code: 'webhook_direction_mismatch' },
      { rule: 'versions are inbound only', method: 'GET', path: `/webhooks/${outgoing.id}/versions`, status: 400, code: 'webhook_direction_mismatch' },

      // Settings
      { rule: 'settings: action ids registered', method: 'PATCH', path: '/settings', body: { enabledWebhookActions: ['crm.tag', 'no.such'] }, status: 400, code: 'unknown_action', details: { unknown: ['no.such'] } },
      { rule: 'settings: list required', method: 'PATCH', path: '/settings', body: {}, status: 400, code: 'validation_failed', at: '/', keyword: 'required' },
      { rule: 'settings: a list', method: 'PATCH', path: '/settings', body: { enabledWebhookActions: 'crm.tag' }, status: 400, code: 'validation_failed', at: '/enabledWebhookActions', keyword: 'type' },
      { rule: 'settings: unknown field', method: 'PATCH', path: '/settings', body: { enabledWebhookActions: [], extra: 1 }, status: 400, code: 'validation_failed', at: '/extra', keyword: 'additionalProperties' },

      // Dry-runs
      { rule: 'dry-run: body required', method: 'POST', path: `/webhooks/${inbound.id}/dry-run`, body: {}, status: 400, code: 'validation_failed', at: '/', keyword: 'required' },
      { rule: 'dry-run: script compiles', method: 'POST', path: `/webhooks/${inbound.id}/dry-run`, body: { body: {}, jsScript: 'let = ;' }, status: 400, code: 'script_compile_error', details: { line: 1 } },
      { rule: 'dry-run: actions registered', method: 'POST', path: `/webhooks/${inbound.id}/dry-run`, body: { body: {}, allowedActions: ['ghost'] }, status: 400, code: 'unknown_action' },
      { rule: 'dry-run: headers are strings', method: 'POST', path: `/webhooks/${inbound.id}/dry-run`, body: { body: {}, headers: { a: 1 } }, status: 400, code: 'validation_failed', at: '/headers/a', keyword: 'type' },
      { rule: 'unsaved dry-run: script required', method: 'POST', path: '/dry-run', body: { body: {} }, status: 400, code: 'validation_failed', at: '/', keyword: 'required' },
      { rule: 'unsaved dry-run: provider pattern', method: 'POST', path: '/dry-run', body: { body: {}, jsScript: '', provider: 'No' }, status: 400, code: 'validation_failed', at: '/provider', keyword: 'pattern' },
      { rule: 'unsaved dry-run: emitEvents in catalog', method: 'POST', path: '/dry-run', body: { body: {}, jsScript: '', emitEvents: ['nope'] }, status: 400, code: 'event_unknown' },

      // Events
      { rule: 'events: name required', method: 'POST', path: '/events', body: { data: {} }, status: 400, code: 'validation_failed', at: '/', keyword: 'required' },
      { rule: 'events: in catalog', method: 'POST', path: '/events', body: { event: 'nope', data: {} }, status: 400, code: 'event_unknown' },
      { rule: 'events: data matches its schema', method: 'POST', path: '/events', body: { event: 'org-created', data: { orgId: 7 } }, status: 400, code: 'event_invalid', details: { event: 'org-created', errors: [{ path: '/orgId' }] } },
      { rule: 'events: metadata an object', method: 'POST', path: '/events', body: { event: 'x.done', metadata: 'x' }, status: 400, code: 'validation_failed', at: '/metadata', keyword: 'type' },
      { rule: 'events: unknown field', method: 'POST', path: '/events', body: { event: 'x.done', extra: 1 }, status: 400, code: 'validation_failed', at: '/extra', keyword: 'additionalProperties' },

      // Keys
      { rule: 'keys: role', method: 'POST', path: '/keys', body: { role: 'root', tenantId: 't' }, status: 400, code: 'validation_failed', at: '/role', keyword: 'enum' },
      { rule: 'keys: a tenant role needs a tenant', method: 'POST', path: '/keys', body: { role: 'owner' }, status: 400, code: 'validation_failed', at: '/role' },
      { rule: 'keys: name not empty', method: 'POST', path: '/keys', body: { role: 'admin', name: '' }, status: 400, code: 'validation_failed', at: '/name', keyword: 'minLength' },
      { rule: 'keys: unknown field', method: 'POST', path: '/keys', body: { role: 'admin', scope: 'all' }, status: 400, code: 'validation_failed', at: '/scope', keyword: 'additionalProperties' },

      // Query strings: limits and cursors
      { rule: 'runs: limit at least 1', method: 'GET', path: '/runs?limit=0', status: 400, code: 'validation_failed', at: '/limit', keyword: 'minimum' },
      { rule: 'runs: limit a number', method: 'GET', path: '/runs?limit=many', status: 400, code: 'validation_failed', at: '/limit', keyword: 'type' },
      { rule: 'runs: status', method: 'GET', path: '/runs?status=bogus', status: 400, code: 'validation_failed', at: '/status', keyword: 'enum' },
      { rule: 'runs: provider pattern', method: 'GET', path: '/runs?provider=Bad%20Name', status: 400, code: 'validation_failed', at: '/provider', keyword: 'pattern' },
      { rule: 'runs: cursor', method: 'GET', path: '/runs?cursor=garbage', status: 400, code: 'invalid_cursor' },
      { rule: 'runs: unknown parameter', method: 'GET', path: '/runs?sort=asc', status: 400, code: 'validation_failed', at: '/sort', keyword: 'additionalProperties' },
      { rule: 'deliveries: limit at least 1', method: 'GET', path: '/deliveries?limit=0', status: 400, code: 'validation_failed', at: '/limit', keyword: 'minimum' },
      { rule: 'deliveries: webhookId a UUID', method: 'GET', path: '/deliveries?webhookId=abc', status: 400, code: 'validation_failed', at: '/webhookId', keyword: 'pattern' },
      { rule: 'deliveries: status', method: 'GET', path: '/deliveries?status=lost', status: 400, code: 'validation_failed', at: '/status', keyword: 'enum' },
      { rule: 'deliveries: unknown parameter', method: 'GET', path: '/deliveries?sort=asc', status: 400, code: 'validation_failed', at: '/sort', keyword: 'additionalProperties' },
      { rule: 'deliveries: cursor a delivery id', method: 'GET', path: '/deliveries?cursor=x', status: 400, code: 'invalid_cursor' },
      { rule: 'webhooks: direction', method: 'GET', path: '/webhooks?direction=sideways', status: 400, code: 'validation_failed', at: '/direction', keyword: 'enum' },
      { rule: 'webhooks: unknown parameter', method: 'GET', path: '/webhooks?limit=1', status: 400, code: 'validation_failed', at: '/limit', keyword: 'additionalProperties' },
      { rule: 'test ping takes no input', method: 'POST', path: `/webhooks/${outgoing.id}/test`, body: { url: 'https://elsewhere.example/' }, status: 400, code: 'validation_failed', at: '/url', keyword: 'additionalProperties' },
      { rule: 'rotate-secret takes no input', method: 'POST', path: `/webhooks/${outgoing.id}/rotate-secret`, body: { secret: 'whsec_mine' }, status: 400, code: 'validation_failed', at: '/secret', keyword: 'additionalProperties' },
    ];
  };

  it('refuses each invalid input with its code and field path, and stores nothing', async () => {
    // The clash for the rename rule.
    expect((await api('POST', '/webhooks', { ...INBOUND, provider: 'taken-too' })).status).toBe(201);
    const before = { webhooks: await store.listWebhooks(), settings: await store.getSettings(), keys: (await store.listAdminTokens()).length, events: t.events.length };
    const wrong: string[] = [];
    for (const r of rules()) {
      const res = await api(r.method, r.path, r.body);
      const error = res.body?.error;
      const label = `${r.rule} (${r.method} ${r.path} ${JSON.stringify(r.body)?.slice(0, 120)})`;
      if (res.status !== r.status || error?.code !== r.code) {
        wrong.push(`${label}: expected ${r.status} ${r.code}, got ${res.status} ${JSON.stringify(error ?? res.body).slice(0, 300)}`);
        continue;
      }
      if (r.code === 'validation_failed') {
        const hit = (error.details as Array<{ path: string; keyword: string }>).some((d) => d.path === r.at && (!r.keyword || d.keyword === r.keyword));
        if (!hit) wrong.push(`${label}: no detail at ${r.at} (${r.keyword ?? 'any'}): ${JSON.stringify(error.details)}`);
      } else if (r.details !== undefined) {
        try {
          expect(error.details).toMatchObject(r.details as object);
        } catch {
          wrong.push(`${label}: details ${JSON.stringify(error.details)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(await store.listWebhooks()).toEqual(before.webhooks);
    expect(await store.getSettings()).toEqual(before.settings);
    expect((await store.listAdminTokens()).length).toBe(before.keys);
    expect(t.events.length).toBe(before.events);
  });

  it('lists webhooks of one direction when asked; a tenant key has no inbound ones', async () => {
    const out = (await api('GET', '/webhooks?direction=outgoing')).body.items as any[];
    const into = (await api('GET', '/webhooks?direction=inbound')).body.items as any[];
    expect(out.length).toBeGreaterThan(0);
    expect(into.length).toBeGreaterThan(0);
    expect(out.every((w) => w.direction === 'outgoing') && into.every((w) => w.direction === 'inbound')).toBe(true);
    expect(out.map((w) => w.id)).toContain(outgoing.id);
    expect(into.map((w) => w.id)).toContain(inbound.id);
    const reader = (await api('POST', '/keys', { role: 'member', tenantId: 'listing' })).body.key;
    expect((await api('GET', '/webhooks?direction=inbound', undefined, reader)).body.items).toEqual([]);
  });

  it('applies the same rules to a tenant key: an empty patch is refused, not saved as a no-op', async () => {
    const owner = (await api('POST', '/keys', { role: 'owner', tenantId: 'acme' })).body.key;
    const own = (await api('POST', '/webhooks', OUTGOING, owner)).body;
    expect(own.tenantId).toBe('acme');
    const stored = await store.getWebhook(own.id);
    expect(await api('PATCH', `/webhooks/${own.id}`, {}, owner)).toMatchObject({ status: 400, body: { error: { code: 'validation_failed', details: [{ path: '/', keyword: 'minProperties' }] } } });
    expect(await api('PATCH', `/webhooks/${own.id}`, { colour: 'red' }, owner)).toMatchObject({ status: 400, body: { error: { code: 'validation_failed', details: [{ path: '/colour' }] } } });
    expect(await api('PATCH', `/webhooks/${own.id}`, { url: 'http://hooks.example.test/' }, owner)).toMatchObject({ status: 400, body: { error: { code: 'url_insecure' } } });
    expect(await store.getWebhook(own.id)).toEqual(stored);
    expect(await api('PATCH', `/webhooks/${own.id}`, { tenantId: 'acme', maxRetries: 1 }, owner)).toMatchObject({ status: 200, body: { tenantId: 'acme', maxRetries: 1 } });
  });

  it('answers malformed JSON 400, another content type 415, an oversize body 413', async () => {
    const send = async (method: string, path: string, body: string, type: string | null) => {
      const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` };
      if (type) headers['content-type'] = type;
      const res = await fetch(`${t.baseUrl}/admin/api${path}`, { method, headers, body });
      const json = (await res.json()) as any;
      openapi.check(method, path, res.status, json);
      return { status: res.status, code: json?.error?.code };
    };
    const big = JSON.stringify({ ...INBOUND, provider: 'huge', jsScript: 'x'.repeat(1.1 * 1024 * 1024) });
    for (const [method, path] of [['POST', '/webhooks'], ['PATCH', `/webhooks/${outgoing.id}`], ['PATCH', '/settings'], ['POST', '/events'], ['POST', '/keys']] as const) {
      expect(await send(method, path, '{"direction":', 'application/json'), `${method} ${path}`).toEqual({ status: 400, code: 'invalid_json' });
      expect(await send(method, path, '{}', 'text/plain'), `${method} ${path}`).toEqual({ status: 415, code: 'unsupported_media_type' });
      expect(await send(method, path, 'a=1', 'application/x-www-form-urlencoded'), `${method} ${path}`).toEqual({ status: 415, code: 'unsupported_media_type' });
      expect(await send(method, path, '{}', null), `${method} ${path}`).toEqual({ status: 415, code: 'unsupported_media_type' });
      expect(await send(method, path, big, 'application/json'), `${method} ${path}`).toEqual({ status: 413, code: 'payload_too_large' });
      expect(await send(method, path, '[1, 2]', 'application/json'), `${method} ${path}`).toMatchObject({ status: 400, code: 'validation_failed' });
      // Valid JSON, but not an object: the body's shape is wrong, not its syntax.
      for (const scalar of ['null', '7', '"x"']) {
        expect(await send(method, path, scalar, 'application/json'), `${method} ${path} ${scalar}`).toEqual({ status: 400, code: 'validation_failed' });
      }
    }
    expect(await send('POST', '/webhooks', JSON.stringify(OUTGOING), 'application/json; charset=utf-8')).toMatchObject({ status: 201 });
    expect((await store.listWebhooks()).some((w) => w.direction === 'inbound' && w.provider === 'huge')).toBe(false);
  });

  it('answers the conflicts of the state machine with their codes (409), valid in the OpenAPI document too', async () => {
    // A delivery of an inactive webhook is not redelivered.
    await api('POST', '/events', { event: 'org-created', data: { orgId: 'o1' } });
    const delivery = (await api('GET', `/deliveries?webhookId=${outgoing.id}`)).body.items[0];
    expect(delivery).toBeDefined();
    await api('PATCH', `/webhooks/${outgoing.id}`, { isActive: false });
    expect(await api('POST', `/deliveries/${delivery.id}/redeliver`)).toMatchObject({ status: 409, body: { error: { code: 'webhook_inactive' } } });
    await api('PATCH', `/webhooks/${outgoing.id}`, { isActive: true });
    expect((await api('POST', `/deliveries/${delivery.id}/redeliver`)).status).toBe(202);

    // A rejected request (bad signature) is recorded without its payload: not replayable, nothing to show.
    await api('PATCH', `/webhooks/${inbound.id}`, { verify: { scheme: 'hmac-sha256', secret: 'inbound-secret-0123456789' } });
    expect((await t.inbound('taken', { type: 'x' }, { 'x-webhook-signature': 'sha256=00' })).status).toBe(401);
    const [rejected] = (await api('GET', '/runs?provider=taken&status=rejected')).body.items;
    expect(rejected).toMatchObject({ status: 'rejected' });
    expect(await api('POST', `/runs/${rejected.id}/replay`)).toMatchObject({ status: 409, body: { error: { code: 'run_not_replayable' } } });
    expect(await api('GET', `/runs/${rejected.id}/request`)).toMatchObject({ status: 404, body: { error: { code: 'run_request_not_stored' } } });
    expect(await api('GET', '/runs/not-a-uuid')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    // Every limit above the cap is served (capped), and a cursor from a page works.
    const page = await api('GET', '/runs?limit=1000000');
    expect(page.status).toBe(200);
    expect(page.body.items.length).toBeLessThanOrEqual(200);
    expect((await api('GET', '/deliveries?limit=1000000')).status).toBe(200);
  });
});
