import { createHmac, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import winston from 'winston';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../src/logger.js';
import type { KnexStore } from '../../src/store/index.js';
import { ADMIN_TOKEN, startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { storeFactories } from '../helpers/stores.js';

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Line = Record<string, unknown> & { level: string; message: string };

/**
 * The engine's own logger (src/logger.ts: its JSON format) writing into memory instead of stderr: `raw`
 * holds every line exactly as it would have been printed.
 */
function capturingLogger(level: string): { logger: Logger; raw: string[]; lines: () => Line[] } {
  const raw: string[] = [];
  const logger = createLogger(level);
  logger.clear();
  logger.add(new winston.transports.Stream({ stream: new Writable({ write(chunk, _enc, cb) { raw.push(String(chunk)); cb(); } }) }));
  return { logger, raw, lines: () => raw.map((l) => JSON.parse(l) as Line) };
}

describe.each(storeFactories())('request ids in the logs on $name', (factory) => {
  let store: KnexStore | undefined;
  let receiver: Receiver;
  let t: TestEngine;
  let log: ReturnType<typeof capturingLogger>;
  const engineOptions = { allowInsecureUrls: true, allowPrivateNetworks: true, outbound: { worker: { pollMs: 100, leaseMarginMs: 1000, stopTimeoutMs: 1000 } } };

  beforeAll(async () => {
    store = await factory.create();
    receiver = await startReceiver(() => 204);
    log = capturingLogger('debug');
    t = await startTestEngine(store, { ...engineOptions, logger: log.logger });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await store?.close();
  });

  /** The first captured line with this message and these fields, once it is there. */
  const lineOf = (message: string, fields: Record<string, unknown>, from = log, what = message) =>
    waitFor(() => from.lines().find((l) => l.message === message && Object.entries(fields).every(([k, v]) => l[k] === v)), 10_000, what);

  /** An outgoing endpoint for `event` (its URL carries a query secret) and a signed inbound webhook whose script emits it. */
  async function signedPair(inboundSecret: string, querySecret: string) {
    const event = unique('order.paid');
    const provider = unique('shop');
    const outgoing = await t.api('POST', '/webhooks', { direction: 'outgoing', url: `${receiver.url}/in/${provider}?token=${querySecret}`, events: [event] });
    expect(outgoing.status, JSON.stringify(outgoing.body)).toBe(201);
    const inbound = await t.api('POST', '/webhooks', {
      direction: 'inbound',
      provider,
      verify: { scheme: 'hmac-sha256', secret: inboundSecret },
      allowedActions: ['billing.cancel'],
      jsScript: `await actions['billing.cancel'](body.marker); console.log(body.marker); result = { event: '${event}', data: { marker: body.marker } };`,
    });
    expect(inbound.status, JSON.stringify(inbound.body)).toBe(201);
    return { event, provider, outgoingId: outgoing.body.id as string, outgoingSecret: outgoing.body.secret as string };
  }

  /** POSTs a body signed as the `hmac-sha256` scheme checks it; the MAC is computed here, not by the engine's code. */
  async function sendSigned(provider: string, secret: string, payload: unknown, headers: Record<string, string> = {}, baseUrl = t.baseUrl) {
    const raw = JSON.stringify(payload);
    const signature = `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
    const res = await fetch(`${baseUrl}/tools/webhook/${provider}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-webhook-signature': signature, ...headers },
      body: raw,
    });
    return { status: res.status, requestId: res.headers.get('x-request-id'), body: (await res.json()) as { runId?: string } };
  }

  it('carries one request id through the request, the run, its action call and the delivery; no secret or payload is logged', async () => {
    const inboundSecret = `inbound-${randomBytes(12).toString('hex')}`;
    const querySecret = `query-${randomBytes(12).toString('hex')}`;
    const marker = `marker-${randomBytes(12).toString('hex')}`;
    const { event, provider, outgoingId, outgoingSecret } = await signedPair(inboundSecret, querySecret);
    const incoming = `ext-${randomBytes(4).toString('hex')}.v1:A-B`;

    const res = await sendSigned(provider, inboundSecret, { type: 'order.paid', marker }, { 'x-request-id': incoming });
    expect(res.status).toBe(200);
    expect(res.requestId).toBe(incoming); // honoured and echoed
    const runId = res.body.runId as string;
    expect(runId).toMatch(UUID);

    const delivery = await lineOf('delivery attempt', { requestId: incoming }, log, 'the delivery line');
    expect(delivery).toMatchObject({ level: 'info', component: 'outbound', runId, event, webhookId: outgoingId, attempt: 1, outcome: 'succeeded', statusCode: 204 });
    expect(delivery.deliveryId).toMatch(UUID);
    expect(typeof delivery.durationMs).toBe('number');
    expect(await lineOf('inbound request', { requestId: incoming })).toMatchObject({ level: 'info', component: 'inbound', provider, status: 200, runId });
    expect(await lineOf('script run', { requestId: incoming })).toMatchObject({ level: 'debug', runId, provider, status: 'ok' });
    expect(await lineOf('action call', { requestId: incoming })).toMatchObject({ level: 'debug', runId, action: 'billing.cancel', outcome: 'ok' });
    const lines = log.lines().filter((l) => l.requestId === incoming);
    expect(lines.map((l) => l.message).sort()).toEqual(['action call', 'delivery attempt', 'inbound request', 'script run']);
    for (const line of lines) expect(typeof line.timestamp).toBe('string');

    // The receiver got the envelope as the contract has it: the request id is kept out of it.
    const [received] = receiver.requests.filter((r) => r.path.startsWith(`/in/${provider}`));
    const envelope = JSON.parse(received!.body);
    expect(envelope.data).toEqual({ marker });
    expect(envelope.metadata).toEqual({ provider, runId, tenantId: null });
    expect(received!.body).not.toContain(incoming);

    const text = log.raw.join('');
    for (const secret of [inboundSecret, outgoingSecret, outgoingSecret.slice('whsec_'.length), ADMIN_TOKEN, querySecret, marker]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain(receiver.url);
  });

  it('an async request logs, when the inbox worker runs it, the request id it was answered with', async () => {
    const event = unique('job.done');
    const provider = unique('async');
    expect((await t.api('POST', '/webhooks', { direction: 'outgoing', url: `${receiver.url}/async`, events: [event] })).status).toBe(201);
    const created = await t.api('POST', '/webhooks', { direction: 'inbound', provider, mode: 'async', allowedActions: ['crm.tag'], jsScript: `await actions['crm.tag']('c'); result = { event: '${event}', data: {} };` });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    for (const incoming of [`async-${randomBytes(4).toString('hex')}`, null]) {
      const res = await fetch(`${t.baseUrl}/tools/webhook/${provider}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(incoming ? { 'x-request-id': incoming } : {}) }, body: '{}' });
      expect(res.status).toBe(202);
      const { runId } = (await res.json()) as { runId: string };
      const requestId = res.headers.get('x-request-id') as string;
      expect(requestId).toBe(incoming ?? runId);
      expect(await lineOf('inbound request', { requestId })).toMatchObject({ status: 202, runId });
      expect(await lineOf('script run', { requestId })).toMatchObject({ runId, status: 'ok' });
      expect(await lineOf('action call', { requestId })).toMatchObject({ runId, action: 'crm.tag' });
      expect(await lineOf('delivery attempt', { requestId })).toMatchObject({ runId, event, outcome: 'succeeded' });
    }
  });

  it('replaces a malformed X-Request-Id; without one, the run id is the request id', async () => {
    const provider = unique('plain');
    expect((await t.api('POST', '/webhooks', { direction: 'inbound', provider, jsScript: 'result = null;' })).status).toBe(201);
    for (const bad of ['has space', 'a'.repeat(129), 'semi;colon', 'quote"d', '']) {
      const res = await fetch(`${t.baseUrl}/tools/webhook/${provider}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': bad }, body: '{}' });
      const body = (await res.json()) as { runId: string };
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toBe(body.runId);
      expect(await lineOf('inbound request', { requestId: body.runId })).toMatchObject({ runId: body.runId, status: 200 });
      expect(log.raw.join('')).not.toContain(bad || 'never-empty');
    }
    const longest = 'b'.repeat(128);
    const kept = await fetch(`${t.baseUrl}/tools/webhook/${provider}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': longest }, body: '{}' });
    expect(kept.headers.get('x-request-id')).toBe(longest);

    const none = await fetch(`${t.baseUrl}/tools/webhook/${provider}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const runId = ((await none.json()) as { runId: string }).runId;
    expect(none.headers.get('x-request-id')).toBe(runId);

    // Refused before any run: an id all the same, and the line says why (no run id).
    const missing = await fetch(`${t.baseUrl}/tools/webhook/${unique('nobody')}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(missing.status).toBe(404);
    const missingId = missing.headers.get('x-request-id') as string;
    expect(missingId).toMatch(UUID);
    const line = await lineOf('inbound request', { requestId: missingId });
    expect(line).toMatchObject({ provider: 'unknown', status: 404, code: 'provider_not_found' });
    expect(line.runId).toBeUndefined();
  });

  it('a failed signature check logs the rejected run with the check that failed, not the signature', async () => {
    const inboundSecret = `inbound-${randomBytes(12).toString('hex')}`;
    const { provider } = await signedPair(inboundSecret, 'q');
    const forged = `sha256=${'ab'.repeat(32)}`;
    const res = await fetch(`${t.baseUrl}/tools/webhook/${provider}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-webhook-signature': forged }, body: '{"marker":"m"}' });
    expect(res.status).toBe(401);
    const requestId = res.headers.get('x-request-id') as string;
    const line = await lineOf('inbound request', { requestId });
    expect(line).toMatchObject({ level: 'info', provider, status: 401, code: 'signature_invalid', runId: requestId });
    const run = await t.api('GET', `/runs/${requestId}`);
    expect(run.body).toMatchObject({ id: requestId, status: 'rejected' });
    expect(log.raw.join('')).not.toContain('ab'.repeat(32));
  });

  it('admin API requests get a request id too, carried to the deliveries they cause', async () => {
    const event = unique('admin.ping');
    const hook = await t.api('POST', '/webhooks', { direction: 'outgoing', url: `${receiver.url}/admin`, events: [event] });
    expect(hook.status).toBe(201);
    const incoming = `admin-${randomBytes(4).toString('hex')}`;
    const res = await fetch(`${t.baseUrl}/admin/api/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', 'x-request-id': incoming },
      body: JSON.stringify({ event, data: { n: 1 } }),
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-request-id')).toBe(incoming);
    expect(await lineOf('admin request', { requestId: incoming })).toMatchObject({ level: 'info', component: 'admin', method: 'POST', path: '/admin/api/events', status: 202 });
    const delivery = await lineOf('delivery attempt', { requestId: incoming });
    expect(delivery).toMatchObject({ event, webhookId: hook.body.id, outcome: 'succeeded' });
    expect(delivery.runId).toBeUndefined();

    // A test ping is sent within the admin request: its attempt line has that request's (generated) id.
    const ping = await fetch(`${t.baseUrl}/admin/api/webhooks/${hook.body.id}/test?verbose=1`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(ping.status).toBe(200);
    const pingId = ping.headers.get('x-request-id') as string;
    expect(pingId).toMatch(UUID);
    expect(await lineOf('delivery attempt', { requestId: pingId })).toMatchObject({ event: 'webhook.test', webhookId: hook.body.id });
    expect(await lineOf('admin request', { requestId: pingId })).toMatchObject({ path: `/admin/api/webhooks/${hook.body.id}/test` });

    const denied = await fetch(`${t.baseUrl}/admin/api/webhooks`, { headers: { authorization: 'Bearer wrong-token-0123456789' } });
    expect(denied.status).toBe(401);
    expect(await lineOf('admin request', { requestId: denied.headers.get('x-request-id') })).toMatchObject({ status: 401 });
    expect(log.raw.join('')).not.toContain('wrong-token-0123456789');
  });

  it('a delivery sent by another engine logs the request id stored with the message; info level logs no debug lines', async () => {
    const inboundSecret = `inbound-${randomBytes(12).toString('hex')}`;
    const marker = `marker-${randomBytes(12).toString('hex')}`;
    const { provider, outgoingSecret } = await signedPair(inboundSecret, 'q2');
    // This engine answers the request and only enqueues; the first engine's worker sends the delivery,
    // knowing of the request only through the database.
    const front = capturingLogger('info');
    const other = await startTestEngine(store!, { ...engineOptions, logger: front.logger, outbound: { worker: false } });
    try {
      const res = await sendSigned(provider, inboundSecret, { type: 'x', marker }, {}, other.baseUrl);
      expect(res.status).toBe(200);
      const requestId = res.requestId as string;
      expect(requestId).toBe(res.body.runId);
      expect(await lineOf('inbound request', { requestId }, front)).toMatchObject({ runId: requestId, status: 200 });
      expect(await lineOf('delivery attempt', { requestId }, log)).toMatchObject({ runId: requestId, outcome: 'succeeded' });
      expect(front.lines().filter((l) => l.level === 'debug')).toEqual([]);
      expect(front.lines().some((l) => l.message === 'delivery attempt')).toBe(false);
      const text = front.raw.join('') + log.raw.join('');
      for (const secret of [inboundSecret, outgoingSecret, ADMIN_TOKEN, marker]) expect(text).not.toContain(secret);
    } finally {
      await other.close();
    }
  });
});
