import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/index.js';
import { createSilentLogger } from '../../src/logger.js';
import { createKnexStore, createSecretBox, createStore, SECRET_KEY_FILE, secretKeyId, type KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { startReceiver, type Receiver, type ReceivedRequest } from '../helpers/receiver.js';
import { storeFactories } from '../helpers/stores.js';

/*
 * Secrets at rest: outgoing signing secrets (current and rotated-out) and inbound verify secrets are
 * encrypted in the database. A "dump" here is every row of every table of the store's schema, cast to
 * text — what pg_dump or a stolen backup would show.
 */

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
const hexHmac = (key: string, body: string) => createHmac('sha256', key).update(body).digest('hex');
const OUTBOUND = { outbound: { worker: { pollMs: 100, leaseMarginMs: 1000, stopTimeoutMs: 1000 } } };

/** Every row of every table in the store's schema, as PostgreSQL's text form of the row. */
async function dumpAllTables(knex: Knex): Promise<{ tables: string[]; text: string }> {
  const tables: string[] = await knex('information_schema.tables')
    .whereRaw('table_schema = current_schema()')
    .andWhere('table_type', 'BASE TABLE')
    .orderBy('table_name')
    .pluck('table_name');
  const parts: string[] = [];
  for (const table of tables) {
    const result = await knex.raw('select t::text as row from ?? t', [table]);
    const rows: Array<{ row: string }> = Array.isArray(result) ? result : result.rows;
    parts.push(`-- ${table}`, ...rows.map((r) => r.row));
  }
  return { tables, text: parts.join('\n') };
}

/** What must not appear: the secret, its base64 body (whsec_ keys), and its base64/hex encodings. */
function forms(secret: string): string[] {
  const out = [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')];
  if (secret.startsWith('whsec_')) {
    const body = secret.slice('whsec_'.length);
    out.push(body, body.replace(/=+$/, ''), Buffer.from(body, 'base64').toString('hex'), Buffer.from(body, 'base64').toString('base64url'));
  }
  return out;
}

function expectNoSecrets(dump: string, secrets: string[]): void {
  for (const secret of secrets) {
    for (const form of forms(secret)) expect(dump.includes(form), `the dump contains ${form.slice(0, 12)}… (a form of a secret)`).toBe(false);
  }
}

const githubHeaders = (secret: string, raw: string) => ({ 'x-hub-signature-256': `sha256=${hexHmac(secret, raw)}` });

describe.each(storeFactories())('secrets at rest on $name', (factory) => {
  let store: KnexStore;
  let t: TestEngine;
  let receiver: Receiver;

  beforeAll(async () => {
    store = await factory.create();
    receiver = await startReceiver(() => 204);
    t = await startTestEngine(store, { allowInsecureUrls: true, allowPrivateNetworks: true, ...OUTBOUND });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await store?.close();
  });

  const requestsTo = (path: string) => receiver.requests.filter((r: ReceivedRequest) => r.path === path);
  const emit = async (event: string) => expect((await t.api('POST', '/events', { event, data: { n: 1 } })).status).toBe(202);
  const settled = (webhookId: string, count: number) =>
    waitFor(async () => {
      const items = (await t.api('GET', `/deliveries?webhookId=${webhookId}`)).body.items as any[];
      return items.length >= count && items.every((d) => d.status === 'succeeded' || d.status === 'failed') ? items : undefined;
    }, 10_000, `deliveries of ${webhookId}`);

  let outgoing: { id: string; secret: string; url: string; event: string; path: string };
  let inboundProvider: string;
  const githubSecret = `gh-${randomBytes(12).toString('hex')}`;
  const githubOldSecret = `gh-old-${randomBytes(12).toString('hex')}`;
  const apiKey = `key-${randomBytes(16).toString('hex')}`;
  let rotatedSecret: string;

  it('outgoing secrets are stored encrypted and deliveries still verify with standardwebhooks', async () => {
    const path = `/${unique('hook')}`;
    const event = unique('order.created');
    const created = await t.api('POST', '/webhooks', { direction: 'outgoing', url: `${receiver.url}${path}`, events: [event] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    outgoing = { id: created.body.id, secret: created.body.secret, url: created.body.url, event, path };

    const [row] = await store.knex('webhooks').where('id', outgoing.id).select('secret');
    expect(row.secret).toMatch(new RegExp(`^enc:v1:${store.secrets.keyId}:[A-Za-z0-9_-]+$`));
    expect(row.secret).not.toContain(outgoing.secret);
    // Above the store nothing changed: reads give the secret's prefix as before.
    expect((await t.api('GET', `/webhooks/${outgoing.id}`)).body.secretPrefix).toBe(outgoing.secret.slice(0, 10));

    await emit(event);
    await settled(outgoing.id, 1);
    const [req] = requestsTo(path);
    expect(() => new Webhook(outgoing.secret).verify(req!.body, req!.headers as Record<string, string>)).not.toThrow();
    expect(req!.headers['x-webhook-signature']).toBe(`sha256=${hexHmac(outgoing.secret, req!.body)}`);
  });

  it('a rotation keeps both secrets encrypted and signs with both', async () => {
    const rotated = await t.api('POST', `/webhooks/${outgoing.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    rotatedSecret = rotated.body.secret;
    const [row] = await store.knex('webhooks').where('id', outgoing.id).select('secret', 'previous_secrets');
    expect(row.secret).toMatch(/^enc:v1:/);
    expect(row.previous_secrets).toEqual([{ secret: expect.stringMatching(/^enc:v1:/), expiresAt: expect.any(String) }]);
    expect(store.secrets.decrypt(row.previous_secrets[0].secret)).toBe(outgoing.secret);

    await emit(outgoing.event);
    await settled(outgoing.id, 2);
    const req = requestsTo(outgoing.path)[1]!;
    for (const secret of [rotatedSecret, outgoing.secret]) {
      expect(() => new Webhook(secret).verify(req.body, req.headers as Record<string, string>)).not.toThrow();
    }
    expect((req.headers['x-webhook-signature'] as string).split(' ')).toEqual([
      `sha256=${hexHmac(rotatedSecret, req.body)}`,
      `sha256=${hexHmac(outgoing.secret, req.body)}`,
    ]);
  });

  it('inbound verify secrets (secret and secrets[]) are stored encrypted and verification still works', async () => {
    inboundProvider = unique('gh');
    const created = await t.api('POST', '/webhooks', {
      direction: 'inbound', provider: inboundProvider, jsScript: 'result = null;',
      verify: { scheme: 'github', secret: githubSecret, secrets: [githubOldSecret] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const keyed = await t.api('POST', '/webhooks', {
      direction: 'inbound', provider: `${inboundProvider}-key`, jsScript: 'result = null;', verify: { scheme: 'api-key', secret: apiKey },
    });
    expect(keyed.status, JSON.stringify(keyed.body)).toBe(201);

    const [row] = await store.knex('webhooks').where('id', created.body.id).select('verify');
    expect(row.verify).toEqual({ scheme: 'github', secret: expect.stringMatching(/^enc:v1:/), secrets: [expect.stringMatching(/^enc:v1:/)] });

    const raw = JSON.stringify({ action: 'opened', n: 1 });
    expect((await t.inbound(inboundProvider, raw, githubHeaders(githubSecret, raw))).status).toBe(200);
    expect((await t.inbound(inboundProvider, raw, githubHeaders(githubOldSecret, raw))).status).toBe(200);
    expect((await t.inbound(inboundProvider, raw, githubHeaders('not-the-secret', raw))).body.error.code).toBe('signature_invalid');
    expect((await t.inbound(`${inboundProvider}-key`, raw, { 'x-api-key': apiKey })).status).toBe(200);
    expect((await t.inbound(`${inboundProvider}-key`, raw, { 'x-api-key': 'wrong' })).status).toBe(401);
  });

  it('a dump of every table reveals no secret (nor its base64 body)', async () => {
    const { tables, text } = await dumpAllTables(store.knex);
    // The dump is real: it has the tables and rows the secrets would be in, and their encrypted forms.
    expect(tables).toEqual(expect.arrayContaining(['webhooks', 'outbound_deliveries', 'outbound_attempts', 'inbox', 'runs']));
    expect(text).toContain(outgoing.url);
    expect(text).toContain(inboundProvider);
    expect(text).toContain('enc:v1:');
    expectNoSecrets(text, [outgoing.secret, rotatedSecret, githubSecret, githubOldSecret, apiKey]);
  });

  it('a wrong key fails loudly with secret_key_mismatch: the engine does not start, reads fail', async () => {
    // The same database seen through a store with another key (what a wrong HOOKGATE_SECRET_KEY gives).
    const wrong = createKnexStore(store.knex, { kind: store.kind, secrets: createSecretBox([randomBytes(32)]) });
    await expect(wrong.migrate()).rejects.toMatchObject({ code: 'secret_key_mismatch', details: { keyIds: [store.secrets.keyId] } });
    await expect(wrong.getWebhook(outgoing.id)).rejects.toMatchObject({ code: 'secret_key_mismatch', details: { webhookId: outgoing.id } });
    await expect(wrong.findByProvider(inboundProvider)).rejects.toMatchObject({ code: 'secret_key_mismatch' });

    const engine = createEngine({ store: wrong, logger: createSilentLogger(), adminToken: 'wrong-key-admin-token-0123456789', adminUi: false });
    await expect(engine.start()).rejects.toMatchObject({ code: 'secret_key_mismatch', message: expect.stringContaining('HOOKGATE_SECRET_KEY') });
    // The right key still reads everything (the failed start changed nothing).
    expect(((await store.getWebhook(outgoing.id)) as { secret: string }).secret).toBe(rotatedSecret);
  });

  it('an altered inbound verify secret answers the sender 500 secret_corrupt without any details', async () => {
    const provider = unique('corrupt-in');
    const created = await t.api('POST', '/webhooks', { direction: 'inbound', provider, jsScript: 'result = null;', verify: { scheme: 'github', secret: 'a-github-secret' } });
    expect(created.status).toBe(201);
    const [row] = await store.knex('webhooks').where('id', created.body.id).select('verify');
    const secret = row.verify.secret as string;
    const flipped = `${secret.slice(0, -3)}${secret.endsWith('AAA') ? 'BBB' : 'AAA'}`;
    await store.knex('webhooks').where('id', created.body.id).update({ verify: JSON.stringify({ ...row.verify, secret: flipped }) });
    // The admin API (authenticated) names what is broken...
    const read = await t.api('GET', `/webhooks/${created.body.id}`);
    expect(read).toMatchObject({ status: 500, body: { error: { code: 'secret_corrupt', details: expect.anything() } } });
    // ...the public route tells the sender only the code and message.
    const res = await t.inbound(provider, { action: 'x' });
    expect(res).toMatchObject({ status: 500, body: { error: { code: 'secret_corrupt' } } });
    expect(res.body.error.details).toBeUndefined();
    expect(JSON.stringify(res.body)).not.toContain(created.body.id);
    await store.knex('webhooks').where('id', created.body.id).del();
  });

  it('an altered stored secret is refused with secret_corrupt, and its delivery is not sent', async () => {
    const path = `/${unique('tampered')}`;
    const event = unique('tampered.event');
    const created = await t.api('POST', '/webhooks', { direction: 'outgoing', url: `${receiver.url}${path}`, events: [event], maxRetries: 0 });
    expect(created.status).toBe(201);
    const [row] = await store.knex('webhooks').where('id', created.body.id).select('secret');
    const flipped = `${row.secret.slice(0, -3)}${row.secret.endsWith('AAA') ? 'BBB' : 'AAA'}`;
    await store.knex('webhooks').where('id', created.body.id).update({ secret: flipped });

    const read = await t.api('GET', `/webhooks/${created.body.id}`);
    expect(read).toMatchObject({ status: 500, body: { error: { code: 'secret_corrupt' } } });
    await emit(event);
    const [delivery] = await settled(created.body.id, 1);
    expect(delivery).toMatchObject({ status: 'failed', attempts: [expect.objectContaining({ statusCode: null, error: expect.objectContaining({ code: 'secret_corrupt' }) })] });
    expect(requestsTo(path)).toHaveLength(0);
    await store.knex('webhooks').where('id', created.body.id).del();
  });
});

describe.each(storeFactories())('legacy plaintext secrets on $name', (factory) => {
  let store: KnexStore;
  let t: TestEngine | undefined;
  let receiver: Receiver;

  beforeAll(async () => {
    store = await factory.create();
    receiver = await startReceiver(() => 204);
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await store?.close();
  });

  it('rows written before encryption keep working and are encrypted at the next start', async () => {
    // What a database made before this change holds: plaintext in every secret column.
    const current = 'whsec_' + randomBytes(32).toString('base64');
    const previous = 'whsec_' + randomBytes(32).toString('base64');
    const github = `legacy-gh-${randomBytes(8).toString('hex')}`;
    const event = unique('legacy.event');
    const provider = unique('legacy');
    const [out] = await store.knex('webhooks')
      .insert({
        direction: 'outgoing', url: `${receiver.url}/legacy`, secret: current, events: JSON.stringify([event]),
        previous_secrets: JSON.stringify([{ secret: previous, expiresAt: new Date(Date.now() + 3_600_000).toISOString() }]),
        max_retries: 0, retry_delay_ms: 1000, timeout_ms: 5000,
      })
      .returning('id');
    await store.knex('webhooks').insert({
      direction: 'inbound', provider, js_script: 'result = null;', script_version: 1, allowed_actions: '[]',
      verify: JSON.stringify({ scheme: 'github', secret: github }),
    });
    // Before the start, reads already take the plaintext as it is.
    expect(((await store.getWebhook(out.id)) as { secret: string }).secret).toBe(current);

    // Several processes starting at once (on PostgreSQL, really concurrent): each value is encrypted exactly once.
    await Promise.all([store.migrate(), store.migrate(), store.migrate()]);
    t = await startTestEngine(store, { allowInsecureUrls: true, allowPrivateNetworks: true, ...OUTBOUND });

    const rows = await store.knex('webhooks').select('secret', 'previous_secrets', 'verify');
    const values: string[] = rows.flatMap((r) => [r.secret, ...(r.previous_secrets ?? []).map((p: { secret: string }) => p.secret), r.verify?.secret].filter(Boolean));
    expect(values).toHaveLength(3);
    for (const value of values) expect(value).toMatch(new RegExp(`^enc:v1:${store.secrets.keyId}:`));
    expect(values.map((v) => store.secrets.decrypt(v)).sort()).toEqual([current, previous, github].sort());
    expectNoSecrets((await dumpAllTables(store.knex)).text, [current, previous, github]);

    // The same secrets still sign and verify.
    expect((await t.api('POST', '/events', { event, data: {} })).status).toBe(202);
    const [req] = await receiver.waitForRequests(1);
    for (const secret of [current, previous]) {
      expect(() => new Webhook(secret).verify(req!.body, req!.headers as Record<string, string>)).not.toThrow();
    }
    const raw = JSON.stringify({ hello: 'legacy' });
    expect((await t.inbound(provider, raw, githubHeaders(github, raw))).status).toBe(200);
    expect((await t.inbound(provider, raw, githubHeaders('nope', raw))).status).toBe(401);

    // A second start finds nothing left to do.
    const before = await store.knex('webhooks').select('id', 'secret').orderBy('id');
    await store.migrate();
    expect(await store.knex('webhooks').select('id', 'secret').orderBy('id')).toEqual(before);
  });
});

describe('the embedded store without HOOKGATE_SECRET_KEY', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hg-secrets-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('generates <dataDir>/secret.key (0600), reads its secrets back after a restart, and a different key refuses to start', async () => {
    const secret = 'whsec_' + randomBytes(32).toString('base64');
    let store = await createStore({ dataDir: dir });
    let id: string;
    try {
      await store.migrate();
      id = (await store.createOutgoingWebhook({ url: 'https://example.com/hook', secret })).id;
    } finally {
      await store.close();
    }
    const keyFile = path.join(dir, SECRET_KEY_FILE);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const fileKeyId = secretKeyId(Buffer.from(fs.readFileSync(keyFile, 'utf8').trim(), 'base64'));

    store = await createStore({ dataDir: dir });
    try {
      expect(store.secrets.keyId).toBe(fileKeyId);
      await store.migrate();
      expect(((await store.getWebhook(id)) as { secret: string }).secret).toBe(secret);
    } finally {
      await store.close();
    }

    // HOOKGATE_SECRET_KEY set to another key: the start stops, it does not sign with garbage.
    store = await createStore({ dataDir: dir, secretKey: randomBytes(32).toString('hex') });
    try {
      await expect(store.migrate()).rejects.toMatchObject({ code: 'secret_key_mismatch' });
    } finally {
      await store.close();
    }
    // The file key given as HOOKGATE_SECRET_KEY, ahead of a new one: a key rotation re-encrypts at start.
    const fileKey = fs.readFileSync(keyFile, 'utf8').trim();
    const newKey = randomBytes(32).toString('base64');
    store = await createStore({ dataDir: dir, secretKey: `${newKey},${fileKey}` });
    try {
      await store.migrate();
      const [row] = await store.knex('webhooks').where('id', id).select('secret');
      expect(store.secrets.keyIdOf(row.secret)).toBe(store.secrets.keyId);
      expect(store.secrets.keyId).not.toBe(fileKeyId);
      // From now on the new key alone reads it.
      const alone = createKnexStore(store.knex, { kind: 'pglite', secrets: createSecretBox([Buffer.from(newKey, 'base64')]) });
      expect(((await alone.getWebhook(id)) as { secret: string }).secret).toBe(secret);
    } finally {
      await store.close();
    }
  }, 120_000);
});
