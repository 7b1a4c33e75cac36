import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { TEST_DATABASE_URL, uniqueSchemaName } from '../helpers/stores.js';

/**
 * Two engines on one PostgreSQL schema, each with its own pool and listener connection (as two processes
 * have), and a config poll so slow that only the NOTIFY sent with a config version bump can explain B
 * seeing A's change within seconds.
 */
describe('config changes reach another engine through LISTEN/NOTIFY', () => {
  const schema = uniqueSchemaName('hg_cfgnotify');
  let storeA: KnexStore;
  let storeB: KnexStore;
  let a: TestEngine;
  let b: TestEngine;

  beforeAll(async () => {
    storeA = await createStore({ databaseUrl: TEST_DATABASE_URL, schema, poolMax: 4 });
    await storeA.migrate();
    storeB = await createStore({ databaseUrl: TEST_DATABASE_URL, schema, poolMax: 4 });
    a = await startTestEngine(storeA, { configPollMs: 600_000 });
    b = await startTestEngine(storeB, { configPollMs: 600_000 });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await storeB?.close();
    await storeA?.knex.raw('drop schema if exists ?? cascade', [schema]).catch(() => undefined);
    await storeA?.close();
  });

  it('a script saved through A runs on B at once, not at the next poll', async () => {
    // Prime B's cache with the negative answer, so the test proves invalidation rather than a cold read.
    expect((await b.inbound('notified', {})).status).toBe(404);
    const created = await a.api('POST', '/webhooks', { direction: 'inbound', provider: 'notified', jsScript: "result = { event: 'v1', data: {} };" });
    expect(created.status).toBe(201);
    // Within 3 s, where the poll alone would take 10 minutes.
    await waitFor(async () => ((await b.inbound('notified', {})).status === 200 ? true : undefined), 3000, 'B to see the new webhook');

    // B now caches v1; an update through A replaces it on B.
    const first = await b.inbound('notified', {});
    expect((await b.api('GET', `/runs/${first.body.runId}`)).body.emittedEvent).toBe('v1');
    expect((await a.api('PATCH', `/webhooks/${created.body.id}`, { jsScript: "result = { event: 'v2', data: {} };" })).status).toBe(200);
    const emitted = await waitFor(async () => {
      const res = await b.inbound('notified', {});
      const run = (await b.api('GET', `/runs/${res.body.runId}`)).body;
      return run.emittedEvent === 'v2' ? run : undefined;
    }, 3000, 'B to run the new script');
    expect(emitted.status).toBe('ok');
  });

  it('a global switch turned off through A is obeyed by B', async () => {
    await a.api('POST', '/webhooks', { direction: 'inbound', provider: 'switched', jsScript: 'result = { event: Object.keys(actions).join(",") || "none", data: {} };', allowedActions: ['crm.tag'] });
    await waitFor(async () => ((await b.inbound('switched', {})).status === 200 ? true : undefined), 3000, 'B to see the webhook');
    expect((await a.api('PATCH', '/settings', { enabledWebhookActions: [] })).status).toBe(200);
    const run = await waitFor(async () => {
      const res = await b.inbound('switched', {});
      const record = (await b.api('GET', `/runs/${res.body.runId}`)).body;
      return record.emittedEvent === 'none' ? record : undefined;
    }, 3000, 'B to drop the switched-off action');
    expect(run.actionsCalled).toEqual([]);
  });
});
