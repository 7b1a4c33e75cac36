import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type ProcessSandbox } from '../../src/sandbox/index.js';
import { RUN_MODES, recordingInvoker, request } from './helpers.js';

describe.each(RUN_MODES)('$mode runs', ({ inlineRuns }) => {
  let sandbox: ProcessSandbox;

  beforeAll(() => {
    sandbox = createSandbox({ inlineRuns, processes: 1, isolatesPerProcess: 3, limits: { timeoutMs: 600, cpuTimeMs: 300 } });
  });

  afterAll(async () => {
    await sandbox.close();
  });

  describe('time limits', () => {
    it('stops a busy loop at the CPU limit and keeps the logs written before it', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('console.log("before the loop"); while (true) {}'), invoke);
      expect(run).toMatchObject({ status: 'timeout', result: null, error: { code: 'cpu_limit' } });
      expect(run.logs.map((line) => line.message)).toEqual(['before the loop']);
      expect(run.durationMs).toBeLessThan(2000);
    });

    it('stops a busy loop that starts after an awaited action', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('await actions.echo(1); for (;;) {}'), invoke);
      expect(run).toMatchObject({ status: 'timeout', error: { code: 'cpu_limit' } });
    });

    it('ends a never-settling promise at the wall clock while other runs complete meanwhile', async () => {
      const { invoke } = recordingInvoker();
      const started = performance.now();
      const hanging = sandbox.run(request('console.log("waiting"); await new Promise(() => {})'), invoke);
      const quick: Array<{ status: string; at: number }> = [];
      for (let i = 0; i < 10; i++) {
        const run = await sandbox.run(request(`result = ${i}`), invoke);
        quick.push({ status: run.status, at: performance.now() - started });
      }
      const run = await hanging;
      const hungFor = performance.now() - started;
      expect(run).toMatchObject({ status: 'timeout', result: null, error: { code: 'timeout' } });
      expect(run.logs.map((line) => line.message)).toEqual(['waiting']);
      expect(hungFor).toBeGreaterThanOrEqual(590);
      // Well before the parent's watchdog (timeoutMs + 1.5 s) would have killed the process.
      expect(hungFor).toBeLessThan(2000);
      expect(quick.every((q) => q.status === 'ok')).toBe(true);
      // All ten quick runs finished while the hanging one was still waiting.
      expect(Math.max(...quick.map((q) => q.at))).toBeLessThan(hungFor);
    });

    it('ends a run whose action never answers', async () => {
      const { invoke, calls } = recordingInvoker();
      const run = await sandbox.run(request('result = await actions.never()'), invoke);
      expect(calls.map((call) => call.id)).toEqual(['never']);
      expect(run).toMatchObject({ status: 'timeout', error: { code: 'timeout' } });
    });

    it('accepts per-run limits', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('await actions.slow(400); result = "done"', { limits: { timeoutMs: 2000 } }), invoke);
      expect(run).toMatchObject({ status: 'ok', result: 'done' });
      const short = await sandbox.run(request('await actions.slow(400); result = "done"', { limits: { timeoutMs: 100 } }), invoke);
      expect(short).toMatchObject({ status: 'timeout', error: { code: 'timeout' } });
    });
  });

  describe('memory limit', () => {
    it('ends a run that allocates without bound, and the next run works', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('const a = []; for (;;) a.push(new Array(1e6).fill(1))', { limits: { timeoutMs: 20_000, cpuTimeMs: 15_000 } }), invoke);
      expect(run).toMatchObject({ status: 'memory', result: null, error: { code: 'memory_limit' } });
      expect(sandbox.stats().isolates.memoryDisposals).toBeGreaterThanOrEqual(1);
      expect(await sandbox.run(request('result = "after"'), invoke)).toMatchObject({ status: 'ok', result: 'after' });
    });

    it('honours a per-run heap size', async () => {
      const { invoke } = recordingInvoker();
      // About 24 MB of doubles: fine in the default 64 MB heap, too much for 16 MB.
      const script = 'const a = new Array(3e6).fill(1.5); result = a.length';
      // Time limits far above what filling the array takes, even on a loaded machine: only the heap decides.
      const roomy = await sandbox.run(request(script, { limits: { cpuTimeMs: 5000, timeoutMs: 10_000 } }), invoke);
      expect(roomy).toMatchObject({ status: 'ok', result: 3e6 });
      const tight = await sandbox.run(request(script, { limits: { memoryMb: 16, cpuTimeMs: 5000, timeoutMs: 10_000 } }), invoke);
      expect(tight).toMatchObject({ status: 'memory', error: { code: 'memory_limit' } });
      expect(await sandbox.run(request('result = "default heap again"'), invoke)).toMatchObject({ status: 'ok' });
    });
  });

  describe('leftover work cannot stall the next run', () => {
    // A microtask loop left running when the result is delivered: isolated-vm's `timeout` does not cover
    // code resumed by a host answer, so without care the isolate would spin and the next run would wait.
    it.each([
      ['started synchronously', '(async () => { for (;;) await null; })(); result = 1'],
      ['started after an action answer', 'await actions.echo(1); (async () => { for (;;) await null; })(); result = 1'],
    ])('ends the run that leaves a microtask loop %s', async (_name, script) => {
      const { invoke } = recordingInvoker();
      const leaving = await sandbox.run(request(script), invoke);
      expect(leaving).toMatchObject({ status: 'timeout', error: { code: 'cpu_limit' } });
      // Every isolate of the process serves the next runs; a stalled one would hold a run until its
      // 600 ms wall clock.
      const started = performance.now();
      const next = await Promise.all([1, 2, 3].map((n) => sandbox.run(request(`result = ${n}`), invoke)));
      expect(next.map((run) => run.status)).toEqual(['ok', 'ok', 'ok']);
      expect(performance.now() - started).toBeLessThan(500);
    });

    it('replaces the isolate after a timeout instead of reusing it', async () => {
      const { invoke } = recordingInvoker();
      const before = sandbox.stats().isolates;
      await sandbox.run(request('while (true) {}'), invoke);
      const after = sandbox.stats().isolates;
      // Inline, the first slice is given up at its cap (one isolate) before the threaded run times out.
      expect(after.inlineYields - before.inlineYields).toBe(inlineRuns === false ? 0 : 1);
      expect(after.discarded).toBe(before.discarded + 1 + (after.inlineYields - before.inlineYields));
    });
  });
});
