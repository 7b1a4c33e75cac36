/**
 * Child process entry: hosts the isolates. Started by pool.ts with `child_process.fork` and
 * `--no-node-snapshot`; a script that aborts V8 (`new Array(2**31-1).fill(0)`) takes only this process
 * down, and the parent replaces it.
 *
 * For each run: a random token, one wall-clock timer that disposes the isolate (isolated-vm's
 * `timeout` does not cover time spent awaiting the host), action calls forwarded to the parent and
 * their answers delivered back into the isolate, console lines kept under the limits, and the outcome
 * sent back as one `done` message.
 */
import { randomUUID } from 'node:crypto';
import ivm from 'isolated-vm';
import { InlinePolicy, type ScriptRef } from './inline-policy.js';
import { IsolateHost, type ExecuteOutcome, type HostCallbacks, type RunMode } from './isolate-host.js';
import { IsolatePool, type IsolateRequest } from './isolate-pool.js';
import { createBatchedSender, emptyCounters, errorEnvelope, ScriptMirror, type BatchMessage, type ChildMessage, type ParentMessage, type RunMessage, type WorkerConfig, type WorkerCounters } from './protocol.js';
import { checkScriptSyntax, type SyntaxCheckResult } from './syntax-check.js';
import type { ConsoleLine, SandboxLimits } from './types.js';
import { setBounded } from '../bounded-map.js';

interface ActiveRun {
  id: number;
  /** The script version, for the inline policy. */
  script: ScriptRef;
  token: string;
  limits: SandboxLimits;
  startedAt: number;
  logs: ConsoleLine[];
  logBytes: number;
  dropped: number;
  /** Action calls waiting for the parent's answer. */
  calls: Set<number>;
  /** Bridge calls (action calls, console lines) received with this run's token. */
  received: number;
  /** Set while the run waits for the bridge calls its reply counted (see `allReceived`). */
  awaiting: { sent: number; resolve: () => void } | null;
  request: IsolateRequest | null;
  host: IsolateHost | null;
  cpuStartMs: number;
  timer: NodeJS.Timeout | undefined;
  finished: boolean;
}

const CONSOLE_LEVELS = new Set(['log', 'info', 'warn', 'error', 'debug']);
const FINISHED_ENVELOPE = errorEnvelope('action_not_available', 'This run has finished; the action was not called');
const SYNTAX_CACHE_SIZE = 200;
const CPU_WATCH_MS = 50;

/** A run message with its script source filled in from the mirror. */
type ResolvedRun = RunMessage & { script: string };

const runsByToken = new Map<string, ActiveRun>();
/** The sources the parent sent, in step with its own mirror: runs after the first leave theirs out. */
const scripts = new ScriptMirror();
const syntaxCache = new Map<string, { script: string; check: SyntaxCheckResult }>();
let nextCallId = 1;
let pool: IsolatePool | null = null;
let policy = new InlinePolicy({ enabled: false });

const outgoing = createBatchedSender<ChildMessage>((message) => {
  if (process.connected) process.send?.(message, undefined, undefined, () => undefined);
});
const send = outgoing.send;

function report(level: 'error' | 'warn' | 'info', message: string, err?: unknown): void {
  const detail = err === undefined ? '' : `: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
  send({ t: 'log', level, message: message + detail });
}

/** Where a forwarded action call's answer goes. */
interface ForwardedCall {
  run: ActiveRun;
  /** The call's id inside its isolate. */
  call: number;
}

const forwarded = new Map<number, ForwardedCall>();

const callbacks: HostCallbacks = {
  action(host, token, call, actionId, argsJson) {
    if (typeof call !== 'number') return;
    const run = typeof token === 'string' ? runsByToken.get(token) : undefined;
    // A call carrying the token of a finished run (or another isolate's run) is refused, never forwarded.
    if (run === undefined || run.finished || run.host !== host) {
      // Refused. deliver() does not enter an isolate whose run has its outcome (it notes the leftover
      // code instead); an idle isolate that still runs code of a finished run is retired here.
      host.deliver(call, FINISHED_ENVELOPE);
      if (!host.busy) host.dispose('retired');
      return;
    }
    noteReceived(run);
    if (typeof actionId !== 'string' || typeof argsJson !== 'string') {
      host.deliver(call, errorEnvelope('action_invalid_arguments', 'Invalid action call'));
      return;
    }
    const id = nextCallId++;
    forwarded.set(id, { run, call });
    run.calls.add(id);
    send({ t: 'call', run: run.id, call: id, action: actionId, args: argsJson });
  },
  console(token, level, line) {
    const run = typeof token === 'string' ? runsByToken.get(token) : undefined;
    if (run === undefined || run.finished) return;
    noteReceived(run);
    if (typeof line !== 'string' || typeof level !== 'string' || !CONSOLE_LEVELS.has(level)) return;
    const bytes = Buffer.byteLength(line);
    if (run.logs.length >= run.limits.maxConsoleLines || run.logBytes + bytes > run.limits.maxConsoleBytes) {
      run.dropped++;
      return;
    }
    run.logBytes += bytes;
    run.logs.push({ level: level as ConsoleLine['level'], message: line, atMs: Math.round(performance.now() - run.startedAt) });
  },
  catastrophic(message) {
    // V8 lost control of an isolate: nothing in this process can be trusted any more. process.exit()
    // hangs here (teardown waits on the broken isolate), so the process ends itself at once.
    report('error', `isolated-vm catastrophic error: ${message}`);
    outgoing.flush();
    process.kill(process.pid, 'SIGKILL');
  },
};

function noteReceived(run: ActiveRun): void {
  run.received++;
  if (run.awaiting !== null && run.received >= run.awaiting.sent) stopAwaiting(run);
}

function stopAwaiting(run: ActiveRun): void {
  const awaiting = run.awaiting;
  run.awaiting = null;
  awaiting?.resolve();
}

/**
 * Resolves once every bridge call the run's reply counted has been received. An inline run's reply is
 * read the moment its slice ends, before the calls it queued have reached this thread; without the wait
 * an action called and not awaited at the end of a script would be refused as coming from a finished run.
 */
function allReceived(run: ActiveRun, sent: number): Promise<void> | void {
  if (run.received >= sent) return;
  return new Promise((resolve) => {
    run.awaiting = { sent, resolve };
  });
}

function answer(id: number, envelope: string): void {
  const target = forwarded.get(id);
  if (target === undefined) return;
  forwarded.delete(id);
  const { run } = target;
  run.calls.delete(id);
  const host = run.host;
  if (run.finished || host === null) return;
  host.deliver(target.call, envelope);
  // A long inline slice sends its script back at once, with every run of it still under way here, so
  // one demotion costs at most the one long slice.
  if (host.longestInlineSliceMs > policy.sliceLimitMs && policy.demote(run.script)) {
    if (pool !== null) pool.counters.inlineDemotions++;
    for (const other of runsByToken.values()) if (other.script.key === run.script.key) other.host?.useThreaded();
  }
}

function checkSyntax(scriptKey: string, script: string): SyntaxCheckResult {
  const cached = syntaxCache.get(scriptKey);
  if (cached !== undefined && cached.script === script) return cached.check;
  const check = checkScriptSyntax(script);
  setBounded(syntaxCache, scriptKey, { script, check }, SYNTAX_CACHE_SIZE);
  return check;
}

function payloadOf(message: ResolvedRun, token: string): string {
  const { limits } = message;
  return (
    `{"token":${JSON.stringify(token)},"filename":${JSON.stringify(message.filename)},` +
    `"actionIds":${JSON.stringify(message.actionIds)},"maxResultBytes":${limits.maxResultBytes},` +
    `"maxConsoleLines":${limits.maxConsoleLines},"maxConsoleBytes":${limits.maxConsoleBytes},"input":${message.input}}`
  );
}

function startRun(message: ResolvedRun, isolates: IsolatePool): void {
  const run: ActiveRun = {
    id: message.id,
    script: { key: message.scriptKey, script: message.script, origin: message.filename },
    token: randomUUID(),
    limits: message.limits,
    startedAt: performance.now(),
    logs: [],
    logBytes: 0,
    dropped: 0,
    calls: new Set(),
    received: 0,
    awaiting: null,
    request: null,
    host: null,
    cpuStartMs: 0,
    timer: undefined,
    finished: false,
  };
  const syntax = checkSyntax(message.scriptKey, message.script);
  if (!syntax.ok) {
    const { message: text, line, column } = syntax;
    finish(run, { status: 'error', result: null, error: { code: 'compile_error', message: text, line, column }, dropped: 0, reusable: true });
    return;
  }
  run.timer = setTimeout(() => onWallClock(run), message.limits.timeoutMs);
  void attempt(run, message, isolates, policy.modeFor(run.script));
}

/** Runs the script on an isolate from the pool; once more, threaded, when an inline first slice yielded. */
async function attempt(run: ActiveRun, message: ResolvedRun, isolates: IsolatePool, mode: RunMode): Promise<void> {
  runsByToken.set(run.token, run);
  run.request = isolates.acquire(message.limits.memoryMb);
  const host = await run.request.host;
  if (run.finished) {
    isolates.release(host, true);
    return;
  }
  run.host = host;
  run.cpuStartMs = host.cpuMs();
  let outcome: ExecuteOutcome;
  try {
    outcome = await host.execute({
      scriptKey: message.scriptKey,
      script: message.script,
      filename: message.filename,
      payload: payloadOf(message, run.token),
      cpuTimeMs: message.limits.cpuTimeMs,
      mode,
      inlineStartCapMs: policy.sliceLimitMs,
    });
  } catch (err) {
    report('error', 'executing a run failed', err);
    host.dispose('retired');
    outcome = { status: 'crashed', result: null, error: { code: 'sandbox_crashed', message: 'The sandbox failed' }, dropped: 0, reusable: false };
  }
  if (outcome.sent !== undefined) await allReceived(run, outcome.sent);
  const cpuMs = host.disposed ? Infinity : host.cpuMs() - run.cpuStartMs;
  const event = policy.record(run.script, { mode, status: outcome.status, cpuMs, longestSliceMs: outcome.longestSliceMs ?? 0, yielded: outcome.yielded === true });
  if (mode === 'inline') isolates.counters.inlineRuns++;
  if (outcome.yielded === true) isolates.counters.inlineYields++;
  if (event === 'demoted') isolates.counters.inlineDemotions++;
  if (outcome.yielded === true && !run.finished) {
    // Nothing of the given-up slice left the isolate; its queued bridge calls carry the old token and
    // come from the old isolate, so they are refused when they arrive.
    isolates.release(host, false);
    runsByToken.delete(run.token);
    run.token = randomUUID();
    run.host = null;
    await attempt(run, message, isolates, 'threaded');
    return;
  }
  // A call still waiting, or one counted but not received (the wall clock stopped the wait), would resume
  // this run's code in the next run's time: never reuse that isolate.
  const complete = outcome.sent === undefined || run.received >= outcome.sent;
  const clean = outcome.reusable && complete && run.calls.size === 0 && !host.hasLeftover;
  if (outcome.status === 'memory') isolates.noteMemoryDisposal();
  // Released first so the counters sent with `done` include this run; a run waiting for the isolate
  // gets it in a later microtask, after `finish`.
  isolates.release(host, clean);
  finish(run, outcome);
}

function onWallClock(run: ActiveRun): void {
  if (run.finished) return;
  if (run.awaiting !== null) {
    // The run has its outcome and waits only for bridge calls: it ends with what it has.
    stopAwaiting(run);
    return;
  }
  if (run.host !== null) {
    // The pending execute() ends as the isolate goes and reports the reason given here.
    const cpuUsed = run.host.disposed ? 0 : run.host.cpuMs() - run.cpuStartMs;
    run.host.dispose(cpuUsed >= run.limits.cpuTimeMs ? 'cpu' : 'timeout');
    return;
  }
  run.request?.cancel();
  finish(run, { status: 'timeout', result: null, error: { code: 'timeout', message: 'The script ran longer than its time limit' }, dropped: 0, reusable: true });
}

/** isolated-vm's `timeout` covers only synchronous entries; this catches CPU burnt after an await. */
function watchCpu(): void {
  for (const run of runsByToken.values()) {
    const host = run.host;
    if (host === null || run.finished || host.disposed) continue;
    if (host.cpuMs() - run.cpuStartMs > run.limits.cpuTimeMs) host.dispose('cpu');
  }
}

function finish(run: ActiveRun, outcome: ExecuteOutcome): void {
  if (run.finished) return;
  run.finished = true;
  clearTimeout(run.timer);
  runsByToken.delete(run.token);
  for (const id of run.calls) forwarded.delete(id);
  let { status, result, error } = outcome;
  if (status === 'ok' && result !== null && Buffer.byteLength(result) > run.limits.maxResultBytes) {
    status = 'limit';
    result = null;
    error = { code: 'result_too_large', message: `result is larger than ${run.limits.maxResultBytes} bytes` };
  }
  send({
    t: 'done',
    id: run.id,
    status,
    result,
    ...(status === 'ok' && outcome.response ? { response: outcome.response } : {}),
    ...(error === undefined ? {} : { error }),
    logs: run.logs,
    droppedLogLines: run.dropped + outcome.dropped,
    durationMs: Math.round((performance.now() - run.startedAt) * 100) / 100,
    ...countersIfChanged(),
  });
}

let sentCounters = emptyCounters();

function countersIfChanged(): { counters?: WorkerCounters } {
  if (pool === null) return {};
  const current = pool.counters;
  const keys = Object.keys(current) as Array<keyof WorkerCounters>;
  if (keys.every((key) => current[key] === sentCounters[key])) return {};
  sentCounters = { ...current };
  return { counters: sentCounters };
}

function init(config: WorkerConfig): void {
  if (pool !== null) return;
  const created = new IsolatePool({
    config,
    createHost: (memoryMb) => IsolateHost.create(memoryMb, callbacks),
    onError: (message, err) => report('error', message, err),
  });
  pool = created;
  policy = new InlinePolicy(config.inline);
  void created.ready().then(() => send({ t: 'ready' }));
  setInterval(watchCpu, CPU_WATCH_MS).unref();
}

function onMessage(message: ParentMessage | BatchMessage<ParentMessage>): void {
  switch (message.t) {
    case 'batch':
      for (const one of message.messages) onMessage(one);
      break;
    case 'init':
      init(message.config);
      break;
    case 'run': {
      // Resolved even before init, so the mirror stays in step with the parent's.
      const script = scripts.resolve(message.scriptKey, message.script);
      if (pool === null) break;
      if (script === undefined) {
        // Cannot happen while both mirrors see the same messages; answered rather than left to the watchdog.
        report('error', `run ${message.id} came without a script this process holds`);
        send({ t: 'done', id: message.id, status: 'crashed', result: null, error: { code: 'sandbox_crashed', message: 'The sandbox failed' }, logs: [], droppedLogLines: 0, durationMs: 0 });
        break;
      }
      startRun({ ...message, script }, pool);
      break;
    }
    case 'answer':
      answer(message.call, message.envelope);
      break;
  }
}

process.on('message', onMessage);

// The parent is gone (or closed the channel): nothing is left to serve.
process.on('disconnect', () => process.exit(0));
// A Ctrl+C in a terminal (or a signal to the whole process group) reaches this process too. The parent
// decides when runs end (its graceful shutdown lets them finish, then closes the sandbox), so ignore it.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
process.on('uncaughtException', (err) => {
  report('error', 'sandbox worker failed', err);
  outgoing.flush();
  process.exit(1);
});
