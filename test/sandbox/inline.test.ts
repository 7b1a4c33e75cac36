import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type ProcessSandbox, type SandboxRunResult } from '../../src/sandbox/index.js';
import { recordingInvoker, request } from './helpers.js';

// Inline runs (src/sandbox/inline-policy.ts): a script with a record of quick runs enters its isolate
// with applySync on the child's main thread. These tests pin what must not change with the mode and
// how a script moves between the modes. RUN_MODES runs the other sandbox suites in both modes.

/** Spins for `ms` of wall time inside the isolate. */
const spin = (ms: number) => `{ const end = Date.now() + ${ms}; while (Date.now() < end) {} }`;

describe('inline runs after quick threaded ones', () => {
  let sandbox: ProcessSandbox;
  const counters = () => sandbox.stats().isolates;

  beforeAll(() => {
    sandbox = createSandbox({ processes: 1, isolatesPerProcess: 2, inlineRuns: { promoteAfterRuns: 3 } });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  /** Runs `script` once per body. `origin` (the filename) is where the script comes from: demotions there last. */
  async function runMany(script: string, bodies: unknown[], origin = 'webhook:test') {
    const { invoke, calls } = recordingInvoker();
    const runs: SandboxRunResult[] = [];
    for (const body of bodies) runs.push(await sandbox.run(request(script, { body, filename: origin }), invoke));
    return { runs, calls };
  }

  it('goes inline after three quick runs and gives the same results, action calls and console lines', async () => {
    const script = "console.log('amount', body.amount); const r = await actions.echo(body.amount); result = { r, keys: Object.keys(actions) }";
    const before = counters().inlineRuns;
    const { runs, calls } = await runMany(script, [{ amount: 1 }, { amount: 2 }, { amount: 3 }]);
    expect(counters().inlineRuns).toBe(before);
    const inline = await runMany(script, [{ amount: 4 }, { amount: 5 }]);
    expect(counters().inlineRuns).toBe(before + 2);
    for (const [i, run] of [...runs, ...inline.runs].entries()) {
      expect(run).toMatchObject({ status: 'ok', result: { r: i + 1, keys: ['echo', 'fail', 'slow', 'never'] }, logs: [{ level: 'log', message: `amount ${i + 1}` }] });
    }
    expect([...calls, ...inline.calls]).toEqual([1, 2, 3, 4, 5].map((n) => ({ id: 'echo', args: [n] })));
  });

  it('gives up an inline first slice past its cap with no effect, runs it again threaded, and sends the script back', async () => {
    const script = `if (body.heavy) ${spin(150)}\nconsole.log('start', body.n); await actions.echo(body.n); result = body.n`;
    await runMany(script, [{ n: 1 }, { n: 2 }, { n: 3 }], 'webhook:yield');
    const before = counters();
    const { runs, calls } = await runMany(script, [{ n: 4, heavy: true }], 'webhook:yield');
    const after = counters();
    expect(runs[0]).toMatchObject({ status: 'ok', result: 4, logs: [{ level: 'log', message: 'start 4' }] });
    // The given-up slice never reached the host: one action call, one console line.
    expect(calls).toEqual([{ id: 'echo', args: [4] }]);
    expect(after.inlineYields).toBe(before.inlineYields + 1);
    expect(after.inlineDemotions).toBe(before.inlineDemotions + 1);
    // Threaded again: the next run is not inline.
    await runMany(script, [{ n: 5 }], 'webhook:yield');
    expect(counters().inlineRuns).toBe(after.inlineRuns);
  });

  it('lets a long slice after an action finish, then sends the script back to threaded', async () => {
    const script = `await actions.echo(body.n);\nif (body.heavy) ${spin(120)}\nresult = body.n`;
    await runMany(script, [{ n: 1 }, { n: 2 }, { n: 3 }], 'webhook:slow');
    const before = counters();
    const { runs } = await runMany(script, [{ n: 4, heavy: true }], 'webhook:slow');
    expect(runs[0]).toMatchObject({ status: 'ok', result: 4 });
    const after = counters();
    expect(after.inlineRuns).toBe(before.inlineRuns + 1);
    expect(after.inlineDemotions).toBe(before.inlineDemotions + 1);
    await runMany(script, [{ n: 5 }], 'webhook:slow');
    expect(counters().inlineRuns).toBe(after.inlineRuns);
    // A new version of the script from the same webhook needs twice the quick runs: editing it does not
    // reset what the demotion cost.
    const edited = script.replace('result = body.n', 'result = body.n + 0');
    await runMany(edited, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }], 'webhook:slow');
    const beforeSixth = counters().inlineRuns;
    expect(beforeSixth).toBe(after.inlineRuns);
    await runMany(edited, [{ n: 6 }, { n: 7 }], 'webhook:slow');
    // Runs 1–6 are threaded (6 quick runs needed); run 7 is inline.
    expect(counters().inlineRuns).toBe(beforeSixth + 1);
  });

  it('never resumes code of an inline run once it has its outcome, and does not reuse that isolate', async () => {
    // The answer to echo(2) comes right after the one the script awaits, often in the same message: it
    // must not resume the detached continuation of a run that has already ended.
    const script = "const p = actions.echo(1); if (body.detach) actions.echo(2).then(() => actions.echo('late')); await p; result = 'ok'";
    await runMany(script, [{}, {}, {}]);
    const before = counters();
    const { runs, calls } = await runMany(script, [{ detach: true }, { detach: true }]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(runs.map((run) => run.status)).toEqual(['ok', 'ok']);
    expect(counters().inlineRuns).toBe(before.inlineRuns + 2);
    expect(calls.map((call) => call.args[0])).toEqual([1, 2, 1, 2]);
    expect(counters().discarded).toBe(before.discarded + 2);
  });

  it('ends an inline run that spins after an action at the CPU limit, and the next run works', async () => {
    const script = 'await actions.echo(1);\nif (body.spin) for (;;) {}\nresult = "fine"';
    await runMany(script, [{}, {}, {}]);
    const { invoke } = recordingInvoker();
    const spun = await sandbox.run(request(script, { body: { spin: true }, filename: 'webhook:cpu', limits: { cpuTimeMs: 300, timeoutMs: 5000 } }), invoke);
    expect(spun).toMatchObject({ status: 'timeout', error: { code: 'cpu_limit' } });
    expect(await sandbox.run(request(script, { body: {} }), invoke)).toMatchObject({ status: 'ok', result: 'fine' });
  });
});

describe('inline from the first run', () => {
  let sandbox: ProcessSandbox;

  beforeAll(() => {
    // A slice cap far above anything here: what ends these runs is the limit under test, inline.
    sandbox = createSandbox({ processes: 1, isolatesPerProcess: 2, inlineRuns: { promoteAfterRuns: 0, sliceLimitMs: 30_000 } });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('still makes an action call the script did not await before it ended', async () => {
    const { invoke, calls } = recordingInvoker();
    const run = await sandbox.run(request("actions.echo('late'); result = 1"), invoke);
    expect(run).toMatchObject({ status: 'ok', result: 1 });
    await expect.poll(() => calls).toEqual([{ id: 'echo', args: ['late'] }]);
    expect(sandbox.stats().isolates.inlineRuns).toBeGreaterThanOrEqual(1);
  });

  it('records a memory bomb as memory, and the next run works', async () => {
    const { invoke } = recordingInvoker();
    const run = await sandbox.run(request('const a = []; for (;;) a.push(new Array(1e6).fill(1))', { limits: { timeoutMs: 20_000, cpuTimeMs: 15_000 } }), invoke);
    expect(run).toMatchObject({ status: 'memory', error: { code: 'memory_limit' } });
    expect(await sandbox.run(request('result = "after"'), invoke)).toMatchObject({ status: 'ok', result: 'after' });
  });

  it('ends a run waiting for an action that never answers at the wall clock', async () => {
    const { invoke } = recordingInvoker();
    const started = Date.now();
    const run = await sandbox.run(request('await actions.never(); result = 1', { limits: { timeoutMs: 300 } }), invoke);
    expect(run).toMatchObject({ status: 'timeout', error: { code: 'timeout' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(await sandbox.run(request('result = await actions.echo(2)'), invoke)).toMatchObject({ status: 'ok', result: 2 });
  });
});
