import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { AppError } from '../../src/errors.js';
import { createSandbox, type ProcessSandbox } from '../../src/sandbox/index.js';
import { recordingInvoker, request } from './helpers.js';

const open: ProcessSandbox[] = [];

function sandboxOf(options: Parameters<typeof createSandbox>[0]): ProcessSandbox {
  const sandbox = createSandbox(options);
  open.push(sandbox);
  return sandbox;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((sandbox) => sandbox.close()));
});

/** Resolves once `predicate` holds, polling the sandbox's own state (no fixed sleeps). */
async function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('a child process that dies', () => {
  it('ends its runs as crashed and is replaced at once', async () => {
    const sandbox = sandboxOf({ isolatesPerProcess: 2 });
    const { invoke, calls } = recordingInvoker();
    expect(await sandbox.run(request('result = 1'), invoke)).toMatchObject({ status: 'ok' });
    const [pid] = sandbox.stats().pids;
    const running = sandbox.run(request('await actions.slow(5000)', { limits: { timeoutMs: 10_000 } }), invoke);
    await until(() => calls.length === 1);
    process.kill(pid as number, 'SIGKILL');
    expect(await running).toMatchObject({ status: 'crashed', result: null, error: { code: 'sandbox_crashed' } });
    expect(sandbox.stats().restarts).toBe(1);
    expect(await sandbox.run(request('result = "replacement"'), invoke)).toMatchObject({ status: 'ok', result: 'replacement' });
    expect(sandbox.stats().pids).not.toContain(pid);
    expect(sandbox.stats().processes).toBe(1);
  });

  it('survives a script that aborts V8 in its process', async () => {
    const sandbox = sandboxOf({ isolatesPerProcess: 1, limits: { timeoutMs: 10_000, cpuTimeMs: 10_000 } });
    const { invoke } = recordingInvoker();
    const run = await sandbox.run(request('new Array(2 ** 31 - 1).fill(0)'), invoke);
    // V8 aborts the whole process here; should it ever stop the allocation in time, that is a memory breach.
    expect(['crashed', 'memory']).toContain(run.status);
    expect(await sandbox.run(request('result = "next"'), invoke)).toMatchObject({ status: 'ok', result: 'next' });
  });

  it('kills a process that stops answering (watchdog) and replaces it', async () => {
    const sandbox = sandboxOf({ isolatesPerProcess: 1 });
    const { invoke } = recordingInvoker();
    expect(await sandbox.run(request('result = 1'), invoke)).toMatchObject({ status: 'ok' });
    const [pid] = sandbox.stats().pids;
    process.kill(pid as number, 'SIGSTOP');
    const started = performance.now();
    const run = await sandbox.run(request('result = 2', { limits: { timeoutMs: 200 } }), invoke);
    expect(run).toMatchObject({ status: 'crashed', error: { code: 'sandbox_crashed' } });
    // timeoutMs + the watchdog's grace.
    expect(performance.now() - started).toBeGreaterThanOrEqual(1600);
    expect(await sandbox.run(request('result = 3'), invoke)).toMatchObject({ status: 'ok', result: 3 });
    expect(sandbox.stats().restarts).toBe(1);
  });
});

describe('dispatch and queueing', () => {
  it('spreads runs over the processes and queues beyond capacity', async () => {
    const sandbox = sandboxOf({ processes: 2, isolatesPerProcess: 2, maxQueue: 3 });
    const { invoke } = recordingInvoker();
    await until(() => sandbox.stats().ready === 2);
    await Promise.all([1, 2].map(() => sandbox.run(request('result = 0'), invoke)));
    const slow = Array.from({ length: 4 }, () => sandbox.run(request('result = await actions.slow(200)'), invoke));
    await until(() => sandbox.stats().busy === 4);
    const queued = Array.from({ length: 3 }, (_, i) => sandbox.run(request(`result = ${i}`), invoke));
    expect(sandbox.stats()).toMatchObject({ processes: 2, busy: 4, queued: 3, capacity: 4 });
    await expect(sandbox.run(request('result = "too many"'), invoke)).rejects.toMatchObject({ code: 'sandbox_busy' });
    expect((await Promise.all(slow)).map((run) => run.result)).toEqual(Array(4).fill('slow done'));
    expect((await Promise.all(queued)).map((run) => run.result)).toEqual([0, 1, 2]);
    expect(sandbox.stats()).toMatchObject({ busy: 0, queued: 0 });
  });

  it('rejects a run that waited in the queue longer than maxQueueWaitMs', async () => {
    const sandbox = sandboxOf({ isolatesPerProcess: 1, maxQueueWaitMs: 100 });
    const { invoke } = recordingInvoker();
    // Queued runs wait for the process to start too: the first one must not wait for that.
    await until(() => sandbox.stats().ready === 1);
    const blocking = sandbox.run(request('result = await actions.slow(400)'), invoke);
    const waiting = sandbox.run(request('result = 1'), invoke);
    await expect(waiting).rejects.toMatchObject({ code: 'sandbox_busy' });
    expect(sandbox.stats().queued).toBe(0);
    expect(await blocking).toMatchObject({ status: 'ok', result: 'slow done' });
  });

  it('close() rejects queued runs, ends running ones, and refuses new ones', async () => {
    const sandbox = sandboxOf({ isolatesPerProcess: 1 });
    const { invoke, calls } = recordingInvoker();
    const running = sandbox.run(request('await actions.never()'), invoke);
    const queued = sandbox.run(request('result = 1'), invoke).then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await until(() => calls.length === 1);
    await sandbox.close();
    expect(await running).toMatchObject({ status: 'crashed', error: { code: 'sandbox_closed' } });
    const refusal = await queued;
    expect(refusal).toBeInstanceOf(AppError);
    expect(refusal).toMatchObject({ code: 'sandbox_closed' });
    await expect(sandbox.run(request('result = 1'), invoke)).rejects.toMatchObject({ code: 'sandbox_closed' });
    expect(sandbox.stats().processes).toBe(0);
  });
});

describe('compiled scripts', () => {
  it('compiles a script version once per isolate', async () => {
    const sandbox = sandboxOf({ isolatesPerProcess: 1 });
    const { invoke } = recordingInvoker();
    const script = 'result = body.amount';
    for (let i = 0; i < 5; i++) expect(await sandbox.run(request(script), invoke)).toMatchObject({ status: 'ok', result: 42 });
    expect(sandbox.stats().isolates.compilations).toBe(1);
    await sandbox.run(request('result = body.amount + 1'), invoke);
    expect(sandbox.stats().isolates.compilations).toBe(2);
    // Same key, changed text (a key must not serve stale code).
    const changed = await sandbox.run(request('result = "changed"', { scriptKey: request(script).scriptKey }), invoke);
    expect(changed.result).toBe('changed');
    expect(sandbox.stats().isolates.compilations).toBe(3);
  });
});

describe('the child process environment', () => {
  it('holds none of the host process secrets (a sandbox escape would find no DATABASE_URL or keys)', async () => {
    const secrets = {
      DATABASE_URL: 'postgres://user:hunter2@db.internal/prod',
      HOOKGATE_SECRET_KEY: 'k'.repeat(64),
      HOOKGATE_ADMIN_TOKEN: 'admin-token-that-must-not-leak',
    };
    const saved = Object.fromEntries(Object.keys(secrets).map((key) => [key, process.env[key]]));
    Object.assign(process.env, secrets);
    try {
      const sandbox = sandboxOf({});
      const { invoke } = recordingInvoker();
      expect(await sandbox.run(request('result = 1'), invoke)).toMatchObject({ status: 'ok' });
      const [pid] = sandbox.stats().pids;
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const names = environ.map((entry) => entry.slice(0, entry.indexOf('=')));
      for (const [key, value] of Object.entries(secrets)) {
        expect(names).not.toContain(key);
        expect(environ.join('\n')).not.toContain(value);
      }
      expect(names).toContain('PATH');
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
