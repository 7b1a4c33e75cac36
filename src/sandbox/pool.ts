import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AppError } from '../errors.js';
import { createSilentLogger, type Logger } from '../logger.js';
import type { InlinePolicyOptions } from './inline-policy.js';
import { emptyCounters, type WorkerConfig, type WorkerCounters } from './protocol.js';
import { DEFAULT_LIMITS } from './types.js';
import type { ActionInvoker, Sandbox, SandboxLimits, SandboxOptions, SandboxRunRequest, SandboxRunResult, SandboxStats } from './types.js';
import { WorkerProcess, type PendingRun, type WorkerEntry } from './worker-process.js';

/** `stats()` of the process sandbox: the interface's figures plus what tests and operators look at. */
export interface SandboxPoolStats extends SandboxStats {
  /** Worker processes ready to take runs (started, first isolate made). */
  ready: number;
  /** Process ids of the live worker processes. */
  pids: number[];
  /** Isolate bookkeeping summed over the live worker processes (as of each one's last finished run). */
  isolates: WorkerCounters;
}

export interface ProcessSandbox extends Sandbox {
  stats(): SandboxPoolStats;
}

const MAX_RESTART_DELAY_MS = 5000;

/**
 * Runs scripts in isolates hosted by supervised child processes (see worker.ts). Runs go to the
 * process with the fewest runs in flight, up to `isolatesPerProcess` each, then wait in a FIFO queue
 * of `maxQueue`; past that, or after `maxQueueWaitMs` in the queue, `run` rejects with `sandbox_busy`.
 * A process that dies is replaced at once and its runs end as `crashed`; nothing a script does makes
 * `run` reject.
 *
 * @example
 * const sandbox = createSandbox({ processes: 2, limits: { timeoutMs: 2000 } });
 * const run = await sandbox.run(
 *   { runId: 'r1', script: 'result = await actions.echo(body.x)', scriptKey: 'k1', filename: 'webhook:demo',
 *     body: { x: 1 }, headers: {}, actionIds: ['echo'] },
 *   async (id, args) => args[0],
 * );
 * // run.status === 'ok', run.result === 1
 * await sandbox.close();
 */
export function createSandbox(options: SandboxOptions & { logger?: Logger } = {}): ProcessSandbox {
  const logger = options.logger ?? createSilentLogger();
  const processes = Math.max(1, options.processes ?? 1);
  const isolatesPerProcess = Math.max(1, options.isolatesPerProcess ?? 8);
  const maxQueue = Math.max(0, options.maxQueue ?? 256);
  const maxQueueWaitMs = Math.max(1, options.maxQueueWaitMs ?? 10_000);
  const baseLimits = mergeLimits(DEFAULT_LIMITS, options.limits);
  const config: WorkerConfig = {
    isolates: isolatesPerProcess,
    memoryMb: baseLimits.memoryMb,
    recycleAfterRuns: Math.max(1, options.recycleAfterRuns ?? 2000),
    recycleHeapFraction: options.recycleHeapFraction ?? 0.5,
    inline: inlineOptions(options.inlineRuns),
  };
  const entry = workerEntry();
  const workers: WorkerProcess[] = [];
  const queue: PendingRun[] = [];
  let restarts = 0;
  let closed = false;
  let nextId = 1;
  const failedStarts = new Map<number, number>();

  const events = {
    ready: () => pump(),
    settled: () => pump(),
    exit: (worker: WorkerProcess, wasReady: boolean) => {
      const slot = workers.indexOf(worker);
      if (closed || slot < 0) return;
      restarts++;
      // A process that dies before it is ready would die again at once: back off.
      const failures = wasReady ? 0 : (failedStarts.get(slot) ?? 0) + 1;
      failedStarts.set(slot, failures);
      const delay = failures === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** failures);
      if (delay > 0) logger.error('sandbox worker died before it was ready; restarting', { delayMs: delay });
      const replace = (): void => {
        if (!closed) workers[slot] = start();
      };
      if (delay === 0) replace();
      else setTimeout(replace, delay).unref();
      pump();
    },
  };

  function start(): WorkerProcess {
    return new WorkerProcess(entry, config, events, logger);
  }

  /** The ready process with the fewest runs in flight and room for one more. */
  function pick(): WorkerProcess | null {
    let best: WorkerProcess | null = null;
    for (const worker of workers) {
      if (!worker.ready || worker.dead || worker.runs.size >= isolatesPerProcess) continue;
      if (best === null || worker.runs.size < best.runs.size) best = worker;
    }
    return best;
  }

  function pump(): void {
    while (queue.length > 0) {
      const worker = pick();
      if (worker === null) return;
      const run = queue.shift() as PendingRun;
      clearTimeout(run.queueTimer);
      worker.dispatch(run);
    }
  }

  function enqueue(run: PendingRun): void {
    queue.push(run);
    // No process took it in time (all busy for long, or none can start): the caller should retry later.
    run.queueTimer = setTimeout(() => {
      const index = queue.indexOf(run);
      if (index < 0) return;
      queue.splice(index, 1);
      run.reject(new AppError('sandbox_busy', 'No sandbox process could take the run in time; retry later.'));
    }, maxQueueWaitMs);
  }

  for (let i = 0; i < processes; i++) workers.push(start());

  return {
    run(request: SandboxRunRequest, invokeAction: ActionInvoker): Promise<SandboxRunResult> {
      if (closed) return Promise.reject(new AppError('sandbox_closed'));
      let input: string;
      try {
        input = JSON.stringify([request.body ?? null, request.headers ?? {}]);
      } catch (err) {
        return Promise.reject(new AppError('internal_error', 'The run input is not JSON-serialisable', { cause: err }));
      }
      return new Promise<SandboxRunResult>((resolve, reject) => {
        const run: PendingRun = {
          id: nextId++,
          request,
          limits: mergeLimits(baseLimits, request.limits),
          input,
          invokeAction,
          resolve,
          reject,
          actionCalls: 0,
          actionLimitHit: false,
          dispatchedAt: 0,
          watchdog: undefined,
          queueTimer: undefined,
        };
        const worker = queue.length === 0 ? pick() : null;
        if (worker !== null) worker.dispatch(run);
        else if (queue.length >= maxQueue) reject(new AppError('sandbox_busy'));
        else enqueue(run);
      });
    },

    stats(): SandboxPoolStats {
      const live = workers.filter((worker) => !worker.dead);
      const isolates = emptyCounters();
      for (const worker of live) {
        if (worker.counters === null) continue;
        for (const key of Object.keys(isolates) as Array<keyof WorkerCounters>) {
          isolates[key] = key === 'maxHeapUsedBytes' ? Math.max(isolates[key], worker.counters[key]) : isolates[key] + worker.counters[key];
        }
      }
      return {
        processes: live.length,
        ready: live.filter((worker) => worker.ready).length,
        busy: live.reduce((sum, worker) => sum + worker.runs.size, 0),
        queued: queue.length,
        capacity: processes * isolatesPerProcess,
        restarts,
        pids: live.map((worker) => worker.pid).filter((pid): pid is number => pid !== undefined),
        isolates,
      };
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const run of queue.splice(0)) {
        clearTimeout(run.queueTimer);
        run.reject(new AppError('sandbox_closed'));
      }
      for (const worker of workers) worker.terminate('sandbox_closed', 'The sandbox was closed during this run');
      await Promise.all(workers.map((worker) => worker.exited()));
    },
  };
}

/** Smallest accepted value of each limit (isolated-vm refuses heaps under 8 MB). */
const LIMIT_FLOORS: Readonly<SandboxLimits> = {
  timeoutMs: 1,
  cpuTimeMs: 1,
  memoryMb: 8,
  maxResultBytes: 0,
  maxActionCalls: 0,
  maxConsoleLines: 0,
  maxConsoleBytes: 0,
};

/** Merges limits; fields given as undefined (or not numbers) keep the base value. */
function mergeLimits(base: Readonly<SandboxLimits>, override: Partial<SandboxLimits> | undefined): SandboxLimits {
  const limits = { ...base };
  if (override !== undefined) {
    for (const key of Object.keys(limits) as Array<keyof SandboxLimits>) {
      const value = override[key];
      if (typeof value === 'number' && Number.isFinite(value)) limits[key] = Math.max(LIMIT_FLOORS[key], Math.floor(value));
    }
  }
  return limits;
}

/**
 * The compiled worker.js beside this file (dist/src/sandbox/), or, when running from sources (vitest,
 * tsx), worker.ts loaded through tsx.
 */
function workerEntry(): WorkerEntry {
  const compiled = new URL('./worker.js', import.meta.url);
  if (existsSync(compiled)) return { path: fileURLToPath(compiled), execArgv: ['--no-node-snapshot'] };
  let tsx = 'tsx';
  try {
    tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  } catch {
    // Fall back to resolving `tsx` from the working directory.
  }
  return { path: fileURLToPath(new URL('./worker.ts', import.meta.url)), execArgv: ['--no-node-snapshot', '--import', tsx] };
}

function inlineOptions(option: SandboxOptions['inlineRuns']): InlinePolicyOptions {
  if (option === false) return { enabled: false };
  return { enabled: true, ...(option === true || option === undefined ? {} : option) };
}
