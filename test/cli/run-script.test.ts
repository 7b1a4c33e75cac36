import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-process.js';

/** `hookgate run-script`: a local dry run in the real sandbox (a child process of the CLI's own), no database. */
describe('hookgate run-script', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-cli-script-'));
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  // No database: a run without --provider must not need one (this folder is never created).
  const env = { HOOKGATE_DATA_DIR: join(dir, 'no-data-here') };
  const payload = file('event.json', JSON.stringify({ type: 'customer.subscription.deleted', data: { object: { id: 'sub_9', customer: 'cus_3' } } }));
  const script = file(
    'stripe.js',
    [
      "console.log('event', body.type, headers['x-trace']);",
      "if (body.type === 'customer.subscription.deleted') {",
      '  const sub = body.data.object;',
      "  await actions['subscription.cancel'](sub.id);",
      "  await actions['subscription.notifyUser'](sub.customer);",
      "  result = { event: 'subscription.cancelled', data: { subscriptionId: sub.id, customer: sub.customer } };",
      '}',
    ].join('\n'),
  );

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the result, console lines and the recorded action calls, and exits 0', async () => {
    const headers = file('headers.json', JSON.stringify({ 'X-Trace': 't-1' }));
    const run = await runCli(['run-script', '--file', script, '--payload', payload, '--headers', headers], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^status: +ok$/m);
    expect(run.stdout).toMatch(/^result: +\{"event":"subscription\.cancelled","data":\{"subscriptionId":"sub_9","customer":"cus_3"\}\}$/m);
    expect(run.stdout).toContain('  subscription.cancel("sub_9")');
    expect(run.stdout).toContain('  subscription.notifyUser("cus_3")');
    expect(run.stdout).toMatch(/\[log \+\d+ms\] event customer\.subscription\.deleted t-1/);
    expect(run.stdout).toMatch(/^duration: +[\d.]+ m?s$/m);
  });

  it('--json gives the dry-run API answer; --actions limits what the script may call', async () => {
    const run = await runCli(['run-script', '-f', script, '-p', '-', '--actions', 'subscription.cancel', '--json'], env, {
      input: JSON.stringify({ type: 'customer.subscription.deleted', data: { object: { id: 'sub_1', customer: 'cus_1' } } }),
    });
    expect(run.code).toBe(1);
    const out = JSON.parse(run.stdout);
    expect(out.status).toBe('error');
    // notifyUser is not among --actions: the script's call of it is a TypeError in the script.
    expect(out.actionsCalled).toEqual([expect.objectContaining({ id: 'subscription.cancel', ok: true, args: ['sub_1'] })]);
    expect(out.error).toMatchObject({ code: 'script_error', line: 5 });
    expect(out.logs).toEqual([expect.objectContaining({ level: 'log', message: 'event customer.subscription.deleted undefined' })]);
    expect(typeof out.durationMs).toBe('number');
  });

  it('stubs action ids the app does not register when --actions names them', async () => {
    const other = file('other.js', "result = { event: 'subscription.cancelled', data: { subscriptionId: String(await actions['crm.tag']('vip', 2)) } };");
    const run = await runCli(['run-script', '-f', other, '-p', payload, '--actions', 'crm.tag', '--json'], env);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.actionsCalled).toEqual([expect.objectContaining({ id: 'crm.tag', ok: true, args: ['vip', 2] })]);
    // Stub actions answer null.
    expect(out.result).toEqual({ event: 'subscription.cancelled', data: { subscriptionId: 'null' } });
  });

  it('a runtime error exits 1 with the error and its position; console lines before it are kept', async () => {
    const failing = file('failing.js', "console.warn('about to fail');\nconst sub = body.missing.id;\n");
    const run = await runCli(['run-script', '--file', failing, '--payload', payload], env);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^status: +error$/m);
    expect(run.stdout).toMatch(/\[warn \+\d+ms\] about to fail/);
    expect(run.stdout).toContain(`error:     script_error: TypeError: Cannot read properties of undefined (reading 'id') (${failing}:2:`);
  });

  it('an event outside the app catalog is an error, as on the server', async () => {
    const unknown = file('unknown-event.js', "result = { event: 'not.in.catalog', data: {} };");
    const run = await runCli(['run-script', '--file', unknown, '--payload', payload, '--json'], env);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).error).toMatchObject({ code: 'event_unknown' });
  });

  it('a compile error exits 1 and shows the line and column with the code around it', async () => {
    const broken = file('broken.js', "console.log('ok');\nconst x = ;\n");
    const run = await runCli(['run-script', '--file', broken, '--payload', payload], env);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`${broken}:2:11: compile error: SyntaxError: Unexpected token ';'`);
    expect(run.stderr).toContain('> 2 | const x = ;\n    |           ^');

    const json = await runCli(['run-script', '--file', broken, '--payload', payload, '--json'], env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).error).toEqual({ code: 'compile_error', message: "SyntaxError: Unexpected token ';'", line: 2, column: 11 });
  });

  it('bad input files and missing options exit 2 with a clear message', async () => {
    const notJson = file('not.json', '{"type": ');
    const badJson = await runCli(['run-script', '--file', script, '--payload', notJson], env);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(new RegExp(`^hookgate: ${notJson} is not valid JSON: `));

    const missing = await runCli(['run-script', '--file', join(dir, 'nope.js'), '--payload', payload], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^hookgate: Cannot read the script file .*nope\.js: ENOENT/);

    const headers = file('bad-headers.json', '{"x": 1}');
    const badHeaders = await runCli(['run-script', '--file', script, '--payload', payload, '--headers', headers], env);
    expect(badHeaders.code).toBe(2);
    expect(badHeaders.stderr).toContain('must hold a JSON object of header names to string values');

    const noPayload = await runCli(['run-script', '--file', script], env);
    expect(noPayload.code).toBe(2);
    expect(noPayload.stderr).toContain("required option '-p, --payload <payload.json>' not specified");
  });

  it('has --help', async () => {
    const run = await runCli(['run-script', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: hookgate run-script [options]');
    expect(run.stdout).toContain('--provider <provider>');
  });
});
