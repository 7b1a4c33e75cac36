/** Limits of one script run. All are configurable through `createEngine({ sandbox: { limits } })`. */
export interface SandboxLimits {
  /** Wall clock of one run, awaited actions included (HOOKGATE_SCRIPT_TIMEOUT_MS). */
  timeoutMs: number;
  /** Synchronous CPU time of one entry into the isolate (isolated-vm's `timeout`). */
  cpuTimeMs: number;
  /** Heap limit of one isolate (HOOKGATE_SCRIPT_MEMORY_MB). */
  memoryMb: number;
  /** Size of `JSON.stringify(result)` in bytes. */
  maxResultBytes: number;
  /** Action calls one run may make. */
  maxActionCalls: number;
  /** Console lines kept per run; later lines are dropped and counted. */
  maxConsoleLines: number;
  /** Total bytes of console text kept per run. */
  maxConsoleBytes: number;
}

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  timeoutMs: 5000,
  cpuTimeMs: 5000,
  memoryMb: 64,
  maxResultBytes: 1024 * 1024,
  maxActionCalls: 50,
  maxConsoleLines: 200,
  maxConsoleBytes: 64 * 1024,
});

/** How a run ended. `ignored` is added by the inbound layer for events filtered out before a run. */
export type RunStatus = 'ok' | 'error' | 'timeout' | 'memory' | 'limit' | 'crashed';

export interface ConsoleLine {
  level: 'log' | 'info' | 'warn' | 'error' | 'debug';
  message: string;
  /** Milliseconds since the run started. */
  atMs: number;
}

export interface RunError {
  /** Stable code: `script_error`, `timeout`, `memory_limit`, `cpu_limit`, `result_too_large`,
   *  `result_not_serializable`, `action_limit_exceeded`, `sandbox_crashed`, `compile_error`. */
  code: string;
  message: string;
  /** Position in the admin's script (1-based), when the error came from it. */
  line?: number;
  column?: number;
}

export interface SandboxRunRequest {
  runId: string;
  /** The admin-authored script: the body of an async function. */
  script: string;
  /** Cache key of this script version (compiled code is cached per key in each isolate). */
  scriptKey: string;
  /** Shown in error positions, e.g. `webhook:stripe`. */
  filename: string;
  body: unknown;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** Ids of the actions this run may call; `actions` in the script has exactly these keys. */
  actionIds: string[];
  limits?: Partial<SandboxLimits>;
}

export interface SandboxRunResult {
  status: RunStatus;
  /** The script's `result`, as a JSON copy; null when unset or when the run failed. */
  result: unknown;
  /** The script's `response` (`{status?, body?}` for the inbound HTTP answer), as a JSON copy; absent when unset. */
  response?: unknown;
  logs: ConsoleLine[];
  /** Lines dropped by the console limits. */
  droppedLogLines: number;
  durationMs: number;
  error?: RunError;
}

/**
 * Called by the sandbox for each action call of a run. Arguments arrive as a JSON copy. Resolve with a
 * JSON-serialisable value, or reject: the script then sees an Error with only `message` and `code`.
 */
export type ActionInvoker = (actionId: string, args: unknown[]) => Promise<unknown>;

export interface SandboxStats {
  processes: number;
  /** Runs executing now. */
  busy: number;
  /** Runs waiting for a free isolate. */
  queued: number;
  capacity: number;
  restarts: number;
}

export interface Sandbox {
  /** Runs one script. Never rejects for anything the script does; rejects with AppError `sandbox_busy` when the queue is full. */
  run(request: SandboxRunRequest, invokeAction: ActionInvoker): Promise<SandboxRunResult>;
  stats(): SandboxStats;
  close(): Promise<void>;
}

/** Tuning of inline runs (see inline-policy.ts). */
export interface InlineRunOptions {
  /** A threaded run is quick when it used less CPU than this, in ms (default 5). */
  quickRunMs?: number;
  /**
   * Quick threaded runs in a row before a script version runs inline (default 20). Each demotion doubles
   * it for that webhook, new versions of its script included. 0: every new version inline from its first run.
   */
  promoteAfterRuns?: number;
  /** Cap of an inline run's first slice, and the slice length that sends a script back, in ms (default 50). */
  sliceLimitMs?: number;
}

export interface SandboxOptions {
  /** Child processes hosting isolates (default 1). */
  processes?: number;
  /** Isolates per child process = concurrent runs per child (default 8). */
  isolatesPerProcess?: number;
  /** Runs waiting for an isolate before `run` rejects with `sandbox_busy` (default 256). */
  maxQueue?: number;
  /** How long a run may wait for an isolate before `run` rejects with `sandbox_busy` (default 10 000 ms). */
  maxQueueWaitMs?: number;
  /** An isolate is replaced after this many runs (default 2000) … */
  recycleAfterRuns?: number;
  /** … or when its used heap passes this fraction of the limit after a run (default 0.5). */
  recycleHeapFraction?: number;
  /**
   * Let a script version that has shown quick runs enter its isolate on the child's main thread
   * (`applySync`), which costs about a third of the CPU of isolated-vm's threaded calls (default true;
   * false: every run threaded). See "Inline runs" in the README for what it trades.
   */
  inlineRuns?: boolean | InlineRunOptions;
  limits?: Partial<SandboxLimits>;
}
