import { Writable } from 'node:stream';
import { Ajv } from 'ajv';
import winston from 'winston';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionRegistry } from '../../src/actions/index.js';
import { createAdminRouter, type AdminRouterOptions } from '../../src/admin/index.js';
import { ADMIN_ROUTES } from '../../src/admin/route-table.js';
import type { KnexStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { storeFactories } from '../helpers/stores.js';

/** Every `[method, path]` the admin router serves, read from Express's own route stack. */
function routerRoutes(): string[] {
  const router = createAdminRouter({ store: {}, registry: new ActionRegistry(), cache: {}, recorder: {}, sandbox: {} } as unknown as AdminRouterOptions);
  const out: string[] = [];
  for (const layer of (router as unknown as { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> }).stack) {
    if (!layer.route) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') out.push(`${method} ${layer.route.path}`);
  }
  return out;
}

describe('the OpenAPI document', () => {
  it('lists every route the router serves, with the schemas ajv validates with', () => {
    const served = routerRoutes();
    expect(served.length).toBeGreaterThan(20);
    const specified = ADMIN_ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(served.sort()).toEqual([...specified].sort());
  });
});

describe.each(storeFactories())('event catalog, OpenAPI, script versions and secrets in logs on $name', (factory) => {
  let store: Store;
  let t: TestEngine;
  let receiver: Receiver;
  const logLines: string[] = [];

  beforeAll(async () => {
    store = await factory.create();
    receiver = await startReceiver();
    const sink = new Writable({ write(chunk, _enc, cb) { logLines.push(String(chunk)); cb(); } });
    const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
    t = await startTestEngine(store, { logger, allowInsecureUrls: true, allowPrivateNetworks: true });
    t.engine.events
      .define('org-created', { type: 'object', required: ['orgId'], properties: { orgId: { type: 'string', minLength: 1 } } }, { description: 'An organisation was created' })
      .define('x.done', { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await store?.close();
  });

  it('serves GET /openapi.json: OpenAPI 3.1 with every route and compilable request schemas', async () => {
    const res = await t.api('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const ajv = new Ajv({ strict: false });
    for (const spec of ADMIN_ROUTES) {
      const op = res.body.paths[spec.path.replace(/:([a-z]+)/gi, '{$1}')]?.[spec.method];
      expect(op, `${spec.method} ${spec.path}`).toBeDefined();
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining([...Object.keys(spec.responses), '400', '401', '403']));
      if (op.requestBody) expect(() => ajv.compile(op.requestBody.content['application/json'].schema)).not.toThrow();
    }
    expect((await t.api('GET', '/openapi.json', undefined, null)).status).toBe(401);
  });

  it('lists the event types and checks POST /events against them', async () => {
    const types = await t.api('GET', '/event-types');
    expect(types.body).toEqual({
      strict: true,
      items: [
        { name: 'org-created', description: 'An organisation was created', schema: expect.objectContaining({ required: ['orgId'] }) },
        { name: 'x.done', description: null, schema: expect.any(Object) },
      ],
    });
    const before = t.events.length;
    const invalid = await t.api('POST', '/events', { event: 'org-created', data: { orgId: 7 } });
    expect(invalid).toMatchObject({ status: 400, body: { error: { code: 'event_invalid', details: { event: 'org-created', errors: [{ path: '/orgId' }] } } } });
    expect(invalid.body.error.message).toContain('data/orgId must be string');
    const missing = await t.api('POST', '/events', { event: 'org-created', data: {} });
    expect(missing.body.error.details.errors[0].path).toBe('/orgId');
    expect(await t.api('POST', '/events', { event: 'not.defined', data: {} })).toMatchObject({ status: 400, body: { error: { code: 'event_unknown' } } });
    await expect(t.engine.emit('not.defined', {})).rejects.toMatchObject({ code: 'event_unknown' });
    expect((await t.api('POST', '/events', { event: 'org-created', data: { orgId: 'o1' } })).status).toBe(202);
    await waitFor(() => (t.events.length > before ? true : undefined));
    expect(t.events.slice(before).map((e) => e.event)).toEqual(['org-created']); // the refused ones never reached a listener
  });

  it('refuses the engine\'s own events, and the metadata it sets, on every emit path', async () => {
    const before = t.events.length;
    // Also the names that other letter case, or Unicode letters that case-map or fold to ASCII ones, make equal.
    for (const event of ['webhook.disabled', 'webhook.test', 'Webhook.Disabled', 'WEBHOOK.TEST', 'webhook.d\u0131sabled', 'webhook.te\u017Ft', '\uFF57ebhook.test']) {
      expect(await t.api('POST', '/events', { event, data: { webhookId: 'x', reason: 'gone' } })).toMatchObject({ status: 400, body: { error: { code: 'event_reserved', details: { event } } } });
      await expect(t.engine.emit(event, {})).rejects.toMatchObject({ code: 'event_reserved' });
    }
    const hook = (await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'forger', jsScript: "result = { event: 'webhook.disabled', data: { webhookId: 'x', reason: 'gone' } };" })).body;
    const run = await t.inbound('forger', {});
    expect((await t.api('GET', `/runs/${run.body.runId}`)).body).toMatchObject({ status: 'error', error: { code: 'event_reserved' } });
    expect((await t.api('POST', `/webhooks/${hook.id}/dry-run`, { body: {} })).body).toMatchObject({ status: 'error', error: { code: 'event_reserved' } });

    for (const key of ['provider', 'runId']) {
      const forged = await t.api('POST', '/events', { event: 'org-created', data: { orgId: 'o1' }, metadata: { [key]: 'x', note: 'kept' } });
      expect(forged).toMatchObject({ status: 400, body: { error: { code: 'validation_failed', details: [{ path: `/metadata/${key}` }] } } });
    }
    expect((await t.api('POST', '/events', { event: 'org-created', data: { orgId: 'o3' }, metadata: { note: 'kept', source: 'crm' } })).status).toBe(202);
    await waitFor(() => (t.events.length > before ? true : undefined));
    expect(t.events.slice(before)).toEqual([expect.objectContaining({ event: 'org-created', data: { orgId: 'o3' }, metadata: { note: 'kept', source: 'crm', tenantId: null } })]);
  });

  it('takes only `*` or catalog names as an outgoing webhook\'s events, and catalog names in emitEvents', async () => {
    const bad = await t.api('POST', '/webhooks', { direction: 'outgoing', url: receiver.url, events: ['org-created', 'org-deleted'] });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'event_unknown', details: { path: '/events', unknown: ['org-deleted'] } } } });
    const ok = await t.api('POST', '/webhooks', { direction: 'outgoing', url: receiver.url, events: ['org-created', '*'] });
    expect(ok.status).toBe(201);
    expect((await t.api('PATCH', `/webhooks/${ok.body.id}`, { events: ['nope'] })).body.error.code).toBe('event_unknown');
    expect((await t.api('GET', `/webhooks/${ok.body.id}`)).body.events).toEqual(['org-created', '*']);
    const inbound = await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'emits', jsScript: '', events: ['provider.own.type'], emitEvents: ['x.done', 'nope'] });
    expect(inbound.body.error).toMatchObject({ code: 'event_unknown', details: { path: '/emitEvents', unknown: ['nope'] } });
    // The engine's own events can be subscribed to though this catalog does not describe them.
    expect((await t.api('POST', '/webhooks', { direction: 'outgoing', url: receiver.url, events: ['webhook.disabled', 'webhook.test'] })).status).toBe(201);
    expect((await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'emits', jsScript: '', events: ['provider.own.type'], emitEvents: ['x.done'] })).status).toBe(201);
  });

  it('ends a run whose result would be sent as an envelope over 1 MiB in error (payload_too_large), nothing emitted', async () => {
    // Within the sandbox's 1 MiB result limit; the envelope's fields and metadata push it over.
    const script = "result = { event: 'org-created', data: { orgId: 'o1', blob: 'x'.repeat(1048576 - 100) } };";
    const hook = (await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'bulky', jsScript: script })).body;
    const before = t.events.length;
    const res = await t.inbound('bulky', {});
    expect(res.status).toBe(200);
    expect((await t.api('GET', `/runs/${res.body.runId}`)).body).toMatchObject({ status: 'error', error: { code: 'payload_too_large', message: expect.stringMatching(/envelope/) } });
    expect((await t.api('POST', `/webhooks/${hook.id}/dry-run`, { body: {} })).body).toMatchObject({ status: 'error', error: { code: 'payload_too_large' } });
    expect(t.events.length).toBe(before);
  });

  it('ends a run whose result breaks the catalog in error (event_invalid), recorded, nothing emitted', async () => {
    const hook = (await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'catalog', jsScript: "result = { event: 'x.done', data: { n: body.n } };" })).body;
    const before = t.events.length;
    const bad = await t.inbound('catalog', { n: 'seven' });
    expect(bad.status).toBe(200);
    const run = (await t.api('GET', `/runs/${bad.body.runId}`)).body;
    expect(run).toMatchObject({ status: 'error', error: { code: 'event_invalid' } });
    expect(run.error.message).toContain('data/n must be integer');
    const good = await t.inbound('catalog', { n: 7 });
    expect((await t.api('GET', `/runs/${good.body.runId}`)).body.status).toBe('ok');
    await waitFor(() => (t.events.length > before ? true : undefined));
    expect(t.events.slice(before)).toEqual([expect.objectContaining({ event: 'x.done', data: { n: 7 } })]);

    // A dry-run reports the same refusal.
    const dry = await t.api('POST', `/webhooks/${hook.id}/dry-run`, { body: { n: 'x' } });
    expect(dry.body).toMatchObject({ status: 'error', error: { code: 'event_invalid' } });
    const unknown = await t.api('POST', `/webhooks/${hook.id}/dry-run`, { body: {}, jsScript: "result = { event: 'nope', data: {} };" });
    expect(unknown.body).toMatchObject({ status: 'error', error: { code: 'event_unknown' } });
  });

  it('dry-runs a script that is not saved yet (POST /dry-run), with stub actions and the catalog check', async () => {
    const calls = t.calls.length;
    const runs = (await t.api('GET', '/runs?limit=200')).body.items.length;
    const res = await t.api('POST', '/dry-run', {
      body: { n: 3 },
      jsScript: "console.log('hi'); await actions['crm.tag'](body.n); result = { event: 'x.done', data: { n: body.n } };",
      allowedActions: ['crm.tag'],
    });
    expect(res.body).toMatchObject({ status: 'ok', emit: { event: 'x.done', data: { n: 3 } }, logs: [{ message: 'hi' }], actionsCalled: [{ id: 'crm.tag', args: [3] }] });
    expect(t.calls.length).toBe(calls);
    expect((await t.api('POST', '/dry-run', { body: {}, jsScript: "result = { event: 'x.done', data: { n: 'x' } };" })).body.error.code).toBe('event_invalid');
    const broken = await t.api('POST', '/dry-run', { body: {}, jsScript: 'let = ;' });
    expect(broken).toMatchObject({ status: 400, body: { error: { code: 'script_compile_error', details: { line: 1 } } } });
    expect((await t.api('POST', '/dry-run', { body: {} })).body.error.details[0].params).toEqual({ missingProperty: 'jsScript' });
    expect((await t.api('GET', '/runs?limit=200')).body.items.length).toBe(runs);
  });

  it('keeps every saved script version: GET /webhooks/:id/versions, newest first', async () => {
    const hook = (await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'versions', jsScript: '// v1' })).body;
    await t.api('PATCH', `/webhooks/${hook.id}`, { jsScript: '// v2' });
    await t.api('PATCH', `/webhooks/${hook.id}`, { isActive: false }); // not a new version
    await t.api('PATCH', `/webhooks/${hook.id}`, { jsScript: '// v3' });
    const res = await t.api('GET', `/webhooks/${hook.id}/versions`);
    expect(res.body.items.map((v: any) => [v.version, v.jsScript])).toEqual([[3, '// v3'], [2, '// v2'], [1, '// v1']]);
    expect(res.body.items[0].createdAt).toEqual(expect.any(String));
    const out = (await t.api('POST', '/webhooks', { direction: 'outgoing', url: receiver.url })).body;
    expect((await t.api('GET', `/webhooks/${out.id}/versions`)).body.error.code).toBe('webhook_direction_mismatch');
    expect((await t.api('GET', '/webhooks/00000000-0000-7000-8000-000000000000/versions')).status).toBe(404);
  });

  it('replays a stored request against the current script, with real actions, as a new run', async () => {
    const hook = (await t.api('POST', '/webhooks', {
      direction: 'inbound',
      provider: 'replay',
      allowedActions: ['crm.tag'],
      jsScript: "await actions['crm.tag'](body.n); result = { event: 'x.done', data: { n: body.n } };",
    })).body;
    const first = await t.inbound('replay', { n: 1 }, { 'x-trace': 'abc' });
    expect((await t.api('GET', `/runs/${first.body.runId}`)).body.status).toBe('ok');
    // The stored request an admin can read back: the body as received and the headers.
    const request = await t.api('GET', `/runs/${first.body.runId}/request`);
    expect(request.status).toBe(200);
    expect(JSON.parse(request.body.body)).toEqual({ n: 1 });
    expect(request.body).toMatchObject({ contentType: expect.stringContaining('application/json'), headers: expect.objectContaining({ 'x-trace': 'abc' }) });
    expect(request.body.headers.authorization).toBeUndefined();
    expect((await t.api('GET', '/runs/00000000-0000-7000-8000-000000000000/request')).body.error.code).toBe('not_found');
    // A sync request without a delivery id is one row: kept in its run's row, no inbox row of its own.
    expect(await (store as KnexStore).knex('inbox').where('run_id', first.body.runId)).toEqual([]);
    const stored = await (store as KnexStore).knex('runs').where('id', first.body.runId).first('request_body');
    expect(JSON.parse(stored.request_body)).toEqual({ n: 1 });
    await t.api('PATCH', `/webhooks/${hook.id}`, { jsScript: "await actions['crm.tag'](body.n * 10, headers['x-trace']); result = { event: 'x.done', data: { n: body.n * 10 } };" });
    const calls = t.calls.length;
    const events = t.events.length;

    const replay = await t.api('POST', `/runs/${first.body.runId}/replay`);
    expect(replay.status).toBe(201);
    expect(replay.body).toMatchObject({ replayOf: first.body.runId, status: 'ok', provider: 'replay', scriptVersion: 2, emittedEvent: 'x.done' });
    expect(replay.body.id).not.toBe(first.body.runId);
    expect(t.calls.slice(calls)).toEqual([{ id: 'crm.tag', args: [10, 'abc'] }]);
    await waitFor(() => (t.events.length > events ? true : undefined));
    expect(t.events.slice(events)).toEqual([expect.objectContaining({ event: 'x.done', data: { n: 10 } })]);
    expect((await t.api('GET', `/runs/${replay.body.id}`)).body).toMatchObject({ status: 'ok', scriptVersion: 2, replayOf: first.body.runId });
    expect((await t.api('GET', `/runs/${first.body.runId}`)).body.replayOf).toBeUndefined();
    // The replay keeps its own copy of the request, so it can be read back and replayed in turn.
    const replayed = await t.api('GET', `/runs/${replay.body.id}/request`);
    expect(replayed.status).toBe(200);
    expect(JSON.parse(replayed.body.body)).toEqual({ n: 1 });
    expect(replayed.body.headers['x-trace']).toBe('abc');
    expect((await t.api('POST', `/runs/${replay.body.id}/replay`)).body).toMatchObject({ replayOf: replay.body.id, status: 'ok' });

    expect((await t.api('POST', '/runs/00000000-0000-7000-8000-000000000000/replay')).body.error.code).toBe('not_found');
    await t.api('PATCH', `/webhooks/${hook.id}`, { isActive: false });
    expect((await t.api('POST', `/runs/${first.body.runId}/replay`)).body.error.code).toBe('webhook_inactive');
  });

  it('never writes a secret to the logs', async () => {
    const secrets: string[] = [];
    const out = await t.api('POST', '/webhooks', { direction: 'outgoing', url: receiver.url, events: ['org-created'] });
    secrets.push(out.body.secret);
    const rotated = await t.api('POST', `/webhooks/${out.body.id}/rotate-secret`);
    secrets.push(rotated.body.secret);
    await t.api('POST', `/webhooks/${out.body.id}/test`);
    await t.api('POST', '/events', { event: 'org-created', data: { orgId: 'o2' } });
    const key = await t.api('POST', '/keys', { role: 'admin', tenantId: 't1' });
    secrets.push(key.body.key);
    await t.api('GET', '/webhooks', undefined, key.body.key);
    await t.api('DELETE', `/keys/${key.body.id}`);
    await t.api('GET', '/webhooks', undefined, key.body.key);
    const verifySecret = 'inbound-verify-secret-0123456789';
    secrets.push(verifySecret);
    await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'signed-log', jsScript: 'throw new Error("boom")', verify: { scheme: 'hmac-sha256', secret: verifySecret } });
    await t.inbound('signed-log', { a: 1 }, { 'x-webhook-signature': 'sha256=00' });
    await t.api('POST', '/webhooks', { direction: 'outgoing', url: 'http://[::1', secret: 'whsec_smuggled' });
    await waitFor(() => (receiver.requests.length >= 2 ? true : undefined));
    await waitFor(() => (logLines.length > 0 ? true : undefined));
    const text = logLines.join('\n');
    for (const secret of secrets) {
      expect(secret).toBeTruthy();
      expect(text).not.toContain(secret);
      expect(text).not.toContain(secret.slice(6)); // nor its body without the whsec_/hg_ prefix
    }
  });
});
