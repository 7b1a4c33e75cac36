import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { checkScriptSyntax } from '../../src/sandbox/index.js';
import { WRAPPER_LINE_OFFSET, wrapScript } from '../../src/sandbox/script-wrapper.js';

describe('checkScriptSyntax', () => {
  it('accepts a function body with top-level await and return', () => {
    expect(checkScriptSyntax('const x = await actions.echo(body.a);\nif (!x) return;\nresult = { event: "e", data: x };')).toEqual({ ok: true });
  });

  it('reports the line and column in the admin script', () => {
    expect(checkScriptSyntax('const a = 1;\n\nresult = ;')).toEqual({
      ok: false,
      message: "SyntaxError: Unexpected token ';'",
      line: 3,
      column: 10,
    });
    expect(checkScriptSyntax('foo bar')).toMatchObject({ ok: false, line: 1, column: 5 });
    // Tabs count as one column.
    expect(checkScriptSyntax('if (x) {\n\tlet = = 3\n}')).toMatchObject({ ok: false, line: 2, column: 2 });
  });

  it('points at the end of the script when it ends inside something unclosed', () => {
    const check = checkScriptSyntax('if (body) {\n  result = 1;');
    expect(check).toMatchObject({ ok: false, line: 2, column: 14 });
    expect(check.ok === false && check.message).toContain('unclosed');
  });

  it('is strict mode like the sandbox', () => {
    expect(checkScriptSyntax('with (body) { result = 1 }')).toMatchObject({ ok: false, line: 1 });
  });

  it('refuses a script that closes the wrapper to keep state in the script scope', async () => {
    const reopen = '(async function (body, headers, actions, console) { let result = null; let response = null; await (async function (body, headers, actions, console) {';
    const breakout = `}); }); let kept = 0; ${reopen}\nresult = ++kept;`;
    // The wrapper alone compiles it, and what it compiles keeps `kept` from one call to the next.
    const fn = new vm.Script(wrapScript(breakout)).runInNewContext({}) as () => Promise<[number, null]>;
    expect([await fn(), await fn()]).toEqual([[1, null], [2, null]]);
    expect(checkScriptSyntax(breakout)).toMatchObject({ ok: false, line: 1, column: 1 });
  });

  it('shares the wrapper line offset with the isolate host', () => {
    const script = new vm.Script(wrapScript('\n\nthrow new Error("x")'), { filename: 'w', lineOffset: WRAPPER_LINE_OFFSET });
    const fn = script.runInNewContext({}) as () => Promise<unknown>;
    return expect(fn()).rejects.toSatisfy((err: Error) => /w:3:\d+/.test(err.stack ?? ''));
  });
});
