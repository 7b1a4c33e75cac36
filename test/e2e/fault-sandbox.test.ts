import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { storeFactories } from '../helpers/stores.js';

/** Pids of this process's sandbox children (the supervised processes that host the isolates). */
function sandboxPids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes('/sandbox/'))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

/**
 * The sandbox child is killed (SIGKILL, as the OOM killer would) while a sync request's script awaits a slow
 * action — from outside, through HTTP, on the embedded store. test/sandbox/supervision.test.ts covers the
 * same fault at the sandbox's own interface and test/e2e/inbound-crash-retry.test.ts the async inbox; here
 * the sender is waiting: it still gets its 200, the run is recorded `crashed` with nothing emitted, and the
 * next request runs on the replacement child.
 */
describe('the sandbox child killed mid-run, on a sync request', () => {
  let store: KnexStore;
  let t: TestEngine;
  const started: string[] = [];
  const waiting: Array<() => void> = [];

  beforeAll(async () => {
    store = await storeFactories()[0]!.create();
    t = await startTestEngine(store, { sandbox: { processes: 1, isolatesPerProcess: 2, limits: { timeoutMs: 15_000 } } });
    t.engine.actions.register({
      id: 'ops.slow',
      label: 'Slow',
      category: 'Ops',
      description: 'Answers when the test lets it',
      fn: (key: unknown) => {
        started.push(String(key));
        return new Promise<string>((resolve) => waiting.push(() => resolve('late')));
      },
    });
    expect((await t.api('PATCH', '/settings', { enabledWebhookActions: ['crm.tag', 'ops.slow'] })).status).toBe(200);
    for (const [provider, jsScript, allowedActions] of [
      ['slow', "const r = await actions['ops.slow'](body.key);\nresult = { event: 'slow.done', data: { r } };", ['ops.slow']],
      ['quick', "await actions['crm.tag'](body.key);\nresult = { event: 'quick.done', data: { key: body.key } };", ['crm.tag']],
    ] as const) {
      const res = await t.api('POST', '/webhooks', { direction: 'inbound', provider, jsScript, allowedActions });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
  }, 60_000);

  afterAll(async () => {
    for (const release of waiting.splice(0)) release();
    await t?.close();
    await store?.close();
  });

  it.each([
    ['without a delivery id', {}],
    ['with a delivery id (stored in the inbox first)', { 'x-github-delivery': 'gh-kill-1' }],
  ])('%s: answers 200, records the run as crashed, and the next request runs on a new child', async (_name, headers) => {
    const key = `kill-${started.length}`;
    const answer = t.inbound('slow', { key }, headers);
    await waitFor(() => (started.includes(key) ? true : undefined), 15_000, 'the script awaiting the slow action');
    const pids = sandboxPids();
    expect(pids).toHaveLength(1);
    process.kill(pids[0]!, 'SIGKILL');

    const res = await answer;
    expect(res).toMatchObject({ status: 200, body: { received: true, runId: expect.any(String) } });
    for (const release of waiting.splice(0)) release(); // the action answers into a dead child: ignored

    const run = await waitFor(async () => {
      const r = await t.api('GET', `/runs/${res.body.runId}`);
      return r.status === 200 ? r.body : undefined;
    }, 5000, 'the run record');
    expect(run).toMatchObject({ status: 'crashed', provider: 'slow', error: { code: 'sandbox_crashed' }, emittedEvent: null });
    expect(run.actionsCalled).toMatchObject([{ id: 'ops.slow' }]);
    expect(t.events.filter((e) => e.event === 'slow.done')).toHaveLength(0);

    const next = await t.inbound('quick', { key });
    expect(next).toMatchObject({ status: 200, body: { received: true } });
    const nextRun = await t.api('GET', `/runs/${next.body.runId}`);
    expect(nextRun.body).toMatchObject({ status: 'ok', emittedEvent: 'quick.done' });
    const replacement = sandboxPids();
    expect(replacement).toHaveLength(1);
    expect(replacement).not.toContain(pids[0]);
  }, 60_000);
});
