import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7, type KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { storeFactories } from '../helpers/stores.js';

/** Pids of this process's sandbox children (the supervised processes hosting the isolates). */
function sandboxPids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes('sandbox/worker'))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

/**
 * Async mode when a run crashes. The sandbox process dies under it (a V8 abort, the OOM killer): the inbox
 * worker records the crashed run, tries the request again with back-off under a new run id, and gives up
 * after `maxAttempts`, marking the item failed. The crash is caused from the host side: an action kills
 * the sandbox process hosting the script that called it. And a request whose engine process died under it
 * `maxAttempts` times (a poison request) is given up when next claimed, not run again.
 */
describe.each(storeFactories())('async runs that crash, on $name', (factory) => {
  let store: KnexStore;
  let t: TestEngine;
  const gateCalls: string[] = [];
  let webhookId: string;

  beforeAll(async () => {
    store = await factory.create();
    t = await startTestEngine(store, {
      sandbox: { processes: 1, isolatesPerProcess: 2, limits: { timeoutMs: 3000 } },
      inbox: { pollMs: 100, maxAttempts: 2 },
    });
    t.engine.actions.register({
      id: 'ops.gate',
      label: 'Gate',
      category: 'Ops',
      description: 'Kills the sandbox under the calling script on its first call for "crash-once-*", on every call for "crash-always"',
      fn: async (n: unknown) => {
        const key = String(n);
        gateCalls.push(key);
        const first = gateCalls.filter((c) => c === key).length === 1;
        if (key === 'crash-always' || (key.startsWith('crash-once') && first)) {
          for (const pid of sandboxPids()) process.kill(pid, 'SIGKILL');
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        return 'open';
      },
    });
    const enabled = await t.api('PATCH', '/settings', { enabledWebhookActions: ['crm.tag', 'billing.cancel', 'billing.notify', 'ops.gate'] });
    expect(enabled.status).toBe(200);
    const created = await t.api('POST', '/webhooks', {
      direction: 'inbound',
      provider: 'jobs',
      mode: 'async',
      allowedActions: ['ops.gate'],
      jsScript: "const gate = await actions['ops.gate'](body.n);\nresult = { event: 'job.done', data: { n: body.n, gate } };",
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    webhookId = created.body.id;
  });
  afterAll(async () => {
    await t?.close();
    await store?.close();
  });

  const inboxRow = (id: string) => store.knex('inbox').where('id', id).first();
  const runsOfItem = (inboxId: string) => store.knex('runs').where('inbox_id', inboxId).orderBy('created_at').select('id', 'status');

  it('runs a crashed request again under a new run id, once, and emits only from the run that finished', async () => {
    const res = await t.inbound('jobs', { n: 'crash-once-1' }, { 'webhook-id': 'job-crash-once-1' });
    expect(res).toMatchObject({ status: 202, body: { received: true, queued: true, runId: expect.any(String) } });
    const firstRunId: string = res.body.runId;

    const first = await waitFor(async () => {
      const r = await t.api('GET', `/runs/${firstRunId}`);
      return r.status === 200 ? r.body : undefined;
    }, 20_000, 'the crashed run');
    expect(first).toMatchObject({ status: 'crashed', error: { code: 'sandbox_crashed' }, emittedEvent: null });

    const done = await waitFor(async () => {
      const row = await inboxRow(first.inboxId);
      return row?.status === 'done' ? row : undefined;
    }, 45_000, 'the item done');
    expect(done).toMatchObject({ attempts: 2, delivery_key: 'job-crash-once-1' });
    expect(done.run_id).not.toBe(firstRunId);

    const runs = await waitFor(async () => {
      const rows = await runsOfItem(first.inboxId);
      return rows.length === 2 ? rows : undefined;
    }, 5000, 'both runs recorded');
    expect(runs.map((r) => [r.id, r.status])).toEqual([
      [firstRunId, 'crashed'],
      [done.run_id, 'ok'],
    ]);
    const events = t.events.filter((e) => e.event === 'job.done' && (e.data as { n: string }).n === 'crash-once-1');
    expect(events).toHaveLength(1);
    expect(events[0]!.metadata.runId).toBe(done.run_id);
    expect(gateCalls.filter((c) => c === 'crash-once-1')).toHaveLength(2);
    // The sender's retry of the same message is a duplicate, whatever happened inside.
    expect((await t.inbound('jobs', { n: 'crash-once-1' }, { 'webhook-id': 'job-crash-once-1' })).body).toEqual({ received: true, duplicate: true });
  }, 60_000); // a sandbox process restart under tsx takes seconds on a loaded machine

  it('gives up after maxAttempts crashed runs: the item is failed and every attempt is recorded', async () => {
    const res = await t.inbound('jobs', { n: 'crash-always' }, { 'webhook-id': 'job-crash-always' });
    expect(res.status).toBe(202);
    const inboxId = await waitFor(async () => (await store.knex('inbox').where({ provider: 'jobs', delivery_key: 'job-crash-always' }).first())?.id as string | undefined);
    const failed = await waitFor(async () => {
      const row = await inboxRow(inboxId);
      return row?.status === 'failed' ? row : undefined;
    }, 45_000, 'the item failed');
    expect(failed.attempts).toBe(2);
    const runs = await waitFor(async () => {
      const rows = await runsOfItem(inboxId);
      return rows.length === 2 ? rows : undefined;
    }, 5000, 'both runs recorded');
    expect(runs.map((r) => r.status)).toEqual(['crashed', 'crashed']);
    expect(runs[0]!.id).toBe(res.body.runId);
    expect(gateCalls.filter((c) => c === 'crash-always')).toHaveLength(2);
    expect(t.events.some((e) => (e.data as { n?: string } | null)?.n === 'crash-always')).toBe(false);
  }, 60_000);

  it('gives up on a request whose process died under it maxAttempts times, without running it again', async () => {
    // What a poison request leaves behind after killing its engine process twice: running, lease expired.
    const id = uuidv7();
    const runId = uuidv7();
    await store.knex('inbox').insert({
      id,
      webhook_id: webhookId,
      provider: 'jobs',
      delivery_key: 'job-poison',
      mode: 'async',
      status: 'running',
      content_type: 'application/json',
      headers: JSON.stringify({ 'webhook-id': 'job-poison' }),
      body: JSON.stringify({ n: 'poison' }),
      attempts: 2,
      lease_until: store.knex.raw(`now() - interval '1 second'`),
      run_id: runId,
      last_error: null,
    });
    const failed = await waitFor(async () => {
      const row = await inboxRow(id);
      return row?.status === 'failed' ? row : undefined;
    }, 5000, 'the item given up');
    expect(failed.attempts).toBe(3);
    const run = await waitFor(async () => {
      const r = await t.api('GET', `/runs/${runId}`);
      return r.status === 200 ? r.body : undefined;
    }, 3000, 'the give-up run');
    expect(run).toMatchObject({ status: 'crashed', provider: 'jobs', inboxId: id, error: { code: 'inbox_gave_up' } });
    expect(run.error.message).toMatch(/Given up after 2 attempts/);
    expect(gateCalls).not.toContain('poison');
  });
});
