import ivm from 'isolated-vm';
import { HARDEN_SOURCE } from './harden-source.js';
import { RUNTIME_SOURCE } from './runtime-source.js';
import { WRAPPER_LINE_OFFSET, wrapScript } from './script-wrapper.js';
import type { RunError, RunStatus } from './types.js';

/** What the runtime in a context calls on the host (through `applyIgnored`, so nothing is awaited). */
export interface HostCallbacks {
  /** An action call; answer it with `host.deliver(call, envelope)`. */
  action(host: IsolateHost, token: unknown, call: unknown, actionId: unknown, argsJson: unknown): void;
  console(token: unknown, level: unknown, line: unknown): void;
  /** V8 lost control of the isolate; the process must end. */
  catastrophic(message: string): void;
}

/**
 * How a run enters its isolate: `threaded` with isolated-vm's async `apply` (the script runs on
 * isolated-vm's own thread while this process's main thread goes on), `inline` with `applySync` (the
 * script runs on this process's main thread: about a third of the CPU cost, but the thread is held for
 * as long as a slice of the script runs). worker.ts picks one per run with {@link InlinePolicy}.
 */
export type RunMode = 'inline' | 'threaded';

export interface ExecuteRequest {
  scriptKey: string;
  mode: RunMode;
  /**
   * Inline only: the CPU cap of the first slice (up to the first await of an action). Past it the run
   * is given up before anything left the isolate (`yielded`), so it can run again threaded.
   */
  inlineStartCapMs: number;
  script: string;
  filename: string;
  /** The one JSON string the runtime parses (see runtime-source.ts). */
  payload: string;
  cpuTimeMs: number;
}

export interface ExecuteOutcome {
  status: RunStatus;
  /** JSON text of `result` when status is `ok`. */
  result: string | null;
  /** JSON text of `response` when status is `ok` and the script set one. */
  response?: string | null;
  error?: RunError;
  /** Console lines the runtime dropped before they crossed. */
  dropped: number;
  /** False when the isolate must not serve another run (timeout, memory, crash). */
  reusable: boolean;
  /** Bridge calls (action calls, console lines) the run made; absent when it did not reach a reply. */
  sent?: number;
  /** Inline only: the first slice passed `inlineStartCapMs`; nothing left the isolate. */
  yielded?: boolean;
  /** Inline only: the longest time one slice held the thread, in ms. */
  longestSliceMs?: number;
}

/** Why the host disposed the isolate itself; anything else disposing it is the memory limit. */
export type DisposeReason = 'timeout' | 'cpu' | 'crashed' | 'retired';

interface CompiledScript {
  script: string;
  fn: ivm.Reference<unknown>;
}

interface RuntimeReply {
  status: RunStatus;
  result?: string;
  response?: string | null;
  code?: string;
  message?: string;
  line?: number;
  column?: number;
  dropped: number;
  sent: number;
}

const COMPILED_PER_ISOLATE = 100;
const RUNNER_RESULT = { promise: true, copy: true } as const;
const TIMED_OUT = 'Script execution timed out';

/**
 * One isolate with ONE hardened context, reused run after run (a context per run costs ~10× the run).
 * Runs one script at a time, so disposing it on a timeout never harms another run. Compiled scripts
 * are kept per isolate (LRU); References into the context live as long as the isolate, which is
 * disposed as a whole when retired.
 */
export class IsolateHost {
  runs = 0;
  compilations = 0;
  private disposeReason: DisposeReason | null = null;
  private readonly compiled = new Map<string, CompiledScript>();
  /** `deliver` calls not yet returned: the isolate is quiet only when this is empty. */
  private readonly deliveries = new Set<Promise<void>>();
  private deliveryError: unknown = null;
  private cpuTimeMs = 0;
  private runCpuStartMs = 0;
  private mode: RunMode = 'threaded';
  private longestSliceMs = 0;
  /** An inline run that has not settled yet: its reply comes with an action answer (`deliver`). */
  private waiting: ((outcome: ExecuteOutcome) => void) | null = null;
  /** From the start of execute() until its run's outcome is known; no answer enters the isolate outside it. */
  private active = false;
  private leftover = false;

  private constructor(
    readonly isolate: ivm.Isolate,
    private readonly context: ivm.Context,
    private readonly runner: ivm.Reference<unknown>,
    private readonly deliverer: ivm.Reference<unknown>,
    private readonly starter: ivm.Reference<unknown>,
    private readonly taker: ivm.Reference<unknown>,
    readonly memoryMb: number,
  ) {}

  static async create(memoryMb: number, callbacks: HostCallbacks): Promise<IsolateHost> {
    const isolate = new ivm.Isolate({ memoryLimit: memoryMb, onCatastrophicError: callbacks.catastrophic });
    let host: IsolateHost | null = null;
    // Bridges are per isolate, so an action call always knows which isolate to answer.
    const actionBridge = new ivm.Reference((token: unknown, call: unknown, actionId: unknown, argsJson: unknown) => {
      if (host !== null) callbacks.action(host, token, call, actionId, argsJson);
    });
    const consoleBridge = new ivm.Reference(callbacks.console);
    try {
      const context = await isolate.createContext();
      const runtime = (await context.evalClosure(RUNTIME_SOURCE, [actionBridge, consoleBridge], {
        filename: 'hookgate:runtime',
        result: { reference: true },
      })) as ivm.Reference<Record<string, unknown>>;
      const runner = runtime.getSync('run', { reference: true }) as ivm.Reference<unknown>;
      const deliverer = runtime.getSync('deliver', { reference: true }) as ivm.Reference<unknown>;
      const starter = runtime.getSync('start', { reference: true }) as ivm.Reference<unknown>;
      const taker = runtime.getSync('take', { reference: true }) as ivm.Reference<unknown>;
      runtime.release();
      await context.eval(HARDEN_SOURCE, { filename: 'hookgate:harden' });
      host = new IsolateHost(isolate, context, runner, deliverer, starter, taker, memoryMb);
      return host;
    } catch (err) {
      if (!isolate.isDisposed) isolate.dispose();
      throw err;
    }
  }

  get disposed(): boolean {
    return this.isolate.isDisposed;
  }

  /**
   * An answer came for a run that already had its outcome: code of that run still waits in the isolate
   * (it was not run), so the isolate must not serve another run.
   */
  get hasLeftover(): boolean {
    return this.leftover;
  }

  /** True while a run executes here (until its outcome is known). */
  get busy(): boolean {
    return this.active;
  }

  /** The longest slice of the current or last inline run, in ms. */
  get longestInlineSliceMs(): number {
    return this.longestSliceMs;
  }

  /** The rest of the current run enters the isolate threaded (its script was sent back; see InlinePolicy). */
  useThreaded(): void {
    this.mode = 'threaded';
  }

  /** Used CPU time in milliseconds (isolated-vm measures it on the isolate's own thread). */
  cpuMs(): number {
    return Number(this.isolate.cpuTime) / 1e6;
  }

  /** Disposes the isolate, ending whatever runs in it; the pending execute() then reports `reason`. */
  dispose(reason: DisposeReason): void {
    if (this.isolate.isDisposed) return;
    this.disposeReason ??= reason;
    this.isolate.dispose();
    // A threaded run learns it from its rejected apply; an inline run waiting for an answer from here.
    this.settle(() => this.failure(new Error('The isolate was disposed')));
  }

  /**
   * Answers an action call. The script code this resumes runs inside this call, under the run's CPU
   * timeout; a timeout here ends the run (`cpu_limit`).
   */
  deliver(call: number, envelope: string): void {
    if (this.isolate.isDisposed) return;
    if (!this.active) {
      this.leftover = true;
      return;
    }
    if (this.mode === 'inline') {
      try {
        const spentMs = this.cpuMs() - this.runCpuStartMs;
        this.slice(this.deliverer, [call, envelope], Math.max(1, Math.ceil(this.cpuTimeMs - spentMs)));
      } catch (err) {
        const reason = errorText(err).includes(TIMED_OUT) ? 'cpu' : 'crashed';
        this.disposeReason ??= reason;
        this.settle(() => this.failure(err));
        // Also when no run waits (code a finished run left behind): never reuse this isolate.
        this.dispose(reason);
        return;
      }
      if (this.waiting !== null) {
        const outcome = this.take();
        if (outcome !== null) this.settle(() => outcome);
      }
      return;
    }
    const delivery = this.deliverer.apply(undefined, [call, envelope], { timeout: this.cpuTimeMs }).then(
      () => {
        // A run begun inline whose script was sent back to threaded gets its reply here.
        if (this.waiting === null) return;
        const outcome = this.take();
        if (outcome !== null) this.settle(() => outcome);
      },
      (err: unknown) => {
        this.deliveryError ??= err;
        if (!this.isolate.isDisposed) this.dispose(errorText(err).includes(TIMED_OUT) ? 'cpu' : 'crashed');
      },
    );
    this.deliveries.add(delivery);
    void delivery.then(() => this.deliveries.delete(delivery));
  }

  async execute(request: ExecuteRequest): Promise<ExecuteOutcome> {
    this.active = true;
    try {
      return await this.executeActive(request);
    } finally {
      this.active = false;
    }
  }

  private async executeActive(request: ExecuteRequest): Promise<ExecuteOutcome> {
    let fn: ivm.Reference<unknown>;
    try {
      fn = await this.compile(request);
    } catch (err) {
      if (this.isolate.isDisposed) return this.failure(err);
      return { status: 'error', result: null, error: compileError(err, request.filename), dropped: 0, reusable: true };
    }
    let reply: RuntimeReply;
    this.cpuTimeMs = request.cpuTimeMs;
    this.deliveryError = null;
    this.mode = request.mode;
    this.longestSliceMs = 0;
    this.runCpuStartMs = this.cpuMs();
    if (request.mode === 'inline') return this.executeInline(fn, request);
    try {
      reply = (await this.runner.apply(undefined, [fn.derefInto(), request.payload], {
        result: RUNNER_RESULT,
        timeout: request.cpuTimeMs,
      })) as RuntimeReply;
      // The result can leave while code it started still runs (a microtask loop resumed by an
      // answer): the run ends when every answer's call has returned.
      while (this.deliveries.size > 0) await Promise.all(this.deliveries);
      if (this.deliveryError !== null) throw this.deliveryError;
    } catch (err) {
      return this.failure(err);
    }
    this.runs++;
    return outcomeOf(reply, 0);
  }

  /**
   * The first slice runs under `inlineStartCapMs`; the run then settles there or in a later `deliver`.
   * Bridge calls made in a slice reach the host only after `applySync` returns (they are queued tasks),
   * so a first slice given up at its cap has had no effect outside the isolate.
   */
  private executeInline(fn: ivm.Reference<unknown>, request: ExecuteRequest): Promise<ExecuteOutcome> | ExecuteOutcome {
    const cap = Math.min(request.cpuTimeMs, request.inlineStartCapMs);
    try {
      this.slice(this.starter, [fn.derefInto(), request.payload], cap);
    } catch (err) {
      if (cap < request.cpuTimeMs && !this.isolate.isDisposed && errorText(err).includes(TIMED_OUT)) {
        this.dispose('retired');
        return { status: 'timeout', result: null, dropped: 0, reusable: false, yielded: true, longestSliceMs: this.longestSliceMs };
      }
      return this.failure(err);
    }
    const outcome = this.take();
    if (outcome !== null) return outcome;
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /** One entry into the isolate on this thread, timed. */
  private slice(target: ivm.Reference<unknown>, args: unknown[], timeoutMs: number): void {
    const started = performance.now();
    try {
      target.applySync(undefined, args, { timeout: timeoutMs });
    } finally {
      this.longestSliceMs = Math.max(this.longestSliceMs, performance.now() - started);
    }
  }

  /** The inline run's outcome once it has settled, else null. */
  private take(): ExecuteOutcome | null {
    const reply = this.taker.applySync(undefined, [], { result: { copy: true } }) as RuntimeReply | undefined;
    if (reply === undefined) return null;
    // Cleared here, not when execute() resumes: an answer handled before that must not enter.
    this.active = false;
    this.runs++;
    return outcomeOf(reply, this.longestSliceMs);
  }

  /** Ends a waiting inline run with the outcome `make` gives (made only when a run waits). */
  private settle(make: () => ExecuteOutcome): void {
    const waiting = this.waiting;
    if (waiting === null) return;
    this.waiting = null;
    this.active = false;
    waiting(make());
  }

  /**
   * Heap check, raced against a timer: the call queues behind anything still running in the isolate,
   * so it is a liveness probe too. Answers null when the isolate did not answer in time.
   */
  async usedHeap(timeoutMs: number): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    try {
      const heap = await Promise.race([this.isolate.getHeapStatistics().catch(() => null), expired]);
      return heap === null ? null : heap.used_heap_size + heap.externally_allocated_size;
    } finally {
      clearTimeout(timer);
    }
  }

  private async compile(request: ExecuteRequest): Promise<ivm.Reference<unknown>> {
    const cached = this.compiled.get(request.scriptKey);
    if (cached !== undefined && cached.script === request.script) {
      // Map order is the LRU order: move the hit to the end.
      this.compiled.delete(request.scriptKey);
      this.compiled.set(request.scriptKey, cached);
      return cached.fn;
    }
    if (cached !== undefined) this.forget(request.scriptKey, cached);
    const fn = (await this.context.eval(wrapScript(request.script), {
      filename: request.filename,
      lineOffset: WRAPPER_LINE_OFFSET,
      reference: true,
      timeout: request.cpuTimeMs,
    })) as ivm.Reference<unknown>;
    this.compilations++;
    this.compiled.set(request.scriptKey, { script: request.script, fn });
    if (this.compiled.size > COMPILED_PER_ISOLATE) {
      const [oldestKey, oldest] = this.compiled.entries().next().value as [string, CompiledScript];
      this.forget(oldestKey, oldest);
    }
    return fn;
  }

  private forget(key: string, entry: CompiledScript): void {
    this.compiled.delete(key);
    entry.fn.release();
  }

  private failure(err: unknown): ExecuteOutcome {
    const message = errorText(err);
    const fail = (status: RunStatus, code: string, text: string): ExecuteOutcome => {
      this.dispose('retired');
      return { status, result: null, error: { code, message: text }, dropped: 0, reusable: false, longestSliceMs: this.longestSliceMs };
    };
    if (this.disposeReason === 'timeout') return fail('timeout', 'timeout', 'The script ran longer than its time limit');
    if (this.disposeReason === 'cpu' || message.includes(TIMED_OUT)) {
      return fail('timeout', 'cpu_limit', 'The script used more CPU time than its limit');
    }
    if (this.disposeReason === null && (this.isolate.isDisposed || message.includes('memory limit'))) {
      return fail('memory', 'memory_limit', 'The script used more memory than its limit');
    }
    return fail('crashed', 'sandbox_crashed', `The sandbox failed: ${message.slice(0, 200)}`);
  }
}

function outcomeOf(reply: RuntimeReply, longestSliceMs: number): ExecuteOutcome {
  const common = { dropped: reply.dropped, reusable: true, sent: reply.sent, longestSliceMs };
  if (reply.status === 'ok') return { status: 'ok', result: reply.result ?? 'null', response: reply.response ?? null, ...common };
  const error: RunError = { code: reply.code ?? 'script_error', message: reply.message ?? '' };
  if (reply.line !== undefined) error.line = reply.line;
  if (reply.column !== undefined) error.column = reply.column;
  return { status: reply.status, result: null, error, ...common };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A compile error the syntax check did not catch (it should); the position comes from isolated-vm's `[file:line:col]`. */
function compileError(err: unknown, filename: string): RunError {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const marker = ` [${filename}:`;
  const at = text.lastIndexOf(marker);
  if (at < 0) return { code: 'compile_error', message: text.slice(0, 1000) };
  const [line, column] = text.slice(at + marker.length, -1).split(':').map(Number);
  const error: RunError = { code: 'compile_error', message: text.slice(0, at).slice(0, 1000) };
  if (Number.isInteger(line) && Number.isInteger(column)) Object.assign(error, { line, column });
  return error;
}
