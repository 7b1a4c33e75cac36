import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { createSandbox, type ProcessSandbox } from '../../src/sandbox/index.js';
import { RUN_MODES, recordingInvoker, request } from './helpers.js';

describe.each(RUN_MODES)('$mode runs', ({ inlineRuns }) => {
  let sandbox: ProcessSandbox;

  beforeAll(() => {
    sandbox = createSandbox({ inlineRuns, processes: 1, isolatesPerProcess: 2 });
  });

  afterAll(async () => {
    await sandbox.close();
  });

  describe('sandbox runs', () => {
    it('returns the result, logs and duration', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('console.log("amount", body.amount); result = { event: "paid", data: body.amount * 2 };'), invoke);
      expect(run).toMatchObject({ status: 'ok', result: { event: 'paid', data: 84 }, droppedLogLines: 0 });
      expect(run.logs).toEqual([{ level: 'log', message: 'amount 42', atMs: expect.any(Number) }]);
      expect(run.durationMs).toBeGreaterThan(0);
      expect(run.error).toBeUndefined();
    });

    it('leaves result null when the script does not set it, and on return', async () => {
      const { invoke } = recordingInvoker();
      expect(await sandbox.run(request('const x = 1;'), invoke)).toMatchObject({ status: 'ok', result: null });
      expect(await sandbox.run(request('result = 1; return; result = 2'), invoke)).toMatchObject({ status: 'ok', result: 1 });
    });

    it('takes a thenable assigned to result as is', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('result = { then(resolve) { resolve(5) }, x: 1 }'), invoke);
      expect(run).toMatchObject({ status: 'ok', result: { x: 1 } });
    });

    it('gives each run its own copy of body and headers', async () => {
      const { invoke } = recordingInvoker();
      const body = { nested: { n: 1 } };
      const headers = { 'x-a': '1' };
      const mutate = 'body.nested.n = 99; headers["x-a"] = "changed"; result = [body.nested.n, headers["x-a"]]';
      expect((await sandbox.run(request(mutate, { body, headers }), invoke)).result).toEqual([99, 'changed']);
      expect(body).toEqual({ nested: { n: 1 } });
      expect(headers).toEqual({ 'x-a': '1' });
      const read = await sandbox.run(request('result = [body.nested.n, headers["x-a"]]', { body, headers }), invoke);
      expect(read.result).toEqual([1, '1']);
    });

    it('exposes exactly the given actions on a frozen null-prototype object', async () => {
      const { invoke } = recordingInvoker();
      const script = `
        let added = true;
        try { actions.extra = () => 1; } catch { added = false; }
        result = {
          keys: Object.keys(actions),
          proto: Object.getPrototypeOf(actions) === null,
          frozen: Object.isFrozen(actions),
          added,
          types: Object.values(actions).map((fn) => typeof fn),
          other: typeof actions.deleteEverything,
        };`;
      const run = await sandbox.run(request(script, { actionIds: ['echo', 'b.c'] }), invoke);
      expect(run.result).toEqual({ keys: ['echo', 'b.c'], proto: true, frozen: true, added: false, types: ['function', 'function'], other: 'undefined' });
    });

    it('passes action arguments and answers as JSON copies', async () => {
      const { invoke, calls } = recordingInvoker();
      const script = `
        const arg = { d: new Date(0), u: undefined, list: [1, undefined], n: 1 };
        const echoed = await actions.echo(arg, 'second');
        echoed.n = 2;
        result = { echoed, original: arg.n, same: echoed === arg };`;
      const run = await sandbox.run(request(script), invoke);
      expect(calls).toEqual([{ id: 'echo', args: [{ d: '1970-01-01T00:00:00.000Z', list: [1, null], n: 1 }, 'second'] }]);
      expect(run.result).toEqual({ echoed: { d: '1970-01-01T00:00:00.000Z', list: [1, null], n: 2 }, original: 1, same: false });
    });

    it('copies what an action returns: functions vanish, dates become strings', async () => {
      const hostValue = { fn: () => 1, when: new Date(0), deep: { n: 1 } };
      const run = await sandbox.run(request('const v = await actions.echo(); v.deep.n = 5; result = [typeof v.fn, v.when, v.deep.n]'), async () => hostValue);
      expect(run.result).toEqual(['undefined', '1970-01-01T00:00:00.000Z', 5]);
      expect(hostValue.deep.n).toBe(1);
    });

    it('turns an action rejection into a catchable error with only code and message', async () => {
      const { invoke } = recordingInvoker();
      const script = `
        try { await actions.fail('card declined'); } catch (e) {
          result = { message: e.message, code: e.code, keys: Object.keys(e), stack: e.stack, isError: e instanceof Error };
        }`;
      const run = await sandbox.run(request(script), invoke);
      const seen = run.result as { message: string; code: string; keys: string[]; stack: string; isError: boolean };
      expect(seen).toMatchObject({ message: 'card declined', code: 'action_failed', keys: ['code'], isError: true });
      expect(seen.stack).not.toMatch(/secret|\/work\/|node:|\.ts\b|worker/);
      for (const frame of seen.stack.split('\n').slice(1)) expect(frame).toMatch(/\((hookgate:runtime|webhook:test)[:)]|at (async )?(hookgate:runtime|webhook:test)/);
    });

    it('passes the code of an AppError rejection', async () => {
      const invoke = async () => {
        throw new AppError('action_invalid_arguments', 'amount must be positive');
      };
      const run = await sandbox.run(request('try { await actions.echo(-1) } catch (e) { result = [e.code, e.message] }'), invoke);
      expect(run.result).toEqual(['action_invalid_arguments', 'amount must be positive']);
    });

    it('an uncaught action error fails the run with the script position', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('\nawait actions.fail("nope")'), invoke);
      expect(run).toMatchObject({ status: 'error', result: null, error: { code: 'script_error', message: 'Error: nope', line: 2 } });
    });

    it('rejects non-JSON action arguments in the script without calling the host', async () => {
      const { invoke, calls } = recordingInvoker();
      const script = `
        const circular = {}; circular.self = circular;
        const attempts = [() => 1, Symbol('s'), 10n, circular, { nested: [() => 2] }, { get boom() { throw new Error('getter') } }];
        const errors = [];
        for (const value of attempts) {
          try { await actions.echo(value); errors.push('called'); } catch (e) { errors.push(e.name + ': ' + e.message); }
        }
        result = errors;`;
      const run = await sandbox.run(request(script), invoke);
      expect(calls).toEqual([]);
      const errors = run.result as string[];
      expect(errors).toHaveLength(6);
      for (const error of errors) expect(error).toMatch(/^TypeError: The arguments of actions\.echo must be JSON values: /);
      expect(errors[0]).toContain('a function is not a JSON value');
      expect(errors[2]).toContain('BigInt');
      expect(errors[5]).toContain('getter');
    });

    it('refuses oversized action arguments in the script', async () => {
      const { invoke, calls } = recordingInvoker();
      const run = await sandbox.run(request('try { await actions.echo("x".repeat(5 * 1024 * 1024)) } catch (e) { result = e.name }'), invoke);
      expect(run.result).toBe('RangeError');
      expect(calls).toEqual([]);
    });

    it('reports a throw with the line and column of the admin script', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('const a = 1;\nif (a) {\n    throw new RangeError("too far");\n}'), invoke);
      expect(run).toMatchObject({ status: 'error', result: null, error: { code: 'script_error', message: 'RangeError: too far', line: 3, column: 11 } });
    });

    it('reports runtime TypeErrors and thrown non-errors', async () => {
      const { invoke } = recordingInvoker();
      const typeError = await sandbox.run(request('\n\nbody.missing.field'), invoke);
      expect(typeError.error).toMatchObject({ code: 'script_error', line: 3, column: 14 });
      expect(typeError.error?.message).toMatch(/^TypeError: Cannot read properties of undefined/);
      const thrown = await sandbox.run(request('throw { reason: "custom" }'), invoke);
      expect(thrown.error).toEqual({ code: 'script_error', message: 'Uncaught {"reason":"custom"}' });
    });

    it('truncates long error messages', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('throw new Error("x".repeat(5000))'), invoke);
      expect(run.error?.message.length).toBeLessThanOrEqual(1000);
    });

    it('reports a compile error with its position before running anything', async () => {
      const { invoke, calls } = recordingInvoker();
      const run = await sandbox.run(request('await actions.echo(1);\nresult = ;'), invoke);
      expect(run).toMatchObject({ status: 'error', error: { code: 'compile_error', line: 2, column: 10 } });
      expect(calls).toEqual([]);
    });

    it('fails a result that is not JSON', async () => {
      const { invoke } = recordingInvoker();
      for (const value of ['10n', '() => 1', '{ get x() { throw new Error("nope") } }']) {
        const run = await sandbox.run(request(`result = ${value}`), invoke);
        expect(run).toMatchObject({ status: 'error', result: null, error: { code: 'result_not_serializable' } });
      }
    });

    it('uses toJSON and proxies inside the sandbox for the result', async () => {
      const { invoke } = recordingInvoker();
      const script = `
        const proxy = new Proxy({}, {
          ownKeys: () => ['a'],
          getOwnPropertyDescriptor: () => ({ value: 1, enumerable: true, configurable: true }),
          get: (target, key) => (key === 'a' ? 'from trap' : undefined),
        });
        result = { viaToJSON: { toJSON() { return 'json!' } }, proxy };`;
      expect((await sandbox.run(request(script), invoke)).result).toEqual({ viaToJSON: 'json!', proxy: { a: 'from trap' } });
    });

    it('passes getters, toJSON and proxies in action arguments as plain data', async () => {
      const { invoke, calls } = recordingInvoker();
      const script = `
        const proxy = new Proxy({}, { ownKeys: () => ['k'], getOwnPropertyDescriptor: () => ({ value: 1, enumerable: true, configurable: true }), get: () => 'trap' });
        await actions.echo({ get computed() { return 6 * 7 } }, { toJSON() { return 'custom' } }, proxy);`;
      await sandbox.run(request(script), invoke);
      expect(calls).toEqual([{ id: 'echo', args: [{ computed: 42 }, 'custom', { k: 'trap' }] }]);
      const [first] = calls[0]?.args ?? [];
      expect(Object.getOwnPropertyDescriptor(first, 'computed')).toMatchObject({ value: 42 });
    });

    it('limits the size of the result', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('result = "x".repeat(2000)', { limits: { maxResultBytes: 1000 } }), invoke);
      expect(run).toMatchObject({ status: 'limit', result: null, error: { code: 'result_too_large' } });
      // Bytes, not characters: 400 × "é" is 800 bytes.
      const multiByte = await sandbox.run(request('result = "é".repeat(400)', { limits: { maxResultBytes: 600 } }), invoke);
      expect(multiByte).toMatchObject({ status: 'limit', error: { code: 'result_too_large' } });
      const huge = await sandbox.run(request('result = "x".repeat(2 * 1024 * 1024)'), invoke);
      expect(huge).toMatchObject({ status: 'limit', error: { code: 'result_too_large' } });
    });

    it('limits action calls: the 51st is refused and the run ends as limit even if caught', async () => {
      const { invoke, calls } = recordingInvoker();
      const script = `
        const codes = [];
        for (let i = 0; i < 51; i++) {
          try { await actions.echo(i); } catch (e) { codes.push(e.code); }
        }
        result = codes;`;
      const run = await sandbox.run(request(script), invoke);
      expect(calls).toHaveLength(50);
      expect(run).toMatchObject({ status: 'limit', result: null, error: { code: 'action_limit_exceeded' } });
      const within = await sandbox.run(request('for (let i = 0; i < 50; i++) await actions.echo(i); result = "ok"'), invoke);
      expect(within).toMatchObject({ status: 'ok', result: 'ok' });
    });

    it('runs concurrent action calls of one script', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('result = await Promise.all([actions.slow(30), actions.echo("a"), actions.slow(10)])'), invoke);
      expect(run).toMatchObject({ status: 'ok', result: ['slow done', 'a', 'slow done'] });
    });
  });

  describe('console', () => {
    it('formats arguments like util.format', async () => {
      const { invoke } = recordingInvoker();
      const script = `
        function named() {}
        console.log('text', 1, { b: [2] }, undefined, null, true, 10n, Symbol('s'), named, new TypeError('bad'));
        console.info('i'); console.warn('w'); console.error('e'); console.debug('d');
        const circular = {}; circular.self = circular; console.log(circular);`;
      const run = await sandbox.run(request(script), invoke);
      expect(run.logs.map((line) => [line.level, line.message])).toEqual([
        ['log', 'text 1 {"b":[2]} undefined null true 10n Symbol(s) [Function: named] TypeError: bad'],
        ['info', 'i'],
        ['warn', 'w'],
        ['error', 'e'],
        ['debug', 'd'],
        ['log', '[object Object]'],
      ]);
    });

    it('keeps at most maxConsoleLines lines and counts the rest', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('for (let i = 0; i < 10; i++) console.log("line", i); result = 1', { limits: { maxConsoleLines: 3 } }), invoke);
      expect(run.logs.map((line) => line.message)).toEqual(['line 0', 'line 1', 'line 2']);
      expect(run.droppedLogLines).toBe(7);
    });

    it('keeps at most maxConsoleBytes bytes', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('for (let i = 0; i < 5; i++) console.log("é".repeat(4)); console.log("x".repeat(100000))', { limits: { maxConsoleBytes: 20 } }), invoke);
      const bytes = run.logs.reduce((sum, line) => sum + Buffer.byteLength(line.message), 0);
      expect(bytes).toBeLessThanOrEqual(20);
      expect(run.logs.length).toBeGreaterThanOrEqual(2);
      expect(run.logs.length + run.droppedLogLines).toBe(6);
    });

    it('survives a flood of console calls', async () => {
      const { invoke } = recordingInvoker();
      const run = await sandbox.run(request('for (let i = 0; i < 200000; i++) console.log(i); result = "done"'), invoke);
      expect(run).toMatchObject({ status: 'ok', result: 'done', droppedLogLines: 200000 - 200 });
      expect(run.logs).toHaveLength(200);
    });
  });
});
