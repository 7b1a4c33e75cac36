/**
 * In-context runtime, evaluated once per context (before hardening) with `evalClosure`:
 * `$0` is the action bridge and `$1` the console bridge, both `ivm.Reference`s to host functions held
 * only in this closure and called with `applyIgnored`. It returns `{ run, deliver, start, take }`:
 *
 * - `run(fn, payloadJson)`, called by the host once per run with the compiled wrapper (see
 *   script-wrapper.ts) and ONE JSON string `{token, filename, actionIds, maxResultBytes,
 *   maxConsoleLines, maxConsoleBytes, input: [body, headers]}`. It resolves with a small plain object
 *   and never rejects for what the script does: `{status: 'ok', result: json, response: json|null, dropped, sent}`
 *   or `{status, code, message, line?, column?, dropped, sent}`. `sent` counts the bridge calls the run
 *   made, so the host can wait for every one of them before it takes the run as finished.
 * - `deliver(call, envelopeJson)`, called by the host with the answer to an action call. The host
 *   calls it with a CPU `timeout`, so the script code it resumes runs under the limit too (a host
 *   promise resolving into the isolate would resume it with no timeout at all), and the host knows
 *   when the isolate is quiet again.
 * - `start(fn, payloadJson)` and `take()`: the same run for a host that enters the isolate with
 *   `applySync` (inline runs, see isolate-host.ts). Microtasks run before `applySync` returns, so after
 *   `start` or a `deliver` the host calls `take`, which hands over the reply once the run has settled
 *   (undefined before).
 *
 * Everything a script can touch here is either frozen or made afresh for the run, and the run's
 * random token is captured in the run's own `actions` and `console`, so code a previous run left
 * behind cannot act as the current run.
 */
export const RUNTIME_SOURCE = String.raw`"use strict";
const actionBridge = $0;
const consoleBridge = $1;
const { parse, stringify } = JSON;
const { freeze, create } = Object;
const NativeError = Error;
const NativeTypeError = TypeError;
const NativeRangeError = RangeError;
const toText = String;
const LEVELS = freeze(['log', 'info', 'warn', 'error', 'debug']);
const MAX_ERROR_CHARS = 1000;
/** Arguments of one action call, as JSON text; more is refused before it leaves the isolate. */
const MAX_ARGS_CHARS = 4 * 1024 * 1024;
const NativePromise = Promise;
/** Action calls waiting for the host's answer: call id → resolve. */
const pending = new Map();
let lastCall = 0;

function safeMessage(error) {
  try {
    if (error !== null && (typeof error === 'object' || typeof error === 'function')) return toText(error.message);
    return toText(error);
  } catch {
    return 'unprintable value';
  }
}

/** Only JSON crosses: a function or symbol fails loudly here instead of vanishing in stringify. */
function jsonOnly(key, value) {
  const type = typeof value;
  if (type === 'function' || type === 'symbol') throw new NativeTypeError('a ' + type + ' is not a JSON value');
  return value;
}

function makeAction(state, id) {
  return async function (...args) {
    let argsJson;
    try {
      argsJson = stringify(args, jsonOnly);
    } catch (error) {
      throw new NativeTypeError('The arguments of actions.' + id + ' must be JSON values: ' + safeMessage(error));
    }
    if (argsJson.length > MAX_ARGS_CHARS) {
      throw new NativeRangeError('The arguments of actions.' + id + ' are larger than ' + MAX_ARGS_CHARS + ' characters of JSON');
    }
    const call = ++lastCall;
    const answer = new NativePromise((resolve) => pending.set(call, resolve));
    state.sent++;
    actionBridge.applyIgnored(undefined, [state.token, call, id, argsJson]);
    const envelope = parse(await answer);
    if (envelope.ok === true) return envelope.value;
    const error = new NativeError(envelope.error.message);
    error.code = envelope.error.code;
    throw error;
  };
}

function formatArg(value) {
  const type = typeof value;
  if (type === 'string') return value;
  try {
    if (value === undefined || value === null || type === 'number' || type === 'boolean' || type === 'symbol') return toText(value);
    if (type === 'bigint') return toText(value) + 'n';
    if (type === 'function') return '[Function: ' + (toText(value.name) || 'anonymous') + ']';
    if (value instanceof NativeError) return toText(value.name) + ': ' + toText(value.message);
    const json = stringify(value);
    return json === undefined ? toText(value) : json;
  } catch {
    try {
      return toText(value);
    } catch {
      return '[unprintable]';
    }
  }
}

function makeConsole(state) {
  const target = create(null);
  for (const level of LEVELS) {
    target[level] = function (...args) {
      // Counted here too, so a logging loop cannot flood the host with messages it would drop.
      if (state.lines >= state.maxLines || state.chars >= state.maxChars) {
        state.dropped++;
        return;
      }
      let line = '';
      for (let i = 0; i < args.length; i++) line += (i === 0 ? '' : ' ') + formatArg(args[i]);
      if (line.length > state.maxChars - state.chars) line = line.slice(0, state.maxChars - state.chars);
      state.lines++;
      state.chars += line.length;
      state.sent++;
      consoleBridge.applyIgnored(undefined, [state.token, level, line]);
    };
  }
  return freeze(target);
}

/** Reads the script's own line:column from a stack: the first frame in the admin's file. */
function position(stack, filename) {
  const marker = filename + ':';
  const frames = stack.indexOf('\n    at ');
  if (frames < 0) return null;
  const at = stack.indexOf(marker, frames);
  if (at < 0) return null;
  const numbers = [0, 0];
  let i = at + marker.length;
  for (let n = 0; n < 2; n++) {
    const start = i;
    while (i < stack.length && stack.charCodeAt(i) >= 48 && stack.charCodeAt(i) <= 57) {
      numbers[n] = numbers[n] * 10 + stack.charCodeAt(i) - 48;
      i++;
    }
    if (i === start) return null;
    if (n === 0 && stack[i++] !== ':') return null;
  }
  return numbers[0] >= 1 ? { line: numbers[0], column: numbers[1] } : null;
}

function describeError(error, filename) {
  let message;
  let stack = '';
  let isError = false;
  try {
    isError = error instanceof NativeError;
  } catch {}
  if (isError) {
    let name = 'Error';
    try { name = toText(error.name); } catch {}
    message = name + ': ' + safeMessage(error);
    try { if (typeof error.stack === 'string') stack = error.stack; } catch {}
  } else {
    message = 'Uncaught ' + formatArg(error);
  }
  if (message.length > MAX_ERROR_CHARS) message = message.slice(0, MAX_ERROR_CHARS - 1) + '…';
  const where = position(stack, filename);
  return where === null
    ? { code: 'script_error', message }
    : { code: 'script_error', message, line: where.line, column: where.column };
}

function deliver(call, envelopeJson) {
  const resolve = pending.get(call);
  if (resolve === undefined) return;
  pending.delete(call);
  resolve(envelopeJson);
}

async function run(fn, payloadJson) {
  // An isolate is reused only after a run that left no call waiting; this is belt and braces.
  pending.clear();
  const payload = parse(payloadJson);
  const state = {
    token: payload.token,
    lines: 0,
    chars: 0,
    dropped: 0,
    sent: 0,
    maxLines: payload.maxConsoleLines,
    maxChars: payload.maxConsoleBytes,
  };
  const reply = await execute(fn, payload, state);
  reply.sent = state.sent;
  return reply;
}

async function execute(fn, payload, state) {
  const actions = create(null);
  for (const id of payload.actionIds) actions[id] = makeAction(state, id);
  freeze(actions);
  const scriptConsole = makeConsole(state);

  let boxed;
  try {
    boxed = await fn(payload.input[0], payload.input[1], actions, scriptConsole);
  } catch (error) {
    const failure = describeError(error, payload.filename);
    failure.status = 'error';
    failure.dropped = state.dropped;
    return failure;
  }
  const result = boxed[0];
  let json;
  try {
    json = result === undefined ? 'null' : stringify(result);
  } catch (error) {
    return { status: 'error', code: 'result_not_serializable', message: 'result is not JSON-serialisable: ' + safeMessage(error), dropped: state.dropped };
  }
  if (json === undefined) {
    return { status: 'error', code: 'result_not_serializable', message: 'result is not JSON-serialisable: a ' + typeof result + ' is not a JSON value', dropped: state.dropped };
  }
  const response = boxed[1];
  let responseJson = null;
  if (response !== null && response !== undefined) {
    try {
      responseJson = stringify(response);
    } catch (error) {
      return { status: 'error', code: 'result_not_serializable', message: 'response is not JSON-serialisable: ' + safeMessage(error), dropped: state.dropped };
    }
    if (responseJson === undefined) responseJson = null;
  }
  if (json.length + (responseJson === null ? 0 : responseJson.length) > payload.maxResultBytes) {
    return { status: 'limit', code: 'result_too_large', message: 'result is larger than ' + payload.maxResultBytes + ' bytes', dropped: state.dropped };
  }
  return { status: 'ok', result: json, response: responseJson, dropped: state.dropped };
}

/** The reply of the run begun by \`start\`, once it has settled; \`take\` hands it over, once. */
let settled;

function start(fn, payloadJson) {
  settled = undefined;
  run(fn, payloadJson).then((reply) => { settled = reply; });
}

function take() {
  const reply = settled;
  settled = undefined;
  return reply;
}

return { run, deliver, start, take };`;
