import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/engine.js';

/** The demo as `npm start` runs it (from source here), on a fresh embedded store in a temp folder. */
function startDemo(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo/main.ts'], {
    env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => text, exited };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('the demo app (npm start) on the embedded store', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hookgate-demo-'));
  let demo: ReturnType<typeof startDemo>;
  let base: string;
  let token: string;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    demo = startDemo({ PORT: String(port), HOOKGATE_DATA_DIR: dataDir, HOOKGATE_ADMIN_TOKEN: '' });
    token = await waitFor(() => /\b(hg_admin_[A-Za-z0-9_-]{43})\b/.exec(demo.output())?.[1], 45_000, 'the printed admin token');
    await waitFor(() => (demo.output().includes('listening on') ? true : undefined), 45_000, 'the demo to listen');
  }, 60_000);

  afterAll(async () => {
    demo?.child.kill('SIGTERM');
    await demo?.exited;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints a generated admin token once, and runs the seed script on a Stripe event', async () => {
    expect(demo.output().match(/hg_admin_/g)).toHaveLength(1);
    const res = await fetch(`${base}/tools/webhook/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'evt_1', type: 'customer.subscription.deleted', data: { object: { id: 'sub_123', customer: 'cus_42' } } }),
    });
    expect(res.status).toBe(200);
    const { runId } = (await res.json()) as { runId: string };
    const run = (await (await fetch(`${base}/admin/api/runs/${runId}`, { headers: { authorization: `Bearer ${token}` } })).json()) as any;
    expect(run).toMatchObject({
      provider: 'stripe',
      status: 'ok',
      eventType: 'customer.subscription.deleted',
      emittedEvent: 'subscription.cancelled',
      actionsCalled: [
        { id: 'subscription.cancel', ok: true },
        { id: 'subscription.notifyUser', ok: true },
      ],
    });
    const actions = (await (await fetch(`${base}/admin/api/actions`, { headers: { authorization: `Bearer ${token}` } })).json()) as any;
    expect(actions.items.map((a: any) => [a.id, a.label, a.category, a.enabled])).toEqual([
      ['subscription.cancel', 'Cancel subscription', 'Billing', true],
      ['subscription.notifyUser', 'Notify user', 'Billing', true],
    ]);
  });

  it('refuses a second process on the same data dir with a clear error', async () => {
    const second = startDemo({ PORT: String(await freePort()), HOOKGATE_DATA_DIR: dataDir, HOOKGATE_ADMIN_TOKEN: '' });
    expect(await second.exited).not.toBe(0);
    expect(second.output()).toContain('data_dir_locked');
    expect(second.output()).not.toMatch(/hg_admin_/);
  });

  it('shuts down on SIGTERM: /readyz was ready, the process exits 0 and frees the data dir', async () => {
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    demo.child.kill('SIGTERM');
    expect(await demo.exited).toBe(0);
    expect(demo.output()).toContain('shut down cleanly');
    // The lock went with it: the next process may open the folder.
    const next = startDemo({ PORT: String(await freePort()), HOOKGATE_DATA_DIR: dataDir, HOOKGATE_ADMIN_TOKEN: '' });
    await waitFor(() => (next.output().includes('listening on') ? true : undefined), 45_000, 'the next process to listen');
    next.child.kill('SIGTERM');
    expect(await next.exited, next.output()).toBe(0);
  }, 60_000);
});

describe('npm start with an invalid setting', () => {
  it('stops with one line naming the setting and config_invalid, not a stack trace', async () => {
    const demo = startDemo({ HOOKGATE_RUN_RETENTION_DAYS: 'abc', PORT: '0' });
    expect(await demo.exited).toBe(1);
    expect(demo.output().trim()).toMatch(/^hookgate failed to start: \[config_invalid\] .*runRetentionDays/);
    expect(demo.output()).not.toMatch(/\n\s+at /);
  }, 30_000);
});
