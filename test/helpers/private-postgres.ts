import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where Debian/Ubuntu put the PostgreSQL 15 server binaries (`PG_BIN` to change it). */
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication). */
  readonly url: string;
  readonly port: number;
  /** Whether the server is running (as far as this helper started and stopped it). */
  readonly running: boolean;
  /** Starts the server again on the same port and data (after `stop`). */
  start(): Promise<void>;
  /** Stops it in fast mode: sessions are disconnected (57P01), no new connection is accepted. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Stops it (immediate mode) if it runs and deletes its folder; safe to call twice. */
  cleanup(): Promise<void>;
}

/** A TCP port nobody listens on right now (the kernel's choice). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** initdb and postgres refuse to run as root: as root, they run as the `postgres` user. */
function asServerUser(): { wrap: (cmd: string, args: string[]) => [string, string[]]; uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { wrap: (cmd, args) => ['runuser', ['-u', 'postgres', '--', cmd, ...args]], uid, gid };
}

/**
 * A PostgreSQL 15 server of the test's own — in a temp folder, on a free loopback port, its socket in that
 * folder, fsync off — so a fault test can stop and restart a database without touching the machine's
 * shared server. Call `cleanup()` in `afterAll`; a process that exits without it still stops the server.
 *
 * @example
 * const pg = await startPrivatePostgres();
 * const store = await createStore({ databaseUrl: pg.url });
 * await pg.stop(); await pg.start();
 * await pg.cleanup();
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hg-private-pg-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const user = asServerUser();
  if (user) chownSync(dir, user.uid, user.gid);
  const command = (name: string, args: string[]): [string, string[]] => {
    const bin = path.join(PG_BIN, name);
    return user ? user.wrap(bin, args) : [bin, args];
  };
  const exec = async (name: string, args: string[], timeout = 60_000) => {
    const [cmd, argv] = command(name, args);
    try {
      await run(cmd, argv, { timeout });
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new Error(`${name} ${args.join(' ')} failed: ${e.stderr || e.message}`, { cause: err });
    }
  };

  let running = false;
  let cleaned = false;
  const stopNow = () => {
    if (!running) return;
    running = false;
    try {
      const [cmd, argv] = command('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      execFileSync(cmd, argv, { stdio: 'ignore', timeout: 30_000 });
    } catch {
      // already gone
    }
  };
  const onExit = () => {
    stopNow();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  let port = 0;
  try {
    await exec('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
    port = await freePort();
  } catch (err) {
    onExit();
    process.removeListener('exit', onExit);
    throw err;
  }
  const options = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=50'].join(' ');

  const pg: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    get running() {
      return running;
    },
    async start() {
      if (running) return;
      await exec('pg_ctl', ['-D', dataDir, '-o', options, '-l', logFile, '-w', '-t', '60', 'start']);
      running = true;
    },
    async stop() {
      if (!running) return;
      await exec('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
      running = false;
    },
    async restart() {
      await pg.stop();
      await pg.start();
    },
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      process.removeListener('exit', onExit);
      if (running) await exec('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-t', '60', 'stop']).catch(() => stopNow());
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await pg.start();
  } catch (err) {
    await pg.cleanup();
    throw err;
  }
  return pg;
}
