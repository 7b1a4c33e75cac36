import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { KnexStore } from '../../src/store/index.js';
import { OutboundService, type HttpTransport } from '../../src/outbound/index.js';
import { completeDelivery } from '../../src/outbound/completion-writer.js';
import { claimDeliveries, enqueueEvent, type ClaimedDelivery } from '../../src/outbound/delivery-queue.js';
import { pruneDeliveryLog, type PruneResult } from '../../src/outbound/delivery-retention.js';
import { createSilentLogger } from '../../src/logger.js';
import { startOutbound } from '../helpers/outbound.js';
import { storeFactories } from '../helpers/stores.js';

const DAY = 86_400_000;
const T0 = new Date('2024-03-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const unique = (prefix: string) => `${prefix}.${randomBytes(4).toString('hex')}`;

describe.each(storeFactories())('delivery log retention on $name', (factory) => {
  /** A fresh store per test: what a prune leaves behind is the whole assertion. */
  async function withStore(run: (store: KnexStore) => Promise<void>): Promise<void> {
    const store = await factory.create();
    try {
      await run(store);
    } finally {
      await store.close();
    }
  }

  const hook = (store: KnexStore, events: string[]) => store.createOutgoingWebhook({ url: 'https://example.com/hook', secret: 'whsec_dGVzdA==', events });
  const enqueue = (store: KnexStore, event: string, now = T0) => enqueueEvent(store.knex, { event, data: { n: 1 }, tenantId: null, metadata: {} }, { now });
  const claimAll = (store: KnexStore, now: Date) =>
    claimDeliveries(store.knex, { secrets: store.secrets, owner: 'test', limit: 1000, now, leaseMarginMs: 1000, perEndpoint: 1000, busy: new Map() });
  /** Records an attempt with this outcome, finished at `now`. */
  const finish = (store: KnexStore, d: ClaimedDelivery, status: 'succeeded' | 'failed', now: Date) =>
    completeDelivery(store.knex, {
      deliveryId: d.id,
      webhookId: d.webhookId,
      leaseToken: d.leaseToken,
      now,
      attempt: {
        id: randomUUID(), number: d.attemptNumber, worker: 'test', startedAt: now, durationMs: 5, statusCode: status === 'succeeded' ? 204 : 422,
        responseExcerpt: null, responseTruncated: false, error: null, outcome: status,
      },
      next: { status },
      lastStatusCode: status === 'succeeded' ? 204 : 422,
      lastError: null,
      health: null,
    });
  const ids = async (store: KnexStore, table: string, column: string, values: string[]) =>
    ((await store.knex(table).whereIn(column, values).select(column)) as Array<Record<string, string>>).map((r) => r[column]);

  it('deletes finished deliveries, their attempts and unreferenced messages past the retention; keeps recent, pending and in-flight ones', async () => {
    await withStore(async (store) => {
      const event = unique('order.paid');
      await hook(store, [event]);
      await hook(store, [event]);
      const old = (await enqueue(store, event))!; // both finished long ago → all of it goes
      const half = (await enqueue(store, event))!; // one finished long ago, one still being sent → the message stays
      const recent = (await enqueue(store, event))!; // finished recently (e.g. redelivered) → stays
      const claimed = await claimAll(store, at(1));
      const byId = new Map(claimed.map((c) => [c.id, c]));
      const [old1, old2] = old.deliveryIds.map((id) => byId.get(id)!);
      const [half1] = half.deliveryIds.map((id) => byId.get(id)!);
      for (const d of [old1!, half1!]) await finish(store, d, 'succeeded', at(1000));
      await finish(store, old2!, 'failed', at(1000));
      for (const id of recent.deliveryIds) await finish(store, byId.get(id)!, 'succeeded', at(35 * DAY));
      // Old but never claimed: pending, due since T0.
      const pending = (await enqueue(store, event))!;
      // A message whose only endpoint was deleted: its delivery went with the webhook (cascade).
      const gone = unique('gone');
      const w3 = await hook(store, [gone]);
      const orphan = (await enqueue(store, gone))!;
      await store.deleteWebhook(w3.id);

      // Retention 30 days, today T0 + 40 days; one row per statement, so the batching is exercised too.
      const result = await pruneDeliveryLog(store.knex, { before: at(10 * DAY), batchSize: 1 });
      expect(result).toEqual({ deliveries: 3, messages: 2, more: false });

      const doomed = [...old.deliveryIds, half.deliveryIds[0]!];
      const kept = [half.deliveryIds[1]!, ...recent.deliveryIds, ...pending.deliveryIds];
      const remaining = await ids(store, 'outbound_deliveries', 'id', [...doomed, ...kept]);
      expect(remaining.sort()).toEqual([...kept].sort());
      expect(await ids(store, 'outbound_attempts', 'delivery_id', doomed)).toEqual([]);
      expect((await ids(store, 'outbound_attempts', 'delivery_id', recent.deliveryIds)).sort()).toEqual([...recent.deliveryIds].sort());
      expect((await ids(store, 'outbound_messages', 'id', [old.messageId, half.messageId, recent.messageId, pending.messageId, orphan.messageId])).sort()).toEqual(
        [half.messageId, recent.messageId, pending.messageId].sort(),
      );
      const statuses = await store.knex('outbound_deliveries').whereIn('id', kept).select('id', 'status');
      expect(Object.fromEntries(statuses.map((r: { id: string; status: string }) => [r.id, r.status]))).toEqual({
        [half.deliveryIds[1]!]: 'sending',
        [recent.deliveryIds[0]!]: 'succeeded',
        [recent.deliveryIds[1]!]: 'succeeded',
        [pending.deliveryIds[0]!]: 'pending',
        [pending.deliveryIds[1]!]: 'pending',
      });

      // Nothing left to do: a second run deletes nothing.
      expect(await pruneDeliveryLog(store.knex, { before: at(10 * DAY) })).toEqual({ deliveries: 0, messages: 0, more: false });
    });
  });

  it('stops after maxBatches statements and says more is left; the next run goes on', async () => {
    await withStore(async (store) => {
      const event = unique('bounded');
      await hook(store, [event]);
      for (let i = 0; i < 5; i++) await enqueue(store, event);
      for (const d of await claimAll(store, at(1))) await finish(store, d, 'succeeded', at(1000));
      expect(await pruneDeliveryLog(store.knex, { before: at(DAY), batchSize: 2, maxBatches: 2 })).toEqual({ deliveries: 4, messages: 4, more: true });
      expect(await pruneDeliveryLog(store.knex, { before: at(DAY), batchSize: 2, maxBatches: 2 })).toEqual({ deliveries: 1, messages: 1, more: false });
      expect(Number((await store.knex('outbound_deliveries').count({ n: '*' }))[0]!.n)).toBe(0);
      expect(Number((await store.knex('outbound_messages').count({ n: '*' }))[0]!.n)).toBe(0);
    });
  });

  it('several prunes at once share the work: every row deleted once, no error', async () => {
    await withStore(async (store) => {
      const event = unique('race');
      await hook(store, [event]);
      await hook(store, [event]);
      for (let i = 0; i < 30; i++) await enqueue(store, event);
      for (const d of await claimAll(store, at(1))) await finish(store, d, evenId(d) ? 'succeeded' : 'failed', at(1000));
      const results = await Promise.all([1, 2, 3, 4].map(() => pruneDeliveryLog(store.knex, { before: at(DAY), batchSize: 5, maxBatches: 100 })));
      expect(results.reduce((n, r) => n + r.deliveries, 0)).toBe(60);
      // A message whose deliveries another pruner was still deleting may be left for the next run.
      const messages = results.reduce((n, r) => n + r.messages, 0) + (await pruneDeliveryLog(store.knex, { before: at(DAY) })).messages;
      expect(messages).toBe(30);
      expect(Number((await store.knex('outbound_deliveries').count({ n: '*' }))[0]!.n)).toBe(0);
      expect(Number((await store.knex('outbound_attempts').count({ n: '*' }))[0]!.n)).toBe(0);
    });
  });

  it('the delivery worker prunes by itself with `retentionDays`; 0 keeps everything', async () => {
    await withStore(async (store) => {
      let clock = T0.getTime();
      const ok: HttpTransport = async () => ({ statusCode: 204, retryAfter: null, responseExcerpt: null, responseTruncated: false, durationMs: 1, error: null });
      const pruned: PruneResult[] = [];
      const waiters: Array<(r: PruneResult) => void> = [];
      const o = await startOutbound(store, {
        transport: ok,
        now: () => clock,
        retentionDays: 30,
        pruneIntervalMs: 20,
        onPruned: (r) => {
          pruned.push(r);
          for (const w of waiters.splice(0)) w(r);
        },
      });
      try {
        const event = unique('auto');
        await hook(store, [event]);
        const first = (await o.service.publish({ event, data: 1, tenantId: null, metadata: {} }))!;
        await o.waitForAttempt((a) => a.delivery.id === first.deliveryIds[0]);
        clock += 31 * DAY;
        const second = (await o.service.publish({ event, data: 2, tenantId: null, metadata: {} }))!;
        await o.waitForAttempt((a) => a.delivery.id === second.deliveryIds[0]);
        // The first delivery finished 31 days before the clock: a run after the clock moved takes it.
        while (!pruned.some((r) => r.deliveries > 0)) await new Promise<PruneResult>((resolve) => waiters.push(resolve));
        expect(await ids(store, 'outbound_deliveries', 'id', [...first.deliveryIds, ...second.deliveryIds])).toEqual(second.deliveryIds);
        expect(await ids(store, 'outbound_messages', 'id', [first.messageId, second.messageId])).toEqual([second.messageId]);

        const keepAll = new OutboundService({ store, logger: createSilentLogger(), worker: false, retentionDays: 0, now: () => clock + 365 * DAY });
        expect(await keepAll.pruneDeliveryLog()).toEqual({ deliveries: 0, messages: 0, more: false });
        expect(await ids(store, 'outbound_deliveries', 'id', second.deliveryIds)).toEqual(second.deliveryIds);
        expect(() => new OutboundService({ store, logger: createSilentLogger(), retentionDays: -1 })).toThrow(expect.objectContaining({ code: 'config_invalid' }));
      } finally {
        await o.stop();
      }
    });
  });
});

/** Splits deliveries about evenly, so both finished states are pruned. */
function evenId(d: ClaimedDelivery): boolean {
  return d.id.charCodeAt(d.id.length - 1) % 2 === 0;
}
