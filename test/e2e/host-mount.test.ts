import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine.js';
import { createSilentLogger } from '../../src/logger.js';
import type { KnexStore } from '../../src/store/index.js';
import { ADMIN_TOKEN, waitFor } from '../helpers/engine.js';
import { storeFactories } from '../helpers/stores.js';


interface Host {
  store: KnexStore;
  engine: Engine;
  base: string;
  post(path: string, body: string, contentType?: string): Promise<{ status: number; requestId: string | null; body: Record<string, any> }>;
  close(): Promise<void>;
}

/**
 * An engine on the embedded store and a host's Express app: `routes` adds the host's routes and the engine's
 * router, then come the host's own 404 and error handler; `serve` makes the server (the app itself by default).
 */
async function startHost(routes: (app: express.Express, engine: Engine) => void, serve: (app: express.Express, engine: Engine) => Server = (app) => createServer(app)): Promise<Host> {
  const store = await storeFactories().find((factory) => factory.name === 'pglite')!.create();
  const engine = createEngine({ store, logger: createSilentLogger(), adminToken: ADMIN_TOKEN, runFlushMs: 5, sandbox: { processes: 1 } });
  const app = express();
  routes(app, engine);
  app.use((_req, res) => {
    res.status(404).json({ host: 'not found' });
  });
  app.use(((err: { code?: string }, _req, res, _next) => {
    res.status(599).json({ host: 'error', code: err.code });
  }) as ErrorRequestHandler);
  const server = serve(app, engine);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    store,
    engine,
    base,
    async post(path, body, contentType = 'application/json') {
      const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });
      return { status: res.status, requestId: res.headers.get('x-request-id'), body: (await res.json()) as Record<string, any> };
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await engine.close();
      await store.close();
    },
  };
}

/**
 * `engine.router` mounted under a prefix in a host's Express app, beside the host's own routes and error
 * handler: the inbound route answers under the prefix with the engine's own answers (errors included), and
 * everything else falls through to the host as before.
 */
describe('the engine router mounted in a host app under /hooks', () => {
  let host: Host;
  let store: KnexStore;
  let engine: Engine;
  let base: string;
  let post: Host['post'];

  beforeAll(async () => {
    host = await startHost((app, mounted) => {
      app.get('/ping', (_req, res) => {
        res.json({ host: 'pong' });
      });
      app.use('/hooks', mounted.router);
    });
    ({ store, engine, base, post } = host);
  });

  afterAll(() => host.close());

  it('before start, a webhook request goes to the host error handler as database_unavailable', async () => {
    expect(await post('/hooks/tools/webhook/mounted', '{}')).toMatchObject({ status: 599, body: { host: 'error', code: 'database_unavailable' } });
    expect(await post('/hooks/admin/api/runs', '{}')).toMatchObject({ status: 599, body: { host: 'error', code: 'database_unavailable' } });
    // A path of the host's own under the prefix is not held up by the engine's start.
    expect(await post('/hooks/elsewhere', '{}')).toMatchObject({ status: 404, body: { host: 'not found' } });
    // An event emitted before start is refused, not answered null as if no endpoint took it.
    const heard: string[] = [];
    const unsubscribe = engine.onEvent((e) => void heard.push(e.event));
    await expect(engine.emit('too.early', {})).rejects.toMatchObject({ code: 'database_unavailable' });
    unsubscribe();
    expect(heard).toEqual([]);
  });

  it('after start, answers under the prefix with its own answers and leaves the rest to the host', async () => {
    await engine.start();
    await store.createInboundWebhook({ provider: 'mounted', verify: { scheme: 'none' }, jsScript: 'result = null;' });

    const ran = await post('/hooks/tools/webhook/mounted', JSON.stringify({ type: 'a.b' }));
    expect(ran).toMatchObject({ status: 200, body: { received: true, runId: expect.stringMatching(/^[0-9a-f-]{36}$/) } });
    expect((await post('/hooks/tools/webhook/nobody', '{}')).body.error.code).toBe('provider_not_found');
    expect(await post('/hooks/tools/webhook/mounted', '{"broken')).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
    expect((await post('/hooks/tools/webhook/mounted', 'x', 'application/x-unknown')).body.error.code).toBe('unsupported_media_type');
    // Not the engine's: without the prefix, another method, another path.
    expect(await post('/tools/webhook/mounted', '{}')).toMatchObject({ status: 404, body: { host: 'not found' } });
    expect((await fetch(`${base}/hooks/tools/webhook/mounted`)).status).toBe(404);
    expect(await post('/hooks/tools/webhook/mounted/extra', '{}')).toMatchObject({ status: 404, body: { host: 'not found' } });
    // The engine's other routes under the prefix, and the host's own.
    expect((await fetch(`${base}/hooks/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/hooks/admin/api/runs`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(200);
    expect(await (await fetch(`${base}/ping`)).json()).toEqual({ host: 'pong' });
    const run = await waitFor(() => store.getRun(ran.body.runId).then((found) => found ?? undefined), 5000, 'the run record');
    expect(run).toMatchObject({ provider: 'mounted', status: 'ok' });
  });
});

/** A host app that parses JSON site-wide, in front of `engine.router`. */
describe('the engine router behind a host app\'s express.json()', () => {
  it('verifies with the req.rawBody its verify hook keeps, and without it answers 500 and logs how to mount the router', async () => {
    let keepRaw = true;
    const host = await startHost((app, mounted) => {
      app.use(express.json({ verify: (req, _res, buf) => void (keepRaw && ((req as { rawBody?: Buffer }).rawBody = buf)) }));
      app.use(mounted.router);
    });
    try {
      await host.engine.start();
      const secret = 'a-shared-secret-0123456789';
      await host.store.createInboundWebhook({ provider: 'parsed', verify: { scheme: 'hmac-sha256', secret, header: 'x-signature' }, jsScript: 'result = null;' });
      // Spaced unlike JSON.stringify of the parsed object: only the raw bytes verify.
      const body = '{ "type" : "a.b" }';
      const signature = createHmac('sha256', secret).update(body).digest('hex');
      const send = () => fetch(`${host.base}/tools/webhook/parsed`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': signature }, body });
      const ok = await send();
      expect(ok.status, await ok.clone().text()).toBe(200);
      keepRaw = false;
      const lost = await send();
      expect(lost.status).toBe(500);
      expect(await lost.json()).toMatchObject({ error: { code: 'internal_error' } });
    } finally {
      await host.close();
    }
  });
});

/**
 * A host's own server with `engine.requestListener(app)` in front of its Express app (the engine's router at
 * the root): webhook requests are answered without entering the app — the host's middleware never sees them —
 * with the same answers as through the app; everything else, and the route's other spellings, go to the app.
 */
describe('a host server behind engine.requestListener', () => {
  let host: Host;
  let store: KnexStore;
  let engine: Engine;
  let base: string;
  let post: Host['post'];
  /** Requests that entered the host's Express app. */
  let entered: string[] = [];

  beforeAll(async () => {
    host = await startHost(
      (app, mounted) => {
        app.use((req, _res, next) => {
          entered.push(`${req.method} ${req.url}`);
          next();
        });
        app.use(mounted.router);
      },
      (app, mounted) => createServer(mounted.requestListener(app)),
    );
    ({ store, engine, base, post } = host);
  });

  afterAll(() => host.close());

  it('before start, passes webhook requests to the app, whose engine router refuses them', async () => {
    expect(await post('/tools/webhook/direct', '{}')).toMatchObject({ status: 599, body: { host: 'error', code: 'database_unavailable' } });
    expect(entered).toEqual(['POST /tools/webhook/direct']);
  });

  it('after start, answers webhook requests itself and leaves the rest to the app', async () => {
    await engine.start();
    await store.createInboundWebhook({ provider: 'direct', verify: { scheme: 'none' }, jsScript: "if (body.reply) response = { status: 201, body: 'pong' };\nresult = null;" });
    entered = [];

    const ran = await post('/tools/webhook/direct', JSON.stringify({ type: 'a.b' }));
    expect(ran).toMatchObject({ status: 200, body: { received: true, runId: expect.stringMatching(/^[0-9a-f-]{36}$/) } });
    expect(ran.requestId).toBe(ran.body.runId);
    expect(await post('/tools/webhook/direct/?attempt=2', '{}')).toMatchObject({ status: 200, body: { received: true } });
    const replied = await fetch(`${base}/tools/webhook/direct`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"reply":true}' });
    expect([replied.status, replied.headers.get('content-type'), await replied.text()]).toEqual([201, 'text/plain; charset=utf-8', 'pong']);
    // Failures get the catalogue's answers (and a request id) here too.
    const unknown = await post('/tools/webhook/nobody', '{}');
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'provider_not_found' } } });
    expect(unknown.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await post('/tools/webhook/direct', '{"broken')).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
    expect((await post('/tools/webhook/direct', 'x', 'application/x-unknown')).body.error.code).toBe('unsupported_media_type');
    expect(entered).toEqual([]);

    // The same route in another letter case is Express's to match, with the same answer.
    expect(await post('/TOOLS/webhook/direct', '{}')).toMatchObject({ status: 200, body: { received: true } });
    expect(await post('/tools/webhook/direct/extra', '{}')).toMatchObject({ status: 404, body: { host: 'not found' } });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(entered).toEqual(['POST /TOOLS/webhook/direct', 'POST /tools/webhook/direct/extra', 'GET /healthz']);
    const run = await waitFor(() => store.getRun(ran.body.runId).then((found) => found ?? undefined), 5000, 'the run record');
    expect(run).toMatchObject({ provider: 'direct', status: 'ok' });
  });
});
