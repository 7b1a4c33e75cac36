import type { ActionRegistry } from '../actions/index.js';
import { computeAvailability } from '../actions/index.js';
import { AppError, coerceError, isAppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { RunError, Sandbox, SandboxLimits, SandboxRunResult } from '../sandbox/types.js';
import type { ActionCallRecord, RunRecordStatus, Settings } from '../store/types.js';

/** What a script run needs to know about its webhook; a saved webhook or an unsaved draft (dry-run). */
export interface ScriptTarget {
  provider: string;
  jsScript: string;
  scriptKey: string;
  allowedActions: string[];
  emitEvents: string[] | null;
}

/** Calls one action for a run. The real one calls the registry; dry-run's records the call and returns null. */
export type ActionCaller = (id: string, args: unknown[]) => Promise<unknown>;

export interface ScriptOutcome {
  status: RunRecordStatus;
  /** `result` as the script left it (null when unset or the run failed). */
  result: unknown;
  /** The event to emit, once `result` passed the checks. */
  emit: { event: string; data: unknown } | null;
  /** The HTTP answer the script asked for (`response = {status?, body?}`), when valid; only a sync request uses it. */
  response: ScriptResponse | null;
  logs: SandboxRunResult['logs'];
  actionsCalled: Array<ActionCallRecord & { args?: unknown[] }>;
  durationMs: number;
  error: RunError | null;
}

/** What a script may set as `response`: a 2xx status and a body (a string is sent as text, anything else as JSON). */
export interface ScriptResponse {
  status: number;
  body: unknown;
}

/** A valid `response` value, or null (unset, or not `{status?: 2xx, body?}`: the default answer is kept). */
export function toScriptResponse(value: unknown): ScriptResponse | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const { status = 200, body = null } = value as { status?: unknown; body?: unknown };
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 299) return null;
  return { status, body };
}

export interface ExecuteOptions {
  runId: string;
  target: ScriptTarget;
  body: unknown;
  headers: Record<string, string>;
  settings: Settings;
  registry: ActionRegistry;
  sandbox: Sandbox;
  callAction: ActionCaller;
  limits?: Partial<SandboxLimits>;
  /** Keep each call's arguments in `actionsCalled` (dry-run shows them; run records do not store them). */
  keepArgs?: boolean;
  /** Logs each action call (debug; warn when it fails): id, outcome, duration — never arguments or results. */
  logger?: Logger;
  /** On the action call lines (default the run id). */
  requestId?: string;
}

/** The message an action error shows a script: its own message for our coded errors, a generic one otherwise. */
function describeActionError(err: unknown): { code: string; message: string } {
  if (isAppError(err)) return { code: err.code, message: err.message };
  // A developer's exception may carry internals (SQL, paths): the script sees a truncated message, no stack.
  return { code: 'action_failed', message: coerceError(err).message.slice(0, 500) };
}

// Availability depends only on the registry, the settings object and the webhook's allowedActions; the
// config cache hands out the same settings object until something changes, so this memo is per request free.
const availabilityMemo = new WeakMap<Settings, Map<string, string[]>>();

function availableActions(registry: ActionRegistry, settings: Settings, allowedActions: string[]): string[] {
  let bySettings = availabilityMemo.get(settings);
  if (!bySettings) {
    bySettings = new Map();
    availabilityMemo.set(settings, bySettings);
  }
  const key = `${registry.version}\u0000${allowedActions.join('\u0000')}`;
  let available = bySettings.get(key);
  if (!available) {
    if (bySettings.size > 1000) bySettings.clear();
    available = computeAvailability({ actions: registry.list(), enabled: settings.enabledWebhookActions, allowed: allowedActions }).available;
    bySettings.set(key, available);
  }
  return available;
}

/**
 * Runs a webhook's script once with exactly the actions it is entitled to, and checks what it returned.
 * Shared by the inbound endpoint and dry-run; it neither records nor emits.
 */
export async function executeScript(options: ExecuteOptions): Promise<ScriptOutcome> {
  const { target, registry, logger } = options;
  const available = availableActions(registry, options.settings, target.allowedActions);
  const allowed = new Set(available);
  const actionsCalled: ScriptOutcome['actionsCalled'] = [];

  const invoke = async (id: string, args: unknown[]): Promise<unknown> => {
    const started = performance.now();
    const call: ActionCallRecord & { args?: unknown[] } = { id, ok: false, durationMs: 0 };
    if (options.keepArgs) call.args = args;
    actionsCalled.push(call);
    try {
      // The sandbox only exposes `available`, but the host checks again: the bridge is a trust boundary.
      if (!allowed.has(id)) throw new AppError('action_not_available', `Action ${id} is not available to this script`);
      const value = await options.callAction(id, args);
      // What crosses back into the sandbox is JSON: a BigInt, a cycle or a throwing toJSON fails the call
      // here, recorded as failed (and logged), rather than as a success the script then sees fail.
      try {
        JSON.stringify(value);
      } catch (cause) {
        throw new AppError('action_failed', `The action returned a value that is not JSON: ${(cause as Error).message}`);
      }
      call.ok = true;
      return value;
    } catch (err) {
      const described = describeActionError(err);
      call.error = described.code;
      throw new AppError(isAppError(err) ? err.code : 'action_failed', described.message);
    } finally {
      call.durationMs = Math.round((performance.now() - started) * 100) / 100;
      if (logger && (!call.ok || logger.isDebugEnabled())) logActionCall(logger, options, call);
    }
  };

  const run = await options.sandbox.run(
    {
      runId: options.runId,
      script: target.jsScript,
      scriptKey: target.scriptKey,
      filename: `webhook:${target.provider}`,
      body: options.body,
      headers: options.headers,
      actionIds: available,
      limits: options.limits,
    },
    invoke,
  );

  const outcome: ScriptOutcome = {
    status: run.status,
    result: run.result ?? null,
    emit: null,
    response: run.status === 'ok' ? toScriptResponse(run.response) : null,
    logs: run.logs,
    actionsCalled,
    durationMs: run.durationMs,
    error: run.error ?? null,
  };
  if (run.status === 'ok' && outcome.result !== null) checkResult(outcome, target);
  return outcome;
}

function logActionCall(logger: Logger, options: ExecuteOptions, call: ActionCallRecord): void {
  const meta = {
    requestId: options.requestId ?? options.runId,
    runId: options.runId,
    provider: options.target.provider,
    // The id comes from the script: an unavailable one is cut short, so no script can log a payload through it.
    action: call.id.length > 128 ? call.id.slice(0, 128) : call.id,
    outcome: call.ok ? 'ok' : 'error',
    durationMs: call.durationMs,
    ...(call.error ? { code: call.error } : {}),
  };
  if (call.ok) logger.debug('action call', meta);
  else logger.warn('action call failed', meta);
}

function checkResult(outcome: ScriptOutcome, target: ScriptTarget): void {
  const result = outcome.result as { event?: unknown; data?: unknown };
  if (typeof result !== 'object' || Array.isArray(result) || typeof result.event !== 'string' || result.event === '') {
    outcome.status = 'error';
    outcome.error = { code: 'invalid_result', message: 'result must be null or an object {event: string, data}' };
    return;
  }
  if (target.emitEvents && !target.emitEvents.includes(result.event)) {
    outcome.status = 'error';
    outcome.error = { code: 'event_not_allowed', message: `The event ${result.event} is not in this webhook's emitEvents` };
    return;
  }
  outcome.emit = { event: result.event, data: result.data ?? null };
}
