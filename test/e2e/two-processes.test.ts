import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.js';
import type { KnexStore } from '../../src/store/index.js';
import { ADMIN_TOKEN, startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const POLL_MS = 300;

describe('two engine processes on one PostgreSQL', () => {
  const schema = `hg_twoproc_${randomBytes(4).toString('hex')}`;
  let store: KnexStore;
  let a: TestEngine;
  let child: ChildProcess;
  let bUrl: string;

  beforeAll(async () => {
    store = await createStore({ databaseUrl: DATABASE_URL, dataDir: './data-unused', schema });
    a = await startTestEngine(store);
    child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/engine-process.ts'], {
      env: { ...process.env, DATABASE_URL, HG_SCHEMA: schema, HG_CONFIG_POLL_MS: String(POLL_MS) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`engine process exited with ${code}`)));
    });
    bUrl = `http://127.0.0.1:${JSON.parse(line).port}`;
  }, 60_000);

  afterAll(async () => {
    child?.kill('SIGTERM');
    await a?.close();
    await store?.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await store?.close();
  });

  const inboundB = async (provider: string, body: unknown) => {
    const res = await fetch(`${bUrl}/tools/webhook/${provider}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const runOnB = async (runId: string) => {
    const res = await fetch(`${bUrl}/admin/api/runs/${runId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return (await res.json()) as any;
  };

  it('a change made through one process reaches the other (at once by NOTIFY; the poll covers a missed one)', async () => {
    // Prime B's cache with the negative answer, so the test proves invalidation rather than a cold read.
    expect((await inboundB('shared', {})).status).toBe(404);
    const created = await a.api('POST', '/webhooks', { direction: 'inbound', provider: 'shared', jsScript: "result = { event: 'one', data: Object.keys(actions) };", allowedActions: ['crm.tag'] });
    expect(created.status).toBe(201);
    // No timing assertion (a loaded machine makes B's first run slow): seeing it at all within 5 s is the point.
    const first = await waitFor(async () => {
      const res = await inboundB('shared', {});
      return res.status === 200 ? res : undefined;
    }, 5000, 'B to see the new webhook');
    expect((await runOnB(first.body.runId)).emittedEvent).toBe('one');

    await a.api('PATCH', `/webhooks/${created.body.id}`, { jsScript: "result = { event: 'two', data: null };" });
    await waitFor(async () => {
      const res = await inboundB('shared', {});
      return (await runOnB(res.body.runId)).emittedEvent === 'two' ? true : undefined;
    }, 5000, 'B to run the new script');

    await a.api('PATCH', '/settings', { enabledWebhookActions: [] });
    await a.api('PATCH', `/webhooks/${created.body.id}`, { jsScript: "result = { event: 'keys:' + Object.keys(actions).join(','), data: null };" });
    await waitFor(async () => {
      const res = await inboundB('shared', {});
      return (await runOnB(res.body.runId)).emittedEvent === 'keys:' ? true : undefined;
    }, 5000, 'B to see the settings change');

    await a.api('PATCH', `/webhooks/${created.body.id}`, { isActive: false });
    await waitFor(async () => ((await inboundB('shared', {})).status === 404 ? true : undefined), 5000, 'B to see the deactivation');
  });
});
