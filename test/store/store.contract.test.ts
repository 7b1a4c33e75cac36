import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { KnexStore, RunRecord, RunRecordStatus, Webhook } from '../../src/store/index.js';
import { uuidv7 } from '../../src/store/index.js';
import { queryInboundByProvider, queryOutgoingByEvent, queryRunsPage } from '../../src/store/queries.js';
import { storeFactories } from '../helpers/stores.js';
import { migrations as migrationList } from '../../migrations/index.js';

/*
 * The store contract, run against every implementation. One store per implementation for the whole file
 * (PGlite starts in seconds, not milliseconds); every test uses names of its own so tests do not see each
 * other's rows, except the settings test, which must run first on the fresh store.
 */

const unique = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

const ids = (webhooks: Webhook[]): string[] => webhooks.map((w) => w.id).sort();

async function expectAppError(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe(code);
}

function run(overrides: Partial<RunRecord> & { provider: string; createdAt: string }): RunRecord {
  return {
    id: uuidv7(),
    webhookId: null,
    eventType: 'invoice.paid',
    status: 'ok',
    durationMs: 1.5,
    scriptVersion: 1,
    actionsCalled: [],
    logs: [],
    error: null,
    emittedEvent: null,
    ...overrides,
  };
}

/** Runs newest first as listRuns must order them: created_at desc, id desc. */
function newestFirst(runs: RunRecord[]): string[] {
  return [...runs]
    .sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1))
    .map((r) => r.id);
}

async function explain(store: KnexStore, query: Knex.QueryBuilder): Promise<string> {
  const { sql, bindings } = query.toSQL();
  return store.knex.transaction(async (trx) => {
    // Tiny tables make a sequential scan the cheapest plan; forbid it to see which index the query can use.
    await trx.raw('set local enable_seqscan = off');
    const result = (await trx.raw(`explain (format json) ${sql}`, [...bindings])) as { rows: unknown[] };
    return JSON.stringify(result.rows);
  });
}

describe.each(storeFactories())('store contract on $name', (factory) => {
  let store: KnexStore;

  beforeAll(async () => {
    store = await factory.create();
  });

  afterAll(async () => {
    await store?.close();
  });

  describe('settings', () => {
    it('are null on a fresh store, then what was saved', async () => {
      expect(await store.getSettings()).toBeNull();
      const saved = await store.saveSettings({ enabledWebhookActions: ['a.one', 'b.two'] });
      expect(saved).toEqual({ enabledWebhookActions: ['a.one', 'b.two'] });
      expect(await store.getSettings()).toEqual({ enabledWebhookActions: ['a.one', 'b.two'] });
      await store.saveSettings({ enabledWebhookActions: [] });
      expect(await store.getSettings()).toEqual({ enabledWebhookActions: [] });
    });
  });

  describe('lifecycle', () => {
    it('reports its kind, migrates idempotently and answers ping', async () => {
      expect(store.kind).toBe(factory.name);
      await store.migrate();
      await store.migrate();
      await expect(store.ping()).resolves.toBeUndefined();
      const migrations = (await store.knex('knex_migrations').select('name')) as Array<{ name: string }>;
      const names = migrationList.map((m) => m.name);
      expect(names).toEqual([...names].sort()); // the hand-kept list stays ordered by name
      expect(migrations.map((m) => m.name)).toEqual(names);
    });
  });

  describe('inbound webhooks', () => {
    it('are created with defaults and read back', async () => {
      const provider = unique('prov');
      const created = await store.createInboundWebhook({ provider, jsScript: 'result = null;' });
      expect(created).toMatchObject({
        direction: 'inbound',
        provider,
        jsScript: 'result = null;',
        events: ['*'],
        allowedActions: [],
        emitEvents: null,
        verify: { scheme: 'none' },
        isActive: true,
        tenantId: null,
        scriptVersion: 1,
      });
      expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(new Date(created.createdAt).toISOString()).toBe(created.createdAt);
      expect(created.updatedAt).toBe(created.createdAt);
      expect(await store.getWebhook(created.id)).toEqual(created);
      expect(await store.findByProvider(provider)).toEqual(created);
    });

    it('keep every field given', async () => {
      const provider = unique('full');
      const input = {
        provider,
        jsScript: 'result = { event: "x", data: body };',
        allowedActions: ['subscription.cancel'],
        events: ['invoice.paid', 'customer.created'],
        emitEvents: ['x'],
        verify: { scheme: 'hmac-sha256' as const, secret: 's3cret', header: 'x-sig', toleranceSec: 60 },
        isActive: false,
        tenantId: 'tenant-1',
      };
      const created = await store.createInboundWebhook(input);
      expect(created).toMatchObject({ ...input, scriptVersion: 1 });
      expect(await store.getWebhook(created.id)).toEqual(created);
    });

    it('refuse a second webhook for the same provider, on create and on update', async () => {
      const provider = unique('dup');
      const first = await store.createInboundWebhook({ provider, jsScript: '1' });
      await expectAppError(store.createInboundWebhook({ provider, jsScript: '2' }), 'provider_conflict');
      const other = await store.createInboundWebhook({ provider: unique('other'), jsScript: '3' });
      await expectAppError(store.updateInboundWebhook(other.id, { provider }), 'provider_conflict');
      expect(await store.findByProvider(provider)).toEqual(first);
      // An outgoing webhook has no provider: the uniqueness is among inbound ones only.
      await store.createOutgoingWebhook({ url: 'https://example.test/a', secret: 'whsec_a' });
      await store.createOutgoingWebhook({ url: 'https://example.test/b', secret: 'whsec_b' });
    });

    it('update partially, versioning the script only when it changes', async () => {
      const created = await store.createInboundWebhook({ provider: unique('upd'), jsScript: 'v1' });
      await new Promise((resolve) => setTimeout(resolve, 5));

      const renamed = await store.updateInboundWebhook(created.id, { allowedActions: ['a'], emitEvents: ['e'] });
      expect(renamed).toMatchObject({ jsScript: 'v1', scriptVersion: 1, allowedActions: ['a'], emitEvents: ['e'], events: ['*'] });
      expect(renamed!.updatedAt > created.updatedAt).toBe(true);
      expect(renamed!.createdAt).toBe(created.createdAt);

      const v2 = await store.updateInboundWebhook(created.id, { jsScript: 'v2' });
      expect(v2).toMatchObject({ jsScript: 'v2', scriptVersion: 2, allowedActions: ['a'], emitEvents: ['e'] });
      const same = await store.updateInboundWebhook(created.id, { jsScript: 'v2', isActive: false, emitEvents: null });
      expect(same).toMatchObject({ scriptVersion: 2, isActive: false, emitEvents: null });
      const v3 = await store.updateInboundWebhook(created.id, { jsScript: 'v3', tenantId: 't9', verify: { scheme: 'github', secret: 'g' } });
      expect(v3).toMatchObject({ scriptVersion: 3, tenantId: 't9', verify: { scheme: 'github', secret: 'g' } });
      expect(await store.getWebhook(created.id)).toEqual(v3);

      const versions = await store.listScriptVersions(created.id);
      expect(versions.map((v) => [v.version, v.jsScript])).toEqual([
        [3, 'v3'],
        [2, 'v2'],
        [1, 'v1'],
      ]);
      expect(versions.every((v) => !Number.isNaN(Date.parse(v.createdAt)))).toBe(true);
    });

    it('update returns null for an unknown, malformed or outgoing id', async () => {
      const outgoing = await store.createOutgoingWebhook({ url: 'https://example.test/x', secret: 'whsec_x' });
      expect(await store.updateInboundWebhook(uuidv7(), { jsScript: 'x' })).toBeNull();
      expect(await store.updateInboundWebhook('not-a-uuid', { jsScript: 'x' })).toBeNull();
      expect(await store.updateInboundWebhook(outgoing.id, { jsScript: 'x' })).toBeNull();
      expect(await store.getWebhook(outgoing.id)).toEqual(outgoing);
    });

    it('are deleted with their script versions', async () => {
      const created = await store.createInboundWebhook({ provider: unique('del'), jsScript: 'a' });
      await store.updateInboundWebhook(created.id, { jsScript: 'b' });
      expect(await store.deleteWebhook(created.id)).toBe(true);
      expect(await store.deleteWebhook(created.id)).toBe(false);
      expect(await store.deleteWebhook('nope')).toBe(false);
      expect(await store.getWebhook(created.id)).toBeNull();
      expect(await store.getWebhook('nope')).toBeNull();
      expect(await store.findByProvider(created.provider)).toBeNull();
      expect(await store.listScriptVersions(created.id)).toEqual([]);
    });

    it('findByProvider returns active and inactive ones; the caller checks isActive', async () => {
      const active = await store.createInboundWebhook({ provider: unique('act'), jsScript: '1' });
      const inactive = await store.createInboundWebhook({ provider: unique('ina'), jsScript: '1', isActive: false });
      expect(await store.findByProvider(active.provider)).toMatchObject({ id: active.id, isActive: true });
      expect(await store.findByProvider(inactive.provider)).toMatchObject({ id: inactive.id, isActive: false });
      expect(await store.findByProvider(unique('missing'))).toBeNull();
    });
  });

  describe('outgoing webhooks', () => {
    it('are created with defaults and updated partially', async () => {
      const created = await store.createOutgoingWebhook({ url: 'https://example.test/hook', secret: 'whsec_one' });
      expect(created).toMatchObject({
        direction: 'outgoing',
        url: 'https://example.test/hook',
        secret: 'whsec_one',
        events: ['*'],
        isActive: true,
        tenantId: null,
        maxRetries: 3,
        retryDelayMs: 1000,
        timeoutMs: 30000,
      });
      expect(await store.getWebhook(created.id)).toEqual(created);

      const rotated = await store.updateOutgoingWebhook(created.id, { secret: 'whsec_two', maxRetries: 5, events: ['a.b'] });
      expect(rotated).toMatchObject({ secret: 'whsec_two', maxRetries: 5, events: ['a.b'], url: created.url, timeoutMs: 30000 });
      expect(await store.getWebhook(created.id)).toEqual(rotated);

      const inbound = await store.createInboundWebhook({ provider: unique('in'), jsScript: '1' });
      expect(await store.updateOutgoingWebhook(inbound.id, { secret: 'x' })).toBeNull();
      expect(await store.updateOutgoingWebhook(uuidv7(), { secret: 'x' })).toBeNull();
    });

    it('findByEvent matches the event or *, global plus the tenant, active only', async () => {
      const event = unique('order.created');
      const tenant = unique('tenant');
      const make = (events: string[], extra: { tenantId?: string; isActive?: boolean } = {}) =>
        store.createOutgoingWebhook({ url: 'https://example.test/e', secret: 'whsec_e', events, ...extra });

      const exactGlobal = await make([event]);
      const starGlobal = await make(['*']);
      const listGlobal = await make(['other.event', event]);
      const exactTenant = await make([event], { tenantId: tenant });
      const starTenant = await make(['*'], { tenantId: tenant });
      const otherTenant = await make([event], { tenantId: unique('tenant') });
      const inactive = await make([event], { isActive: false });
      const otherEvent = await make(['other.event']);
      const inbound = await store.createInboundWebhook({ provider: unique('in'), jsScript: '1', events: [event] });

      const mine = new Set([exactGlobal, starGlobal, listGlobal, exactTenant, starTenant, otherTenant, inactive, otherEvent].map((w) => w.id));
      mine.add(inbound.id);
      const found = async (...args: [string, (string | null)?]) =>
        ids((await store.findByEvent(...args)).filter((w) => mine.has(w.id)));

      expect(await found(event)).toEqual(ids([exactGlobal, starGlobal, listGlobal]));
      expect(await found(event, null)).toEqual(ids([exactGlobal, starGlobal, listGlobal]));
      expect(await found(event, tenant)).toEqual(ids([exactGlobal, starGlobal, listGlobal, exactTenant, starTenant]));
      expect(await found(unique('nothing'), tenant)).toEqual(ids([starGlobal, starTenant]));
      expect(await found('other.event')).toEqual(ids([starGlobal, listGlobal, otherEvent]));
      // A prefix or a part of an event name is not a match.
      expect(await found(event.slice(0, -1))).toEqual(ids([starGlobal]));

      const all = await store.findByEvent(event, tenant);
      expect(all.every((w) => w.direction === 'outgoing' && w.isActive)).toBe(true);
      expect(all.find((w) => w.id === exactGlobal.id)).toEqual(exactGlobal);
    });

    it('listWebhooks filters by direction and tenant', async () => {
      const tenant = unique('lt');
      const a = await store.createOutgoingWebhook({ url: 'https://example.test/l', secret: 'whsec_l', tenantId: tenant });
      const b = await store.createInboundWebhook({ provider: unique('lt'), jsScript: '1', tenantId: tenant });
      const all = await store.listWebhooks();
      expect(all.map((w) => w.id)).toEqual(expect.arrayContaining([a.id, b.id]));
      expect(ids(await store.listWebhooks({ tenantId: tenant }))).toEqual(ids([a, b]));
      expect(await store.listWebhooks({ tenantId: tenant, direction: 'inbound' })).toEqual([b]);
      const globalInbound = await store.listWebhooks({ tenantId: null, direction: 'inbound' });
      expect(globalInbound.length).toBeGreaterThan(0);
      expect(globalInbound.every((w) => w.tenantId === null && w.direction === 'inbound')).toBe(true);
      const createdAts = all.map((w) => w.createdAt);
      expect(createdAts).toEqual([...createdAts].sort());
    });
  });

  describe('config version', () => {
    it('bumps with every webhook or settings change, and only then', async () => {
      let last = await store.getConfigVersion();
      const expectBump = async (what: string) => {
        const now = await store.getConfigVersion();
        expect(now, what).toBeGreaterThan(last);
        last = now;
      };
      const expectSame = async (what: string) => expect(await store.getConfigVersion(), what).toBe(last);

      const inbound = await store.createInboundWebhook({ provider: unique('cv'), jsScript: '1' });
      await expectBump('create inbound');
      await store.updateInboundWebhook(inbound.id, { jsScript: '2' });
      await expectBump('update inbound');
      const outgoing = await store.createOutgoingWebhook({ url: 'https://example.test/cv', secret: 'whsec_cv' });
      await expectBump('create outgoing');
      await store.updateOutgoingWebhook(outgoing.id, { secret: 'whsec_cv2' });
      await expectBump('update outgoing');
      await store.deleteWebhook(outgoing.id);
      await expectBump('delete');
      const settings = { enabledWebhookActions: [unique('act')] };
      await store.saveSettings(settings);
      await expectBump('save settings');

      await store.saveSettings(settings);
      await expectSame('saving unchanged settings');
      await expectAppError(store.createInboundWebhook({ provider: inbound.provider, jsScript: 'x' }), 'provider_conflict');
      await expectSame('a rolled-back create');
      expect(await store.updateInboundWebhook(uuidv7(), { jsScript: 'x' })).toBeNull();
      await expectSame('an update of nothing');
      await store.insertRuns([run({ provider: unique('cv'), createdAt: new Date().toISOString() })]);
      await store.insertAdminToken({ id: uuidv7(), tokenHash: unique('cvhash'), prefix: 'hg_', role: 'admin' });
      await expectSame('runs and tokens');
    });
  });

  describe('runs', () => {
    it('round-trip every field', async () => {
      const record = run({
        provider: unique('rt'),
        webhookId: uuidv7(),
        eventType: null,
        status: 'error',
        durationMs: 12.25,
        scriptVersion: 4,
        actionsCalled: [
          { id: 'subscription.cancel', ok: true, durationMs: 3 },
          { id: 'subscription.notifyUser', ok: false, durationMs: 1, error: 'action_failed' },
        ],
        logs: [{ level: 'warn', message: 'héllo "quoted" \u2603', atMs: 2 }],
        error: { code: 'script_error', message: 'boom', line: 3, column: 7 },
        emittedEvent: 'customer.updated',
        createdAt: '2024-05-06T07:08:09.123Z',
      });
      await store.insertRuns([record]);
      expect(await store.getRun(record.id)).toEqual(record);
      expect(await store.getRun(uuidv7())).toBeNull();
      expect(await store.getRun('garbage')).toBeNull();
      await store.insertRuns([]);
      // Re-inserting a batch that already landed is harmless.
      await store.insertRuns([{ ...record, status: 'ok' }]);
      expect(await store.getRun(record.id)).toEqual(record);
    });

    it('list newest first and page with a cursor, without duplicates or gaps', async () => {
      const provider = unique('page');
      const base = Date.parse('2024-01-01T00:00:00.000Z');
      const statuses: RunRecordStatus[] = ['ok', 'error', 'timeout', 'ignored'];
      // 21 runs over 7 distinct milliseconds: ties on created_at are ordered by id.
      const runs = Array.from({ length: 21 }, (_, i) =>
        run({ provider, status: statuses[i % statuses.length]!, createdAt: new Date(base + (i % 7) * 1000).toISOString() }),
      );
      await store.insertRuns(runs);

      for (const limit of [1, 5, 7, 21, 50]) {
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.listRuns({ provider, limit, ...(cursor ? { cursor } : {}) });
          expect(page.items.length).toBeLessThanOrEqual(limit);
          seen.push(...page.items.map((r) => r.id));
          cursor = page.nextCursor ?? undefined;
          if (cursor) expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
          pages += 1;
        } while (cursor && pages < 100);
        expect(seen, `limit ${limit}`).toEqual(newestFirst(runs));
        expect(pages, `limit ${limit}`).toBe(Math.max(1, Math.ceil(21 / limit)));
      }

      const errors = await store.listRuns({ provider, status: 'error', limit: 100 });
      expect(errors.items.map((r) => r.id)).toEqual(newestFirst(runs.filter((r) => r.status === 'error')));
      expect(errors.nextCursor).toBeNull();

      const byStatus = await store.listRuns({ status: 'timeout', limit: 1000 });
      expect(byStatus.items.every((r) => r.status === 'timeout')).toBe(true);
      expect(byStatus.items.map((r) => r.id)).toEqual(expect.arrayContaining(runs.filter((r) => r.status === 'timeout').map((r) => r.id)));

      const overall = await store.listRuns({ limit: 10 });
      expect(overall.items).toHaveLength(10);
      const keys = overall.items.map((r) => `${r.createdAt}|${r.id}`);
      expect(keys).toEqual([...keys].sort().reverse());

      expect(await store.listRuns({ provider: unique('none'), limit: 10 })).toEqual({ items: [], nextCursor: null });
    });

    it('page correctly through runs that differ by microseconds only', async () => {
      // JavaScript dates stop at milliseconds; a cursor built from one would skip or repeat these rows.
      const provider = unique('micro');
      const runs = ['2024-02-02T10:00:00.123001Z', '2024-02-02T10:00:00.123002Z', '2024-02-02T10:00:00.123003Z'].map((createdAt) =>
        run({ provider, createdAt }),
      );
      // Ids in the opposite order of time, so id order cannot hide a wrong timestamp comparison.
      const reversedIds = runs.map((r) => r.id).reverse();
      runs.forEach((r, i) => (r.id = reversedIds[i]!));
      await store.insertRuns(runs);

      const seen: string[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 5; i++) {
        const page = await store.listRuns({ provider, limit: 1, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.map((r) => r.id));
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      expect(seen).toEqual([runs[2]!.id, runs[1]!.id, runs[0]!.id]);
    });

    it('reject a malformed cursor with invalid_cursor', async () => {
      const bad = [
        'garbage!',
        'bm90IGpzb24',
        Buffer.from(JSON.stringify({ a: 1 })).toString('base64url'),
        Buffer.from(JSON.stringify(['2024-01-01', uuidv7()])).toString('base64url'),
        Buffer.from(JSON.stringify(['2024-01-01T00:00:00.000000Z', 'not-a-uuid'])).toString('base64url'),
        Buffer.from(JSON.stringify(['2024-13-45T99:00:00.000000Z', uuidv7()])).toString('base64url'),
      ];
      for (const cursor of bad) await expectAppError(store.listRuns({ limit: 5, cursor }), 'invalid_cursor');
    });
  });

  describe('admin tokens', () => {
    it('are inserted, found by hash and counted', async () => {
      const before = await store.countAdminTokens();
      const tokenHash = randomBytes(32).toString('hex');
      const record = await store.insertAdminToken({ id: uuidv7(), tokenHash, prefix: 'hg_abcd', role: 'admin' });
      expect(record).toMatchObject({ tokenHash, prefix: 'hg_abcd', role: 'admin' });
      expect(Date.parse(record.createdAt)).not.toBeNaN();
      expect(await store.findAdminTokenByHash(tokenHash)).toEqual(record);
      expect(await store.findAdminTokenByHash(randomBytes(32).toString('hex'))).toBeNull();
      expect(await store.countAdminTokens()).toBe(before + 1);
      await expect(store.insertAdminToken({ id: uuidv7(), tokenHash, prefix: 'hg_x', role: 'admin' })).rejects.toThrow();
      expect(await store.countAdminTokens()).toBe(before + 1);
    });

    it('keep tenant keys, list them by tenant and revoke them once', async () => {
      const tenant = unique('tenant');
      const owner = await store.insertAdminToken({ id: uuidv7(), tokenHash: randomBytes(32).toString('hex'), prefix: 'hg_own', role: 'owner', tenantId: tenant, name: 'ops' });
      expect(owner).toMatchObject({ role: 'owner', tenantId: tenant, name: 'ops', revokedAt: null });
      const member = await store.insertAdminToken({ id: uuidv7(), tokenHash: randomBytes(32).toString('hex'), prefix: 'hg_mem', role: 'member', tenantId: tenant });
      expect((await store.listAdminTokens({ tenantId: tenant })).map((k) => k.id)).toEqual([owner.id, member.id]);
      expect((await store.listAdminTokens({ tenantId: null })).every((k) => k.tenantId === null)).toBe(true);
      const revoked = await store.revokeAdminToken(member.id);
      expect(Date.parse(revoked?.revokedAt ?? '')).not.toBeNaN();
      expect((await store.revokeAdminToken(member.id))?.revokedAt).toBe(revoked?.revokedAt); // the first revocation time stays
      expect((await store.findAdminTokenByHash(member.tokenHash))?.revokedAt).toBe(revoked?.revokedAt);
      expect(await store.revokeAdminToken(uuidv7())).toBeNull();
      // A platform key is role admin without a tenant; owner/member need one.
      await expect(store.insertAdminToken({ id: uuidv7(), tokenHash: randomBytes(32).toString('hex'), prefix: 'hg_x', role: 'owner' })).rejects.toThrow();
    });

    it('record when a key was last used, at most once a minute', async () => {
      const key = await store.insertAdminToken({ id: uuidv7(), tokenHash: randomBytes(32).toString('hex'), prefix: 'hg_use', role: 'admin' });
      expect(key.lastUsedAt).toBeNull();
      await store.touchAdminToken!(key.id);
      const used = (await store.findAdminTokenByHash(key.tokenHash))?.lastUsedAt;
      expect(Date.parse(used ?? '')).toBeGreaterThan(Date.now() - 60_000);
      await store.touchAdminToken!(key.id);
      expect((await store.findAdminTokenByHash(key.tokenHash))?.lastUsedAt).toBe(used);
      await store.knex('admin_tokens').where('id', key.id).update({ last_used_at: store.knex.raw("now() - interval '2 minutes'") });
      await store.touchAdminToken!(key.id);
      expect(Date.parse((await store.findAdminTokenByHash(key.tokenHash))?.lastUsedAt ?? '')).toBeGreaterThan(Date.now() - 60_000);
    });
  });

  describe('query plans', () => {
    it('findByEvent and findByProvider use their indexes, not a scan', async () => {
      for (let i = 0; i < 50; i++) {
        await store.createOutgoingWebhook({ url: 'https://example.test/p', secret: 'whsec_p', events: [unique('noise')] });
      }
      await store.knex.raw('analyze webhooks');

      const byEvent = await explain(store, queryOutgoingByEvent(store.knex, 'invoice.paid', 'tenant-1'));
      expect(byEvent).toContain('webhooks_outgoing_events_idx');
      expect(byEvent).not.toContain('Seq Scan');
      const byEventGlobal = await explain(store, queryOutgoingByEvent(store.knex, 'invoice.paid', null));
      expect(byEventGlobal).toContain('webhooks_outgoing_events_idx');

      const byProvider = await explain(store, queryInboundByProvider(store.knex, 'stripe').first());
      expect(byProvider).toContain('webhooks_inbound_provider_key');
      expect(byProvider).not.toContain('Seq Scan');
    });

    it('listRuns pages walk an index in order, without a sort', async () => {
      const cursor = (await store.listRuns({ limit: 1 })).nextCursor ?? undefined;
      const cases: Array<[Parameters<typeof queryRunsPage>[1], string]> = [
        [{ limit: 20 }, 'runs_created_at_idx'],
        [{ limit: 20, cursor }, 'runs_created_at_idx'],
        [{ limit: 20, provider: 'stripe', cursor }, 'runs_provider_created_at_idx'],
        [{ limit: 20, status: 'error' }, 'runs_status_created_at_idx'],
      ];
      for (const [query, index] of cases) {
        const plan = await explain(store, queryRunsPage(store.knex, query, 20));
        expect(plan, JSON.stringify(query)).toContain(index);
        expect(plan, JSON.stringify(query)).not.toContain('"Sort"');
      }
    });
  });
});
