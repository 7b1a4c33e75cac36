import { createHmac, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { startReceiver, type Receiver, type ReceivedRequest, type Responder } from '../helpers/receiver.js';
import { storeFactories } from '../helpers/stores.js';

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
const hexHmac = (key: string, body: string) => createHmac('sha256', key).update(body).digest('hex');
const ENGINE_OUTBOUND = { pollMs: 200, leaseMarginMs: 1000, stopTimeoutMs: 1000 };

describe.each(storeFactories())('outgoing webhooks through the engine on $name', (factory) => {
  let store: KnexStore;
  let t: TestEngine;
  let receiver: Receiver;
  const routes = new Map<string, Responder>();

  beforeAll(async () => {
    store = await factory.create();
    receiver = await startReceiver((req, res) => (routes.get(req.path) ?? (() => 404))(req, res));
    t = await startTestEngine(store, { allowInsecureUrls: true, allowPrivateNetworks: true, outbound: { worker: ENGINE_OUTBOUND } });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await store?.close();
  });

  const endpoint = (responder: Responder = () => 204) => {
    const path = `/${unique('hook')}`;
    routes.set(path, responder);
    return { url: `${receiver.url}${path}`, event: unique('evt'), requests: () => receiver.requests.filter((r: ReceivedRequest) => r.path === path) };
  };
  const create = async (body: Record<string, unknown>) => {
    const res = await t.api('POST', '/webhooks', { direction: 'outgoing', ...body });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  };
  const deliveries = async (webhookId: string) => (await t.api('GET', `/deliveries?webhookId=${webhookId}`)).body.items as any[];
  const settled = (webhookId: string, count = 1) =>
    waitFor(async () => {
      const items = await deliveries(webhookId);
      return items.length >= count && items.every((d) => d.status === 'succeeded' || d.status === 'failed') ? items : undefined;
    }, 10_000, `deliveries of ${webhookId} to finish`);

  it('creates an outgoing webhook: defaults, the secret once, then only its prefix', async () => {
    const ep = endpoint();
    const created = await create({ url: ep.url });
    expect(created).toMatchObject({
      direction: 'outgoing', url: ep.url, events: ['*'], isActive: true, tenantId: null, maxRetries: 3, retryDelayMs: 1000, timeoutMs: 30000,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
    });
    expect(created.secretPrefix).toBe(created.secret.slice(0, 10));
    const read = await t.api('GET', `/webhooks/${created.id}`);
    expect(read.body).toMatchObject({ id: created.id, secretPrefix: created.secretPrefix });
    expect(read.body.secret).toBeUndefined();
    expect(JSON.stringify((await t.api('GET', '/webhooks')).body)).not.toContain(created.secret);
    expect((await t.api('DELETE', `/webhooks/${created.id}`)).status).toBe(204);
  });

  it('refuses bad input with stable codes', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ direction: 'outgoing' }, 400, 'validation_failed'],
      [{ direction: 'outgoing', url: 'https://example.com', jsScript: 'x' }, 400, 'validation_failed'],
      [{ direction: 'outgoing', url: 'https://example.com', secret: 'whsec_mine' }, 400, 'validation_failed'],
      [{ direction: 'outgoing', url: 'https://example.com', maxRetries: -1 }, 400, 'validation_failed'],
      [{ direction: 'sideways', url: 'https://example.com' }, 400, 'validation_failed'],
      [{ direction: 'outgoing', url: 'not a url' }, 400, 'url_invalid'],
      [{ direction: 'outgoing', url: 'ftp://example.com/x' }, 400, 'url_invalid'],
      [{ direction: 'outgoing', url: 'https://169.254.169.254/latest' }, 400, 'url_blocked'],
    ];
    for (const [body, status, code] of cases) {
      const res = await t.api('POST', '/webhooks', body);
      expect(res, JSON.stringify(body)).toMatchObject({ status, body: { error: { code } } });
    }
    const res = await t.api('POST', '/webhooks', { direction: 'outgoing' });
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ keyword: 'required', params: { missingProperty: 'url' } })]));
    expect((await t.api('GET', '/deliveries?status=lost')).body.error.code).toBe('validation_failed');
    expect((await t.api('GET', '/deliveries/not-an-id')).body.error.code).toBe('delivery_not_found');
    expect((await t.api('POST', '/deliveries/00000000-0000-4000-8000-000000000000/redeliver')).status).toBe(404);
    expect((await t.api('POST', '/events', { data: 1 })).body.error.code).toBe('validation_failed');
  });

  it('POST /events (202) reaches every subscribed endpoint, signed, and the host listeners once', async () => {
    const a = endpoint();
    const b = endpoint();
    const event = unique('order.created');
    const hookA = await create({ url: a.url, events: [event] });
    const hookB = await create({ url: b.url, events: ['*'], tenantId: 'acme' });
    const other = await create({ url: endpoint().url, events: [event], tenantId: 'globex' });

    const res = await t.api('POST', '/events', { event, data: { orderId: 7 }, tenantId: 'acme', metadata: { source: 'crm' } });
    expect(res).toMatchObject({ status: 202, body: { event, messageId: expect.any(String), deliveries: 2 } });
    const [dA] = await settled(hookA.id);
    await settled(hookB.id);
    expect(await deliveries(other.id)).toEqual([]);

    for (const [ep, hook] of [[a, hookA], [b, hookB]] as const) {
      const [req] = ep.requests();
      const envelope = new Webhook(hook.secret).verify(req!.body, req!.headers as Record<string, string>);
      expect(envelope).toEqual({ id: res.body.messageId, event, version: '1', timestamp: expect.any(String), data: { orderId: 7 }, metadata: { source: 'crm', tenantId: 'acme' } });
      expect(req!.headers['x-webhook-signature']).toBe(`sha256=${hexHmac(hook.secret, req!.body)}`);
    }
    expect(dA).toMatchObject({ event, status: 'succeeded', attemptCount: 1, attempts: [expect.objectContaining({ statusCode: 204, outcome: 'succeeded' })] });
    await waitFor(() => (t.events.some((e) => e.event === event) ? true : undefined), 2000, 'the host listener');
    expect(t.events.filter((e) => e.event === event)).toHaveLength(1);
  });

  it('script results and engine.emit() are delivered too', async () => {
    const ep = endpoint();
    const event = unique('invoice.paid');
    const hook = await create({ url: ep.url, events: [event] });
    const provider = unique('shop');
    expect((await t.api('POST', '/webhooks', { direction: 'inbound', provider, jsScript: `result = { event: '${event}', data: { n: body.n } };` })).status).toBe(201);
    const inbound = await t.inbound(provider, { n: 1 });
    expect(inbound.status).toBe(200);
    const emitted = await t.engine.emit(event, { n: 2 }, { metadata: { by: 'host' } });
    expect(emitted?.deliveryIds).toHaveLength(1);
    const items = await settled(hook.id, 2);
    expect(items.every((d) => d.status === 'succeeded')).toBe(true);
    const bodies = ep.requests().map((r) => JSON.parse(r.body));
    expect(bodies).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ data: { n: 1 }, metadata: { provider, runId: inbound.body.runId, tenantId: null } }),
        expect.objectContaining({ data: { n: 2 }, metadata: { by: 'host', tenantId: null } }),
      ]),
    );
  });

  it('PATCH checks the schema of the stored direction; rotate-secret signs with both secrets', async () => {
    const ep = endpoint();
    const event = unique('patched');
    const hook = await create({ url: endpoint().url, events: ['nothing'] });
    const patched = await t.api('PATCH', `/webhooks/${hook.id}`, { url: ep.url, events: [event], maxRetries: 1 });
    expect(patched).toMatchObject({ status: 200, body: { url: ep.url, events: [event], maxRetries: 1, secretPrefix: hook.secretPrefix } });
    expect((await t.api('PATCH', `/webhooks/${hook.id}`, { jsScript: 'x' })).body.error.code).toBe('validation_failed');
    expect((await t.api('PATCH', `/webhooks/${hook.id}`, { url: 'https://10.0.0.1/' })).status).toBe(200); // flags on here
    expect((await t.api('PATCH', `/webhooks/${hook.id}`, { url: 'https://[fd00:ec2::254]/' })).body.error.code).toBe('url_blocked');
    await t.api('PATCH', `/webhooks/${hook.id}`, { url: ep.url });

    const rotated = await t.api('POST', `/webhooks/${hook.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(hook.secret);
    expect((await t.api('GET', `/webhooks/${hook.id}`)).body.secretPrefix).toBe(rotated.body.secret.slice(0, 10));
    await t.api('POST', '/events', { event, data: null });
    await settled(hook.id);
    const [req] = ep.requests();
    for (const secret of [rotated.body.secret, hook.secret]) {
      expect(() => new Webhook(secret).verify(req!.body, req!.headers as Record<string, string>)).not.toThrow();
    }
    const provider = unique('in');
    const inbound = (await t.api('POST', '/webhooks', { direction: 'inbound', provider, jsScript: 'result = null;' })).body;
    expect((await t.api('POST', `/webhooks/${inbound.id}/rotate-secret`)).body.error.code).toBe('webhook_direction_mismatch');
    expect((await t.api('POST', `/webhooks/${inbound.id}/test`)).body.error.code).toBe('webhook_direction_mismatch');
    expect((await t.api('PATCH', `/webhooks/${inbound.id}`, { url: ep.url })).body.error.code).toBe('validation_failed');
  });

  it('GET /deliveries pages newest first with nextCursor, to the last page', async () => {
    const ep = endpoint();
    const event = unique('paged');
    const hook = await create({ url: ep.url, events: [event] });
    for (let i = 0; i < 5; i++) await t.api('POST', '/events', { event, data: { i } });
    const all = await settled(hook.id, 5);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await t.api('GET', `/deliveries?webhookId=${hook.id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((d: any) => d.id));
      cursor = page.body.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(all.map((d: any) => d.id));
    expect(seen).toEqual([...seen].sort().reverse());
    expect((await t.api('GET', `/deliveries?webhookId=${hook.id}&limit=5`)).body.nextCursor).toBeNull();
    expect(await t.api('GET', '/deliveries?cursor=not-an-id')).toMatchObject({ status: 400, body: { error: { code: 'invalid_cursor' } } });
  });

  it('POST /webhooks/:id/test sends a ping now and returns the attempt; redeliver queues it again', async () => {
    let status = 503;
    const ep = endpoint((_req, res) => res.writeHead(status).end('busy'));
    const hook = await create({ url: ep.url, events: ['never.emitted'] });
    const ping = await t.api('POST', `/webhooks/${hook.id}/test`);
    expect(ping.status).toBe(200);
    expect(ping.body.attempt).toMatchObject({ number: 1, statusCode: 503, responseExcerpt: 'busy', outcome: 'failed', error: { code: 'http_503' } });
    expect(ping.body.delivery).toMatchObject({ event: 'webhook.test', test: true, status: 'failed' });
    expect(JSON.parse(ep.requests()[0]!.body)).toMatchObject({ event: 'webhook.test', data: { webhookId: hook.id } });

    status = 200;
    const again = await t.api('POST', `/deliveries/${ping.body.delivery.id}/redeliver`);
    expect(again).toMatchObject({ status: 202, body: { id: ping.body.delivery.id, status: 'pending' } });
    const [done] = await settled(hook.id);
    expect(done).toMatchObject({ status: 'succeeded', attemptCount: 2 });
    expect((await t.api('GET', `/deliveries/${done.id}`)).body.attempts.map((a: any) => a.statusCode)).toEqual([503, 200]);
    expect((await t.api('GET', `/deliveries?webhookId=${hook.id}&status=succeeded&limit=1`)).body.items).toHaveLength(1);
  });

  it('redeliver makes a delivery waiting for its retry due now, with the budget it has left: a second click adds no attempts', async () => {
    // Answers slowly, so that the second click comes while the retry is still pending or being sent.
    const ep = endpoint(() => new Promise((resolve) => setTimeout(() => resolve(500), 500)));
    const hook = await create({ url: ep.url, events: [ep.event], maxRetries: 1, retryDelayMs: 600_000 });
    await t.api('POST', '/events', { event: ep.event, data: null });
    const [waiting] = await waitFor(async () => {
      const items = await deliveries(hook.id);
      return items[0]?.status === 'pending' && items[0].attemptCount === 1 ? items : undefined;
    }, 10_000, 'the first attempt to fail');
    expect((await t.api('POST', `/deliveries/${waiting.id}/redeliver`)).status).toBe(202);
    // Still pending (202), or already being sent (409), by the time of the second click.
    expect([202, 409]).toContain((await t.api('POST', `/deliveries/${waiting.id}/redeliver`)).status);
    // Its one retry is used now rather than in ten minutes; then the budget is spent.
    const [done] = await settled(hook.id);
    expect(done).toMatchObject({ status: 'failed', attemptCount: 2 });
    expect(ep.requests()).toHaveLength(2);
    // A finished delivery gets a new budget: it is tried 1 + maxRetries times again.
    expect((await t.api('POST', `/deliveries/${done.id}/redeliver`)).status).toBe(202);
    const [again] = await waitFor(async () => {
      const items = await deliveries(hook.id);
      return items[0]?.attemptCount === 3 && items[0].status !== 'sending' ? items : undefined;
    }, 10_000, 'the redelivered attempt');
    // It failed and waits for its retry: the new budget has one left.
    expect(again).toMatchObject({ status: 'pending', attemptCount: 3 });
  });

  it('an endpoint answering 410 is disabled and webhook.disabled is emitted like any event', async () => {
    const gone = endpoint(() => 410);
    const watcher = endpoint();
    const event = unique('doomed');
    const hook = await create({ url: gone.url, events: [event] });
    const ops = await create({ url: watcher.url, events: ['webhook.disabled'] });
    // A test ping never counts for health: its 410 disables nothing, and its error says so.
    const ping = await t.api('POST', `/webhooks/${hook.id}/test`);
    expect(ping.body.attempt).toMatchObject({ statusCode: 410, outcome: 'failed', error: { code: 'http_410', message: expect.stringContaining('a test ping does not disable it') } });
    expect((await t.api('GET', `/webhooks/${hook.id}`)).body.isActive).toBe(true);
    await t.api('POST', '/events', { event, data: null });
    await settled(hook.id, 2);
    const read = (await t.api('GET', `/webhooks/${hook.id}`)).body;
    expect(read).toMatchObject({ isActive: false, health: { disabledReason: 'gone', disabledAt: expect.any(String), consecutiveFailures: 1 } });
    const [notice] = await settled(ops.id);
    expect(notice.event).toBe('webhook.disabled');
    expect(JSON.parse(watcher.requests()[0]!.body)).toMatchObject({ event: 'webhook.disabled', data: { webhookId: hook.id, reason: 'gone', url: gone.url } });
    expect(t.events.some((e) => e.event === 'webhook.disabled' && (e.data as any).webhookId === hook.id)).toBe(true);
    await t.api('DELETE', `/webhooks/${ops.id}`);
  });
});

describe('outgoing URL rules with the flags off (the default)', () => {
  let store: KnexStore;
  let t: TestEngine;
  beforeAll(async () => {
    store = await storeFactories()[0]!.create();
    t = await startTestEngine(store);
  });
  afterAll(async () => {
    await t?.close();
    await store?.close();
  });

  it.each([
    ['http://example.com/hook', 'url_insecure'],
    ['https://127.0.0.1/hook', 'url_blocked'],
    ['https://localhost/hook', 'url_blocked'],
    ['https://[::1]/hook', 'url_blocked'],
    ['https://[::ffff:127.0.0.1]/hook', 'url_blocked'],
    ['https://2130706433/hook', 'url_blocked'],
    ['https://0x7f.1/hook', 'url_blocked'],
    ['https://10.0.0.8/hook', 'url_blocked'],
    ['https://192.168.1.20/hook', 'url_blocked'],
    ['https://100.64.1.1/hook', 'url_blocked'],
    ['https://169.254.169.254/latest/meta-data', 'url_blocked'],
  ])('refuses %s with %s', async (url, code) => {
    const res = await t.api('POST', '/webhooks', { direction: 'outgoing', url });
    expect(res).toMatchObject({ status: 400, body: { error: { code } } });
  });
});
