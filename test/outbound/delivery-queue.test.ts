import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KnexStore } from '../../src/store/index.js';
import { completeDelivery } from '../../src/outbound/completion-writer.js';
import { claimDeliveries, enqueueEvent, enqueueEvents, nextDueAt, type EnqueueItem, type HandOff } from '../../src/outbound/delivery-queue.js';
import { rowsOf } from '../../src/outbound/rows.js';
import { storeFactories } from '../helpers/stores.js';

const unique = (prefix: string) => `${prefix}.${randomBytes(4).toString('hex')}`;
const T0 = new Date('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const claimOptions = { owner: 'test', limit: 50, now: T0, leaseMarginMs: 1000, perEndpoint: 10, busy: new Map<string, number>() };

describe.each(storeFactories())('delivery queue on $name', (factory) => {
  let store: KnexStore;
  beforeAll(async () => {
    store = await factory.create();
  });
  afterAll(() => store?.close());

  const hook = (fields: { events?: string[]; tenantId?: string | null; isActive?: boolean; timeoutMs?: number } = {}) =>
    store.createOutgoingWebhook({ url: 'https://example.com/hook', secret: 'whsec_dGVzdA==', ...fields });
  /** Claims, then hands every claimed row back as succeeded, so later tests start from an empty queue. */
  const drain = async (now = at(10_000_000)) => {
    const rows = await claimDeliveries(store.knex, { ...claimOptions, secrets: store.secrets, limit: 10_000, perEndpoint: 10_000, now });
    for (const r of rows) {
      await completeDelivery(store.knex, { deliveryId: r.id, webhookId: r.webhookId, leaseToken: r.leaseToken, now, attempt: null, next: { status: 'succeeded' }, lastStatusCode: 200, lastError: null, health: null });
    }
  };

  it('writes an item again under the ids and leases of its first write, skipping what that write committed', async () => {
    const event = unique('order.placed');
    const a = await hook({ events: [event] });
    const b = await hook({ events: [event] });
    const handed: Array<{ id: string; leaseToken: string }> = [];
    const reserved: boolean[] = [];
    const handOff: HandOff = {
      owner: 'test',
      leaseMarginMs: 1000,
      secrets: store.secrets,
      reserve: (_webhookId, again) => {
        reserved.push(again === true);
        return true;
      },
      cancel: () => undefined,
      deliver: (leased) => handed.push(...leased.map((l) => ({ id: l.delivery.id, leaseToken: l.delivery.leaseToken }))),
    };
    const item: EnqueueItem = { input: { event, data: { n: 1 }, tenantId: null, metadata: {} }, now: T0 };
    const other: EnqueueItem = { input: { event, data: { n: 2 }, tenantId: null, metadata: {} }, now: T0 };
    const [first] = await enqueueEvents(store.knex, [item], handOff);
    const firstLeases = handed.splice(0);
    expect(firstLeases.map((l) => l.id)).toEqual(first!.deliveryIds);
    // As a group commit does when a write's answer was lost (the connection dropped after the commit): the
    // same item again, here in a batch with a new one.
    const [again, fresh] = await enqueueEvents(store.knex, [item, other], handOff);
    expect(again).toMatchObject({ messageId: first!.messageId, deliveryIds: first!.deliveryIds, queued: 0 });
    const messages = await store.knex('outbound_messages').whereIn('id', [first!.messageId, fresh!.messageId]).pluck('id');
    expect(messages.sort()).toEqual([first!.messageId, fresh!.messageId].sort());
    const rows: Array<{ id: string; status: string; lease_token: string }> = await store.knex('outbound_deliveries').whereIn('webhook_id', [a.id, b.id]);
    expect(rows).toHaveLength(4);
    // The first write's rows are handed over again under their own leases (so the worker can send and
    // record them), the new item's under new ones; the places for the first were taken room or not.
    expect(handed.filter((l) => first!.deliveryIds.includes(l.id))).toEqual(firstLeases);
    expect(handed.map((l) => l.id).sort()).toEqual([...first!.deliveryIds, ...fresh!.deliveryIds].sort());
    for (const lease of handed) expect(rows.find((r) => r.id === lease.id)).toMatchObject({ status: 'sending', lease_token: lease.leaseToken });
    expect(reserved).toEqual([false, false, true, true, false, false]);
    await store.knex('outbound_deliveries').whereIn('webhook_id', [a.id, b.id]).update({ status: 'failed', lease_token: null });
  });

  it('fans out to active endpoints taking the event or *, global plus the tenant, in one outbox write', async () => {
    const event = unique('invoice.paid');
    const tenant = unique('tenant');
    const exact = await hook({ events: [event] });
    const star = await hook({ events: ['*'] });
    const mine = await hook({ events: [event], tenantId: tenant });
    const otherTenant = await hook({ events: [event], tenantId: unique('tenant') });
    const inactive = await hook({ events: [event], isActive: false });
    const otherEvent = await hook({ events: [unique('other')] });

    const enqueued = await enqueueEvent(store.knex, { event, data: { amount: 42 }, tenantId: tenant, metadata: { runId: 'r1', tenantId: tenant } }, { now: T0 });
    expect(enqueued).not.toBeNull();
    const rows: Array<{ webhook_id: string; status: string }> = await store.knex('outbound_deliveries').where('message_id', enqueued!.messageId);
    const targets = rows.map((r) => r.webhook_id);
    expect(targets).toHaveLength(3);
    expect(new Set(targets)).toEqual(new Set([exact.id, star.id, mine.id]));
    expect(targets).not.toContain(otherTenant.id);
    expect(targets).not.toContain(inactive.id);
    expect(targets).not.toContain(otherEvent.id);
    expect(rows.every((r) => r.status === 'pending')).toBe(true);

    const message = await store.knex('outbound_messages').where('id', enqueued!.messageId).first();
    expect(JSON.parse(message.payload)).toEqual({
      id: enqueued!.messageId,
      event,
      version: '1',
      timestamp: T0.toISOString(),
      data: { amount: 42 },
      metadata: { runId: 'r1', tenantId: tenant },
    });

    // Without a tenant only global endpoints match.
    const global = await enqueueEvent(store.knex, { event, data: null, tenantId: null, metadata: {} }, { now: T0 });
    expect(new Set(global!.deliveryIds.length ? (await store.knex('outbound_deliveries').where('message_id', global!.messageId)).map((r: { webhook_id: string }) => r.webhook_id) : [])).toEqual(new Set([exact.id, star.id]));
    await drain();
  });

  it('writes nothing when no endpoint is subscribed', async () => {
    const before = await store.knex('outbound_messages').count<{ count: string | number }[]>({ count: '*' });
    const event = unique('nobody.listens');
    await store.knex('webhooks').whereRaw(`events @> '["*"]'::jsonb`).update({ is_active: false });
    expect(await enqueueEvent(store.knex, { event, data: 1, tenantId: null, metadata: {} }, { now: T0 })).toBeNull();
    const after = await store.knex('outbound_messages').count<{ count: string | number }[]>({ count: '*' });
    expect(Number(after[0]!.count)).toBe(Number(before[0]!.count));
  });

  it('is all or nothing: a failing delivery insert leaves no message behind', async () => {
    const event = unique('atomic');
    const ok = await hook({ events: [event] });
    const poisoned = await hook({ events: [event] });
    await store.knex.raw(`create or replace function hg_test_refuse() returns trigger language plpgsql as $$ begin raise exception 'refused'; end $$`);
    await store.knex.raw(
      `create trigger hg_test_refuse before insert on outbound_deliveries for each row when (new.webhook_id = '${poisoned.id}') execute function hg_test_refuse()`,
    );
    try {
      await expect(enqueueEvent(store.knex, { event, data: 1, tenantId: null, metadata: {} }, { now: T0 })).rejects.toThrow(/refused/);
      expect(await store.knex('outbound_messages').where('event', event)).toHaveLength(0);
      expect(await store.knex('outbound_deliveries').where('webhook_id', ok.id)).toHaveLength(0);
    } finally {
      await store.knex.raw('drop trigger hg_test_refuse on outbound_deliveries');
    }
  });

  it('claims with a lease committed in the claim; an expired lease is claimed again with a new token', async () => {
    const event = unique('lease');
    const endpoint = await hook({ events: [event], timeoutMs: 2000 });
    const enqueued = await enqueueEvent(store.knex, { event, data: 1, tenantId: null, metadata: {} }, { now: T0 });
    expect(await nextDueAt(store.knex)).toEqual(T0);

    const [first, ...rest] = await claimDeliveries(store.knex, { ...claimOptions, secrets: store.secrets });
    expect(rest).toHaveLength(0);
    expect(first).toMatchObject({ id: enqueued!.deliveryIds[0], webhookId: endpoint.id, attemptNumber: 1, roundAttempts: 1, event, test: false });
    expect(first!.endpoint).toMatchObject({ url: 'https://example.com/hook', secrets: ['whsec_dGVzdA=='], timeoutMs: 2000, isActive: true });
    const row = await store.knex('outbound_deliveries').where('id', first!.id).first();
    expect(row).toMatchObject({ status: 'sending', lease_owner: 'test', lease_token: first!.leaseToken });
    // Lease = timeout 2000 + margin 1000.
    expect(new Date(row.available_at).getTime()).toBe(at(3000).getTime());
    expect(await nextDueAt(store.knex)).toEqual(at(3000));

    expect(await claimDeliveries(store.knex, { ...claimOptions, secrets: store.secrets, now: at(2999) })).toHaveLength(0);
    const [again] = await claimDeliveries(store.knex, { ...claimOptions, secrets: store.secrets, now: at(3000), owner: 'other' });
    expect(again).toMatchObject({ id: first!.id, attemptNumber: 2, roundAttempts: 2 });
    expect(again!.leaseToken).not.toBe(first!.leaseToken);

    // The first holder finishes late: its attempt is logged, but the delivery stays with the new holder.
    const late = await completeDelivery(store.knex, {
      deliveryId: first!.id, webhookId: endpoint.id, leaseToken: first!.leaseToken, now: at(3100),
      attempt: { id: crypto.randomUUID(), number: first!.attemptNumber, worker: 'test', startedAt: T0, durationMs: 3100, statusCode: 200, responseExcerpt: 'late', responseTruncated: false, error: null, outcome: 'succeeded' },
      next: { status: 'succeeded' }, lastStatusCode: 200, lastError: null, health: { ok: true },
    });
    expect(late.leaseHeld).toBe(false);
    expect((await store.knex('outbound_deliveries').where('id', first!.id).first()).status).toBe('sending');
    const done = await completeDelivery(store.knex, {
      deliveryId: again!.id, webhookId: endpoint.id, leaseToken: again!.leaseToken, now: at(3200),
      attempt: { id: crypto.randomUUID(), number: again!.attemptNumber, worker: 'other', startedAt: at(3000), durationMs: 200, statusCode: 204, responseExcerpt: null, responseTruncated: false, error: null, outcome: 'succeeded' },
      next: { status: 'succeeded' }, lastStatusCode: 204, lastError: null, health: { ok: true },
    });
    expect(done.leaseHeld).toBe(true);
    const attempts = await store.knex('outbound_attempts').where('delivery_id', first!.id).orderBy('attempt_number');
    expect(attempts.map((a: { attempt_number: number; worker: string }) => [a.attempt_number, a.worker])).toEqual([[1, 'test'], [2, 'other']]);
    expect(await nextDueAt(store.knex)).toBeNull();
  });

  it('caps deliveries per endpoint, counting those already in flight in this process', async () => {
    const event = unique('cap');
    const busy = await hook({ events: [event] });
    const quiet = await hook({ events: [event] });
    for (let i = 0; i < 4; i++) await enqueueEvent(store.knex, { event, data: i, tenantId: null, metadata: {} }, { now: at(i) });
    const claimed = await claimDeliveries(store.knex, { ...claimOptions, secrets: store.secrets, now: at(10), perEndpoint: 2, busy: new Map([[busy.id, 1]]) });
    const per = (id: string) => claimed.filter((c) => c.webhookId === id).length;
    expect(per(busy.id)).toBe(1);
    expect(per(quiet.id)).toBe(2);
    // Oldest first within an endpoint.
    expect(claimed.filter((c) => c.webhookId === quiet.id).map((c) => JSON.parse(c.payload).data)).toEqual([0, 1]);
    await drain();
  });

  it('never hands one row to two concurrent claimers (FOR UPDATE SKIP LOCKED)', async () => {
    const event = unique('race');
    for (let i = 0; i < 6; i++) await hook({ events: [event] });
    for (let i = 0; i < 5; i++) await enqueueEvent(store.knex, { event, data: i, tenantId: null, metadata: {} }, { now: at(i) });
    const claims = await Promise.all([1, 2, 3, 4].map((n) => claimDeliveries(store.knex, { ...claimOptions, secrets: store.secrets, owner: `w${n}`, limit: 10, now: at(100) })));
    const ids = claims.flat().map((c) => c.id);
    expect(ids).toHaveLength(30);
    expect(new Set(ids).size).toBe(30);
    const owners: Array<{ lease_owner: string; n: string | number }> = rowsOf(
      await store.knex.raw(`select lease_owner, count(*) as n from outbound_deliveries where status = 'sending' group by lease_owner`),
    );
    expect(owners.reduce((sum, o) => sum + Number(o.n), 0)).toBe(30);
    await drain();
  });
});
