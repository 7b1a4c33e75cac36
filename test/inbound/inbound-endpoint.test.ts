import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { createInboundEndpoint, inboundProviderOf, type CachedWebhook, type InboundAnswer, type InboundHandler } from '../../src/inbound/index.js';
import { createSilentLogger, type Logger } from '../../src/logger.js';
import type { InboundWebhook } from '../../src/store/types.js';

/**
 * The inbound endpoint on a real node:http server, with the handler behind it (config lookup, script run)
 * replaced, to reach answers the engine's own parts never give: a store that rejects with `null`, a logger
 * that throws, a script answering 204 with a body. The endpoint must answer every request and never reject.
 */
describe('the inbound endpoint on Node’s own request and response', () => {
  let server: Server | null = null;
  afterEach(async () => {
    server?.closeAllConnections();
    if (server) await new Promise((resolve) => server!.close(resolve));
    server = null;
  });

  const webhook = { id: 'w1', provider: 'p', verify: { scheme: 'none' } } as unknown as InboundWebhook;
  const cached: CachedWebhook = { webhook, scriptKey: 'k' };

  /** Serves the endpoint; returns the base URL and what each call of it settled with. */
  async function serve(handler: Partial<InboundHandler>, errorLogger: Logger = createSilentLogger()) {
    const endpoint = createInboundEndpoint({ handler: handler as InboundHandler, bodyLimitBytes: 1024, errorLogger });
    const settled: string[] = [];
    server = createServer((req, res) => {
      const provider = inboundProviderOf(req.method, req.url);
      if (provider === null) throw new Error(`not an inbound request: ${req.url}`);
      endpoint(req, res, provider).then(() => settled.push('resolved'), () => settled.push('rejected'));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/tools/webhook/p`, settled };
  }

  const post = (url: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"e1"}' });

  it('answers 500 internal_error when the lookup rejects with null (not an Error at all)', async () => {
    const { url, settled } = await serve({ lookup: () => Promise.reject(null) });
    const res = await post(url);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { code: 'internal_error', message: expect.any(String) } });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(settled).toEqual(['resolved']);
  });

  it('answers a bare 500 when logging the failure throws, instead of an unhandled rejection', async () => {
    const throwing = createSilentLogger();
    throwing.error = () => {
      throw new Error('log transport down');
    };
    const { url, settled } = await serve({ lookup: () => Promise.reject(new AppError('database_unavailable')) }, throwing);
    const res = await post(url);
    expect([res.status, await res.text()]).toEqual([500, '']);
    expect(settled).toEqual(['resolved']);
  });

  it('sends a 204 the script answered without a body or headers describing one, and a 205 with length 0', async () => {
    let status = 204;
    const answer = (): InboundAnswer => ({ kind: 'ran', runId: 'r1', inboxId: null, response: { status, body: 'ignored' } });
    const { url } = await serve({ lookup: async () => cached, accept: async () => answer() });
    const noContent = await post(url);
    expect([noContent.status, noContent.headers.get('content-type'), noContent.headers.get('content-length'), await noContent.text()]).toEqual([204, null, null, '']);
    status = 205;
    const reset = await post(url);
    expect([reset.status, reset.headers.get('content-length'), await reset.text()]).toEqual([205, '0', '']);
    status = 200;
    const text = await post(url);
    expect([text.status, text.headers.get('content-type'), await text.text()]).toEqual([200, 'text/plain; charset=utf-8', 'ignored']);
  });
});
