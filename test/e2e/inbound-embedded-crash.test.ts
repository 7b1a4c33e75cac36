import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore, type KnexStore } from '../../src/store/index.js';
import { ADMIN_TOKEN, startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';

/**
 * Async mode on the embedded store (`npm start` without DATABASE_URL): a process killed with SIGKILL while
 * it holds accepted requests loses none of them — the restarted process, on the same data folder, runs
 * each one once.
 */
describe('inbound inbox on the embedded store across a SIGKILL and a restart', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookgate-inbox-'));
  let store: KnexStore | undefined;
  let engine: TestEngine | undefined;

  afterAll(async () => {
    await engine?.close();
    await store?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs every accepted request exactly once after the restart', async () => {
    const { DATABASE_URL: _unused, ...env } = process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/embedded-inbox-engine-process.ts'], {
      env: {
        ...env,
        HG_DATA_DIR: dataDir,
        HG_INBOX: JSON.stringify({ leaseMs: 1500, concurrency: 1, pollMs: 50 }),
        HG_LIMITS: JSON.stringify({ timeoutMs: 2000, cpuTimeMs: 2000 }),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`engine process exited with ${code} before listening`)));
    });
    const baseUrl = `http://127.0.0.1:${JSON.parse(line).port}`;
    const call = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as any };
    };

    const runIds: string[] = [];
    try {
      // ~400 ms of CPU per run and one at a time, so the kill lands with requests still queued or running.
      const slow = "const end = Date.now() + 400; while (Date.now() < end) {} await actions['crm.tag'](body.n);";
      const created = await call(`${baseUrl}/admin/api/webhooks`, { direction: 'inbound', provider: 'jobs', mode: 'async', allowedActions: ['crm.tag'], jsScript: slow }, { authorization: `Bearer ${ADMIN_TOKEN}` });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      for (let i = 0; i < 4; i++) {
        const res = await call(`${baseUrl}/tools/webhook/jobs`, { n: `job-${i}` }, { 'webhook-id': `job-${i}` });
        expect(res.status).toBe(202);
        runIds.push(res.body.runId);
      }
      child.kill('SIGKILL');
      await exited;
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }

    // The dead process's lock is stale and taken over; its items run here, once the lease has run out.
    store = await createStore({ dataDir });
    const items = await store.knex('inbox').where('provider', 'jobs').select('id', 'status', 'run_id');
    expect(items).toHaveLength(4);
    const unfinished = items.filter((item) => item.status !== 'done').map((item) => item.run_id as string);
    expect(unfinished.length).toBeGreaterThan(0);

    engine = await startTestEngine(store, { inbox: { pollMs: 100 } });
    const done = await waitFor(async () => {
      const rows = await store!.knex('inbox').where('provider', 'jobs').select('status', 'run_id');
      return rows.every((r) => r.status === 'done') ? rows : undefined;
    }, 15_000, 'every item done');
    expect(done.map((r) => r.run_id).sort()).toEqual([...runIds].sort());
    // (A run the dead process finished may lack its record: records are batched, see RunRecorder.)
    const runs = await waitFor(async () => {
      await engine!.api('GET', '/runs?limit=1');
      const rows = await store!.knex('runs').whereIn('id', unfinished).select('id', 'status');
      return rows.length === unfinished.length ? rows : undefined;
    }, 5000, 'a run per unfinished item');
    expect(runs.every((r) => r.status === 'ok')).toBe(true);
    // Exactly the unfinished ones ran here, each once.
    const ranHere = engine.calls.map((c) => c.args[0]);
    expect(new Set(ranHere).size).toBe(ranHere.length);
    expect(ranHere).toHaveLength(unfinished.length);
    // Their senders' retries are duplicates.
    for (let i = 0; i < 4; i++) expect((await engine.inbound('jobs', { n: `job-${i}` }, { 'webhook-id': `job-${i}` })).body).toEqual({ received: true, duplicate: true });
  }, 180_000); // PGlite's initdb on disk takes 5–40 s depending on the machine's load
});
