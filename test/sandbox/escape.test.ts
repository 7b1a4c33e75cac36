import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type ProcessSandbox, type SandboxRunResult } from '../../src/sandbox/index.js';
import { RUN_MODES, recordingInvoker, request } from './helpers.js';

// One process with ONE isolate: every run below reuses the same context, which is what hardening
// has to make safe.
describe.each(RUN_MODES)('$mode runs', ({ inlineRuns }) => {
  let sandbox: ProcessSandbox;

  beforeAll(() => {
    sandbox = createSandbox({ inlineRuns, processes: 1, isolatesPerProcess: 1 });
  });

  afterAll(async () => {
    await sandbox.close();
  });

  async function run(script: string, body: unknown = {}): Promise<SandboxRunResult> {
    return sandbox.run(request(script, { body }), recordingInvoker().invoke);
  }

  async function resultOf(script: string, body: unknown = {}): Promise<unknown> {
    const outcome = await run(script, body);
    expect(outcome.status, JSON.stringify(outcome.error)).toBe('ok');
    return outcome.result;
  }

  describe('escape attempts reach nothing of the host', () => {
    it('has no process, require or timers, and `this` is undefined', async () => {
      expect(await resultOf('result = [typeof this, typeof process, typeof require, typeof module, typeof global, typeof setTimeout, typeof Buffer, typeof fetch]')).toEqual(
        Array(8).fill('undefined'),
      );
    });

    it('cannot reach the host through constructors', async () => {
      const script = `
        const attempts = {
          thisCtor: () => this.constructor.constructor('return process')(),
          globalCtor: () => globalThis.constructor.constructor('return process')(),
          functionThis: () => Function('return this')().process,
          bodyCtor: () => body.constructor.constructor('return typeof process')(),
          consoleCtor: () => console.log.constructor('return typeof require')(),
          actionCtor: () => typeof actions.echo.constructor('return process'),
          errorCtor: () => new Error().constructor.constructor('return this')().require,
          importMeta: () => eval('typeof import.meta'),
        };
        const out = {};
        for (const [name, attempt] of Object.entries(attempts)) {
          try { out[name] = String(attempt()); } catch (e) { out[name] = e.name; }
        }
        try { await actions.echo.constructor('return process')(); } catch (e) { out.asyncCtor = e.name; }
        try { await import('node:fs'); out.importFs = 'imported'; } catch (e) { out.importFs = 'refused'; }
        result = out;`;
      expect(await resultOf(script)).toEqual({
        thisCtor: 'TypeError',
        globalCtor: 'ReferenceError',
        functionThis: 'undefined',
        bodyCtor: 'undefined',
        consoleCtor: 'undefined',
        actionCtor: 'function',
        errorCtor: 'undefined',
        importMeta: 'SyntaxError',
        asyncCtor: 'ReferenceError',
        importFs: 'refused',
      });
    });

    it('cannot reach the runtime through caller or arguments', async () => {
      const script = `
        const out = [];
        for (const fn of [actions.echo, console.log]) {
          try { out.push(typeof fn.caller); } catch (e) { out.push(e.name); }
          try { out.push(typeof fn.arguments); } catch (e) { out.push(e.name); }
        }
        result = out;`;
      expect(await resultOf(script)).toEqual(['TypeError', 'TypeError', 'TypeError', 'TypeError']);
    });

    it('has no global that schedules work on its own', async () => {
      expect(await resultOf('result = [typeof WebAssembly, typeof FinalizationRegistry, typeof Atomics, typeof SharedArrayBuffer]')).toEqual(Array(4).fill('undefined'));
    });

    it('cannot install Error.prepareStackTrace, and stacks show no host frame', async () => {
      const script = `
        const out = {};
        try { Error.prepareStackTrace = (e, frames) => frames.map((f) => f.getFileName()); out.assign = 'assigned'; } catch (e) { out.assign = e.name; }
        try { Object.defineProperty(Error, 'prepareStackTrace', { value: () => 'hijacked' }); out.define = 'defined'; } catch (e) { out.define = e.name; }
        out.reflect = Reflect.set(Error, 'prepareStackTrace', () => 'hijacked');
        out.type = typeof Error.prepareStackTrace;
        try { await actions.fail('x'); } catch (e) { out.stack = e.stack; }
        result = out;`;
      const out = (await resultOf(script)) as Record<string, unknown>;
      expect(out).toMatchObject({ assign: 'TypeError', define: 'TypeError', reflect: false, type: 'undefined' });
      expect(out.stack).toMatch(/^Error: x\n/);
      expect(out.stack).not.toMatch(/\/work\/|node:|\.ts\b|hijacked|worker|secret/);
    });
  });

  describe('no state crosses from one run to the next', () => {
    it('cannot pollute prototypes, in strict or sloppy code', async () => {
      const script = `
        const out = [];
        const attempts = [
          () => { Object.prototype.polluted = 1; },
          () => { Array.prototype.push = function () { return 'hijacked'; }; },
          () => { Object.defineProperty(Object.prototype, 'defined', { value: 1 }); },
          () => { JSON.parse = () => 'hijacked'; },
          () => { Promise.prototype.then = () => 'hijacked'; },
          () => { Object.getPrototypeOf(async function () {}).constructor.prototype.x = 1; },
          () => { Object.getPrototypeOf([][Symbol.iterator]()).next = () => ({ done: true }); },
          () => Function('Object.prototype.sloppy = 1; return Object.prototype.sloppy')(),
          () => { delete Array.prototype.map; },
        ];
        for (const attempt of attempts) {
          try { out.push(String(attempt())); } catch (e) { out.push(e.name); }
        }
        result = out;`;
      expect(await resultOf(script)).toEqual([...Array(7).fill('TypeError'), 'undefined', 'TypeError']);
      const check = `
        const list = [];
        list.push(1);
        result = [({}).polluted, ({}).defined, ({}).sloppy, list, JSON.parse('1'), [...[1, 2]], typeof [].map];`;
      expect(await resultOf(check)).toEqual([undefined, undefined, undefined, [1], 1, [1, 2], 'function'].map((v) => v ?? null));
    });

    it('cannot keep globals', async () => {
      const script = `
        const out = [];
        const attempts = [
          () => { globalThis.kept = 'secret'; },
          () => { Function('sloppyKept = "secret"')(); return typeof sloppyKept; },
          () => { (0, eval)('var evalKept = "secret"'); },
          () => { (0, eval)('let lexicalKept = "secret"'); return (0, eval)('typeof lexicalKept'); },
          () => { Object.defineProperty(globalThis, 'definedKept', { value: 'secret' }); },
        ];
        for (const attempt of attempts) {
          try { out.push(String(attempt())); } catch (e) { out.push(e.name); }
        }
        result = out;`;
      expect(await resultOf(script)).toEqual(['TypeError', 'undefined', 'TypeError', 'undefined', 'TypeError']);
      expect(await resultOf('result = [typeof kept, typeof sloppyKept, typeof evalKept, typeof lexicalKept, typeof definedKept, Object.isFrozen(globalThis)]')).toEqual([
        'undefined',
        'undefined',
        'undefined',
        'undefined',
        'undefined',
        true,
      ]);
    });

    it('does not leak the last RegExp match (RegExp.$1) to the next run', async () => {
      await resultOf('const m = /card (\\d+)/.exec(body.text); result = m[1]', { text: 'card 4242424242424242' });
      const seen = await resultOf('result = [typeof RegExp.$1, typeof RegExp.lastMatch, typeof RegExp.input, typeof RegExp["$_"], typeof RegExp.leftContext, Object.getOwnPropertyNames(RegExp).sort()]');
      expect(seen).toEqual(['undefined', 'undefined', 'undefined', 'undefined', 'undefined', ['length', 'name', 'prototype']]);
    });

    it('does not share the previous run data through a closure of the compiled script', async () => {
      const script = 'if (typeof seen === "undefined") { var seen = []; } seen.push(body.secret); result = seen.length';
      expect(await resultOf(script, { secret: 'first' })).toBe(1);
      expect(await resultOf(script, { secret: 'second' })).toBe(1);
    });

    it('refuses a script that breaks out of its wrapper', async () => {
      const reopen = '(async function (body, headers, actions, console) { let result = null; await (async function (body, headers, actions, console) {';
      const outcome = await run(`}); }); let kept = 0; ${reopen}\nresult = ++kept;`);
      expect(outcome).toMatchObject({ status: 'error', error: { code: 'compile_error' } });
    });
  });

  describe('a finished run cannot act any more', () => {
    it('drops an action call that is still waiting when the run ends, and what would follow it', async () => {
      const { invoke, calls } = recordingInvoker();
      const script = 'actions.slow(100).then(() => actions.echo("after the run")); result = "returned early"';
      const outcome = await sandbox.run(request(script), invoke);
      expect(outcome).toMatchObject({ status: 'ok', result: 'returned early' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(calls.map((call) => call.id)).toEqual(['slow']);
      // The isolate that still had a call waiting was replaced, not reused.
      expect(sandbox.stats().isolates.discarded).toBeGreaterThanOrEqual(1);
      expect(await resultOf('result = "next run fine"')).toBe('next run fine');
    });
  });
});
