import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine.js';
import { createSilentLogger } from '../../src/logger.js';
import type { KnexStore } from '../../src/store/index.js';
import { ADMIN_TOKEN, waitFor } from '../helpers/engine.js';
import { storeFactories } from '../helpers/stores.js';

/**
 * `engine.router` mounted under a prefix in a host's Express app, beside the host's own routes and error
 * handler: the inbound route answers under the prefix with the engine's own answers (errors included), and
 * everything else falls through to the host as before.
 */
describe('the engine router mounted in a host app under /hooks', () => {
  let store: KnexStore;
  let engine: Engine;
  let server: ReturnType<express.Express['listen']>;
  let base: string;

  beforeAll(async () => {
    store = await storeFactories().find((factory) => factory.name === 'pglite')!.create();
    engine = createEngine({ store, logger: createSilentLogger(), adminToken: ADMIN_TOKEN, runFlushMs: 5, sandbox: { processes: 1 } });
    const app = express();
    app.get('/ping', (_req, res) => {
      res.json({ host: 'pong' });
    });
    app.use('/hooks', engine.router);
    app.use((_req, res) => {
      res.status(404).json({ host: 'not found' });
    });
    app.use(((err: { code?: string }, _req, res, _next) => {
      res.status(599).json({ host: 'error', code: err.code });
    }) as ErrorRequestHandler);
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await engine.close();
    await store.close();
  });

  const post = async (path: string, body: string, contentType = 'application/json') => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  it('before start, a webhook request goes to the host error handler as database_unavailable', async () => {
    expect(await post('/hooks/tools/webhook/mounted', '{}')).toEqual({ status: 599, body: { host: 'error', code: 'database_unavailable' } });
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
    expect(await post('/tools/webhook/mounted', '{}')).toEqual({ status: 404, body: { host: 'not found' } });
    expect((await fetch(`${base}/hooks/tools/webhook/mounted`)).status).toBe(404);
    expect(await post('/hooks/tools/webhook/mounted/extra', '{}')).toEqual({ status: 404, body: { host: 'not found' } });
    // The engine's other routes under the prefix, and the host's own.
    expect((await fetch(`${base}/hooks/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/hooks/admin/api/runs`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(200);
    expect(await (await fetch(`${base}/ping`)).json()).toEqual({ host: 'pong' });
    const run = await waitFor(() => store.getRun(ran.body.runId).then((found) => found ?? undefined), 5000, 'the run record');
    expect(run).toMatchObject({ provider: 'mounted', status: 'ok' });
  });
});
