import type { RunMode } from './isolate-host.js';
import type { InlineRunOptions, RunStatus } from './types.js';
import { setBounded } from '../bounded-map.js';

export interface InlinePolicyOptions extends InlineRunOptions {
  /** False: every run is threaded. */
  enabled: boolean;
}

/** What the policy did with one run, for the counters. */
export type PolicyEvent = 'demoted' | null;

/** One script version, and where it comes from (the run's filename, e.g. `webhook:stripe`). */
export interface ScriptRef {
  key: string;
  script: string;
  /** A new version of the script from the same place inherits the quick runs its predecessor needed. */
  origin: string;
}

/** What one run of a script showed. */
export interface RunRecord {
  mode: RunMode;
  status: RunStatus;
  /** CPU the run used in its isolate, in ms. */
  cpuMs: number;
  /** Inline: the longest slice, in ms. */
  longestSliceMs: number;
  /** Inline: the first slice passed its cap and the run was given up to run again threaded. */
  yielded: boolean;
}

interface ScriptRecord {
  script: string;
  inline: boolean;
  quickRuns: number;
  needed: number;
}

const MAX_SCRIPTS = 500;
const MAX_ORIGINS = 500;
const MAX_PROMOTE_AFTER = 20_000;

/**
 * Decides, per script version, whether its runs enter their isolate inline (`applySync` on the child's
 * main thread) or threaded (async `apply`, on isolated-vm's own thread). An inline run costs about a
 * third of the CPU of a threaded one (no thread hand-offs), but while a slice of it runs (the code
 * between two awaits of actions) no other run of this child moves. So only a script that has shown it
 * is quick goes inline:
 *
 * - A new script version runs threaded. After `promoteAfterRuns` threaded runs in a row that each used
 *   less than `quickRunMs` of CPU and ended normally, it runs inline.
 * - Inline, its first slice is capped at `sliceLimitMs`; past that the run is given up before anything
 *   left the isolate and runs again threaded (see IsolateHost.executeInline). Later slices keep the
 *   run's whole CPU budget (an action has been called, so the run cannot start over), which bounds how
 *   long one inline run can hold the thread; it happens at most once per demotion.
 * - An inline run that yielded, had a slice longer than `sliceLimitMs`, or ended in timeout, memory or
 *   crash sends the script back to threaded, and it needs twice as many quick runs to come back.
 */
export class InlinePolicy {
  private readonly scripts = new Map<string, ScriptRecord>();
  /** Quick runs needed after the last demotion, per origin: editing a script does not reset them. */
  private readonly neededByOrigin = new Map<string, number>();
  private readonly quickRunMs: number;
  private readonly promoteAfterRuns: number;
  readonly sliceLimitMs: number;

  constructor(private readonly options: InlinePolicyOptions) {
    this.quickRunMs = options.quickRunMs ?? 5;
    this.promoteAfterRuns = Math.max(0, options.promoteAfterRuns ?? 20);
    this.sliceLimitMs = options.sliceLimitMs ?? 50;
  }

  modeFor(ref: ScriptRef): RunMode {
    if (!this.options.enabled) return 'threaded';
    const record = this.scripts.get(ref.key);
    if (record === undefined || record.script !== ref.script) return this.promoteAfterRuns === 0 ? 'inline' : 'threaded';
    return record.inline ? 'inline' : 'threaded';
  }

  /** Sends an inline script back to threaded now (a slice of a run under way was too long); true if it was inline. */
  demote(ref: ScriptRef): boolean {
    const record = this.scripts.get(ref.key);
    if (record === undefined || record.script !== ref.script || !record.inline) return false;
    record.inline = false;
    record.quickRuns = 0;
    record.needed = Math.min(Math.max(1, record.needed * 2), MAX_PROMOTE_AFTER);
    setBounded(this.neededByOrigin, ref.origin, record.needed, MAX_ORIGINS);
    return true;
  }

  /** Takes one run's figures into account; says whether the script was sent back to threaded. */
  record(ref: ScriptRef, run: RunRecord): PolicyEvent {
    if (!this.options.enabled) return null;
    let record = this.scripts.get(ref.key);
    if (record === undefined || record.script !== ref.script) {
      // promoteAfterRuns 0 trusts every new version at once; otherwise a new version inherits its origin's history.
      const needed = this.promoteAfterRuns === 0 ? 0 : (this.neededByOrigin.get(ref.origin) ?? this.promoteAfterRuns);
      record = { script: ref.script, inline: needed === 0, quickRuns: 0, needed };
    }
    // Map order is the LRU order.
    setBounded(this.scripts, ref.key, record, MAX_SCRIPTS);
    const endedNormally = run.status === 'ok' || run.status === 'error' || run.status === 'limit';
    if (run.mode === 'inline') {
      const tooSlow = run.yielded || !endedNormally || run.longestSliceMs > this.sliceLimitMs;
      return tooSlow && this.demote(ref) ? 'demoted' : null;
    }
    record.quickRuns = endedNormally && run.cpuMs < this.quickRunMs ? record.quickRuns + 1 : 0;
    if (record.quickRuns >= record.needed) record.inline = true;
    return null;
  }
}
