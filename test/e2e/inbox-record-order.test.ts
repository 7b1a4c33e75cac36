import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KnexStore, RunRecord } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { storeFactories } from '../helpers/stores.js';

/**
 * An async request's inbox item is marked finished only once its run record is written: a process that
 * dies between the two leaves an item that runs again, never a finished item whose run left no record.
 */
describe.each(storeFactories())('async inbox items and their run records on $name', (factory) => {
  let store: KnexStore;
  let t: TestEngine;
  /** For each run record written: the status its inbox item had at that moment. */
  const itemStatusAtInsert = new Map<string, string>();
  /** Run-record writes to refuse (a database hiccup) before letting them through. */
  let failWrites = 0;

  beforeAll(async () => {
    store = await factory.create();
    const watched: KnexStore = {
      ...store,
      async insertRuns(runs: RunRecord[]) {
        if (failWrites > 0) {
          failWrites--;
          throw Object.assign(new Error('connection terminated unexpectedly'), { code: '57P01' });
        }
        for (const run of runs) {
          if (!run.inboxId) continue;
          const item = await store.knex('inbox').where('id', run.inboxId).first('status');
          itemStatusAtInsert.set(run.id, item?.status ?? 'missing');
        }
        return store.insertRuns(runs);
      },
    };
    // A long flush interval: without the ordering, the item would be marked done well before the record lands.
    t = await startTestEngine(watched, { runFlushMs: 300, inbox: { pollMs: 50 } });
  });
  afterAll(async () => {
    await t?.close();
    await store?.close();
  });

  it('writes the run record while the item is still running, then marks the item done', async () => {
    const created = await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'async-order', mode: 'async', allowedActions: ['crm.tag'], jsScript: "await actions['crm.tag'](body.n);" });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const answers = await Promise.all([1, 2, 3].map((n) => t.inbound('async-order', { n })));
    for (const answer of answers) expect(answer).toMatchObject({ status: 202, body: { queued: true } });
    const runIds = answers.map((answer) => answer.body.runId as string);

    await waitFor(async () => {
      const items = await store.knex('inbox').whereIn('run_id', runIds).select('status');
      return items.length === 3 && items.every((item: { status: string }) => item.status === 'done') ? true : undefined;
    }, 10_000, 'the three items to be done');
    for (const runId of runIds) expect(itemStatusAtInsert.get(runId)).toBe('running');
    expect(t.calls.filter((call) => call.id === 'crm.tag').map((call) => call.args[0]).sort()).toEqual([1, 2, 3]);
  });

  it('a failed record write holds the item back (running, not done) until a retry writes it; the script ran once', async () => {
    const created = await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'async-hiccup', mode: 'async', allowedActions: ['crm.tag'], jsScript: "await actions['crm.tag'](body.n);" });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    failWrites = 1;
    const answer = await t.inbound('async-hiccup', { n: 'hiccup-1' });
    expect(answer).toMatchObject({ status: 202, body: { queued: true } });
    const runId = answer.body.runId as string;

    await waitFor(async () => {
      const item = await store.knex('inbox').where('run_id', runId).first('status');
      return item?.status === 'done' ? true : undefined;
    }, 10_000, 'the item to be done');
    expect(failWrites).toBe(0);
    expect(itemStatusAtInsert.get(runId)).toBe('running');
    expect(await store.knex('runs').where('id', runId).first('status')).toEqual({ status: 'ok' });
    expect(t.calls.filter((call) => call.args[0] === 'hiccup-1')).toHaveLength(1);
  });
});
