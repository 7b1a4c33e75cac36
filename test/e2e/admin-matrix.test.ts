import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROUTES, type AdminRouteSpec } from '../../src/admin/route-table.js';
import type { AttemptResult, OutgoingRequest } from '../../src/outbound/http-transport.js';
import { WebhookSender } from '../../src/outbound/index.js';
import type { Store } from '../../src/store/types.js';
import { ADMIN_TOKEN, startTestEngine, type TestEngine } from '../helpers/engine.js';
import { checkedApi, loadOpenApiChecker, type OpenApiChecker } from '../helpers/openapi-check.js';
import { storeFactories } from '../helpers/stores.js';

/*
 * Every admin route × every kind of caller, derived from the route table so a new route cannot be
 * forgotten; cross-tenant probes on every route with an id; secrets shown once. Every answer is also
 * validated against GET /admin/api/openapi.json (test/helpers/openapi-check.ts).
 */

/** Who calls: no key, a key nobody issued, a revoked key, the bootstrap token, a stored platform key, and tenant A's three roles. */
type Who = 'none' | 'unknown' | 'revoked' | 'bootstrap' | 'platform' | 'owner' | 'admin' | 'member';
const CALLERS: readonly Who[] = ['none', 'unknown', 'revoked', 'bootstrap', 'platform', 'owner', 'admin', 'member'];
const TENANT_ROLES = ['owner', 'admin', 'member'] as const;

/** The README's "Keys and roles" table: who may call a route. */
type Grant = 'platform' | 'owner' | 'manage' | 'any';
const MAY: Record<Grant, ReadonlySet<Who>> = {
  platform: new Set(['bootstrap', 'platform']),
  owner: new Set(['bootstrap', 'platform', 'owner']),
  manage: new Set(['bootstrap', 'platform', 'owner', 'admin']),
  any: new Set(['bootstrap', 'platform', 'owner', 'admin', 'member']),
};

interface Call {
  path: string;
  body?: unknown;
  /** What a refused call must leave as it was. */
  state?: () => Promise<unknown>;
}

interface Expectation {
  grant: Grant;
  /** The success status. */
  ok: number;
  /** The request; routes that change or remove a record get a fresh one per call. */
  call: (allowed: boolean) => Promise<Call>;
}

/** Tenant-scoped routes with an id: what another tenant's (or the platform's) records are, for the 404 probes. */
type Foreign = Record<string, { code: string; paths: string[]; body?: unknown }>;

const OK_URL = 'https://hooks.example.test/in';
const routeKey = (spec: AdminRouteSpec) => `${spec.method} ${spec.path}`;
/** Records by id, so a failed comparison names the record that changed. */
const byId = <T extends { id: string }>(rows: T[]): Record<string, T> => Object.fromEntries(rows.map((r) => [r.id, r]));

/** A transport that answers 204 without any network, recording what it was asked to send. */
function fakeTransport(sent: OutgoingRequest[]) {
  return async (request: OutgoingRequest): Promise<AttemptResult> => {
    sent.push(request);
    return { statusCode: 204, retryAfter: null, responseExcerpt: '', responseTruncated: false, durationMs: 1, error: null };
  };
}

// The matrix runs on both stores: a few hundred local requests, a few seconds per store on an idle machine.
describe.each(storeFactories())('admin roles × routes on $name', (factory) => {
  let store: Store;
  let t: TestEngine;
  let openapi: OpenApiChecker;
  let api: TestEngine['api'];
  const sent: OutgoingRequest[] = [];
  const tokens = {} as Record<Who, string | null>;
  const keyIds: Record<string, string> = {};
  let hookA: any;
  let hookB: any;
  let hookGlobal: any;
  let inboundA: any;
  let inboundGlobal: any;
  let deliveryA: any;
  let deliveryB: any;
  let deliveryGlobal: any;
  let runId: string;

  const makeKey = async (role: string, tenantId: string | null, name: string): Promise<{ id: string; key: string }> => {
    const res = await api('POST', '/keys', { role, tenantId, name });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  };
  const makeOutgoing = async (tenantId: string | null, events = ['*']) => {
    const res = await api('POST', '/webhooks', { direction: 'outgoing', url: OK_URL, events, tenantId, maxRetries: 0 });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  };
  const deliveryTo = async (webhookId: string) => {
    const list = (await api('GET', `/deliveries?webhookId=${webhookId}`)).body.items;
    expect(list.length, `a delivery to ${webhookId}`).toBeGreaterThan(0);
    return list[0];
  };

  beforeAll(async () => {
    store = await factory.create();
    t = await startTestEngine(store, {
      // No worker: deliveries stay pending, so redeliver never meets one being sent (409) and nothing leaves.
      outbound: {
        worker: false,
        transport: fakeTransport(sent),
        resolver: async (host) => (host === 'hooks.example.test' ? [{ address: '93.184.216.34', family: 4 }] : Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }))),
      },
    });
    openapi = await loadOpenApiChecker(t);
    api = checkedApi(t, openapi);

    const platform = await makeKey('admin', null, 'platform');
    const owner = await makeKey('owner', 'tenant-a', 'owner A');
    const admin = await makeKey('admin', 'tenant-a', 'admin A');
    const member = await makeKey('member', 'tenant-a', 'member A');
    const revoked = await makeKey('member', 'tenant-a', 'revoked A');
    const ownerB = await makeKey('owner', 'tenant-b', 'owner B');
    expect((await api('DELETE', `/keys/${revoked.id}`)).status).toBe(204);
    Object.assign(tokens, {
      none: null,
      unknown: `hg_${randomBytes(32).toString('base64url')}`,
      revoked: revoked.key,
      bootstrap: ADMIN_TOKEN,
      platform: platform.key,
      owner: owner.key,
      admin: admin.key,
      member: member.key,
    });
    Object.assign(keyIds, { platform: platform.id, ownerB: ownerB.id });

    hookA = await makeOutgoing('tenant-a');
    hookB = await makeOutgoing('tenant-b');
    hookGlobal = await makeOutgoing(null);
    const inbound = (provider: string, tenantId: string | null) =>
      api('POST', '/webhooks', { direction: 'inbound', provider, tenantId, jsScript: 'result = null;' });
    inboundA = (await inbound('matrix-a', 'tenant-a')).body;
    inboundGlobal = (await inbound('matrix-global', null)).body;
    expect((await api('POST', '/events', { event: 'setup', data: {}, tenantId: 'tenant-a' })).status).toBe(202);
    expect((await api('POST', '/events', { event: 'setup', data: {}, tenantId: 'tenant-b' })).status).toBe(202);
    deliveryA = await deliveryTo(hookA.id);
    deliveryB = await deliveryTo(hookB.id);
    deliveryGlobal = await deliveryTo(hookGlobal.id); // a global endpoint gets every tenant's events; no tenant sees its deliveries
    // A run with a stored request, for GET /runs/:id/request and replay.
    runId = (await t.inbound('matrix-global', { type: 'x' })).body.runId;
    expect(runId).toEqual(expect.any(String));
  }, 120_000); // a fresh PGlite store takes seconds, more on a busy machine
  afterAll(async () => {
    await t?.close();
    await store?.close();
  });

  const ALL_ACTIONS = ['billing.cancel', 'billing.notify', 'crm.tag'];
  const webhookState = (id: string) => async () => store.getWebhook(id);
  const freshHook = async (): Promise<string> => (await makeOutgoing('tenant-a')).id;

  /** One entry per route of the table, from the README's role table (the route table's `permission` is what is tested). */
  const expectations = (): Record<string, Expectation> => ({
    'get /openapi.json': { grant: 'any', ok: 200, call: async () => ({ path: '/openapi.json' }) },
    'get /webhooks': { grant: 'any', ok: 200, call: async () => ({ path: '/webhooks' }) },
    'post /webhooks': {
      grant: 'manage',
      ok: 201,
      call: async () => ({ path: '/webhooks', body: { direction: 'outgoing', url: OK_URL }, state: async () => (await store.listWebhooks()).length }),
    },
    'get /webhooks/:id': { grant: 'any', ok: 200, call: async () => ({ path: `/webhooks/${hookA.id}` }) },
    'patch /webhooks/:id': {
      grant: 'manage',
      ok: 200,
      call: async () => {
        const id = await freshHook();
        return { path: `/webhooks/${id}`, body: { maxRetries: 7, isActive: false }, state: webhookState(id) };
      },
    },
    'delete /webhooks/:id': {
      grant: 'manage',
      ok: 204,
      call: async () => {
        const id = await freshHook();
        return { path: `/webhooks/${id}`, state: webhookState(id) };
      },
    },
    'post /webhooks/:id/rotate-secret': {
      grant: 'manage',
      ok: 200,
      call: async () => {
        const id = await freshHook();
        return { path: `/webhooks/${id}/rotate-secret`, state: webhookState(id) };
      },
    },
    'post /webhooks/:id/test': { grant: 'manage', ok: 200, call: async () => ({ path: `/webhooks/${hookA.id}/test`, state: async () => sent.length }) },
    'post /webhooks/:id/dry-run': { grant: 'platform', ok: 200, call: async () => ({ path: `/webhooks/${inboundA.id}/dry-run`, body: { body: { n: 1 } } }) },
    'post /dry-run': { grant: 'platform', ok: 200, call: async () => ({ path: '/dry-run', body: { body: {}, jsScript: 'console.log(1); result = null;' } }) },
    'get /webhooks/:id/versions': { grant: 'platform', ok: 200, call: async () => ({ path: `/webhooks/${inboundA.id}/versions` }) },
    'get /actions': { grant: 'any', ok: 200, call: async () => ({ path: '/actions' }) },
    'get /settings': { grant: 'platform', ok: 200, call: async () => ({ path: '/settings' }) },
    'patch /settings': {
      grant: 'platform',
      ok: 200,
      // A refused caller tries to switch every action off; an allowed one keeps them on.
      call: async (allowed) => ({ path: '/settings', body: { enabledWebhookActions: allowed ? ALL_ACTIONS : [] }, state: () => store.getSettings() }),
    },
    'get /event-types': { grant: 'any', ok: 200, call: async () => ({ path: '/event-types' }) },
    'post /events': { grant: 'manage', ok: 202, call: async () => ({ path: '/events', body: { event: 'matrix.ping', data: { n: 1 } }, state: async () => t.events.length }) },
    'get /runs': { grant: 'platform', ok: 200, call: async () => ({ path: '/runs?limit=5' }) },
    'get /runs/:id': { grant: 'platform', ok: 200, call: async () => ({ path: `/runs/${runId}` }) },
    'get /runs/:id/request': { grant: 'platform', ok: 200, call: async () => ({ path: `/runs/${runId}/request` }) },
    'post /runs/:id/replay': { grant: 'platform', ok: 201, call: async () => ({ path: `/runs/${runId}/replay`, state: async () => (await store.listRuns({ limit: 200 })).items.length }) },
    'get /deliveries': { grant: 'any', ok: 200, call: async () => ({ path: '/deliveries' }) },
    'get /deliveries/:id': { grant: 'any', ok: 200, call: async () => ({ path: `/deliveries/${deliveryA.id}` }) },
    'post /deliveries/:id/redeliver': {
      grant: 'manage',
      ok: 202,
      call: async () => ({ path: `/deliveries/${deliveryA.id}/redeliver`, state: async () => (await t.api('GET', `/deliveries/${deliveryA.id}`)).body.updatedAt }),
    },
    'get /keys': { grant: 'owner', ok: 200, call: async () => ({ path: '/keys' }) },
    'get /audit': { grant: 'manage', ok: 200, call: async () => ({ path: '/audit?limit=5' }) },
    'post /keys': {
      grant: 'owner',
      ok: 201,
      call: async () => ({ path: '/keys', body: { role: 'member', tenantId: 'tenant-a', name: 'matrix' }, state: async () => (await store.listAdminTokens()).length }),
    },
    'delete /keys/:id': {
      grant: 'owner',
      ok: 204,
      call: async () => {
        const { id } = await makeKey('member', 'tenant-a', 'to revoke');
        return { path: `/keys/${id}`, state: async () => (await store.listAdminTokens()).find((k) => k.id === id)?.revokedAt ?? null };
      },
    },
  });

  it('has an expectation for every route of the route table, and none for a route that is not there', () => {
    const routes = ADMIN_ROUTES.map(routeKey);
    const listed = Object.keys(expectations());
    expect(routes.filter((r) => !listed.includes(r)), 'routes without a role expectation').toEqual([]);
    expect(listed.filter((r) => !routes.includes(r)), 'expectations for routes that do not exist').toEqual([]);
    // And the documented roles are the table's.
    const grantOf = { platform: 'platform', keys: 'owner', manage: 'manage', read: 'any' } as const;
    expect(Object.fromEntries(ADMIN_ROUTES.map((s) => [routeKey(s), grantOf[s.permission]]))).toEqual(
      Object.fromEntries(Object.entries(expectations()).map(([k, e]) => [k, e.grant])),
    );
  });

  it('documents the answer of every route that has one (GET /openapi.json, from the route table)', () => {
    const undocumented = ADMIN_ROUTES.filter((s) => Object.keys(s.responses).some((status) => status !== '204') && !s.responseSchema).map(routeKey);
    expect(undocumented).toEqual([]);
  });

  it('answers every route for every caller: 401 without a valid key, 403 without the role, the success status with it', async () => {
    const table = expectations();
    const wrong: string[] = [];
    for (const spec of ADMIN_ROUTES) {
      const expectation = table[routeKey(spec)];
      if (!expectation) continue; // reported by the test above
      for (const who of CALLERS) {
        const allowed = MAY[expectation.grant].has(who);
        const call = await expectation.call(allowed);
        const before = await call.state?.();
        const res = await api(spec.method.toUpperCase(), call.path, call.body, tokens[who]);
        const [status, code] =
          who === 'none' ? [401, 'auth_missing'] : who === 'unknown' || who === 'revoked' ? [401, 'auth_invalid'] : allowed ? [expectation.ok, undefined] : [403, 'forbidden'];
        const got = `${res.status}${res.body?.error ? ` ${res.body.error.code}` : ''}`;
        if (res.status !== status || (code && res.body?.error?.code !== code)) {
          wrong.push(`${routeKey(spec)} as ${who}: expected ${status}${code ? ` ${code}` : ''}, got ${got} ${JSON.stringify(res.body?.error ?? '')}`);
        }
        if (!allowed && call.state) {
          const after = await call.state();
          if (JSON.stringify(after) !== JSON.stringify(before)) wrong.push(`${routeKey(spec)} as ${who}: refused (${got}) but changed ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    // Every success status and 401/403 of every route was checked against the OpenAPI document.
    const unchecked = ADMIN_ROUTES.flatMap((s) => [`${routeKey(s)} ${table[routeKey(s)]?.ok}`, `${routeKey(s)} 401`, ...(s.permission === 'read' ? [] : [`${routeKey(s)} 403`])]).filter((k) => !openapi.seen.has(k));
    expect(unchecked).toEqual([]);
  }, 120_000);

  it('refuses an unknown path to a tenant key (fail closed) and answers the platform admin 404', async () => {
    expect(await api('GET', '/no-such-route', undefined, tokens.member)).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(await api('GET', '/no-such-route', undefined, tokens.platform)).toMatchObject({ status: 404, body: { error: { code: 'route_not_found' } } });
    expect(await api('GET', '/no-such-route', undefined, null)).toMatchObject({ status: 401, body: { error: { code: 'auth_missing' } } });
  });

  it('answers a tenant key about another tenant\'s records exactly as about records that do not exist', async () => {
    const none = randomUUID();
    const webhookTargets = () => [hookB.id, hookGlobal.id, inboundA.id, inboundGlobal.id, none, 'not-a-uuid'];
    const foreign: Foreign = {
      'get /webhooks/:id': { code: 'webhook_not_found', paths: webhookTargets().map((id) => `/webhooks/${id}`) },
      'patch /webhooks/:id': { code: 'webhook_not_found', paths: webhookTargets().map((id) => `/webhooks/${id}`), body: { isActive: false } },
      'delete /webhooks/:id': { code: 'webhook_not_found', paths: webhookTargets().map((id) => `/webhooks/${id}`) },
      'post /webhooks/:id/rotate-secret': { code: 'webhook_not_found', paths: webhookTargets().map((id) => `/webhooks/${id}/rotate-secret`) },
      'post /webhooks/:id/test': { code: 'webhook_not_found', paths: webhookTargets().map((id) => `/webhooks/${id}/test`) },
      'post /webhooks/:id/dry-run': { code: 'forbidden', paths: webhookTargets().map((id) => `/webhooks/${id}/dry-run`), body: { body: {} } },
      'get /webhooks/:id/versions': { code: 'forbidden', paths: webhookTargets().map((id) => `/webhooks/${id}/versions`) },
      'get /runs/:id': { code: 'forbidden', paths: [runId, none].map((id) => `/runs/${id}`) },
      'get /runs/:id/request': { code: 'forbidden', paths: [runId, none].map((id) => `/runs/${id}/request`) },
      'post /runs/:id/replay': { code: 'forbidden', paths: [runId, none].map((id) => `/runs/${id}/replay`) },
      'get /deliveries/:id': { code: 'delivery_not_found', paths: [deliveryB.id, deliveryGlobal.id, none, 'not-a-uuid'].map((id) => `/deliveries/${id}`) },
      'post /deliveries/:id/redeliver': { code: 'delivery_not_found', paths: [deliveryB.id, deliveryGlobal.id, none].map((id) => `/deliveries/${id}/redeliver`) },
      'delete /keys/:id': { code: 'key_not_found', paths: [keyIds.ownerB!, keyIds.platform!, none].map((id) => `/keys/${id}`) },
    };
    const withId = ADMIN_ROUTES.filter((s) => s.path.includes(':'));
    expect(withId.map(routeKey).filter((k) => !(k in foreign)), 'routes with an id but no cross-tenant probe').toEqual([]);

    const before = { webhooks: await store.listWebhooks(), keys: await store.listAdminTokens(), sent: sent.length, deliveries: (await t.api('GET', '/deliveries?limit=200')).body.items };
    const wrong: string[] = [];
    const table = expectations();
    for (const spec of withId) {
      const probe = foreign[routeKey(spec)]!;
      for (const role of TENANT_ROLES) {
        // A role that may not call the route at all gets 403 whatever the id; one that may gets 404 — never a hint.
        const expected = MAY[table[routeKey(spec)]!.grant].has(role) ? { status: 404, code: probe.code } : { status: 403, code: 'forbidden' };
        for (const path of probe.paths) {
          const res = await api(spec.method.toUpperCase(), path, probe.body, tokens[role]);
          const got = { status: res.status, code: res.body?.error?.code };
          if (JSON.stringify(got) !== JSON.stringify(expected)) wrong.push(`${routeKey(spec)} ${path} as ${role}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    // Nothing of B's, the platform's or A's inbound webhook changed, no ping went out, no delivery was queued again.
    expect(byId(await store.listWebhooks())).toEqual(byId(before.webhooks));
    expect(byId(await store.listAdminTokens())).toEqual(byId(before.keys));
    expect(sent.length).toBe(before.sent);
    expect((await t.api('GET', '/deliveries?limit=200')).body.items).toEqual(before.deliveries);
  });

  it('lists only the tenant\'s own records, and refuses to write for another tenant (403)', async () => {
    for (const role of TENANT_ROLES) {
      const token = tokens[role];
      const webhooks = (await api('GET', '/webhooks', undefined, token)).body.items;
      expect(webhooks.length).toBeGreaterThan(0);
      expect(webhooks.every((w: any) => w.tenantId === 'tenant-a' && w.direction === 'outgoing'), role).toBe(true);
      const deliveries = (await api('GET', '/deliveries?limit=200', undefined, token)).body.items;
      const own = new Set(webhooks.map((w: any) => w.id));
      expect(deliveries.length).toBeGreaterThan(0);
      expect(deliveries.every((d: any) => own.has(d.webhookId)), role).toBe(true);
      expect((await api('GET', `/deliveries?webhookId=${hookB.id}`, undefined, token)).body.items).toEqual([]);
    }
    expect((await api('GET', '/keys', undefined, tokens.owner)).body.items.every((k: any) => k.tenantId === 'tenant-a')).toBe(true);

    const other = [
      ['POST', '/webhooks', { direction: 'outgoing', url: OK_URL, tenantId: 'tenant-b' }],
      ['POST', '/webhooks', { direction: 'outgoing', url: OK_URL, tenantId: null }],
      ['PATCH', `/webhooks/${hookA.id}`, { tenantId: 'tenant-b' }],
      ['POST', '/events', { event: 'x', tenantId: 'tenant-b' }],
      ['POST', '/events', { event: 'x', tenantId: null }],
      ['POST', '/keys', { role: 'member', tenantId: 'tenant-b' }],
      ['POST', '/keys', { role: 'admin', tenantId: null }],
    ] as const;
    const webhooksBefore = byId(await store.listWebhooks());
    for (const [method, path, body] of other) {
      expect(await api(method, path, body, tokens.owner), `${method} ${path} ${JSON.stringify(body)}`).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    }
    expect(byId(await store.listWebhooks())).toEqual(webhooksBefore);
    // An inbound webhook is the platform's, even with a tenantId.
    const inbound = { direction: 'inbound', provider: 'tenant-made', jsScript: 'result = null;' };
    expect(await api('POST', '/webhooks', inbound, tokens.owner)).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    // What a tenant key creates is its tenant's.
    const made = await api('POST', '/webhooks', { direction: 'outgoing', url: OK_URL }, tokens.admin);
    expect(made.body.tenantId).toBe('tenant-a');
    expect((await api('POST', '/keys', { role: 'member' }, tokens.owner)).body.tenantId).toBe('tenant-a');
  });

  it('shows an outgoing secret in the 201 and in rotate-secret only, and an API key in its 201 only', async () => {
    const created = await api('POST', '/webhooks', { direction: 'outgoing', url: OK_URL, events: ['*'] }, tokens.owner);
    expect(created.status).toBe(201);
    const first: string = created.body.secret;
    expect(first).toMatch(/^whsec_/);
    expect(created.body.secretPrefix).toBe(first.slice(0, 10));
    const id = created.body.id;
    const rotated = await api('POST', `/webhooks/${id}/rotate-secret`, undefined, tokens.admin);
    const second: string = rotated.body.secret;
    expect(second).toMatch(/^whsec_/);
    expect(second).not.toBe(first);

    const key = await api('POST', '/keys', { role: 'member', tenantId: 'tenant-a', name: 'once' }, tokens.owner);
    expect(key.status).toBe(201);
    expect(key.body.key).toMatch(/^hg_/);
    const hash = (await store.listAdminTokens()).find((k) => k.id === key.body.id)!.tokenHash;

    const reads = [
      await api('GET', `/webhooks/${id}`, undefined, tokens.member),
      await api('GET', `/webhooks/${id}`),
      await api('GET', '/webhooks', undefined, tokens.owner),
      await api('GET', '/webhooks'),
      await api('PATCH', `/webhooks/${id}`, { maxRetries: 1 }, tokens.admin),
      await api('PATCH', `/webhooks/${id}`, { url: `${OK_URL}?v=2` }),
      await api('POST', `/webhooks/${id}/test`, undefined, tokens.admin),
      await api('POST', '/events', { event: 'secret.check', data: {} }, tokens.admin),
      await api('GET', `/deliveries?webhookId=${id}`, undefined, tokens.owner),
      await api('GET', '/keys', undefined, tokens.owner),
      await api('GET', '/keys'),
    ];
    for (const res of reads) {
      expect(res.status).toBeLessThan(300);
      const text = JSON.stringify(res.body);
      for (const secret of [first, second, key.body.key, hash]) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain(secret.slice(6));
      }
      expect(text).not.toMatch(/"(secret|key|tokenHash)":/);
    }
    // The ping was signed with the new secret, which the API never shows again.
    const ping = sent.at(-1)!;
    const signature = Object.entries(ping.headers).find(([name]) => name.toLowerCase() === 'x-webhook-signature')?.[1] ?? '';
    expect(WebhookSender.verify(ping.body, second, signature)).toBe(true);

    // Inbound: the verify secret is never shown, not even in the 201.
    const inbound = [
      await api('POST', '/webhooks', { direction: 'inbound', provider: 'secret-in', jsScript: '', verify: { scheme: 'github', secret: 'gh-secret-value-0123', secrets: ['gh-old-value-4567'] } }),
    ];
    const inboundId = inbound[0]!.body.id;
    inbound.push(await api('GET', `/webhooks/${inboundId}`), await api('GET', '/webhooks'), await api('PATCH', `/webhooks/${inboundId}`, { isActive: false }));
    for (const res of inbound) {
      expect(res.status).toBeLessThan(300);
      expect(JSON.stringify(res.body)).not.toMatch(/gh-secret-value|gh-old-value/);
    }
    expect(inbound[0]!.body.verify).toEqual({ scheme: 'github', hasSecret: true });
  });
});
