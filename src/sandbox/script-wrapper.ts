/**
 * The one wrapper around an admin's script, shared by the syntax check (node:vm, compile only) and the
 * isolate host (isolated-vm), so both agree on what compiles and on line numbers.
 *
 * The script is the body of an async function whose parameters are `body`, `headers`, `actions` and
 * `console`; `result` and `response` (an HTTP answer for providers that expect one, e.g. Slack's
 * challenge) are locals of the enclosing function, which resolves with `[result, response]` once the
 * body has finished. The wrapper declares no other name, so the script can reach nothing but those five.
 * The whole wrapper is strict: assigning to a frozen intrinsic or an undeclared name throws instead
 * of failing silently.
 */

/** Names the script sees besides the frozen globals. */
export const SCRIPT_PARAMETERS = ['body', 'headers', 'actions', 'console'] as const;

const PARAMS = SCRIPT_PARAMETERS.join(', ');

/** Everything before the admin's first line; it is one line, so the script starts on line 2. */
const PREFIX = `"use strict";(async function (${PARAMS}) { let result = null; let response = null; await (async function (${PARAMS}) {\n`;
/**
 * On its own line, so a trailing `// comment` in the script cannot swallow it. `result` is boxed so a
 * thenable assigned to it is taken as is, not adopted by the async function.
 */
const SUFFIX = `\n})(${PARAMS}); return [result, response]; })`;

/**
 * Line offset to pass as the ScriptOrigin `lineOffset` so positions are the admin's lines: the
 * script's first line is line 2 of the wrapper.
 */
export const WRAPPER_LINE_OFFSET = -1;

/**
 * Builds the source whose completion value is `async (body, headers, actions, console) => [result, response]`.
 *
 * @example
 * const source = wrapScript('result = { event: "x", data: body }');
 * // vm: new vm.Script(source, { lineOffset: WRAPPER_LINE_OFFSET })
 */
export function wrapScript(script: string): string {
  return PREFIX + script + SUFFIX;
}

/** Number of lines of the admin's script (a position past it lies in the wrapper's closing line). */
export function countLines(script: string): number {
  let lines = 1;
  for (let i = script.indexOf('\n'); i !== -1; i = script.indexOf('\n', i + 1)) lines++;
  return lines;
}

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor as new (...source: string[]) => unknown;

/**
 * True when the script parses as a function body on its own. The wrapper alone cannot tell: a script
 * such as `}); let kept = []; (async function () {` closes the wrapper, keeps `kept` in the context's
 * script scope and so carries data from one run to the next. V8's Function constructor parses the body
 * in isolation and refuses that ("Single function literal required"). It compiles only, never runs.
 */
export function isSelfContainedBody(script: string): boolean {
  try {
    new AsyncFunction(...SCRIPT_PARAMETERS, script);
    return true;
  } catch {
    return false;
  }
}
