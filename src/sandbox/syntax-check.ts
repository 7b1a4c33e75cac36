import vm from 'node:vm';
import { countLines, isSelfContainedBody, WRAPPER_LINE_OFFSET, wrapScript } from './script-wrapper.js';

export type SyntaxCheckResult = { ok: true } | { ok: false; message: string; line: number; column: number };

const FILENAME = 'hookgate-script';

/**
 * Checks that a script compiles, without isolated-vm (the HTTP process hosts no isolates): the same
 * wrapper as the isolate host is compiled with node:vm, never run. Positions are 1-based lines and
 * columns in the admin's script.
 *
 * @example
 * checkScriptSyntax('result = ;') // { ok: false, message: "SyntaxError: Unexpected token ';'", line: 1, column: 10 }
 */
export function checkScriptSyntax(script: string): SyntaxCheckResult {
  try {
    // Compile only: a vm.Script runs nothing until runInContext, which is never called.
    new vm.Script(wrapScript(script), { filename: FILENAME, lineOffset: WRAPPER_LINE_OFFSET });
  } catch (err) {
    return describeSyntaxError(err, script);
  }
  if (!isSelfContainedBody(script)) {
    return {
      ok: false,
      message: 'SyntaxError: The script closes the function it runs in; it must be a function body on its own',
      line: 1,
      column: 1,
    };
  }
  return { ok: true };
}

function describeSyntaxError(err: unknown, script: string): SyntaxCheckResult & { ok: false } {
  const error = err instanceof Error ? err : new Error(String(err));
  const message = `${error.name}: ${error.message}`;
  const position = positionFromStack(error.stack ?? '');
  const lines = script.split('\n');
  if (!position) return { ok: false, message, line: 1, column: 1 };
  if (position.line > countLines(script)) {
    // The error lies in the wrapper's closing line: the script ended inside something unclosed.
    const last = lines[lines.length - 1] ?? '';
    return {
      ok: false,
      message: `${message} (the script ends inside an unclosed block, parenthesis, string or comment)`,
      line: lines.length,
      column: last.length + 1,
    };
  }
  return { ok: false, message, line: Math.max(1, position.line), column: position.column };
}

/**
 * Node decorates a compile error's stack with `filename:LINE`, the source line and a caret line:
 * `hookgate-script:3\n  let x = ;\n          ^\n\nSyntaxError: …`. The line already includes the
 * lineOffset; the caret's index is the 0-based column (tabs are kept as tabs, one column each).
 */
function positionFromStack(stack: string): { line: number; column: number } | null {
  const rows = stack.split('\n');
  const head = rows[0] ?? '';
  if (!head.startsWith(`${FILENAME}:`)) return null;
  const line = Number(head.slice(FILENAME.length + 1));
  if (!Number.isInteger(line)) return null;
  const caret = (rows[2] ?? '').indexOf('^');
  return { line, column: caret >= 0 ? caret + 1 : 1 };
}
