import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttemptOutcome, ClaimedDelivery } from '../../src/outbound/index.js';
import type { KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { storeFactories } from '../helpers/stores.js';

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
const MB = 1024 * 1024;

interface Hostile {
  url: string;
  /** TCP connections accepted so far (one per attempt: a broken or timed-out connection is never reused). */
  connections: number;
  /** Connections open right now. */
  open: number;
  close(): Promise<void>;
}

/**
 * A raw TCP "HTTP server" that reads each request whole (headers and Content-Length body), then does
 * what `onRequest` says with the socket: the misbehaviour Node's own HTTP server would not let us write.
 */
async function hostileServer(onRequest: (socket: net.Socket) => void): Promise<Hostile> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const server = net.createServer((socket) => {
    state.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length:\s*(\d+)/i.exec(buffered.subarray(0, end).toString('latin1'))?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      socket.off('data', onData);
      onRequest(socket);
    };
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    get connections() {
      return state.connections;
    },
    get open() {
      return sockets.size;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Receivers that misbehave, against the real engine, worker, transport and PostgreSQL: one that takes the
 * connection and never answers, one that streams a 100 MB answer, and ones that hang up half-way through
 * their answer. The worker must time the first out (per the endpoint's `timeoutMs`) and retry it while
 * other endpoints keep being served, read only the capped excerpt of the second (bounded memory, at once),
 * and record the others as network errors to retry — never as delivered.
 */
describe('hostile receivers of outgoing deliveries', () => {
  let store: KnexStore;
  let t: TestEngine;
  let good: Receiver;
  const closers: Array<() => Promise<void>> = [];
  const attempts: Array<{ delivery: ClaimedDelivery; outcome: AttemptOutcome }> = [];

  beforeAll(async () => {
    store = await storeFactories().find((f) => f.name === 'postgres')!.create();
    good = await startReceiver(() => 204);
    t = await startTestEngine(store, {
      allowInsecureUrls: true,
      allowPrivateNetworks: true,
      outbound: {
        worker: { concurrency: 4, perEndpointConcurrency: 2, pollMs: 100, leaseMarginMs: 1000, stopTimeoutMs: 500 },
        onAttempt: (delivery, outcome) => attempts.push({ delivery, outcome }),
      },
    });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await Promise.all(closers.map((close) => close()));
    await good?.close();
    await store?.close();
  });

  const create = async (body: Record<string, unknown>) => {
    const res = await t.api('POST', '/webhooks', { direction: 'outgoing', ...body });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { id: string };
  };
  const deliveriesOf = async (webhookId: string) => (await t.api('GET', `/deliveries?webhookId=${webhookId}`)).body.items as any[];
  const attemptsOf = (webhookId: string) => attempts.filter((a) => a.delivery.webhookId === webhookId);

  it('times out a receiver that accepts and never answers, retries it, and keeps serving other endpoints meanwhile', async () => {
    const silent = await hostileServer(() => undefined);
    closers.push(() => silent.close());
    const hangEvent = unique('hang');
    const okEvent = unique('ok');
    const hanging = await create({ url: silent.url, events: [hangEvent], timeoutMs: 2000, maxRetries: 1, retryDelayMs: 100 });
    await create({ url: `${good.url}/ok`, events: [okEvent] });

    // More deliveries to the silent endpoint than the worker has slots (4): the per-endpoint cap (2)
    // keeps slots free for the others.
    for (let i = 0; i < 5; i++) await t.engine.emit(hangEvent, { i });
    await waitFor(() => (silent.open === 2 ? true : undefined), 5000, 'two attempts hanging on the silent receiver');
    for (let i = 0; i < 10; i++) await t.engine.emit(okEvent, { i });
    await good.waitForRequests(10, 5000);
    // All of those were delivered while the silent receiver's attempts were still hanging.
    expect(attemptsOf(hanging.id)).toHaveLength(0);
    expect(silent.open).toBeLessThanOrEqual(2);

    const first = await waitFor(() => attemptsOf(hanging.id)[0], 10_000, 'the first timed-out attempt');
    expect(first.outcome.attempt).toMatchObject({ statusCode: null, error: { code: 'timeout' }, outcome: 'retry' });
    expect(first.outcome.attempt!.durationMs).toBeGreaterThanOrEqual(1900);
    expect(first.outcome.attempt!.durationMs).toBeLessThan(5000);

    // Each delivery is tried again (maxRetries 1), then fails as timed out: 2 attempts each.
    const finished = await waitFor(async () => {
      const items = await deliveriesOf(hanging.id);
      return items.length === 5 && items.every((d) => d.status === 'failed') ? items : undefined;
    }, 30_000, 'every delivery to the silent receiver given up');
    for (const d of finished) {
      expect(d.attempts.map((a: any) => [a.error?.code, a.outcome])).toEqual([['timeout', 'retry'], ['timeout', 'failed']]);
    }
    expect(silent.connections).toBe(10);
  }, 60_000);

  it('reads only the capped excerpt of a 100 MB answer: memory stays flat and the attempt ends at once', async () => {
    let written = 0;
    let closed = false;
    const huge = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(100 * MB) });
        const chunk = Buffer.alloc(64 * 1024, 'a');
        const pump = () => {
          while (!res.destroyed && written < 100 * MB) {
            written += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          if (!res.destroyed) res.end();
        };
        res.on('close', () => {
          closed = true;
        });
        pump();
      });
    });
    huge.listen(0, '127.0.0.1');
    await once(huge, 'listening');
    closers.push(() => new Promise<void>((resolve) => { huge.closeAllConnections(); huge.close(() => resolve()); }));
    const event = unique('huge');
    const endpoint = await create({ url: `http://127.0.0.1:${(huge.address() as net.AddressInfo).port}/hook`, events: [event], timeoutMs: 30_000 });

    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 5);
    try {
      await t.engine.emit(event, { big: true });
      const seen = await waitFor(() => attemptsOf(endpoint.id)[0], 10_000, 'the attempt');
      expect(seen.outcome.attempt).toMatchObject({ statusCode: 200, responseTruncated: true, error: null, outcome: 'succeeded' });
      expect(seen.outcome.attempt!.responseExcerpt).toHaveLength(4096);
      expect(seen.outcome.attempt!.durationMs).toBeLessThan(2000);
      await waitFor(() => (closed ? true : undefined), 5000, 'the receiver to see the connection dropped');
    } finally {
      clearInterval(sampler);
    }
    // The socket was dropped after the excerpt: the receiver could not push more than its socket buffers.
    expect(written).toBeLessThan(10 * MB);
    expect(peak - baseline).toBeLessThan(30 * MB);
    const [delivery] = await deliveriesOf(endpoint.id);
    expect(delivery).toMatchObject({ status: 'succeeded', lastStatusCode: 200 });
    expect(delivery.attempts[0].responseExcerpt).toHaveLength(4096);
  }, 60_000);

  it.each([
    ['after the status line and headers', 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n'],
    ['after half of a Content-Length body', `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(500)}`],
    ['after half of a chunked body', `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n${'x'.repeat(500)}\r\n`],
  ])('a receiver that hangs up %s is a network error, retried, never delivered', async (_name, partial) => {
    const rude = await hostileServer((socket) => socket.end(partial));
    closers.push(() => rude.close());
    const event = unique('cut');
    const endpoint = await create({ url: rude.url, events: [event], timeoutMs: 2000, maxRetries: 1, retryDelayMs: 50 });
    await t.engine.emit(event, { n: 1 });

    const delivery = await waitFor(async () => {
      const [d] = await deliveriesOf(endpoint.id);
      return d && (d.status === 'succeeded' || d.status === 'failed') ? d : undefined;
    }, 15_000, 'the delivery to finish');
    expect(delivery).toMatchObject({ status: 'failed', lastError: { code: 'connection_reset' } });
    expect(delivery.attempts.map((a: any) => [a.statusCode, a.error?.code, a.outcome])).toEqual([
      [null, 'connection_reset', 'retry'],
      [null, 'connection_reset', 'failed'],
    ]);
    expect(rude.connections).toBe(2);
  }, 30_000);
});
