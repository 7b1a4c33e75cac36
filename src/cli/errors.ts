import { isAppError, type ErrorCode } from '../errors.js';

/** Exit codes of `hookgate`: 0 done, 1 the operation failed (or the script did), 2 the command line or an input file is wrong. */
export const EXIT = Object.freeze({ ok: 0, failed: 1, usage: 2 });

/** An error the CLI reports as one line, `hookgate: <message>`, and exits with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: number;
  /** The error-catalogue code behind it, when there is one (shown in brackets). */
  readonly code: ErrorCode | undefined;

  constructor(message: string, options: { exitCode?: number; code?: ErrorCode; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? EXIT.failed;
    this.code = options.code;
  }
}

/** A wrong option or input file: exit code 2. */
export function usageError(message: string, cause?: unknown): CliError {
  return new CliError(message, { exitCode: EXIT.usage, ...(cause === undefined ? {} : { cause }) });
}

/** The line and exit code for anything a command threw. */
export function describeFailure(err: unknown, verbose: boolean): { message: string; exitCode: number } {
  if (err instanceof CliError) return { message: err.code ? `${err.message} [${err.code}]` : err.message, exitCode: err.exitCode };
  if (isAppError(err)) {
    // An invalid value in what the user asked for is a usage error; anything else is the operation failing.
    const exitCode = err.code === 'validation_failed' || err.code === 'config_invalid' ? EXIT.usage : EXIT.failed;
    return { message: `${err.message} [${err.code}]`, exitCode };
  }
  const error = err instanceof Error ? err : new Error(String(err));
  return { message: verbose && error.stack ? `unexpected error: ${error.stack}` : `unexpected error: ${error.message} (--verbose shows the stack)`, exitCode: EXIT.failed };
}
