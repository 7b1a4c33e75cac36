import express from 'express';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import http, { type Server } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebhookReceiver, WebhookSender, type Envelope, type ReceivedDelivery } from '../../src/index.js';

const SECRET = WebhookSender.generateSecret();
const NOW = Date.parse('2026-11-23T12:00:00Z');

function envelope(event = 'order.created', data: unknown = { orderId: 'ord_1' }): Envelope {
  return { id: 'msg_1', event, version: '1', timestamp: new Date(NOW).toISOString(), data, metadata: { tenantId: null } };
}

/** A delivery as the engine sends it: body, the X-Webhook-* headers and the Standard Webhooks headers. */
function signed(body: string, options: { secrets?: string[]; at?: number } = {}): Record<string, string> {
  const timestamp = new Date(Math.floor((options.at ?? NOW) / 1000) * 1000);
  return {
    'content-type': 'application/json',
    'X-Webhook-Event': 'order.created',
    'X-Webhook-Delivery': 'dlv_1',
    'X-Webhook-Timestamp': timestamp.toISOString(),
    ...WebhookSender.sign({ body, secrets: options.secrets ?? [SECRET], webhookId: 'msg_1', timestamp }),
  };
}

const lowerCase = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
const receiverAt = (now = NOW, secret: string | string[] = SECRET) => new WebhookReceiver({ secret, now: () => now });
const codeOf = (response: { body: string }) => (JSON.parse(response.body) as { error?: { code: string } }).error?.code;

describe('WebhookReceiver.handle', () => {
  it('verifies a delivery and calls the handlers of its event type, then the * handlers', async () => {
    const seen: Array<[string, Envelope, ReceivedDelivery]> = [];
    const receiver = receiverAt()
      .on('order.created', (e, d) => void seen.push(['specific', e, d]))
      .on('order.deleted', () => void seen.push(['other', envelope(), {} as ReceivedDelivery]))
      .on('*', (e, d) => void seen.push(['any', e, d]));
    const body = JSON.stringify(envelope());
    const response = await receiver.handle({ headers: signed(body), body });
    expect(response).toEqual({ statusCode: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"received":true}' });
    expect(seen.map(([which]) => which)).toEqual(['specific', 'any']);
    expect(seen[0]?.[1]).toEqual(envelope());
    expect(seen[0]?.[2]).toMatchObject({ webhookId: 'msg_1', deliveryId: 'dlv_1', signedAt: new Date(NOW) });
  });

  it('answers 200 to an event nobody handles (acknowledged, not retried)', async () => {
    const body = JSON.stringify(envelope('nobody.listens'));
    expect((await receiverAt().handle({ headers: signed(body), body })).statusCode).toBe(200);
  });

  it('refuses a tampered body, a wrong secret, a missing signature with 401 and the matching code', async () => {
    const receiver = receiverAt().on('*', () => {
      throw new Error('must not run');
    });
    const body = JSON.stringify(envelope());
    const tampered = body.replace('ord_1', 'ord_2');
    expect(codeOf(await receiver.handle({ headers: signed(body), body: tampered }))).toBe('signature_invalid');
    const other = WebhookSender.generateSecret();
    const wrong = await receiver.handle({ headers: signed(body, { secrets: [other] }), body });
    expect([wrong.statusCode, codeOf(wrong)]).toEqual([401, 'signature_invalid']);
    const missing = await receiver.handle({ headers: { 'content-type': 'application/json' }, body });
    expect([missing.statusCode, codeOf(missing)]).toEqual([401, 'signature_missing']);
  });

  it('refuses a stale or future timestamp (5 min tolerance), so a captured request cannot be replayed later', async () => {
    const body = JSON.stringify(envelope());
    const headers = signed(body);
    expect((await receiverAt(NOW + 299_000).handle({ headers, body })).statusCode).toBe(200);
    expect((await receiverAt(NOW - 299_000).handle({ headers, body })).statusCode).toBe(200);
    for (const now of [NOW + 301_000, NOW - 301_000, NOW + 86_400_000]) {
      const response = await receiverAt(now).handle({ headers, body });
      expect([response.statusCode, codeOf(response)]).toEqual([401, 'signature_timestamp_invalid']);
    }
    // A re-signed timestamp without the secret does not verify.
    const forged = { ...headers, 'webhook-timestamp': String(Math.floor((NOW + 600_000) / 1000)) };
    expect(codeOf(await receiverAt(NOW + 600_000).handle({ headers: forged, body }))).toBe('signature_invalid');
  });

  it('refuses a delivery stripped of its Standard Webhooks headers unless told to accept the body signature alone', async () => {
    const body = JSON.stringify(envelope());
    const { 'webhook-id': _id, 'webhook-timestamp': _ts, 'webhook-signature': _sig, ...seedOnly } = signed(body);
    expect(seedOnly['X-Webhook-Signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`);
    // By default: the body-only signature authenticates neither timestamp nor id, so it is not enough.
    const refused = await receiverAt().handle({ headers: seedOnly, body });
    expect([refused.statusCode, codeOf(refused)]).toEqual([401, 'signature_missing']);

    const seen: ReceivedDelivery[] = [];
    const lenient = new WebhookReceiver({ secret: SECRET, now: () => NOW, acceptBodySignatureOnly: true }).on('*', (_e, d) => void seen.push(d));
    // An unsigned webhook-id is not trusted: handlers get the id inside the signed body.
    expect((await lenient.handle({ headers: { ...seedOnly, 'webhook-id': 'forged' }, body })).statusCode).toBe(200);
    expect(seen[0]?.webhookId).toBe('msg_1');
    const stale = await new WebhookReceiver({ secret: SECRET, now: () => NOW + 600_000, acceptBodySignatureOnly: true }).handle({ headers: seedOnly, body });
    expect(codeOf(stale)).toBe('signature_timestamp_invalid');
    expect(codeOf(await lenient.handle({ headers: { ...seedOnly, 'X-Webhook-Signature': 'sha256=00' }, body }))).toBe('signature_invalid');
  });

  it('accepts either secret during a rotation, on both signature headers', async () => {
    const next = WebhookSender.generateSecret();
    const body = JSON.stringify(envelope());
    // The sender signs with the new and the old secret during the overlap; a receiver knows one or both.
    const headers = signed(body, { secrets: [next, SECRET] });
    expect((await receiverAt(NOW, SECRET).handle({ headers, body })).statusCode).toBe(200);
    expect((await receiverAt(NOW, next).handle({ headers, body })).statusCode).toBe(200);
    expect((await receiverAt(NOW, [next, SECRET]).handle({ headers: signed(body, { secrets: [SECRET] }), body })).statusCode).toBe(200);
  });

  it('answers 400 to a signed body that is not an envelope and 500 when a handler throws (so the sender retries)', async () => {
    const errors: unknown[] = [];
    const receiver = new WebhookReceiver({ secret: SECRET, now: () => NOW, onError: (err) => errors.push(err) }).on('order.created', () => {
      throw new Error('database down');
    });
    const notJson = 'not json';
    expect(codeOf(await receiver.handle({ headers: signed(notJson), body: notJson }))).toBe('invalid_json');
    const notEnvelope = JSON.stringify({ hello: 'world' });
    const response = await receiver.handle({ headers: signed(notEnvelope), body: notEnvelope });
    expect([response.statusCode, codeOf(response)]).toEqual([400, 'validation_failed']);
    const body = JSON.stringify(envelope());
    const failed = await receiver.handle({ headers: signed(body), body });
    expect([failed.statusCode, codeOf(failed)]).toEqual([500, 'webhook_handler_failed']);
    expect(failed.body).not.toContain('database down');
    expect(errors).toHaveLength(1);
  });

  it('needs a secret, and handlers that are functions', () => {
    expect(() => new WebhookReceiver('')).toThrow(/secret/);
    expect(() => new WebhookReceiver({ secret: [] })).toThrow(/secret/);
    // `new WebhookReceiver(process.env.HOOK_SECRET!)` with the variable unset.
    expect(() => new WebhookReceiver(undefined as unknown as string)).toThrow(/needs the endpoint secret/);
    expect(() => new WebhookReceiver({ secret: undefined as unknown as string })).toThrow(/needs the endpoint secret/);
    expect(() => new WebhookReceiver({ secret: ['  \n'] })).toThrow(/needs the endpoint secret/);
    // A secret whose key decodes to (almost) nothing — `whsec_`, the prefix the admin API shows — would let
    // anyone sign: refused, even beside a good one in a rotation list.
    for (const short of ['whsec_', 'whsec_!!!!', SECRET.slice(0, 10)]) {
      expect(() => new WebhookReceiver({ secret: [SECRET, short] }), short).toThrow(/whole endpoint secrets/);
    }
    expect(() => receiverAt().on('order.created', 'handler' as unknown as () => void)).toThrow(/handler function/);
    expect(() => receiverAt().on('', () => undefined)).toThrow(/event type/);
  });

  it('takes the body as a string, Buffer, Uint8Array or ArrayBuffer, and the headers as a Fetch Headers', async () => {
    const seen: string[] = [];
    const receiver = receiverAt().on('order.created', (e) => void seen.push(e.id));
    const body = JSON.stringify(envelope());
    const bytes = new TextEncoder().encode(body);
    for (const raw of [body, Buffer.from(body), bytes, bytes.buffer]) {
      expect((await receiver.handle({ headers: signed(body), body: raw })).statusCode).toBe(200);
    }
    expect((await receiver.handle({ headers: new Headers(signed(body)), body })).statusCode).toBe(200);
    expect(seen).toHaveLength(5);
  });

  it('rejects a parsed body as a set-up error instead of answering it', async () => {
    const body = JSON.stringify(envelope());
    for (const parsed of [JSON.parse(body), undefined, null]) {
      await expect(receiverAt().handle({ headers: signed(body), body: parsed })).rejects.toThrow(/raw body/);
    }
  });

  it('finds each signature when a proxy joined repeated webhook-signature lines with ", "', async () => {
    const next = WebhookSender.generateSecret();
    const body = JSON.stringify(envelope());
    const headers = signed(body, { secrets: [next, SECRET] });
    const [newest, oldest] = headers['webhook-signature']!.split(' ');
    for (const secret of [next, SECRET]) {
      const joined = { ...headers, 'webhook-signature': `${newest}, ${oldest}` };
      expect((await receiverAt(NOW, secret).handle({ headers: joined, body })).statusCode, secret === next ? 'new secret' : 'old secret').toBe(200);
      const lines = { ...headers, 'webhook-signature': [newest!, oldest!] };
      expect((await receiverAt(NOW, secret).handle({ headers: lines, body })).statusCode).toBe(200);
    }
  });

  it('calls a missing webhook-id a missing signature, not a clock problem', async () => {
    const body = JSON.stringify(envelope());
    const { 'webhook-id': _id, ...headers } = signed(body);
    const response = await receiverAt().handle({ headers, body });
    expect([response.statusCode, codeOf(response)]).toEqual([401, 'signature_missing']);
  });

  it('verifies with a secret that ends in a newline (read from a file), on both signature headers', async () => {
    const body = JSON.stringify(envelope());
    expect((await receiverAt(NOW, `${SECRET}\n`).handle({ headers: signed(body), body })).statusCode).toBe(200);
    // The X-Webhook-Signature HMAC is keyed with the secret string itself, where a newline would count.
    const { 'webhook-id': _id, 'webhook-timestamp': _ts, 'webhook-signature': _sig, ...seedOnly } = signed(body);
    const lenient = new WebhookReceiver({ secret: `${SECRET}\n`, now: () => NOW, acceptBodySignatureOnly: true });
    expect((await lenient.handle({ headers: seedOnly, body })).statusCode).toBe(200);
  });
});

describe('WebhookSender.verify', () => {
  const body = JSON.stringify(envelope());
  const header = signed(body)['X-Webhook-Signature']!;

  it('answers false to a secret or header that is missing or not a string, and throws on a parsed body', () => {
    expect(WebhookSender.verify(body, SECRET, header)).toBe(true);
    expect(WebhookSender.verify(new TextEncoder().encode(body), `${SECRET}\n`, header)).toBe(true);
    for (const [secret, signature] of [[SECRET, [header]], [SECRET, 42], [SECRET, undefined], [42, header], [null, header], ['', header]] as const) {
      expect(WebhookSender.verify(body, secret as unknown as string, signature as unknown as string)).toBe(false);
    }
    expect(() => WebhookSender.verify(JSON.parse(body), SECRET, header)).toThrow(/raw body/);
    expect(WebhookSender.verifyStandard(body, SECRET, undefined as unknown as Record<string, string>)).toBe(false);
    // Signed with the empty key that `whsec_` decodes to: verifies nothing, on either header.
    const empty = signed(body, { secrets: ['whsec_'] });
    expect(WebhookSender.verifyStandard(body, 'whsec_', lowerCase(empty), { nowMs: NOW })).toBe(false);
    expect(WebhookSender.verify(body, 'whsec_', empty['X-Webhook-Signature']!)).toBe(false);
    expect(WebhookSender.verifyStandard(body, SECRET, lowerCase(signed(body)), { nowMs: NOW })).toBe(true);
  });
});

describe('WebhookReceiver.middleware over real HTTP', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });
  async function serve(app: http.RequestListener): Promise<string> {
    const server = http.createServer(app);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const post = (url: string, body: string, headers: Record<string, string>) => fetch(url, { method: 'POST', body, headers });

  it('reads the raw body itself, behind express.raw(), and on plain node:http', async () => {
    const got: string[] = [];
    const receiver = new WebhookReceiver(SECRET).on('order.created', (e) => void got.push(e.id));
    const app = express();
    app.post('/self', receiver.middleware());
    app.post('/raw', express.raw({ type: 'application/json' }), receiver.middleware());
    const base = await serve(app);
    const plain = await serve((req, res) => void receiver.middleware()(req, res));
    const body = JSON.stringify({ ...envelope(), timestamp: new Date().toISOString() });
    const live = (): Record<string, string> => signed(body, { at: Date.now() });
    for (const url of [`${base}/self`, `${base}/raw`, plain]) {
      const res = await post(url, body, live());
      expect(res.status, url).toBe(200);
      expect(await res.json()).toEqual({ received: true });
    }
    expect(got).toEqual(['msg_1', 'msg_1', 'msg_1']);
    const bad = await post(`${base}/self`, body.replace('ord_1', 'ord_9'), live());
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: { code: 'signature_invalid' } });
  });

  it('survives a sender that goes away mid-body (no unhandled rejection) and keeps answering', async () => {
    const receiver = new WebhookReceiver(SECRET);
    const base = await serve((req, res) => void receiver.middleware()(req, res));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const { port } = new URL(base);
      const socket = net.connect(Number(port), '127.0.0.1');
      await once(socket, 'connect');
      socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"half":');
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const body = JSON.stringify(envelope());
      expect((await post(base, body, signed(body, { at: Date.now() }))).status).toBe(200);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('refuses a body over maxBodyBytes with 413, and reports express.json() in front of it as a set-up error', async () => {
    const receiver = new WebhookReceiver({ secret: SECRET, maxBodyBytes: 1024 });
    const app = express();
    app.post('/small', receiver.middleware());
    app.post('/parsed', express.json(), receiver.middleware());
    app.use(((err, _req, res, _next) => void res.status(500).json({ setupError: (err as Error).message })) as express.ErrorRequestHandler);
    const base = await serve(app);
    const big = JSON.stringify({ ...envelope(), data: 'x'.repeat(4096) });
    const res = await post(`${base}/small`, big, signed(big, { at: Date.now() }));
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    expect(await res.json()).toMatchObject({ error: { code: 'payload_too_large' } });
    const body = JSON.stringify(envelope());
    const parsed = await post(`${base}/parsed`, body, signed(body, { at: Date.now() }));
    expect(parsed.status).toBe(500);
    expect(((await parsed.json()) as { setupError: string }).setupError).toMatch(/raw body/);
  });

  it('verifies behind express.json() when its verify hook kept the raw bytes as req.rawBody', async () => {
    const got: string[] = [];
    const receiver = new WebhookReceiver(SECRET).on('order.created', (e) => void got.push(e.id));
    const app = express();
    app.use(express.json({ verify: (req, _res, buf) => void ((req as { rawBody?: Buffer }).rawBody = buf) }));
    app.post('/hooks', receiver.middleware());
    const base = await serve(app);
    // Spaced differently from what JSON.stringify of the parsed body would give: only the raw bytes verify.
    const body = JSON.stringify(envelope(), null, 2);
    expect((await post(`${base}/hooks`, body, signed(body, { at: Date.now() }))).status).toBe(200);
    expect((await post(`${base}/hooks`, body.replace('ord_1', 'ord_2'), signed(body, { at: Date.now() }))).status).toBe(401);
    expect(got).toEqual(['msg_1']);
  });
});
