import { fork, type ChildProcess } from 'node:child_process';
import { coerceError, isAppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createBatchedSender, errorEnvelope, ScriptMirror, type BatchMessage, type BatchedSender, type ChildMessage, type DoneMessage, type ParentMessage, type WorkerConfig, type WorkerCounters } from './protocol.js';
import type { ActionInvoker, RunError, SandboxLimits, SandboxRunRequest, SandboxRunResult } from './types.js';

/** A run handed to (or waiting for) a worker process. */
export interface PendingRun {
  id: number;
  request: SandboxRunRequest;
  limits: SandboxLimits;
  /** `JSON.stringify([body, headers])`, made once in the parent. */
  input: string;
  invokeAction: ActionInvoker;
  resolve(result: SandboxRunResult): void;
  reject(err: unknown): void;
  actionCalls: number;
  actionLimitHit: boolean;
  dispatchedAt: number;
  watchdog: NodeJS.Timeout | undefined;
  /** Set while the run waits in the parent's queue. */
  queueTimer: NodeJS.Timeout | undefined;
}

export interface WorkerEntry {
  path: string;
  execArgv: string[];
}

export interface WorkerProcessEvents {
  ready(worker: WorkerProcess): void;
  /** A run finished: the process has room for another. */
  settled(worker: WorkerProcess): void;
  /** The process is gone; its runs were already resolved as `crashed`. */
  exit(worker: WorkerProcess, wasReady: boolean): void;
}

/** Beyond the run's own wall clock, the child gets this long to answer before it is killed. */
export const WATCHDOG_GRACE_MS = 1500;
const MAX_ACTION_ERROR_CHARS = 500;

/**
 * The parent's handle on one child process hosting isolates: forks it, forwards action calls to each
 * run's `invokeAction`, enforces `maxActionCalls`, and ends the process (resolving its runs as
 * `crashed`) when it dies or stops answering.
 */
export class WorkerProcess {
  readonly runs = new Map<number, PendingRun>();
  counters: WorkerCounters | null = null;
  ready = false;
  dead = false;
  private readonly child: ChildProcess;
  /** What the child holds of the scripts sent to it, so a run carries its source only the first time. */
  private readonly scripts = new ScriptMirror();
  private readonly outgoing: BatchedSender<ParentMessage> = createBatchedSender((message) => {
    if (this.dead || !this.child.connected) return;
    this.child.send(message, (err) => {
      if (err) this.kill();
    });
  });

  constructor(
    entry: WorkerEntry,
    config: WorkerConfig,
    private readonly events: WorkerProcessEvents,
    private readonly logger: Logger,
  ) {
    this.child = fork(entry.path, [], { execArgv: entry.execArgv, env: childEnv(), serialization: 'json', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (message: ChildMessage | BatchMessage<ChildMessage>) => this.onMessage(message));
    this.child.on('exit', (code, signal) => this.onGone(`exited (code ${code}, signal ${signal})`));
    this.child.on('error', (err) => {
      this.logger.error('sandbox worker process error', { err: coerceError(err).message });
      this.kill();
      this.onGone('failed');
    });
    this.send({ t: 'init', config });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  dispatch(run: PendingRun): void {
    this.runs.set(run.id, run);
    run.dispatchedAt = performance.now();
    run.watchdog = setTimeout(() => {
      this.logger.warn('sandbox worker stopped answering; killing it', { pid: this.pid, runId: run.request.runId });
      this.kill();
    }, run.limits.timeoutMs + WATCHDOG_GRACE_MS);
    const { request } = run;
    this.send({
      t: 'run',
      id: run.id,
      script: this.scripts.toSend(request.scriptKey, request.script),
      scriptKey: request.scriptKey,
      filename: request.filename,
      input: run.input,
      actionIds: request.actionIds,
      limits: run.limits,
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /** Resolves once the process has exited. */
  exited(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  /** Ends the process and its runs: each resolves as `crashed` with `code`. */
  terminate(code: string, message: string): void {
    this.endRuns(code, message);
    this.kill();
  }

  private send(message: ParentMessage): void {
    if (!this.dead) this.outgoing.send(message);
  }

  private onMessage(message: ChildMessage | BatchMessage<ChildMessage>): void {
    switch (message.t) {
      case 'batch':
        for (const one of message.messages) this.onMessage(one);
        break;
      case 'ready':
        this.ready = true;
        this.events.ready(this);
        break;
      case 'done':
        this.onDone(message);
        break;
      case 'call':
        this.onCall(message.run, message.call, message.action, message.args);
        break;
      case 'log':
        this.logger.log(message.level, message.message, { pid: this.pid });
        break;
    }
  }

  private onDone(message: DoneMessage): void {
    if (message.counters !== undefined) this.counters = message.counters;
    const run = this.runs.get(message.id);
    if (run === undefined) return;
    this.runs.delete(message.id);
    clearTimeout(run.watchdog);
    let { status, error } = message;
    let result: unknown = null;
    let response: unknown = null;
    if (status === 'ok') {
      try {
        result = JSON.parse(message.result ?? 'null');
        response = JSON.parse(message.response ?? 'null');
      } catch {
        status = 'error';
        error = { code: 'result_not_serializable', message: 'result is not valid JSON' };
      }
    }
    // The script may have caught the refusal, but going over the limit decides the outcome.
    if (run.actionLimitHit && (status === 'ok' || status === 'error')) {
      status = 'limit';
      result = null;
      response = null;
      error = { code: 'action_limit_exceeded', message: `The script called actions more than ${run.limits.maxActionCalls} times` };
    }
    run.resolve({
      status,
      result,
      ...(status === 'ok' && response !== null ? { response } : {}),
      logs: message.logs,
      droppedLogLines: message.droppedLogLines,
      durationMs: message.durationMs,
      ...(error === undefined ? {} : { error }),
    });
    this.events.settled(this);
  }

  private onCall(runId: number, call: number, actionId: string, argsJson: string): void {
    const answer = (envelope: string): void => {
      // The child dropped the call when its run finished; a late answer would find nothing.
      if (this.runs.has(runId)) this.send({ t: 'answer', call, envelope });
    };
    const run = this.runs.get(runId);
    if (run === undefined) return;
    run.actionCalls++;
    if (run.actionCalls > run.limits.maxActionCalls) {
      run.actionLimitHit = true;
      answer(errorEnvelope('action_limit_exceeded', `A run may call actions at most ${run.limits.maxActionCalls} times`));
      return;
    }
    let args: unknown;
    try {
      args = JSON.parse(argsJson);
    } catch {
      args = null;
    }
    if (!Array.isArray(args)) {
      answer(errorEnvelope('action_invalid_arguments', 'The action arguments are not a JSON array'));
      return;
    }
    Promise.resolve()
      .then(() => run.invokeAction(actionId, args))
      .then(
        (value) => answer(valueEnvelope(value)),
        (err: unknown) => answer(actionErrorEnvelope(err)),
      );
  }

  private onGone(how: string): void {
    if (this.dead) return;
    this.dead = true;
    const wasReady = this.ready;
    this.ready = false;
    if (this.runs.size > 0) this.logger.warn(`sandbox worker ${how} with runs in flight`, { pid: this.pid, runs: this.runs.size });
    this.endRuns('sandbox_crashed', 'The sandbox process hosting this run died');
    this.events.exit(this, wasReady);
  }

  private endRuns(code: string, message: string): void {
    for (const run of this.runs.values()) {
      clearTimeout(run.watchdog);
      const error: RunError = { code, message };
      run.resolve({
        status: 'crashed',
        result: null,
        logs: [],
        droppedLogLines: 0,
        durationMs: Math.round((performance.now() - run.dispatchedAt) * 100) / 100,
        error,
      });
    }
    this.runs.clear();
  }
}

/** Variables the child may see (it needs none of them to run isolates, but Node and tsx read these). */
const CHILD_ENV_KEYS = ['PATH', 'HOME', 'TMPDIR', 'TZ', 'LANG', 'LC_ALL', 'NODE_ENV', 'TSX_TSCONFIG_PATH'];

/**
 * The child runs untrusted scripts, so it gets a minimal environment: never DATABASE_URL,
 * HOOKGATE_SECRET_KEY, HOOKGATE_ADMIN_TOKEN or whatever else the host process was started with.
 */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of CHILD_ENV_KEYS) if (process.env[key] !== undefined) env[key] = process.env[key];
  return env;
}

function valueEnvelope(value: unknown): string {
  try {
    return `{"ok":true,"value":${JSON.stringify(value) ?? 'null'}}`;
  } catch {
    return errorEnvelope('action_failed', 'The action returned a value that is not JSON');
  }
}

/** The script sees only a code and a message: never a stack, a cause or host details. */
function actionErrorEnvelope(err: unknown): string {
  if (isAppError(err)) return errorEnvelope(err.code, err.message.slice(0, MAX_ACTION_ERROR_CHARS));
  return errorEnvelope('action_failed', coerceError(err).message.slice(0, MAX_ACTION_ERROR_CHARS));
}
