import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROUTES } from '../../src/admin/route-table.js';
import type { Store } from '../../src/store/types.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { storeFactories } from '../helpers/stores.js';

const SCRIPT = "result = { event: 'x.done', data: body };";

interface Key {
  id: string;
  key: string;
}

describe.each(storeFactories())('API keys, roles and tenancy on $name', (factory) => {
  let store: Store;
  let t: TestEngine;
  let receiver: Receiver;
  const keys: Record<string, Key> = {};
  // Tenant B's records, which tenant A's keys must never see or touch.
  let hookB: any;
  let hookGlobal: any;
  let hookA: any;
  let inbound: any;
  let deliveryB: any;
  let deliveryA: any;

  const make = async (role: string, tenantId: string | null, token?: string): Promise<Key> => {
    const res = await t.api('POST', '/keys', { role, tenantId, name: `${role}@${tenantId}` }, token);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return { id: res.body.id, key: res.body.key };
  };

  beforeAll(async () => {
    store = await factory.create();
    receiver = await startReceiver();
    t = await startTestEngine(store, { allowInsecureUrls: true, allowPrivateNetworks: true });
    keys.platform = await make('admin', null);
    keys.ownerA = await make('owner', 'tenant-a');
    keys.adminA = await make('admin', 'tenant-a');
    keys.memberA = await make('member', 'tenant-a');
    keys.ownerB = await make('owner', 'tenant-b');
    inbound = (await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'tenancy-in', jsScript: SCRIPT, tenantId: 'tenant-a' })).body;
    hookB = (await t.api('POST', '/webhooks', { direction: 'outgoing', url: receiver.url, events: ['*'] }, keys.ownerB!.key)).body;
    hookA = (await t.api('POST', '/webhooks', { direction: 'outgoing', url: receiver.url, events: ['*'] }, keys.adminA!.key)).body;
    hookGlobal = (await t.api('POST', '/webhooks', { direction: 'outgoing', url: receiver.url, events: ['only.global'] })).body;
    expect(hookB.tenantId).toBe('tenant-b');
    expect(hookA.tenantId).toBe('tenant-a');
    expect((await t.api('POST', '/events', { event: 'ping', data: {} }, keys.ownerB!.key)).status).toBe(202);
    expect((await t.api('POST', '/events', { event: 'ping', data: {} }, keys.adminA!.key)).status).toBe(202);
    const all = await waitFor(async () => {
      const list = (await t.api('GET', '/deliveries')).body.items as any[];
      return list.length >= 2 && list.every((d) => d.status === 'succeeded') ? list : undefined;
    });
    deliveryB = all.find((d) => d.webhookId === hookB.id);
    deliveryA = all.find((d) => d.webhookId === hookA.id);
    expect(deliveryB).toBeDefined();
    expect(deliveryA).toBeDefined();
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await store?.close();
  });

  it('shows a key once, stores only its hash, lists it by prefix, and a revoked key is 401', async () => {
    const created = await t.api('POST', '/keys', { role: 'member', tenantId: 'tenant-c', name: 'ci' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ role: 'member', tenantId: 'tenant-c', name: 'ci', revokedAt: null, key: expect.stringMatching(/^hg_/) });
    expect(created.body.key.startsWith(created.body.prefix)).toBe(true);
    const list = await t.api('GET', '/keys');
    const listed = list.body.items.find((k: any) => k.id === created.body.id);
    expect(listed).toEqual({ id: created.body.id, name: 'ci', prefix: created.body.prefix, role: 'member', tenantId: 'tenant-c', createdAt: expect.any(String), lastUsedAt: null, revokedAt: null });
    expect(JSON.stringify(list.body)).not.toContain(created.body.key);
    const rows = await store.listAdminTokens();
    expect(JSON.stringify(rows)).not.toContain(created.body.key);

    expect((await t.api('GET', '/webhooks', undefined, created.body.key)).status).toBe(200);
    // Its use is noted off the request path.
    await waitFor(async () => ((await t.api('GET', '/keys')).body.items.find((k: any) => k.id === created.body.id).lastUsedAt ? true : undefined), 5000, 'lastUsedAt');
    expect((await t.api('DELETE', `/keys/${created.body.id}`)).status).toBe(204);
    expect(await t.api('GET', '/webhooks', undefined, created.body.key)).toMatchObject({ status: 401, body: { error: { code: 'auth_invalid' } } });
    expect((await t.api('GET', '/keys')).body.items.find((k: any) => k.id === created.body.id).revokedAt).toEqual(expect.any(String));
    expect((await t.api('DELETE', `/keys/${created.body.id}`)).status).toBe(204); // idempotent
    expect((await t.api('DELETE', '/keys/no-such-key')).body.error.code).toBe('key_not_found');
  });

  it('validates key requests: roles, tenants and who may create them', async () => {
    expect((await t.api('POST', '/keys', { role: 'owner' })).body.error.code).toBe('validation_failed'); // tenant role without tenant
    const bad = await t.api('POST', '/keys', { role: 'root', tenantId: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('/role');
    // An owner makes keys for its own tenant only, and not platform keys.
    expect((await t.api('POST', '/keys', { role: 'member' }, keys.ownerA!.key)).body.tenantId).toBe('tenant-a');
    expect((await t.api('POST', '/keys', { role: 'member', tenantId: 'tenant-b' }, keys.ownerA!.key)).status).toBe(403);
    expect((await t.api('POST', '/keys', { role: 'admin', tenantId: null }, keys.ownerA!.key)).status).toBe(403);
    // Admins and members of a tenant do not manage keys.
    for (const k of [keys.adminA!, keys.memberA!]) {
      expect(await t.api('GET', '/keys', undefined, k.key)).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      expect((await t.api('POST', '/keys', { role: 'member' }, k.key)).status).toBe(403);
    }
  });

  it('gives each role what it may do, and 403 for the rest', async () => {
    const member = keys.memberA!.key;
    expect((await t.api('GET', '/webhooks', undefined, member)).status).toBe(200);
    expect((await t.api('GET', `/webhooks/${hookA.id}`, undefined, member)).status).toBe(200);
    expect((await t.api('GET', '/deliveries', undefined, member)).status).toBe(200);
    expect((await t.api('GET', '/event-types', undefined, member)).status).toBe(200);
    for (const [method, path, body] of [
      ['PATCH', `/webhooks/${hookA.id}`, { isActive: false }],
      ['POST', '/webhooks', { direction: 'outgoing', url: receiver.url }],
      ['DELETE', `/webhooks/${hookA.id}`],
      ['POST', `/webhooks/${hookA.id}/rotate-secret`],
      ['POST', `/deliveries/${deliveryA.id}/redeliver`],
      ['POST', '/events', { event: 'x' }],
    ] as Array<[string, string, unknown?]>) {
      expect(await t.api(method, path, body, member), `${method} ${path}`).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    }
    expect((await t.api('GET', `/webhooks/${hookA.id}`)).body.isActive).toBe(true);

    // A tenant admin manages its tenant's outgoing webhooks, but nothing of the platform's.
    const admin = keys.adminA!.key;
    expect((await t.api('PATCH', `/webhooks/${hookA.id}`, { maxRetries: 2 }, admin)).body.maxRetries).toBe(2);
    const rotated = await t.api('POST', `/webhooks/${hookA.id}/rotate-secret`, undefined, admin);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    for (const [method, path, body] of [
      ['POST', '/webhooks', { direction: 'inbound', provider: 'tenant-in', jsScript: SCRIPT }],
      ['GET', '/settings'],
      ['PATCH', '/settings', { enabledWebhookActions: [] }],
      ['GET', '/runs'],
      ['GET', '/keys'],
    ] as Array<[string, string, unknown?]>) {
      expect(await t.api(method, path, body, admin), `${method} ${path}`).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    }
    expect((await t.api('GET', '/webhooks')).body.items.some((w: any) => w.provider === 'tenant-in')).toBe(false);
  });

  it('never lets a tenant key see or touch another tenant\'s data, on any route', async () => {
    const a = keys.ownerA!.key;
    const own = await t.api('GET', '/webhooks', undefined, a);
    expect(own.body.items.map((w: any) => w.id)).toEqual([hookA.id]); // not B's, not global, not inbound
    const deliveries = await t.api('GET', '/deliveries', undefined, a);
    expect(deliveries.body.items.map((d: any) => d.webhookId)).toEqual([hookA.id]);
    expect((await t.api('GET', `/deliveries?webhookId=${hookB.id}`, undefined, a)).body.items).toEqual([]);
    expect((await t.api('GET', '/keys', undefined, a)).body.items.every((k: any) => k.tenantId === 'tenant-a')).toBe(true);

    // One probe per route of the route table; a new route without a probe fails this test.
    const probes: Record<string, Array<[string, unknown?, number?]>> = {
      'get /openapi.json': [['/openapi.json', undefined, 200]],
      'get /webhooks': [], // checked above
      'post /webhooks': [['/webhooks', { direction: 'outgoing', url: receiver.url, tenantId: 'tenant-b' }, 403]],
      'get /webhooks/:id': [[`/webhooks/${hookB.id}`], [`/webhooks/${hookGlobal.id}`], [`/webhooks/${inbound.id}`]],
      'patch /webhooks/:id': [[`/webhooks/${hookB.id}`, { isActive: false }], [`/webhooks/${hookA.id}`, { tenantId: 'tenant-b' }, 403]],
      'delete /webhooks/:id': [[`/webhooks/${hookB.id}`], [`/webhooks/${hookGlobal.id}`]],
      'post /webhooks/:id/rotate-secret': [[`/webhooks/${hookB.id}/rotate-secret`]],
      'post /webhooks/:id/test': [[`/webhooks/${hookB.id}/test`]],
      'post /webhooks/:id/dry-run': [[`/webhooks/${inbound.id}/dry-run`, { body: {} }, 403]],
      'post /dry-run': [['/dry-run', { body: {}, jsScript: '' }, 403]],
      'get /webhooks/:id/versions': [[`/webhooks/${inbound.id}/versions`, undefined, 403]],
      'get /actions': [['/actions', undefined, 200]],
      'get /settings': [['/settings', undefined, 403]],
      'patch /settings': [['/settings', { enabledWebhookActions: [] }, 403]],
      'get /event-types': [['/event-types', undefined, 200]],
      'post /events': [['/events', { event: 'ping', tenantId: 'tenant-b' }, 403]],
      'get /runs': [['/runs', undefined, 403]],
      'get /runs/:id': [['/runs/00000000-0000-7000-8000-000000000000', undefined, 403]],
      'get /runs/:id/request': [['/runs/00000000-0000-7000-8000-000000000000/request', undefined, 403]],
      'post /runs/:id/replay': [['/runs/00000000-0000-7000-8000-000000000000/replay', undefined, 403]],
      'get /deliveries': [], // checked above
      'get /deliveries/:id': [[`/deliveries/${deliveryB.id}`]],
      'post /deliveries/:id/redeliver': [[`/deliveries/${deliveryB.id}/redeliver`]],
      'get /keys': [], // checked above
      'post /keys': [['/keys', { role: 'owner', tenantId: 'tenant-b' }, 403]],
      'delete /keys/:id': [[`/keys/${keys.ownerB!.id}`]],
      'get /audit': [['/audit', undefined, 200], [`/audit?targetId=${hookB.id}`, undefined, 200]], // scoped: test/e2e/audit-log.test.ts
    };
    for (const spec of ADMIN_ROUTES) {
      const name = `${spec.method} ${spec.path}`;
      expect(probes, `no tenancy probe for ${name}`).toHaveProperty([name]);
      for (const [path, body, status = 404] of probes[name]!) {
        const res = await t.api(spec.method.toUpperCase(), path, body, a);
        expect(res.status, `${name} ${path}: ${JSON.stringify(res.body)}`).toBe(status);
      }
    }
    // B's records are untouched.
    const b = await t.api('GET', `/webhooks/${hookB.id}`);
    expect(b.body).toMatchObject({ isActive: true, tenantId: 'tenant-b', secretPrefix: hookB.secretPrefix });
    expect((await t.api('GET', `/webhooks/${hookGlobal.id}`)).status).toBe(200);
    expect((await t.api('GET', '/webhooks', undefined, keys.ownerB!.key)).status).toBe(200); // B's key still works
    expect((await t.api('GET', `/deliveries/${deliveryB.id}`)).body.attemptCount).toBe(deliveryB.attemptCount);
    expect(receiver.requests.filter((r) => r.headers['x-webhook-event'] === 'webhook.test')).toHaveLength(0);
  });

  it('scopes a tenant\'s events to its tenant', async () => {
    const before = t.events.length;
    expect((await t.api('POST', '/events', { event: 'tenant.thing', data: { n: 1 } }, keys.adminA!.key)).status).toBe(202);
    await waitFor(() => (t.events.length > before ? true : undefined));
    expect(t.events.at(-1)).toMatchObject({ event: 'tenant.thing', tenantId: 'tenant-a', metadata: { tenantId: 'tenant-a' } });
  });

  it('tells a tenant key of the deliveries to its own endpoints only, the platform of all', async () => {
    // only.global reaches tenant A's `*` endpoint and the global one.
    const tenant = await t.api('POST', '/events', { event: 'only.global', data: {} }, keys.adminA!.key);
    expect(tenant).toMatchObject({ status: 202, body: { event: 'only.global', deliveries: 1 } });
    const platform = await t.api('POST', '/events', { event: 'only.global', data: {}, tenantId: 'tenant-a' });
    expect(platform).toMatchObject({ status: 202, body: { event: 'only.global', deliveries: 2 } });
    const delivered = await waitFor(async () => {
      const list = ((await t.api('GET', `/deliveries?webhookId=${hookGlobal.id}`)).body.items as any[]).filter((d) => d.status === 'succeeded');
      return list.length === 2 ? list : undefined;
    });
    expect(delivered.map((d) => d.messageId).sort()).toEqual([tenant.body.messageId, platform.body.messageId].sort());
  });
});
