import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationSource } from '../../src/store/index.js';
import { waitFor } from '../helpers/engine.js';
import { runCli, startServe, type ServingCli } from './cli-process.js';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * The CLI on the embedded database (PGlite in a temp folder): `serve` holds the folder's lock, so the other
 * commands say so and wait for it to stop; keys they make are the server's keys.
 */
describe('hookgate CLI on the embedded database', { timeout: 180_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hookgate-cli-embedded-'));
  const env = { HOOKGATE_DATA_DIR: dataDir, HOOKGATE_SECRET_KEY: 'cli-embedded-secret-key-0123' };
  const cli = (...args: string[]) => runCli(args, env);
  let server: ServingCli | undefined;

  const serve = async (): Promise<{ base: string; server: ServingCli }> => {
    const port = await freePort();
    const started = startServe(['--port', String(port)], env);
    server = started;
    await waitFor(() => (/listening on http:\/\/127\.0\.0\.1:\d+/.test(started.output()) ? true : undefined), 90_000, `hookgate serve to listen (output: ${started.output()})`);
    return { base: `http://127.0.0.1:${port}`, server: started };
  };
  const get = async (base: string, path: string, key: string) => (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } })).status;

  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('migrate applies every migration to a new data folder, once; the other commands want a database there first', async () => {
    const none = await cli('keys', 'list');
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(
      `hookgate: There is no embedded database in ${dataDir} (HOOKGATE_DATA_DIR). Check the folder, or create the database with \`hookgate migrate\` (or by starting the server once).\n`,
    );
    const all = (await migrationSource.getMigrations([])).map((m) => m.name);
    const first = await cli('migrate', '--json');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ applied: all, pending: [] });
    const again = await cli('migrate');
    expect(again.stdout).toBe(`the embedded database in ${dataDir}: already up to date, no migration ran.\n`);
  });

  it('serve runs the demo; meanwhile the folder is locked and the CLI says so; its keys work until revoked', async () => {
    const created = JSON.parse((await cli('keys', 'create', '--role', 'admin', '--name', 'ops', '--json')).stdout) as { id: string; key: string; prefix: string };

    const { base, server: running } = await serve();
    // The store already has a key: the server generates and prints no admin token of its own.
    expect(running.output()).not.toMatch(/hg_admin_/);
    expect(await get(base, '/admin/api/settings', created.key)).toBe(200);

    const locked = await cli('keys', 'list');
    expect(locked.code).toBe(1);
    expect(locked.stdout).toBe('');
    expect(locked.stderr).toBe(
      `hookgate: The embedded database in ${dataDir} is locked by process ${running.child.pid} (a running \`hookgate serve\` or \`npm start\`?). ` +
        'PGlite is single-process: stop that server and run the command again, or run both against PostgreSQL (DATABASE_URL), where the CLI works alongside running servers. [data_dir_locked]\n',
    );

    expect(await running.stop()).toBe(0);

    const revoked = await cli('keys', 'revoke', created.prefix, '--json');
    expect(revoked.code).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ id: created.id, revokedAt: expect.any(String), lastUsedAt: expect.any(String) });

    const again = await serve();
    expect(await get(again.base, '/admin/api/settings', created.key)).toBe(401);
    expect(await again.server.stop()).toBe(0);
  });

  it('serve refuses a bad port and has --help', async () => {
    const bad = await cli('serve', '--port', 'eighty');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('hookgate: --port eighty is not a port number (0-65535).\n');
    const help = await cli('serve', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: hookgate serve [options]');
  });

  it('every command has --help', async () => {
    for (const command of [[], ['migrate'], ['keys'], ['keys', 'list'], ['keys', 'revoke'], ['deliveries']]) {
      const help = await cli(...command, '--help');
      expect(help.code, command.join(' ')).toBe(0);
      expect(help.stdout, command.join(' ')).toContain(`Usage: hookgate${command.length ? ` ${command.join(' ')}` : ''}`);
    }
    const unknown = await cli('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown command 'frobnicate'");
  });
});
