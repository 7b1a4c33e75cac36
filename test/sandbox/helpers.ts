import { createHash } from 'node:crypto';
import type { ActionInvoker, SandboxRunRequest } from '../../src/sandbox/index.js';

let runs = 0;

/** A run request for `script`; the script key is its hash, as a store would make it. */
export function request(script: string, overrides: Partial<SandboxRunRequest> = {}): SandboxRunRequest {
  return {
    runId: `run-${++runs}`,
    script,
    scriptKey: createHash('sha256').update(script).digest('hex').slice(0, 16),
    filename: 'webhook:test',
    body: { event: 'invoice.paid', amount: 42 },
    headers: { 'content-type': 'application/json', 'x-request-id': 'abc' },
    actionIds: ['echo', 'fail', 'slow', 'never'],
    ...overrides,
  };
}

export interface RecordedCall {
  id: string;
  args: unknown[];
}

/**
 * An invoker with a few test actions: `echo` returns its first argument, `fail` rejects with an error
 * carrying host internals, `slow` answers after `args[0]` ms, `never` never answers.
 */
export function recordingInvoker(): { invoke: ActionInvoker; calls: RecordedCall[] } {
  const calls: RecordedCall[] = [];
  const invoke: ActionInvoker = async (id, args) => {
    calls.push({ id, args });
    switch (id) {
      case 'echo':
        return args[0];
      case 'fail': {
        const err = new Error(String(args[0] ?? 'it failed'));
        err.stack = `Error: secret\n    at hostOnly (/work/main/src/secret-host-path.ts:1:1)`;
        throw err;
      }
      case 'slow':
        await new Promise((resolve) => setTimeout(resolve, Number(args[0] ?? 50)));
        return 'slow done';
      case 'never':
        return new Promise(() => undefined);
      default:
        throw new Error(`unknown action ${id}`);
    }
  };
  return { invoke, calls };
}

/**
 * The two ways a run enters its isolate (see src/sandbox/inline-policy.ts). Suites whose behaviour
 * must not depend on it run once per mode; `inline` here runs every script inline from its first run.
 */
export const RUN_MODES = [
  { mode: 'threaded', inlineRuns: false },
  { mode: 'inline', inlineRuns: { promoteAfterRuns: 0 } },
] as const;
