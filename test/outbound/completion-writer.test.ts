import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import type { KnexStore } from '../../src/store/index.js';
import { CompletionWriter, type CompleteInput } from '../../src/outbound/completion-writer.js';
import { claimDeliveries, enqueueEvent, type ClaimedDelivery } from '../../src/outbound/delivery-queue.js';
import { createSilentLogger } from '../../src/logger.js';
import { storeFactories } from '../helpers/stores.js';

const T0 = new Date('2024-05-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const unique = (prefix: string) => `${prefix}.${randomBytes(4).toString('hex')}`;

describe.each(storeFactories())('batched completions on $name', (factory) => {
  let store: KnexStore;
  beforeAll(async () => {
    store = await factory.create();
  });
  afterAll(() => store?.close());

  const claim = (now: Date, limit = 100) =>
    claimDeliveries(store.knex, { secrets: store.secrets, owner: 'test', limit, now, leaseMarginMs: 1000, perEndpoint: 100, busy: new Map() });
  const success = (d: ClaimedDelivery, now: Date): CompleteInput => ({
    deliveryId: d.id,
    webhookId: d.webhookId,
    leaseToken: d.leaseToken,
    now,
    attempt: { id: randomUUID(), number: d.attemptNumber, worker: 'test', startedAt: now, durationMs: 3, statusCode: 204, responseExcerpt: 'ok', responseTruncated: false, error: null, outcome: 'succeeded' },
    next: { status: 'succeeded' },
    lastStatusCode: 204,
    lastError: null,
    health: { ok: true },
  });
  /** Counts the statements sent through `knex` while `run` runs. */
  async function statements(knex: Knex, run: () => Promise<unknown>): Promise<number> {
    let count = 0;
    const onQuery = () => void (count += 1);
    knex.on('query', onQuery);
    try {
      await run();
    } finally {
      knex.removeListener('query', onQuery);
    }
    return count;
  }

  it('writes the completions of one moment in one statement, each with its own outcome', async () => {
    const event = unique('batched');
    const endpoint = await store.createOutgoingWebhook({ url: 'https://example.com/hook', secret: 'whsec_dGVzdA==', events: [event] });
    for (let i = 0; i < 6; i++) await enqueueEvent(store.knex, { event, data: i, tenantId: null, metadata: {} }, { now: T0 });
    const claimed = (await claim(at(1))).sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(claimed).toHaveLength(6);
    // The first one's lease (timeout 30 s + margin 1 s) ran out and another worker holds it now: its late
    // answer is logged, nothing more.
    const [late, ...rest] = claimed;
    const [retaken] = await claim(at(1 + 30_000 + 1000), 1);
    expect(retaken?.id).toBe(late!.id);

    const writer = new CompletionWriter(store.knex, createSilentLogger());
    let results: Awaited<ReturnType<CompletionWriter['complete']>>[] = [];
    const sent = await statements(store.knex, async () => {
      results = await Promise.all([late!, ...rest].map((d) => writer.complete(success(d, at(2000)))));
    });
    expect(sent).toBe(1);
    expect(results.map((r) => r.leaseHeld)).toEqual([false, true, true, true, true, true]);

    const rows: Array<{ id: string; status: string; lease_token: string | null; completed_at: Date | null }> = await store
      .knex('outbound_deliveries')
      .whereIn('id', claimed.map((d) => d.id))
      .select('id', 'status', 'lease_token', 'completed_at');
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(late!.id)).toMatchObject({ status: 'sending', lease_token: retaken!.leaseToken });
    for (const d of rest) expect(byId.get(d.id)).toMatchObject({ status: 'succeeded', lease_token: null, completed_at: at(2000) });
    const attempts = await store.knex('outbound_attempts').whereIn('delivery_id', claimed.map((d) => d.id));
    expect(attempts).toHaveLength(6);
    expect(await store.knex('outbound_endpoint_health').where('webhook_id', endpoint.id).first()).toMatchObject({ consecutive_failures: 0, last_success_at: at(2000) });
  });

  it('a failure that counts against the endpoint is written on its own, and can disable it', async () => {
    const event = unique('gone');
    const endpoint = await store.createOutgoingWebhook({ url: 'https://example.com/gone', secret: 'whsec_dGVzdA==', events: [event] });
    const enqueued = await enqueueEvent(store.knex, { event, data: 1, tenantId: null, metadata: {} }, { now: at(10_000_000) });
    const [d] = (await claim(at(10_000_001))).filter((c) => c.id === enqueued!.deliveryIds[0]);
    const writer = new CompletionWriter(store.knex, createSilentLogger());
    const completed = await writer.complete({
      ...success(d!, at(10_000_100)),
      next: { status: 'failed' },
      lastStatusCode: 410,
      lastError: { code: 'http_410', message: 'gone' },
      health: { ok: false, disable: 'gone' },
    });
    expect(completed).toMatchObject({ leaseHeld: true, disabled: { webhookId: endpoint.id, reason: 'gone' } });
    expect((await store.getWebhook(endpoint.id))?.isActive).toBe(false);
  });
});
