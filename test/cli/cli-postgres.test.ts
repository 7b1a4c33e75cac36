import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, migrationSource, type KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { startOutbound, type TestOutbound } from '../helpers/outbound.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { TEST_DATABASE_URL, uniqueSchemaName } from '../helpers/stores.js';
import { runCli, urlWithSchema } from './cli-process.js';

/**
 * The CLI against real PostgreSQL, in a schema of this file's own (DATABASE_URL with a search_path), beside
 * an engine running in this process on the same schema — as an operator runs it next to live servers.
 */
describe('hookgate CLI on PostgreSQL', { timeout: 120_000 }, () => {
  const schema = uniqueSchemaName('hg_cli');
  const secretKey = 'cli-test-secret-key-0123456789';
  const dataDir = mkdtempSync(join(tmpdir(), 'hookgate-cli-pg-'));
  const env = { DATABASE_URL: urlWithSchema(TEST_DATABASE_URL, schema), HOOKGATE_SECRET_KEY: secretKey, HOOKGATE_DATA_DIR: dataDir };
  let store: KnexStore;
  const cli = (...args: string[]) => runCli(args, env);

  beforeAll(async () => {
    // Creates the (empty) schema; the CLI migrates it.
    store = await createStore({ databaseUrl: TEST_DATABASE_URL, schema, secretKey, poolMax: 4 });
  });

  afterAll(async () => {
    await store?.knex.raw('drop schema if exists ?? cascade', [schema]);
    await store?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses to work on a schema that is not migrated, then migrate reports what ran', async () => {
    const early = await cli('keys', 'list');
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/^hookgate: The database schema is not up to date \(\d+ pending: 0001_initial, .*\)\. Run `hookgate migrate` first\.\n$/);

    const all = (await migrationSource.getMigrations([])).map((m) => m.name);
    const dry = await cli('migrate', '--dry-run', '--json');
    expect(JSON.parse(dry.stdout)).toEqual({ applied: [], pending: all });

    const first = await cli('migrate');
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(`PostgreSQL (DATABASE_URL): applied ${all.length} migrations:\n${all.map((n) => `  ${n}\n`).join('')}`);
    const tables = await store.knex('information_schema.tables').where({ table_schema: schema, table_name: 'admin_tokens' });
    expect(tables).toHaveLength(1);

    const again = await cli('migrate', '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ applied: [], pending: [] });
  });

  describe('keys', () => {
    let engine: TestEngine;
    beforeAll(async () => {
      engine = await startTestEngine(store);
    });
    afterAll(async () => {
      await engine?.close();
    });

    it('a created key authenticates against the running engine, is listed with its last use, and is refused after revoke', async () => {
      const created = await cli('keys', 'create', '--role', 'owner', '--tenant', 'acme', '--name', 'acme ops', '--json');
      expect(created.code).toBe(0);
      const key = JSON.parse(created.stdout) as { id: string; key: string; prefix: string; role: string; tenantId: string; name: string; lastUsedAt: null };
      expect(key).toMatchObject({ role: 'owner', tenantId: 'acme', name: 'acme ops', lastUsedAt: null, revokedAt: null });
      expect(key.key.startsWith(key.prefix)).toBe(true);

      const asOwner = await engine.api('GET', '/keys', undefined, key.key);
      expect(asOwner.status).toBe(200);
      expect(asOwner.body.items.map((k: { id: string }) => k.id)).toEqual([key.id]);

      // The auth middleware notes the use without holding up the request: wait for the write.
      const listed = await waitFor(async () => {
        const run = await cli('keys', 'list', '--json');
        const item = (JSON.parse(run.stdout).items as Array<{ id: string; lastUsedAt: string | null }>).find((k) => k.id === key.id);
        return item?.lastUsedAt ? item : undefined;
      }, 30_000, 'lastUsedAt');
      expect(Date.parse(listed.lastUsedAt!)).toBeGreaterThan(Date.now() - 60_000);

      const table = await cli('keys', 'list');
      expect(table.code).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(/^ID +PREFIX +ROLE +TENANT +NAME +CREATED +LAST USED +REVOKED$/);
      const row = table.stdout.split('\n').find((l) => l.startsWith(key.id));
      expect(row).toMatch(new RegExp(`^${key.id} +${key.prefix} +owner +acme +acme ops +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ +-$`));
      expect(table.stdout).not.toContain(key.key);

      const revoked = await cli('keys', 'revoke', key.prefix);
      expect(revoked.code).toBe(0);
      expect(revoked.stdout).toBe(`Revoked key ${key.id} (${key.prefix}, owner of tenant acme). Running servers refuse it within 5 s.\n`);
      // Another process revoked it: the engine's key cache (5 s) decides when it notices.
      await waitFor(async () => ((await engine.api('GET', '/keys', undefined, key.key)).status === 401 ? true : undefined), 15_000, 'the revoked key to be refused');

      const twice = await cli('keys', 'revoke', key.id);
      expect(twice.code).toBe(0);
      expect(twice.stdout).toMatch(new RegExp(`^Key ${key.id} \\(${key.prefix}\\) was already revoked at \\d{4}-`));
      const active = JSON.parse((await cli('keys', 'list', '--active', '--json')).stdout).items as Array<{ id: string }>;
      expect(active.map((k) => k.id)).not.toContain(key.id);
    });

    it('a platform admin key created by the CLI can do everything', async () => {
      const created = await cli('keys', 'create', '--role', 'admin');
      expect(created.code).toBe(0);
      const key = /^ {2}(hg_\S+)$/m.exec(created.stdout)?.[1];
      expect(key).toBeDefined();
      expect(created.stdout).toMatch(/^Created admin key \S+ \(platform\), prefix hg_/);
      expect((await engine.api('GET', '/settings', undefined, key!)).status).toBe(200);
    });

    it('refuses wrong usage with exit 2 and unknown keys with exit 1', async () => {
      const noTenant = await cli('keys', 'create', '--role', 'member');
      expect(noTenant.code).toBe(2);
      expect(noTenant.stderr).toBe('hookgate: A member key belongs to a tenant: add --tenant <tenantId> (only admin keys can be platform-wide).\n');

      const badRole = await cli('keys', 'create', '--role', 'root');
      expect(badRole.code).toBe(2);
      expect(badRole.stderr).toContain("option '--role <role>' argument 'root' is invalid. Allowed choices are owner, admin, member.");

      const unknown = await cli('keys', 'revoke', 'hg_doesnotexist');
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toBe('hookgate: No key with id or prefix hg_doesnotexist [key_not_found]\n');
    });
  });

  describe('deliveries redeliver', () => {
    let receiver: Receiver;
    let seeding: TestOutbound;
    let worker: TestOutbound | undefined;
    let active: string;
    let inactive: string;
    const recent: string[] = [];
    const old: string[] = [];
    const toInactive: string[] = [];

    beforeAll(async () => {
      receiver = await startReceiver(() => 204);
      seeding = await startOutbound(store, { worker: false });
      active = (await seeding.service.createWebhook({ url: `${receiver.url}/hooks`, events: ['order.paid'] })).webhook.id;
      inactive = (await seeding.service.createWebhook({ url: `${receiver.url}/off`, events: ['order.paid'] })).webhook.id;
      for (let n = 0; n < 23; n++) await seeding.service.publish({ event: 'order.paid', data: { n }, tenantId: null, metadata: {} });
      const rows = (await store.knex('outbound_deliveries').select('id', 'webhook_id').orderBy('id')) as Array<{ id: string; webhook_id: string }>;
      for (const row of rows) {
        if (row.webhook_id === inactive) toInactive.push(row.id);
        else if (recent.length < 20) recent.push(row.id);
        else old.push(row.id);
      }
      // As the worker leaves them after their last attempt: failed, finished 10 min (or 3 h) ago.
      const fail = (ids: string[], ago: string) =>
        store.knex('outbound_deliveries').whereIn('id', ids).update({
          status: 'failed',
          attempt_count: 4,
          round_attempts: 4,
          last_status_code: 503,
          completed_at: store.knex.raw(`now() - interval '${ago}'`),
          updated_at: store.knex.raw(`now() - interval '${ago}'`),
        });
      await fail(recent, '10 minutes');
      await fail(old, '3 hours');
      await fail(toInactive.slice(0, 5), '10 minutes');
      await store.knex('outbound_deliveries').whereIn('id', toInactive.slice(5)).update({ status: 'succeeded', completed_at: store.knex.raw('now()') });
      await seeding.service.updateWebhook(inactive, { isActive: false });
    });

    afterAll(async () => {
      await worker?.stop();
      await seeding?.stop();
      await receiver?.close();
    });

    const statuses = async (ids: string[]) =>
      ((await store.knex('outbound_deliveries').whereIn('id', ids).select('status')) as Array<{ status: string }>).map((r) => r.status);

    it('--dry-run counts per endpoint and changes nothing', async () => {
      const run = await cli('deliveries', 'redeliver', '--status', 'failed', '--since', '1h', '--dry-run');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Dry run: 25 failed deliveries finished since \S+; 20 would be queued again, 5 skipped \(inactive endpoint\)\.\n/);
      expect(run.stdout).toMatch(new RegExp(`^${active} +${receiver.url}/hooks +yes +20$`, 'm'));
      expect(run.stdout).toMatch(new RegExp(`^${inactive} +${receiver.url}/off +no \\(skipped\\) +5$`, 'm'));
      expect(new Set(await statuses([...recent, ...toInactive.slice(0, 5)]))).toEqual(new Set(['failed']));
    });

    it('queues the matching failed deliveries again in batches, with progress lines, and a running worker delivers them', async () => {
      worker = await startOutbound(store, { worker: { pollMs: 200 } });
      const run = await cli('deliveries', 'redeliver', '--status', 'failed', '--since', '1h', '--batch-size', '7', '--json');
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ status: 'failed', dryRun: false, matched: 25, requeued: 20, skippedInactive: 5, skippedInProgress: 0, gone: 0 });
      // stderr is a pipe here, not a terminal: plain lines, the last one at 100 %.
      expect(run.stderr).not.toContain('\r');
      expect(run.stderr.trim().split('\n').at(-1)).toMatch(/^redeliver: 100% 25\/25 .*done in/);

      // Audited like the API's redeliver: one entry per delivery queued again.
      const audited = (await store.knex('audit_log').where({ action: 'delivery.redelivered' }).select('target_id')) as Array<{ target_id: string }>;
      expect(new Set(audited.map((a) => a.target_id))).toEqual(new Set(recent));
      expect(await statuses(old)).toEqual(['failed', 'failed', 'failed']);
      expect(await statuses(toInactive.slice(0, 5))).toEqual(Array(5).fill('failed'));
      const requests = await receiver.waitForRequests(20, 30_000);
      expect(new Set(requests.map((r) => r.headers['webhook-id']))).toEqual(new Set(recent));
      expect(requests.every((r) => r.path === '/hooks')).toBe(true);
      await waitFor(async () => ((await statuses(recent)).every((s) => s === 'succeeded') ? true : undefined), 30_000, 'the redelivered deliveries to succeed');

      const nothing = await cli('deliveries', 'redeliver', '--since', '1h');
      expect(nothing.code).toBe(0);
      expect(nothing.stdout).toMatch(/^Matched 5 failed deliveries finished since \S+: queued 0 again, 5 skipped \(inactive endpoint; activate it, then run again\)\.\n/);
    });

    it('takes --webhook, --status succeeded and an ISO time', async () => {
      const since = new Date(Date.now() - 3_600_000).toISOString();
      const run = await cli('deliveries', 'redeliver', '--status', 'succeeded', '--since', since, '--webhook', inactive, '--dry-run', '--json');
      expect(run.code).toBe(0);
      // The JSON counts what the dry run's text says: the endpoint is inactive, so none would be queued.
      expect(JSON.parse(run.stdout)).toMatchObject({ status: 'succeeded', webhookId: inactive, since, dryRun: true, matched: toInactive.length - 5, requeued: 0, skippedInactive: toInactive.length - 5 });
    });

    it('refuses bad options with exit 2 and an unknown webhook with exit 1', async () => {
      const badSince = await cli('deliveries', 'redeliver', '--since', 'last week');
      expect(badSince.code).toBe(2);
      expect(badSince.stderr).toContain('hookgate: --since "last week" is neither an ISO 8601 time');
      const badStatus = await cli('deliveries', 'redeliver', '--since', '1h', '--status', 'pending');
      expect(badStatus.code).toBe(2);
      const unknown = await cli('deliveries', 'redeliver', '--since', '1h', '--webhook', '00000000-0000-4000-8000-000000000000');
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toBe('hookgate: No outgoing webhook with id 00000000-0000-4000-8000-000000000000. [webhook_not_found]\n');
      const help = await cli('deliveries', 'redeliver', '--help');
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('--since <time>');
    });
  });
});
