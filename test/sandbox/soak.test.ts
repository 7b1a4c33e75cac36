import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type ProcessSandbox } from '../../src/sandbox/index.js';
import { recordingInvoker, request } from './helpers.js';

const RUNS = 3200;
const RECYCLE_AFTER = 500;
const MEMORY_MB = 32;

let sandbox: ProcessSandbox;

beforeAll(() => {
  sandbox = createSandbox({ processes: 1, isolatesPerProcess: 4, recycleAfterRuns: RECYCLE_AFTER, limits: { memoryMb: MEMORY_MB } });
});

afterAll(async () => {
  await sandbox.close();
});

describe('soak', () => {
  it(`stays healthy over ${RUNS} runs: isolates recycled by count, none lost to memory`, async () => {
    const { invoke } = recordingInvoker();
    // 150 script versions cycle through each isolate's 100-entry compile cache, so compiled scripts
    // (References into the context) are made and released all along, plus action calls and logs.
    const scriptFor = (i: number): string =>
      `// version ${i % 150}\nconst echoed = await actions.echo({ i: body.i, pad: 'x'.repeat(200) });\nconsole.log('run', body.i);\nresult = { event: 'e', data: echoed.i + ${i % 150} };`;
    let next = 0;
    const failures: unknown[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < RUNS) {
          const i = next++;
          const run = await sandbox.run(request(scriptFor(i), { body: { i } }), invoke);
          if (run.status !== 'ok' || (run.result as { data: number }).data !== i + (i % 150)) failures.push(run);
        }
      }),
    );
    expect(failures).toEqual([]);
    const { isolates, restarts } = sandbox.stats();
    expect(restarts).toBe(0);
    expect(isolates.memoryDisposals).toBe(0);
    expect(isolates.discarded).toBe(0);
    expect(isolates.recycledByRuns).toBeGreaterThanOrEqual(Math.floor(RUNS / RECYCLE_AFTER) - 4);
    expect(isolates.probeFailures).toBe(0);
    // The heap of a recycled-by-count isolate never came near its limit.
    expect(isolates.maxHeapUsedBytes).toBeGreaterThan(0);
    expect(isolates.maxHeapUsedBytes).toBeLessThan(0.5 * MEMORY_MB * 1024 * 1024);
  }, 60_000);
});
