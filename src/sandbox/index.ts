/**
 * The script sandbox: admin scripts run in hardened isolated-vm contexts hosted by supervised child
 * processes. The HTTP process itself hosts no isolate; it only forks the workers and checks syntax.
 */
export { createSandbox } from './pool.js';
export type { ProcessSandbox, SandboxPoolStats } from './pool.js';
export type { WorkerCounters } from './protocol.js';
export { checkScriptSyntax } from './syntax-check.js';
export type { SyntaxCheckResult } from './syntax-check.js';
export { DEFAULT_LIMITS } from './types.js';
export type {
  ActionInvoker,
  ConsoleLine,
  RunError,
  RunStatus,
  Sandbox,
  SandboxLimits,
  SandboxOptions,
  SandboxRunRequest,
  SandboxRunResult,
  SandboxStats,
} from './types.js';
