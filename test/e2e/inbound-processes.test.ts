import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { TEST_DATABASE_URL, uniqueSchemaName } from '../helpers/stores.js';

interface Child {
  baseUrl: string;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

async function spawnInboxEngine(schema: string, inbox: Record<string, unknown>, limits: Record<string, unknown> = {}): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/inbox-engine-process.ts'], {
    env: { ...process.env, DATABASE_URL: TEST_DATABASE_URL, HG_SCHEMA: schema, HG_INBOX: JSON.stringify(inbox), HG_LIMITS: JSON.stringify(limits) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`engine process exited with ${code} before listening`)));
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    baseUrl: `http://127.0.0.1:${JSON.parse(line).port}`,
    async kill9() {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (alive()) child.kill('SIGTERM');
      await exited;
    },
  };
}

const post = async (baseUrl: string, provider: string, body: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(`${baseUrl}/tools/webhook/${provider}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
};

/** Idempotency and the inbox across real processes on one PostgreSQL schema. */
describe('inbound inbox across processes (PostgreSQL)', () => {
  const schema = uniqueSchemaName('hg_inbox');
  let store: KnexStore;
  let a: TestEngine;
  const children: Child[] = [];

  beforeAll(async () => {
    store = await createStore({ databaseUrl: TEST_DATABASE_URL, schema, poolMax: 4 });
    // A stores and answers but runs no worker, so what a crashed process left is picked up only when we say.
    a = await startTestEngine(store, { inbox: { worker: false } });
    const create = (provider: string, jsScript: string, extra: Record<string, unknown> = {}) =>
      a.api('POST', '/webhooks', { direction: 'inbound', provider, jsScript, allowedActions: ['crm.tag'], ...extra });
    expect((await create('dup', "await actions['crm.tag'](body.n);")).status).toBe(201);
    // ~600 ms of CPU per run, so a kill lands while runs are in progress.
    const slow = "const end = Date.now() + 600; while (Date.now() < end) {} await actions['crm.tag'](body.n);";
    expect((await create('crashy', slow, { mode: 'async' })).status).toBe(201);
    expect((await create('crashy-sync', slow)).status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop().catch(() => undefined)));
    await a?.close();
    await store?.knex.raw('drop schema if exists ?? cascade', [schema]).catch(() => undefined);
    await store?.close();
  });

  it('two processes receiving the same deliveries at the same moment run each exactly once', async () => {
    const b = await spawnInboxEngine(schema, { worker: false });
    children.push(b);
    const ids = Array.from({ length: 10 }, (_, i) => `race-${i}`);
    const answers = await Promise.all(
      ids.flatMap((id) => [a.baseUrl, b.baseUrl].map((url) => post(url, 'dup', { n: id }, { 'x-github-delivery': id }).then((r) => ({ id, ...r })))),
    );
    for (const id of ids) {
      const pair = answers.filter((r) => r.id === id);
      expect(pair.map((r) => r.status)).toEqual([200, 200]);
      expect(pair.filter((r) => r.body.duplicate === true)).toHaveLength(1);
    }
    const runs = await waitFor(async () => {
      const rows = await store.knex('runs').where('provider', 'dup').select('id');
      return rows.length >= ids.length ? rows : undefined;
    }, 5000, 'the runs');
    expect(runs).toHaveLength(ids.length);
    expect(Number((await store.knex('inbox').where('provider', 'dup').count({ n: '*' }))[0]!.n)).toBe(ids.length);
  });

  it('loses no accepted request when the process running it is killed with SIGKILL', async () => {
    const b = await spawnInboxEngine(schema, { leaseMs: 1500, concurrency: 2, pollMs: 50 }, { timeoutMs: 2000, cpuTimeMs: 2000 });
    children.push(b);
    const queued = [];
    for (let i = 0; i < 5; i++) {
      const res = await post(b.baseUrl, 'crashy', { n: `kill-${i}` }, { 'webhook-id': `kill-${i}` });
      expect(res.status).toBe(202);
      queued.push(res.body.runId as string);
    }
    // A sync request in flight when the process dies: the sender gets no answer, the inbox keeps it.
    const inFlight = post(b.baseUrl, 'crashy-sync', { n: 'kill-sync' }, { 'x-github-delivery': 'kill-sync' }).catch((err: unknown) => err);
    await waitFor(async () => ((await store.knex('inbox').where({ provider: 'crashy', status: 'running' }).first()) ? true : undefined), 5000, 'a running item');
    await waitFor(async () => ((await store.knex('inbox').where({ provider: 'crashy-sync' }).first()) ? true : undefined), 5000, 'the sync item');
    await b.kill9();
    expect(await inFlight).toBeInstanceOf(Error);
    const before = await store.knex('inbox').whereIn('provider', ['crashy', 'crashy-sync']).whereNot('status', 'done').select('id');
    expect(before.length).toBeGreaterThan(1);

    // Another process with a worker takes over: pending items at once, the dead process's once their lease ran out.
    const c = await startTestEngine(store, { inbox: { pollMs: 100, concurrency: 4 }, sandbox: { limits: { timeoutMs: 2000, cpuTimeMs: 2000 } } });
    try {
      const items = await waitFor(async () => {
        const rows = await store.knex('inbox').whereIn('provider', ['crashy', 'crashy-sync']).select('*');
        return rows.length === 6 && rows.every((r) => r.status === 'done') ? rows : undefined;
      }, 20_000, 'every item done');
      const runs = await waitFor(async () => {
        const rows = await store.knex('runs').whereIn('inbox_id', items.map((r) => r.id)).select('*');
        return rows.length === 6 ? rows : undefined;
      }, 5000, 'one run per item');
      expect(runs.every((r) => r.status === 'ok')).toBe(true);
      expect(new Set(runs.map((r) => r.inbox_id)).size).toBe(6);
      for (const runId of queued) expect(runs.some((r) => r.id === runId)).toBe(true);
      // Each item the dead process had not finished ran on C, once.
      const ranOnC = c.calls.map((call) => call.args[0]);
      expect(new Set(ranOnC).size).toBe(ranOnC.length);
      expect(ranOnC).toContain('kill-sync');
      expect(ranOnC.length).toBeGreaterThanOrEqual(before.length);
      // The sender's retry of the request it never got an answer to is now a duplicate.
      expect((await post(c.baseUrl, 'crashy-sync', { n: 'kill-sync' }, { 'x-github-delivery': 'kill-sync' })).body).toEqual({ received: true, duplicate: true });
    } finally {
      await c.close();
    }
  }, 45_000);
});
