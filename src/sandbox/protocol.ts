/**
 * Messages between the parent (`pool.ts`) and a child process hosting isolates (`worker.ts`), over the
 * fork IPC channel (JSON). Script data crosses as JSON strings so that each side parses it once.
 */
import type { InlinePolicyOptions } from './inline-policy.js';
import type { ConsoleLine, RunError, RunStatus, SandboxLimits } from './types.js';
import { setBounded } from '../bounded-map.js';

/** Settings of one child process, sent once in `init`. */
export interface WorkerConfig {
  isolates: number;
  /** Heap limit of the isolates made ahead of need; a run asking for another size gets its own. */
  memoryMb: number;
  recycleAfterRuns: number;
  recycleHeapFraction: number;
  /** Which script versions run inline (see inline-policy.ts). */
  inline: InlinePolicyOptions;
}

/** Isolate bookkeeping of one child, reported with every finished run (see `SandboxPoolStats`). */
export interface WorkerCounters {
  /** Isolates created, the first ones included. */
  isolatesCreated: number;
  /** Isolates retired after `recycleAfterRuns` runs. */
  recycledByRuns: number;
  /** Isolates retired because their heap passed `recycleHeapFraction` of the limit. */
  recycledByHeap: number;
  /** Isolates thrown away after a timeout, a memory breach, a crash, a run that left an action call waiting, or a failed probe. */
  discarded: number;
  /** Of those, isolates that did not answer the periodic heap check (a liveness probe) within 100 ms. */
  probeFailures: number;
  /** Isolates the memory limit disposed of. */
  memoryDisposals: number;
  /** Script compilations (one per script version per isolate). */
  compilations: number;
  /** Largest used heap (bytes) any isolate showed at a heap check. */
  maxHeapUsedBytes: number;
  /** Runs that entered their isolate inline (see inline-policy.ts). */
  inlineRuns: number;
  /** Inline runs whose first slice passed its cap and ran again threaded. */
  inlineYields: number;
  /** Times a script went back from inline to threaded. */
  inlineDemotions: number;
}

/** All counters at zero. */
export function emptyCounters(): WorkerCounters {
  return { isolatesCreated: 0, recycledByRuns: 0, recycledByHeap: 0, discarded: 0, probeFailures: 0, memoryDisposals: 0, compilations: 0, maxHeapUsedBytes: 0, inlineRuns: 0, inlineYields: 0, inlineDemotions: 0 };
}

export interface RunMessage {
  t: 'run';
  id: number;
  /** Left out when the child already holds this source for `scriptKey` (see {@link ScriptMirror}). */
  script?: string;
  scriptKey: string;
  filename: string;
  /** `JSON.stringify([body, headers])`. */
  input: string;
  actionIds: string[];
  limits: SandboxLimits;
}

export type ParentMessage =
  | { t: 'init'; config: WorkerConfig }
  | RunMessage
  /** The answer to an action call: a JSON envelope `{ok:true,value}` or `{ok:false,error:{code,message}}`. */
  | { t: 'answer'; call: number; envelope: string };

export interface DoneMessage {
  t: 'done';
  id: number;
  status: RunStatus;
  /** `JSON.stringify(result)` when status is `ok`. */
  result: string | null;
  /** `JSON.stringify(response)` when status is `ok` and the script set one. */
  response?: string | null;
  error?: RunError;
  logs: ConsoleLine[];
  droppedLogLines: number;
  durationMs: number;
  /** Sent when they changed since the previous `done`. */
  counters?: WorkerCounters;
}

export type ChildMessage =
  | { t: 'ready' }
  | { t: 'call'; run: number; call: number; action: string; args: string }
  | DoneMessage
  | { t: 'log'; level: 'error' | 'warn' | 'info'; message: string };

/** What an action call that cannot go through answers (finished run, bad call, limit). */
export function errorEnvelope(code: string, message: string): string {
  return JSON.stringify({ ok: false, error: { code, message } });
}

/** Several messages crossing as one (see {@link createBatchedSender}). */
export interface BatchMessage<T> {
  t: 'batch';
  messages: T[];
}

export interface BatchedSender<T> {
  send(message: T): void;
  /** Writes what is queued now (before the process ends itself). */
  flush(): void;
}

/**
 * Queues messages and writes everything sent in one turn of the event loop as one IPC message. Each
 * IPC write is a syscall that also wakes the other process; under load a turn produces several messages
 * (runs, action calls and answers of concurrent requests), so batching them cuts that cost per message.
 * Order is kept. At low load a message waits only for the end of the current turn (`setImmediate`).
 */
export function createBatchedSender<T>(write: (message: T | BatchMessage<T>) => void): BatchedSender<T> {
  let queue: T[] = [];
  let scheduled: NodeJS.Immediate | null = null;
  const flush = (): void => {
    if (scheduled !== null) clearImmediate(scheduled);
    scheduled = null;
    if (queue.length === 0) return;
    const messages = queue;
    queue = [];
    write(messages.length === 1 ? messages[0]! : { t: 'batch', messages });
  };
  return {
    send(message) {
      queue.push(message);
      scheduled ??= setImmediate(flush);
    },
    flush,
  };
}

/** How many script sources a child holds for runs that leave theirs out. */
export const MIRRORED_SCRIPTS = 256;

/**
 * The script sources a child process holds, kept in step on both sides of the channel so that a run
 * carries its script only the first time (a script is usually kilobytes; the run's input often less).
 * The parent calls `toSend` for every run and the child `resolve` for every run message, in message
 * order; both change their map only when a source crosses, in the same way (first in, first out), so
 * the parent always knows what the child holds without being told.
 */
export class ScriptMirror {
  readonly #sources = new Map<string, string>();
  readonly #capacity: number;

  constructor(capacity = MIRRORED_SCRIPTS) {
    this.#capacity = capacity;
  }

  /** Parent side: the source to put in the run message, or undefined when the child holds this very one. */
  toSend(key: string, script: string): string | undefined {
    if (this.#sources.get(key) === script) return undefined;
    this.#remember(key, script);
    return script;
  }

  /** Child side: the run's source — the one it carries (remembered), else the one held for its key. */
  resolve(key: string, script: string | undefined): string | undefined {
    if (script === undefined) return this.#sources.get(key);
    this.#remember(key, script);
    return script;
  }

  #remember(key: string, script: string): void {
    setBounded(this.#sources, key, script, this.#capacity);
  }
}
