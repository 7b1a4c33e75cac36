import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { storeFactories } from '../helpers/stores.js';

interface Key {
  id: string;
  key: string;
}

const INBOUND_SECRET = 'gh-inbound-secret-0f1e2d3c4b5a';
const INBOUND_SECRET_2 = 'gh-inbound-secret-rotated-99aa88bb';
const INBOUND_SECRETS = ['extra-secret-one-7a7a7a', 'extra-secret-two-8b8b8b'];
const SCRIPT_V1 = "console.log('one');\nconsole.log('two');\n";
const SCRIPT_V2 = "console.log('one');\nconsole.log('TWO');\nconsole.log('three');\n";

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

describe.each(storeFactories())('audit log on $name', (factory) => {
  let store: KnexStore;
  let t: TestEngine;
  let receiver: Receiver;
  const keys: Record<string, Key> = {};
  /** Every secret this file makes: none may show up in the audit table or its answers. */
  const secrets: string[] = [INBOUND_SECRET, INBOUND_SECRET_2, ...INBOUND_SECRETS];

  const makeKey = async (role: string, tenantId: string | null, token?: string): Promise<Key> => {
    const res = await t.api('POST', '/keys', { role, tenantId, name: `${role}@${tenantId}` }, token);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    secrets.push(res.body.key);
    return { id: res.body.id, key: res.body.key };
  };
  const audit = async (query = '', token?: string) => {
    const res = await t.api('GET', `/audit${query}`, undefined, token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as { items: any[]; nextCursor: string | null };
  };
  const newestFor = async (targetId: string) => (await audit(`?targetId=${targetId}`)).items[0];

  beforeAll(async () => {
    store = await factory.create();
    receiver = await startReceiver();
    t = await startTestEngine(store, { allowInsecureUrls: true, allowPrivateNetworks: true });
    keys.platform = await makeKey('admin', null);
    keys.ownerA = await makeKey('owner', 'tenant-a');
    keys.adminA = await makeKey('admin', 'tenant-a');
    keys.memberA = await makeKey('member', 'tenant-a');
    keys.ownerB = await makeKey('owner', 'tenant-b');
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await store?.close();
  });

  it('records an inbound webhook\'s creation and changes with the actor\'s key, the script as a reference and secrets redacted', async () => {
    const p = keys.platform!;
    const created = await t.api('POST', '/webhooks', {
      direction: 'inbound',
      provider: 'audit-in',
      tenantId: 'tenant-a',
      jsScript: SCRIPT_V1,
      allowedActions: ['crm.tag'],
      verify: { scheme: 'github', secret: INBOUND_SECRET },
    }, p.key);
    expect(created.status).toBe(201);
    const id = created.body.id as string;

    const entry = await newestFor(id);
    expect(entry).toMatchObject({
      actorKeyId: p.id,
      actorRole: 'admin',
      actorTenantId: null,
      tenantId: 'tenant-a',
      action: 'webhook.created',
      targetType: 'inbound_webhook',
      targetId: id,
    });
    expect(entry.changes).toMatchObject({
      provider: { after: 'audit-in' },
      allowedActions: { after: ['crm.tag'] },
      'verify.scheme': { after: 'github' },
      'verify.secret': { after: '[redacted]' },
      jsScript: { after: { version: 1, sha256: sha256(SCRIPT_V1), lines: 2, bytes: Buffer.byteLength(SCRIPT_V1) } },
    });
    expect(entry.changes.provider).not.toHaveProperty('before');
    for (const field of ['id', 'createdAt', 'updatedAt', 'scriptVersion', 'direction']) expect(entry.changes).not.toHaveProperty([field]);

    // A PATCH lists exactly the fields it changed: the script (as versions, with a line count) and the secret.
    const patched = await t.api('PATCH', `/webhooks/${id}`, {
      jsScript: SCRIPT_V2,
      verify: { scheme: 'github', secret: INBOUND_SECRET_2, secrets: INBOUND_SECRETS },
      allowedActions: ['crm.tag'],
    }, p.key);
    expect(patched.status).toBe(200);
    const update = await newestFor(id);
    expect(update).toMatchObject({ action: 'webhook.updated', actorKeyId: p.id, targetType: 'inbound_webhook' });
    expect(Object.keys(update.changes).sort()).toEqual(['jsScript', 'verify.secret', 'verify.secrets']);
    expect(update.changes).toEqual({
      jsScript: {
        before: { version: 1, sha256: sha256(SCRIPT_V1), lines: 2, bytes: Buffer.byteLength(SCRIPT_V1) },
        after: { version: 2, sha256: sha256(SCRIPT_V2), lines: 3, bytes: Buffer.byteLength(SCRIPT_V2) },
        linesAdded: 2,
        linesRemoved: 1,
      },
      'verify.secret': { before: '[redacted]', after: '[redacted]' },
      'verify.secrets': { before: null, after: ['[redacted]', '[redacted]'] },
    });
    // The entry is written in the change's transaction: its time is the transaction's, as is updatedAt.
    expect(update.at).toBe(patched.body.updatedAt);
    // The script version it names is the text the versions route serves.
    const versions = (await t.api('GET', `/webhooks/${id}/versions`)).body.items as Array<{ version: number; jsScript: string }>;
    expect(sha256(versions.find((v) => v.version === 2)!.jsScript)).toBe(update.changes.jsScript.after.sha256);

    const small = await t.api('PATCH', `/webhooks/${id}`, { events: ['issues'], isActive: false }, p.key);
    expect(small.status).toBe(200);
    expect((await newestFor(id)).changes).toEqual({ events: { before: ['*'], after: ['issues'] }, isActive: { before: true, after: false } });

    // A PATCH that changes nothing writes nothing; a refused one neither.
    const count = (await audit(`?targetId=${id}`)).items.length;
    expect((await t.api('PATCH', `/webhooks/${id}`, { events: ['issues'] }, p.key)).status).toBe(200);
    expect((await t.api('PATCH', `/webhooks/${id}`, { jsScript: 'this is not javascript(' }, p.key)).status).toBe(400);
    expect((await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'audit-in', jsScript: '' }, p.key)).status).toBe(409);
    expect((await audit(`?targetId=${id}`)).items).toHaveLength(count);
    expect((await audit('?action=webhook.created')).items.filter((e) => e.changes.provider?.after === 'audit-in')).toHaveLength(1);

    expect((await t.api('DELETE', `/webhooks/${id}`, undefined, p.key)).status).toBe(204);
    const deleted = await newestFor(id);
    expect(deleted).toMatchObject({ action: 'webhook.deleted', actorKeyId: p.id, targetType: 'inbound_webhook', tenantId: 'tenant-a' });
    expect(deleted.changes).toMatchObject({
      provider: { before: 'audit-in' },
      'verify.secret': { before: '[redacted]' },
      'verify.secrets': { before: ['[redacted]', '[redacted]'] },
      jsScript: { before: { version: 2, sha256: sha256(SCRIPT_V2) } },
    });
    expect(deleted.changes.provider).not.toHaveProperty('after');
  });

  it('records a tenant admin\'s outgoing webhook: creation, a PATCH of one field, secret rotation and deletion', async () => {
    const a = keys.adminA!;
    const created = await t.api('POST', '/webhooks', { direction: 'outgoing', url: receiver.url, events: ['order.paid'] }, a.key);
    expect(created.status).toBe(201);
    secrets.push(created.body.secret);
    const id = created.body.id as string;
    const first = await newestFor(id);
    expect(first).toMatchObject({
      actorKeyId: a.id,
      actorRole: 'admin',
      actorTenantId: 'tenant-a',
      tenantId: 'tenant-a',
      action: 'webhook.created',
      targetType: 'outgoing_webhook',
    });
    expect(first.changes).toMatchObject({ url: { after: receiver.url }, secret: { after: '[redacted]' }, maxRetries: { after: 3 }, tenantId: { after: 'tenant-a' } });

    expect((await t.api('PATCH', `/webhooks/${id}`, { maxRetries: 5, events: ['order.paid'] }, a.key)).status).toBe(200);
    expect(await newestFor(id)).toMatchObject({ action: 'webhook.updated', actorKeyId: a.id, changes: { maxRetries: { before: 3, after: 5 } } });
    expect(Object.keys((await newestFor(id)).changes)).toEqual(['maxRetries']);

    const rotated = await t.api('POST', `/webhooks/${id}/rotate-secret`, undefined, a.key);
    expect(rotated.status).toBe(200);
    secrets.push(rotated.body.secret);
    expect(await newestFor(id)).toMatchObject({
      action: 'webhook.secret_rotated',
      actorKeyId: a.id,
      tenantId: 'tenant-a',
      changes: { secret: { before: '[redacted]', after: '[redacted]' } },
    });

    expect((await t.api('DELETE', `/webhooks/${id}`, undefined, keys.ownerA!.key)).status).toBe(204);
    expect(await newestFor(id)).toMatchObject({
      action: 'webhook.deleted',
      actorKeyId: keys.ownerA!.id,
      actorRole: 'owner',
      changes: { url: { before: receiver.url }, secret: { before: '[redacted]' }, maxRetries: { before: 5 } },
    });
    expect((await audit(`?targetId=${id}`)).items.map((e) => e.action)).toEqual(['webhook.deleted', 'webhook.secret_rotated', 'webhook.updated', 'webhook.created']);
  });

  it('records settings changes as before/after, and nothing for a save that changes nothing', async () => {
    const p = keys.platform!;
    const before = (await t.api('GET', '/settings')).body.enabledWebhookActions as string[];
    expect((await t.api('PATCH', '/settings', { enabledWebhookActions: ['crm.tag'] }, p.key)).status).toBe(200);
    const [entry] = (await audit('?action=settings.updated')).items;
    expect(entry).toMatchObject({
      actorKeyId: p.id,
      targetType: 'settings',
      targetId: null,
      tenantId: null,
      changes: { enabledWebhookActions: { before, after: ['crm.tag'] } },
    });
    expect((await t.api('PATCH', '/settings', { enabledWebhookActions: ['crm.tag'] }, p.key)).status).toBe(200);
    expect((await audit('?action=settings.updated')).items).toHaveLength(1);
    expect((await t.api('PATCH', '/settings', { enabledWebhookActions: before }, p.key)).status).toBe(200);
    expect((await audit('?action=settings.updated')).items[0].changes).toEqual({ enabledWebhookActions: { before: ['crm.tag'], after: before } });
  });

  it('records keys created and revoked (once), never the key, its hash or its prefix', async () => {
    const owner = keys.ownerA!;
    const made = await makeKey('member', 'tenant-a', owner.key);
    const created = await newestFor(made.id);
    expect(created).toMatchObject({
      action: 'key.created',
      actorKeyId: owner.id,
      actorRole: 'owner',
      actorTenantId: 'tenant-a',
      targetType: 'api_key',
      tenantId: 'tenant-a',
      changes: { name: { after: 'member@tenant-a' }, role: { after: 'member' }, tenantId: { after: 'tenant-a' } },
    });
    expect(Object.keys(created.changes).sort()).toEqual(['name', 'role', 'tenantId']);
    expect((await t.api('DELETE', `/keys/${made.id}`, undefined, owner.key)).status).toBe(204);
    expect((await t.api('DELETE', `/keys/${made.id}`, undefined, owner.key)).status).toBe(204);
    const entries = (await audit(`?targetId=${made.id}`)).items;
    expect(entries.map((e) => e.action)).toEqual(['key.revoked', 'key.created']);
    expect(entries[0]).toMatchObject({ actorKeyId: owner.id, changes: { revokedAt: { before: null, after: expect.any(String) } } });
    // The bootstrap token (HOOKGATE_ADMIN_TOKEN) is no stored key: its entries have no key id.
    expect(await newestFor(keys.platform!.id)).toMatchObject({ action: 'key.created', actorKeyId: null, actorRole: 'admin' });
  });

  it('records operations after they succeed: an event emitted, a delivery redelivered, a run replayed', async () => {
    const a = keys.adminA!;
    const hook = (await t.api('POST', '/webhooks', { direction: 'outgoing', url: receiver.url, events: ['audit.ping'] }, a.key)).body;
    secrets.push(hook.secret);
    const emitted = await t.api('POST', '/events', { event: 'audit.ping', data: { card: '4242 4242 4242 4242' } }, a.key);
    expect(emitted.status).toBe(202);
    const [event] = (await audit(`?action=event.emitted&actorKeyId=${a.id}`)).items;
    expect(event).toEqual({
      id: expect.any(String),
      at: expect.any(String),
      actorKeyId: a.id,
      actorRole: 'admin',
      actorTenantId: 'tenant-a',
      tenantId: 'tenant-a',
      action: 'event.emitted',
      targetType: 'event',
      targetId: emitted.body.messageId,
      changes: { event: { after: 'audit.ping' }, deliveries: { after: 1 } },
    });
    expect(JSON.stringify(event)).not.toContain('4242');

    const delivery = await waitFor(async () => {
      const items = (await t.api('GET', `/deliveries?webhookId=${hook.id}`)).body.items as any[];
      return items[0]?.status === 'succeeded' ? items[0] : undefined;
    });
    expect((await t.api('POST', `/deliveries/${delivery.id}/redeliver`, undefined, a.key)).status).toBe(202);
    expect(await newestFor(delivery.id)).toMatchObject({
      action: 'delivery.redelivered',
      actorKeyId: a.id,
      targetType: 'delivery',
      tenantId: 'tenant-a',
      changes: { status: { before: 'succeeded', after: 'pending' } },
    });

    const p = keys.platform!;
    await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'audit-replay', jsScript: 'console.log(body.n);' }, p.key);
    const first = await t.inbound('audit-replay', { n: 1 });
    expect(first.status).toBe(200);
    const replay = await t.api('POST', `/runs/${first.body.runId}/replay`, undefined, p.key);
    expect(replay.status).toBe(201);
    expect(await newestFor(first.body.runId)).toMatchObject({
      action: 'run.replayed',
      actorKeyId: p.id,
      targetType: 'run',
      changes: { replayRunId: { after: replay.body.id }, status: { after: 'ok' } },
    });
  });

  it('scopes the list to the caller\'s tenant: owners and admins see their tenant\'s entries, members none, platform all', async () => {
    const hookB = (await t.api('POST', '/webhooks', { direction: 'outgoing', url: receiver.url }, keys.ownerB!.key)).body;
    secrets.push(hookB.secret);
    await t.api('PATCH', `/webhooks/${hookB.id}`, { isActive: false });

    const all = (await audit('?limit=200')).items;
    expect(new Set(all.map((e) => e.tenantId))).toEqual(new Set([null, 'tenant-a', 'tenant-b']));
    expect(all.some((e) => e.targetType === 'inbound_webhook' && e.tenantId === 'tenant-a')).toBe(true);

    for (const k of [keys.ownerA!, keys.adminA!]) {
      const seen = (await audit('?limit=200', k.key)).items;
      expect(seen.length).toBeGreaterThan(5);
      expect(seen.every((e) => e.tenantId === 'tenant-a')).toBe(true);
      // Inbound webhooks (scripts), runs and settings stay the platform's, even when labelled with the tenant.
      expect(new Set(seen.map((e) => e.targetType))).toEqual(new Set(['outgoing_webhook', 'api_key', 'event', 'delivery']));
      expect(seen.map((e) => e.id)).toEqual(all.filter((e) => e.tenantId === 'tenant-a' && !['inbound_webhook', 'run', 'settings'].includes(e.targetType)).map((e) => e.id));
      expect((await audit(`?targetId=${hookB.id}`, k.key)).items).toEqual([]);
    }
    // B sees its webhook's entries, the platform admin's change to it included.
    const b = (await audit('', keys.ownerB!.key)).items;
    expect(b.every((e) => e.tenantId === 'tenant-b')).toBe(true);
    expect(b.filter((e) => e.targetId === hookB.id).map((e) => [e.action, e.actorKeyId])).toEqual([
      ['webhook.updated', null],
      ['webhook.created', keys.ownerB!.id],
    ]);

    expect(await t.api('GET', '/audit', undefined, keys.memberA!.key)).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect((await t.api('GET', '/audit', undefined, null)).status).toBe(401);
  });

  it('pages newest first with an opaque cursor, and validates its query', async () => {
    const pager = await makeKey('admin', null);
    const ids: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      const res = await t.api('POST', '/webhooks', { direction: 'outgoing', url: `${receiver.url}/p${i}` }, pager.key);
      secrets.push(res.body.secret);
      ids.push(res.body.id);
    }
    const seen: any[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: any[]; nextCursor: string | null } = await audit(`?actorKeyId=${pager.id}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      sizes.push(page.items.length);
      seen.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen.map((e) => e.targetId)).toEqual([...ids].reverse());
    const order = seen.map((e) => [e.at, e.id].join(' '));
    expect(order).toEqual([...order].sort().reverse());

    const filtered = await audit(`?actorKeyId=${pager.id}&action=webhook.created&targetId=${ids[2]}`);
    expect(filtered.items.map((e) => e.targetId)).toEqual([ids[2]]);
    expect(filtered.nextCursor).toBeNull();

    expect((await t.api('GET', '/audit?cursor=not-a-cursor')).body.error.code).toBe('invalid_cursor');
    const bad = await t.api('GET', '/audit?action=webhook.exploded');
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'validation_failed' } } });
    expect((await t.api('GET', '/audit?limit=0')).status).toBe(400);
    expect((await t.api('GET', '/audit?nope=1')).status).toBe(400);
  });

  it('never stores or answers a secret: outgoing secrets, inbound verify secrets, API keys and their hashes', async () => {
    expect(secrets.length).toBeGreaterThan(10);
    const table = JSON.stringify(await store.knex('audit_log').select('*'));
    expect(table.length).toBeGreaterThan(1000);
    const pages: string[] = [];
    for (let cursor: string | null = null, first = true; first || cursor; first = false) {
      const page: { items: any[]; nextCursor: string | null } = await audit(`?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
      pages.push(JSON.stringify(page));
      cursor = page.nextCursor;
    }
    const hashes = secrets.filter((s) => s.startsWith('hg_')).map(sha256);
    for (const secret of [...secrets, ...hashes]) {
      expect(table, 'audit_log table').not.toContain(secret);
      for (const page of pages) expect(page).not.toContain(secret);
    }
    expect(table).toContain('[redacted]');
  });
});
