import type { IsolateHost } from './isolate-host.js';
import type { WorkerConfig, WorkerCounters } from './protocol.js';

export interface IsolatePoolOptions {
  config: WorkerConfig;
  createHost(memoryMb: number): Promise<IsolateHost>;
  onError(message: string, err: unknown): void;
}

/** A run waiting for an isolate; `cancelled` when its wall clock ran out first. */
export interface IsolateRequest {
  readonly host: Promise<IsolateHost>;
  cancel(): void;
}

interface Waiter {
  memoryMb: number;
  resolve(host: IsolateHost): void;
  cancelled: boolean;
}

const PROBE_TIMEOUT_MS = 100;
const HEAP_CHECK_EVERY_RUNS = 8;
const RETRY_CREATE_MS = 250;

/**
 * The isolates of one child process: `config.isolates` slots, each warming, idle, busy or being
 * heap-checked. Isolates are made ahead of need and replaced in the background, so no run waits for
 * one unless every slot is busy (the parent never sends more runs than slots) or it asks for another
 * heap size. An isolate is reused only after a clean run; every few runs its heap is checked too.
 */
export class IsolatePool {
  readonly counters: WorkerCounters = {
    isolatesCreated: 0,
    recycledByRuns: 0,
    recycledByHeap: 0,
    discarded: 0,
    probeFailures: 0,
    memoryDisposals: 0,
    compilations: 0,
    maxHeapUsedBytes: 0,
    inlineRuns: 0,
    inlineYields: 0,
    inlineDemotions: 0,
  };
  private readonly idle: IsolateHost[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly firstReady: Promise<void>;
  private markReady!: () => void;

  constructor(private readonly options: IsolatePoolOptions) {
    this.firstReady = new Promise((resolve) => {
      this.markReady = resolve;
    });
    for (let i = 0; i < options.config.isolates; i++) this.spawn(options.config.memoryMb);
  }

  /** Resolves once one isolate can take a run. */
  ready(): Promise<void> {
    return this.firstReady;
  }

  acquire(memoryMb: number): IsolateRequest {
    this.dropDisposedIdle();
    const index = this.idle.findIndex((host) => host.memoryMb === memoryMb);
    if (index >= 0) {
      const [host] = this.idle.splice(index, 1);
      return { host: Promise.resolve(host as IsolateHost), cancel: () => undefined };
    }
    let waiter!: Waiter;
    const host = new Promise<IsolateHost>((resolve) => {
      waiter = { memoryMb, resolve, cancelled: false };
    });
    this.waiters.push(waiter);
    // Every slot idle but with another heap size: trade one for the size this run asks for.
    const mismatched = this.idle.shift();
    if (mismatched !== undefined) this.retire(mismatched, memoryMb);
    return { host, cancel: () => (waiter.cancelled = true) };
  }

  /**
   * Gives an isolate back after a run. `clean` is false after a timeout, a memory breach, a crash or a
   * run that left action calls pending: the isolate is then replaced, never reused.
   */
  release(host: IsolateHost, clean: boolean): void {
    this.counters.compilations += host.compilations;
    host.compilations = 0;
    if (!clean || host.disposed) {
      this.counters.discarded++;
      this.retire(host, this.options.config.memoryMb);
      return;
    }
    if (host.runs >= this.options.config.recycleAfterRuns) {
      this.counters.recycledByRuns++;
      this.retire(host, this.options.config.memoryMb);
      return;
    }
    // A run cannot leave code running once it has ended (see IsolateHost.deliver), so the heap check
    // that doubles as a liveness probe runs every few runs rather than after each (it costs a crossing).
    if (host.runs % HEAP_CHECK_EVERY_RUNS !== 0) {
      this.offer(host);
      return;
    }
    void host.usedHeap(PROBE_TIMEOUT_MS).then((used) => {
      if (used === null) {
        this.counters.probeFailures++;
        this.counters.discarded++;
        this.retire(host, this.options.config.memoryMb);
        return;
      }
      this.counters.maxHeapUsedBytes = Math.max(this.counters.maxHeapUsedBytes, used);
      if (used > this.options.config.recycleHeapFraction * host.memoryMb * 1024 * 1024) {
        this.counters.recycledByHeap++;
        this.retire(host, this.options.config.memoryMb);
        return;
      }
      this.offer(host);
    });
  }

  /** Notes an isolate that the memory limit disposed of. */
  noteMemoryDisposal(): void {
    this.counters.memoryDisposals++;
  }

  /** An idle isolate can only be disposed by something unforeseen; never hand such a one out. */
  private dropDisposedIdle(): void {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const host = this.idle[i] as IsolateHost;
      if (!host.disposed) continue;
      this.idle.splice(i, 1);
      this.counters.discarded++;
      this.spawn(this.options.config.memoryMb);
    }
  }

  private retire(host: IsolateHost, replacementMb: number): void {
    host.dispose('retired');
    this.spawn(replacementMb);
  }

  private spawn(memoryMb: number): void {
    this.options.createHost(memoryMb).then(
      (host) => {
        this.counters.isolatesCreated++;
        this.markReady();
        this.offer(host);
      },
      (err: unknown) => {
        this.options.onError('creating an isolate failed; retrying', err);
        setTimeout(() => this.spawn(memoryMb), RETRY_CREATE_MS).unref();
      },
    );
  }

  private offer(host: IsolateHost): void {
    for (;;) {
      const waiter = this.waiters.shift();
      if (waiter === undefined) {
        this.idle.push(host);
        return;
      }
      if (waiter.cancelled) continue;
      if (waiter.memoryMb === host.memoryMb) {
        waiter.resolve(host);
        return;
      }
      // The first run in line needs another heap size: replace this isolate with one of that size.
      this.waiters.unshift(waiter);
      this.retire(host, waiter.memoryMb);
      return;
    }
  }
}
