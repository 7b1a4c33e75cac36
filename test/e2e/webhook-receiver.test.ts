import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookReceiver, type Envelope } from '../../src/index.js';
import { MAX_ENVELOPE_BYTES } from '../../src/outbound/index.js';
import type { KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { storeFactories } from '../helpers/stores.js';

/** A consumer's app, as the README shows it: Express with WebhookReceiver.middleware() on its route. */
describe.each(storeFactories())('a consumer verifying our deliveries with WebhookReceiver on $name', (factory) => {
  let store: KnexStore;
  let t: TestEngine;
  let server: Server;
  let base: string;
  const routes = new Map<string, express.RequestHandler>();

  beforeAll(async () => {
    store = await factory.create();
    t = await startTestEngine(store, { allowInsecureUrls: true, allowPrivateNetworks: true, outbound: { worker: { pollMs: 100, leaseMarginMs: 1000, stopTimeoutMs: 1000 } } });
    const app = express();
    app.post('/hooks/:name', (req, res, next) => (routes.get(req.params.name) ?? ((_q, r) => void r.sendStatus(404)))(req, res, next));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((resolve) => server?.close(resolve));
    await store?.close();
  });

  async function subscribe(name: string, event: string, extra: Record<string, unknown> = {}) {
    const res = await t.api('POST', '/webhooks', { direction: 'outgoing', url: `${base}/hooks/${name}`, events: [event], ...extra });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { id: string; secret: string };
  }
  const deliveriesOf = async (webhookId: string) => (await t.api('GET', `/deliveries?webhookId=${webhookId}`)).body.items as Array<{ status: string; attempts: Array<{ statusCode: number | null }> }>;

  it('receives, verifies and dispatches an emitted event by its type', async () => {
    const event = `order.created.${factory.name}`;
    const hook = await subscribe('orders', event);
    const got: Array<{ envelope: Envelope; webhookId: string }> = [];
    routes.set('orders', new WebhookReceiver(hook.secret).on(event, (envelope, delivery) => void got.push({ envelope, webhookId: delivery.webhookId })).middleware());
    expect((await t.api('POST', '/events', { event, data: { orderId: 'ord_42' } })).status).toBe(202);
    await waitFor(() => (got.length > 0 ? got : undefined), 10_000, 'the delivery');
    expect(got[0]?.envelope).toMatchObject({ event, version: '1', data: { orderId: 'ord_42' } });
    const [delivery] = await waitFor(async () => {
      const items = await deliveriesOf(hook.id);
      return items[0]?.status === 'succeeded' ? items : undefined;
    }, 10_000, 'the delivery to be recorded');
    expect(delivery?.attempts.map((a) => a.statusCode)).toEqual([200]);
  });

  it('answers 401 to deliveries signed with another secret: the engine records the failure and does not retry a 4xx', async () => {
    const event = `order.paid.${factory.name}`;
    const hook = await subscribe('wrong-secret', event, { maxRetries: 2, retryDelayMs: 50 });
    let handled = 0;
    routes.set('wrong-secret', new WebhookReceiver('whsec_' + Buffer.alloc(32, 7).toString('base64')).on('*', () => void handled++).middleware());
    await t.api('POST', '/events', { event, data: {} });
    const [delivery] = await waitFor(async () => {
      const items = await deliveriesOf(hook.id);
      return items[0]?.status === 'failed' ? items : undefined;
    }, 10_000, 'the delivery to fail');
    expect(delivery?.attempts.map((a) => a.statusCode)).toEqual([401]);
    expect(handled).toBe(0);
  });

  it('answers 500 when its handler throws, and the engine retries until the handler succeeds', async () => {
    const event = `order.shipped.${factory.name}`;
    const hook = await subscribe('flaky', event, { maxRetries: 3, retryDelayMs: 50 });
    let calls = 0;
    routes.set('flaky', new WebhookReceiver(hook.secret).on(event, () => {
      calls++;
      if (calls === 1) throw new Error('first call fails');
    }).middleware());
    await t.api('POST', '/events', { event, data: {} });
    const [delivery] = await waitFor(async () => {
      const items = await deliveriesOf(hook.id);
      return items[0]?.status === 'succeeded' ? items : undefined;
    }, 15_000, 'the retried delivery to succeed');
    expect(delivery?.attempts.map((a) => a.statusCode)).toEqual([500, 200]);
    expect(calls).toBe(2);
  });

  it('takes the largest envelope the engine sends at its defaults; a larger event is refused when emitted, on every path', async () => {
    const event = `report.ready.${factory.name}`;
    const hook = await subscribe('big', event);
    const got: number[] = [];
    routes.set('big', new WebhookReceiver(hook.secret).on(event, (envelope) => void got.push((envelope.data as { blob: string }).blob.length)).middleware());
    // The envelope around an empty blob, with an id and a timestamp as long as the real ones.
    const around = Buffer.byteLength(JSON.stringify({ id: crypto.randomUUID(), event, version: '1', timestamp: new Date().toISOString(), data: { blob: '' }, metadata: { tenantId: null } }));
    const largest = MAX_ENVELOPE_BYTES - around;
    const heard: string[] = [];
    const unsubscribe = t.engine.onEvent((e) => void heard.push(e.event));
    try {
      await expect(t.engine.emit(event, { blob: 'x'.repeat(largest + 1) })).rejects.toMatchObject({ code: 'payload_too_large', details: { bytes: MAX_ENVELOPE_BYTES + 1, limit: MAX_ENVELOPE_BYTES } });
      // Under the API's 1 MiB body limit, over the envelope's.
      const refused = await t.api('POST', '/events', { event, data: { blob: 'x'.repeat(largest + 1) } });
      expect(refused).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large', message: expect.stringMatching(/envelope/) } } });
      // Data JSON cannot carry is refused the same way, alone.
      await expect(t.engine.emit(event, { n: 10n })).rejects.toMatchObject({ code: 'validation_failed', message: expect.stringMatching(/cannot be sent as JSON/) });
      expect(heard).toEqual([]);
      expect(await deliveriesOf(hook.id)).toEqual([]);

      // Serialised when emitted: growing the object afterwards changes nothing that is sent.
      const data = { blob: 'x'.repeat(largest) };
      const emitted = t.engine.emit(event, data);
      data.blob += 'y'.repeat(10);
      expect(await emitted).toMatchObject({ deliveryIds: [expect.any(String)] });
      await waitFor(() => (got.length > 0 ? got : undefined), 15_000, 'the delivery');
      expect(got).toEqual([largest]);
      const [delivery] = await waitFor(async () => {
        const items = await deliveriesOf(hook.id);
        return items[0]?.status === 'succeeded' ? items : undefined;
      }, 10_000, 'the delivery to be recorded');
      expect(delivery?.attempts.map((a) => a.statusCode)).toEqual([200]);
    } finally {
      unsubscribe();
    }
  });
});
