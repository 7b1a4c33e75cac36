import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpTransport, type Resolver } from '../../src/outbound/index.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';

const open = { allowInsecureUrls: true, allowPrivateNetworks: true };
const request = (url: string, timeoutMs = 2000) => ({ url, body: '{"hello":"world"}', headers: { 'X-Webhook-Event': 'e' }, timeoutMs });

describe('HTTP transport (real loopback receiver)', () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(() => receiver.close());

  it('POSTs the body with our headers and keeps a capped excerpt of the answer', async () => {
    receiver.respond((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\u0000!'));
    const send = createHttpTransport({ policy: open });
    const result = await send(request(`${receiver.url}/hook?a=1`));
    expect(result).toMatchObject({ statusCode: 200, responseExcerpt: 'ok\uFFFD!', responseTruncated: false, error: null });
    const got = receiver.requests.at(-1)!;
    expect(got).toMatchObject({ method: 'POST', path: '/hook?a=1', body: '{"hello":"world"}' });
    expect(got.headers).toMatchObject({ 'content-type': 'application/json', 'x-webhook-event': 'e', 'content-length': '17' });
  });

  it('cuts the excerpt before a character the byte limit would split', async () => {
    receiver.respond((_req, res) => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('€'.repeat(3000)));
    const result = await createHttpTransport({ policy: open, excerptBytes: 4096 })(request(receiver.url));
    // '€' is 3 bytes: 1365 of them fit in 4096.
    expect(result).toMatchObject({ statusCode: 500, responseTruncated: true, responseExcerpt: '€'.repeat(1365) });
  });

  it('reads only the excerpt of a huge body, then drops the connection', async () => {
    let closed: Promise<unknown> = Promise.resolve();
    let written = 0;
    receiver.respond((_req, res) => {
      res.writeHead(200);
      closed = once(res, 'close');
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        // An endless body: stops only when the client goes away.
        while (!res.destroyed && written < 1024 * 1024 * 1024 && res.write(chunk)) written += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const send = createHttpTransport({ policy: open, excerptBytes: 1000 });
    const result = await send(request(receiver.url));
    expect(result).toMatchObject({ statusCode: 200, responseTruncated: true, error: null });
    expect(result.responseExcerpt).toHaveLength(1000);
    await closed;
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('times out a receiver that never answers, within timeoutMs', async () => {
    receiver.respond(() => new Promise<void>(() => undefined));
    const send = createHttpTransport({ policy: open });
    const t0 = Date.now();
    const result = await send(request(receiver.url, 300));
    expect(result).toMatchObject({ statusCode: null, error: { code: 'timeout' } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('does not follow redirects', async () => {
    const before = receiver.requests.length;
    receiver.respond((req, res) => {
      if (req.path === '/moved') res.writeHead(302, { location: `${receiver.url}/target` }).end();
      else res.writeHead(200).end();
    });
    const result = await createHttpTransport({ policy: open })(request(`${receiver.url}/moved`));
    expect(result.statusCode).toBe(302);
    expect(receiver.requests.slice(before).map((r) => r.path)).toEqual(['/moved']);
  });

  it('reports a refused connection', async () => {
    const other = await startReceiver();
    const url = other.url;
    await other.close();
    const result = await createHttpTransport({ policy: open })(request(url));
    expect(result).toMatchObject({ statusCode: null, error: { code: 'connection_refused' } });
  });

  it('refuses a forbidden address at send time without connecting', async () => {
    const before = receiver.requests.length;
    const result = await createHttpTransport({ policy: { allowInsecureUrls: true, allowPrivateNetworks: false } })(request(receiver.url));
    expect(result).toMatchObject({ statusCode: null, error: { code: 'url_blocked' } });
    const insecure = await createHttpTransport({ policy: { allowInsecureUrls: false, allowPrivateNetworks: true } })(request(receiver.url));
    expect(insecure.error?.code).toBe('url_insecure');
    expect(receiver.requests.length).toBe(before);
  });

  it('pins the connection to the address it checked (no second DNS lookup, no rebinding)', async () => {
    receiver.respond(() => 204);
    let calls = 0;
    // First answer loopback (allowed here), then an address nobody listens on: a second lookup would miss.
    const rebinding: Resolver = async () => (calls++ === 0 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '10.255.255.1', family: 4 }]);
    const result = await createHttpTransport({ policy: open, resolver: rebinding })(request(`http://receiver.test:${receiver.port}/pinned`));
    expect(result).toMatchObject({ statusCode: 204, error: null });
    expect(calls).toBe(1);
    const got = receiver.requests.at(-1)!;
    expect(got.path).toBe('/pinned');
    expect(got.headers.host).toBe(`receiver.test:${receiver.port}`);

    // And a name whose address is forbidden is refused before any connection.
    const strict = createHttpTransport({ policy: { allowInsecureUrls: true, allowPrivateNetworks: false }, resolver: async () => [{ address: '127.0.0.1', family: 4 }] });
    expect((await strict(request(`http://receiver.test:${receiver.port}/`))).error?.code).toBe('url_blocked');
  });

  it('an abort signal ends the attempt as a retryable "aborted"', async () => {
    receiver.respond(() => new Promise<void>(() => undefined));
    const controller = new AbortController();
    const pending = createHttpTransport({ policy: open })({ ...request(receiver.url, 5000), signal: controller.signal });
    await receiver.waitForRequests(receiver.requests.length + 1);
    controller.abort();
    expect((await pending).error?.code).toBe('aborted');
  });

  it('a body that stalls after the status ends at the timeout as an answer, truncated', async () => {
    receiver.respond((_req, res) => {
      res.writeHead(200);
      res.write('partial');
      return new Promise<void>(() => undefined);
    });
    const t0 = Date.now();
    const result = await createHttpTransport({ policy: open })(request(receiver.url, 300));
    expect(result).toMatchObject({ statusCode: 200, responseExcerpt: 'partial', responseTruncated: true, error: null });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
  });

  it('an attempt whose signal is already aborted ends as "aborted" without connecting', async () => {
    receiver.respond(() => 204);
    const send = createHttpTransport({ policy: open });
    const before = receiver.requests.length;
    expect(await send({ ...request(receiver.url), signal: AbortSignal.abort() })).toMatchObject({ statusCode: null, error: { code: 'aborted' } });
    // Once more after a request to that URL went through (its check is remembered now).
    expect(await send(request(receiver.url))).toMatchObject({ statusCode: 204 });
    expect(await send({ ...request(receiver.url), signal: AbortSignal.abort() })).toMatchObject({ statusCode: null, error: { code: 'aborted' } });
    expect(receiver.requests.length).toBe(before + 1);
    send.close?.();
  });

  it('resolves and checks a host name on every attempt; a refused address stays refused', async () => {
    receiver.respond(() => 204);
    let lookups = 0;
    const resolver: Resolver = async () => {
      lookups += 1;
      return [{ address: '127.0.0.1', family: 4 }];
    };
    // Loopback is forbidden under this policy: refused on every attempt, by address and by name.
    const strict = createHttpTransport({ policy: { allowInsecureUrls: true, allowPrivateNetworks: false }, resolver });
    for (let i = 0; i < 2; i++) expect((await strict(request(receiver.url))).error?.code).toBe('url_blocked');
    for (let i = 0; i < 2; i++) expect((await strict(request(`http://hooks.test:${receiver.port}/`))).error?.code).toBe('url_blocked');
    expect(lookups).toBe(2);
    const send = createHttpTransport({ policy: open, resolver });
    for (let i = 0; i < 3; i++) expect(await send(request(`http://hooks.test:${receiver.port}/`))).toMatchObject({ statusCode: 204, error: null });
    expect(lookups).toBe(5);
    send.close?.();
  });

  it('keeps the URL policy it was made with', async () => {
    const policy = { allowInsecureUrls: true, allowPrivateNetworks: false };
    const send = createHttpTransport({ policy });
    expect((await send(request(receiver.url))).error?.code).toBe('url_blocked');
    policy.allowPrivateNetworks = true;
    expect((await send(request(receiver.url))).error?.code).toBe('url_blocked');
  });

  it('keeps connections alive per checked address: reused for the same address, never for another', async () => {
    // One port on two loopback addresses, counting the connections each accepts.
    const connections: string[] = [];
    const serve = () =>
      http
        .createServer((req, res) => {
          req.resume();
          req.on('end', () => res.writeHead(204).end());
        })
        .on('connection', (socket) => connections.push(socket.localAddress ?? ''));
    const server = serve().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const other = serve().listen(port, '127.0.0.2');
    await once(other, 'listening');
    try {
      let answer = '127.0.0.1';
      const send = createHttpTransport({ policy: open, resolver: async () => [{ address: answer, family: 4 }] });
      for (let i = 0; i < 3; i++) expect(await send(request(`http://hooks.test:${port}/a`))).toMatchObject({ statusCode: 204, error: null });
      expect(connections).toEqual(['127.0.0.1']);
      // The name now resolves to another (allowed) address: a connection of its own, checked and pinned anew.
      answer = '127.0.0.2';
      expect(await send(request(`http://hooks.test:${port}/a`))).toMatchObject({ statusCode: 204, error: null });
      expect(connections).toEqual(['127.0.0.1', '127.0.0.2']);
      send.close?.();
    } finally {
      for (const s of [server, other]) {
        s.closeAllConnections();
        s.close();
      }
    }
  });
});
