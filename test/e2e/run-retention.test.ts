import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { Inbox, type NewInboxItem } from '../../src/inbound/inbox.js';
import { createSilentLogger } from '../../src/logger.js';
import { uuidv7, type KnexStore, type RunRecord } from '../../src/store/index.js';
import { startTestEngine, waitFor } from '../helpers/engine.js';
import { storeFactories } from '../helpers/stores.js';

const DAY_MS = 86_400_000;

function run(provider: string, createdAt: Date): RunRecord {
  return {
    id: uuidv7(),
    webhookId: null,
    provider,
    eventType: 'x.happened',
    status: 'ok',
    durationMs: 1,
    scriptVersion: 1,
    actionsCalled: [],
    logs: [],
    error: null,
    emittedEvent: null,
    createdAt: createdAt.toISOString(),
    inboxId: null,
  };
}

function storedRequest(provider: string): NewInboxItem {
  return { id: uuidv7(), webhookId: null, provider, deliveryKey: null, mode: 'sync', contentType: 'application/json', headers: {}, body: '{}', runId: uuidv7() };
}

/** Inbox rows of requests that ran to the end (as a keyed or async request leaves them). */
async function insertFinished(store: KnexStore, items: NewInboxItem[]): Promise<void> {
  await store.knex('inbox').insert(items.map((item) => ({
    id: item.id, provider: item.provider, mode: item.mode, status: 'done', content_type: item.contentType,
    headers: item.headers, body: item.body, attempts: 1, run_id: item.runId, finished_at: new Date(),
  })));
}

async function runIds(store: KnexStore, provider: string): Promise<string[]> {
  const rows: Array<{ id: string }> = await store.knex('runs').where('provider', provider).select('id');
  return rows.map((row) => row.id).sort();
}

/** Run records and stored requests do not pile up forever: both go after their retention, in bounded batches. */
describe.each(storeFactories())('run and stored-request retention on $name', (factory) => {
  let store: KnexStore;

  beforeAll(async () => {
    store = await factory.create();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('pruneRuns deletes only runs created before the cut-off, 500 a statement, and says when rows are left', async () => {
    const now = Date.now();
    const old = Array.from({ length: 1001 }, (_, i) => run('prune-batches', new Date(now - 40 * DAY_MS + i)));
    const recent = [run('prune-batches', new Date(now - 29 * DAY_MS)), run('prune-batches', new Date(now))];
    await store.insertRuns([...old, ...recent]);
    const before = new Date(now - 30 * DAY_MS);

    expect(await store.pruneRuns(before, 1)).toEqual({ count: 500, more: true });
    expect(await store.pruneRuns(before, 1)).toEqual({ count: 500, more: true });
    expect(await store.pruneRuns(before)).toEqual({ count: 1, more: false });
    expect(await store.pruneRuns(before)).toEqual({ count: 0, more: false });
    expect(await runIds(store, 'prune-batches')).toEqual(recent.map((r) => r.id).sort());
  });

  it('the inbox purge deletes finished items received before the cut-off and never pending or running ones', async () => {
    const inbox = new Inbox(store.knex);
    const finished = [storedRequest('purge-items'), storedRequest('purge-items'), storedRequest('purge-items')];
    await insertFinished(store, finished);
    const pending = storedRequest('purge-items');
    await store.knex('inbox').insert({ id: pending.id, provider: 'purge-items', mode: 'async', status: 'pending', content_type: 'application/json', headers: {}, body: '{}', run_id: pending.runId });
    // Two finished ones and the pending one are old; the third finished one is recent.
    await store.knex('inbox').whereIn('id', [finished[0]!.id, finished[1]!.id, pending.id]).update({ received_at: new Date(Date.now() - 40 * DAY_MS) });

    expect(await inbox.purge(new Date(Date.now() - 30 * DAY_MS))).toEqual({ count: 2, more: false });
    const left: Array<{ id: string }> = await store.knex('inbox').where('provider', 'purge-items').select('id');
    expect(left.map((row) => row.id).sort()).toEqual([finished[2]!.id, pending.id].sort());
  });

  it('a running engine prunes runs past runRetentionDays on its first inbox poll, and keeps the rest', async () => {
    const stale = run('engine-prune', new Date(Date.now() - 3 * DAY_MS));
    const fresh = run('engine-prune', new Date(Date.now() - 1 * DAY_MS + 60_000));
    await store.insertRuns([stale, fresh]);
    const t = await startTestEngine(store, { runRetentionDays: 1, inbox: { pollMs: 50 } });
    try {
      await waitFor(async () => ((await runIds(store, 'engine-prune')).length === 1 ? true : undefined), 10_000, 'the stale run to be pruned');
      expect(await runIds(store, 'engine-prune')).toEqual([fresh.id]);
    } finally {
      await t.close();
    }
  });

  it('clears the requests kept in run rows once they are past the cut-off; the runs stay, newer requests too', async () => {
    const request = { contentType: 'application/json', headers: { 'x-trace': 't' }, body: '{"n":1}' };
    const old = { ...run('clear-requests', new Date(Date.now() - 40 * DAY_MS)), inboxId: uuidv7(), request };
    const recent = { ...run('clear-requests', new Date(Date.now() - 1 * DAY_MS)), inboxId: uuidv7(), request };
    await store.insertRuns([old, recent]);
    const inbox = new Inbox(store.knex);
    expect(await inbox.requestOf(old)).toMatchObject({ id: old.inboxId, body: '{"n":1}', headers: { 'x-trace': 't' }, inRunRow: true });

    expect(await inbox.clearRunRequests(new Date(Date.now() - 30 * DAY_MS))).toEqual({ count: 1, more: false });
    expect(await inbox.requestOf(old)).toBeNull();
    expect(await inbox.requestOf(recent)).toMatchObject({ body: '{"n":1}' });
    expect(await runIds(store, 'clear-requests')).toEqual([old.id, recent.id].sort());
    expect(await inbox.clearRunRequests(new Date(Date.now() - 30 * DAY_MS))).toEqual({ count: 0, more: false });
  });

  it('runRetentionDays 0 keeps every run, through a purge pass that did delete old stored requests', async () => {
    const ancient = run('engine-keep', new Date(Date.now() - 3650 * DAY_MS));
    // A run that kept its request in its own row: the pass clears the request and keeps the run.
    const ancientWithRequest = { ...run('engine-keep', new Date(Date.now() - 3650 * DAY_MS)), inboxId: uuidv7(), request: { contentType: 'text/plain', headers: {}, body: 'x' } };
    await store.insertRuns([ancient, ancientWithRequest]);
    const old = storedRequest('engine-keep');
    await insertFinished(store, [old]);
    await store.knex('inbox').where('id', old.id).update({ received_at: new Date(Date.now() - 3650 * DAY_MS) });
    const t = await startTestEngine(store, { runRetentionDays: 0, inbox: { pollMs: 20 } });
    try {
      // The pass that purges the old stored request is the one that would have pruned the run.
      await waitFor(async () => ((await store.knex('inbox').where('id', old.id).first()) ? undefined : true), 10_000, 'the purge pass');
      await waitFor(async () => ((await new Inbox(store.knex).requestOf(ancientWithRequest)) ? undefined : true), 10_000, 'the request to be cleared');
      expect(await runIds(store, 'engine-keep')).toEqual([ancient.id, ancientWithRequest.id].sort());
    } finally {
      await t.close();
    }
  });
});

describe('runRetentionDays validation', () => {
  it.each([-1, 36_501, Number.NaN, Number.POSITIVE_INFINITY])('refuses %s with config_invalid', (days) => {
    expect(() => createEngine({ logger: createSilentLogger(), runRetentionDays: days })).toThrow(expect.objectContaining({ code: 'config_invalid' }));
  });
});
