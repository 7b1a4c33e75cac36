import type { ActionRegistry } from '../actions/index.js';
import { AppError } from '../errors.js';
import type { EventCatalog } from '../events/index.js';
import { executeScript, normaliseHeaders, scriptKeyOf, type ScriptOutcome } from '../inbound/index.js';
import { serialiseEvent } from '../outbound/index.js';
import type { Sandbox, SandboxLimits } from '../sandbox/types.js';
import { uuidv7 } from '../store/index.js';
import type { Settings } from '../store/types.js';

/** The webhook a dry run pretends to be: a saved one, or the fields of a draft. */
export interface DryRunTarget {
  provider: string;
  jsScript: string;
  allowedActions: string[];
  emitEvents: string[] | null;
  /** The tenant its events would carry in `metadata` (null: global). */
  tenantId?: string | null;
}

export interface DryRunInput {
  body: unknown;
  headers?: Record<string, string>;
}

export interface DryRunContext {
  registry: ActionRegistry;
  sandbox: Sandbox;
  /** The global settings (which actions are switched on). */
  settings: Settings;
  limits?: Partial<SandboxLimits>;
  /** What the run would emit is checked against it, as a real run's is. */
  events?: EventCatalog;
}

/** The answer of both dry-run routes and of `hookgate run-script`. */
export interface DryRunResult {
  status: ScriptOutcome['status'];
  result: unknown;
  emit: ScriptOutcome['emit'];
  logs: ScriptOutcome['logs'];
  actionsCalled: ScriptOutcome['actionsCalled'];
  durationMs: number;
  error?: NonNullable<ScriptOutcome['error']>;
}

/**
 * Runs a script once in the real sandbox with stub actions: each call is recorded with its arguments and
 * answers null; nothing runs for real, nothing is emitted, recorded or changed. Shared by
 * `POST /admin/api/webhooks/:id/dry-run`, `POST /admin/api/dry-run` and `hookgate run-script`.
 *
 * @example
 * const out = await dryRunScript({ registry, sandbox, settings }, { provider: 'stripe', jsScript, allowedActions: ['subscription.cancel'], emitEvents: null }, { body });
 * // out.actionsCalled → [{ id: 'subscription.cancel', ok: true, args: ['sub_1'], durationMs: 0.1 }]
 */
export async function dryRunScript(context: DryRunContext, target: DryRunTarget, input: DryRunInput): Promise<DryRunResult> {
  const runId = uuidv7();
  const outcome = await executeScript({
    runId,
    target: { ...target, scriptKey: scriptKeyOf(target.jsScript) },
    body: input.body,
    headers: normaliseHeaders(input.headers ?? {}),
    settings: context.settings,
    registry: context.registry,
    sandbox: context.sandbox,
    // Stub actions: the call is recorded with its arguments and answers null; nothing real runs.
    callAction: async () => null,
    limits: context.limits,
    keepArgs: true,
  });
  if (outcome.status === 'ok' && outcome.emit) {
    try {
      context.events?.check(outcome.emit.event, outcome.emit.data);
      // As a real run's event would be sent: the size limit of its envelope.
      serialiseEvent(outcome.emit.event, outcome.emit.data, { provider: target.provider, runId, tenantId: target.tenantId ?? null });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      outcome.status = 'error';
      outcome.error = { code: err.code, message: err.message };
    }
  }
  return {
    status: outcome.status,
    result: outcome.result,
    emit: outcome.emit,
    logs: outcome.logs,
    actionsCalled: outcome.actionsCalled,
    durationMs: outcome.durationMs,
    ...(outcome.error ? { error: outcome.error } : {}),
  };
}
