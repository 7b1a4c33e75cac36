import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { acquireDataDirLock, createStore, LOCK_FILE, pgliteDir, type KnexStore } from '../../src/store/index.js';

const run = promisify(execFile);
const FIXTURE = path.resolve(import.meta.dirname, 'fixtures/open-store.ts');

interface ChildResult {
  ok: boolean;
  code?: string;
  message?: string;
  webhooks?: string[];
}

/** Opens the store in `dataDir` from another Node process and returns what it printed. */
async function openInOtherProcess(dataDir: string): Promise<ChildResult> {
  const child = await run(process.execPath, ['--import', 'tsx', FIXTURE, dataDir], { timeout: 60_000 }).catch(
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
  );
  const line = child.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as ChildResult;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hookgate-data-'));
}

function writeLock(dataDir: string, pid: number): void {
  fs.writeFileSync(path.join(dataDir, LOCK_FILE), JSON.stringify({ pid, hostname: os.hostname(), startedAt: new Date().toISOString() }));
}

function lockError(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected data_dir_locked');
}

describe('data directory lock', () => {
  const dirs: string[] = [];
  const dir = (): string => {
    const d = tempDir();
    dirs.push(d);
    return d;
  };
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('creates the folder and a lock file holding our pid, removed on release', () => {
    const dataDir = path.join(dir(), 'nested', 'data');
    const lock = acquireDataDirLock(dataDir);
    const content = JSON.parse(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')) as { pid: number };
    expect(content.pid).toBe(process.pid);
    expect(fs.readdirSync(dataDir)).toEqual([LOCK_FILE]);
    lock.release();
    lock.release();
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);
  });

  it('refuses a second lock in the same process', () => {
    const dataDir = dir();
    const lock = acquireDataDirLock(dataDir);
    const err = lockError(() => acquireDataDirLock(dataDir));
    expect(err.code).toBe('data_dir_locked');
    expect(err.message).toContain(String(process.pid));
    lock.release();
    acquireDataDirLock(dataDir).release();
  });

  it('refuses a lock held by another live process, naming the folder and its pid', async () => {
    const dataDir = dir();
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      writeLock(dataDir, holder.pid!);
      const err = lockError(() => acquireDataDirLock(dataDir));
      expect(err.code).toBe('data_dir_locked');
      expect(err.message).toContain(path.resolve(dataDir));
      expect(err.message).toContain(String(holder.pid));
      expect(err.details).toEqual({ dataDir: path.resolve(dataDir), pid: holder.pid });
    } finally {
      holder.kill();
    }
  });

  it('takes over a stale lock: a dead pid, an unreadable file, or our own pid from an earlier run', async () => {
    const dataDir = dir();
    const lockFile = path.join(dataDir, LOCK_FILE);
    for (const write of [
      async () => writeLock(dataDir, await deadPid()),
      async () => fs.writeFileSync(lockFile, ''),
      async () => writeLock(dataDir, process.pid),
    ]) {
      await write();
      const lock = acquireDataDirLock(dataDir);
      expect((JSON.parse(fs.readFileSync(lockFile, 'utf8')) as { pid: number }).pid).toBe(process.pid);
      lock.release();
      expect(fs.existsSync(lockFile)).toBe(false);
    }
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  it('release leaves a lock file that another owner wrote since', async () => {
    const dataDir = dir();
    const lock = acquireDataDirLock(dataDir);
    const other = await deadPid();
    writeLock(dataDir, other);
    lock.release();
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(true);
  });
});

describe('embedded store on a real folder', () => {
  let dataDir: string;
  let store: KnexStore | undefined;

  beforeAll(() => {
    dataDir = tempDir();
  });

  afterAll(async () => {
    await store?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps its data across close and reopen', async () => {
    store = await createStore({ dataDir });
    await store.migrate();
    expect(store.kind).toBe('pglite');
    expect(fs.existsSync(path.join(pgliteDir(dataDir), 'PG_VERSION'))).toBe(true);
    const created = await store.createInboundWebhook({ provider: 'stripe', jsScript: 'result = null;' });
    await store.saveSettings({ enabledWebhookActions: ['subscription.cancel'] });
    const version = await store.getConfigVersion();
    await store.close();
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);

    store = await createStore({ dataDir });
    await store.migrate();
    expect(await store.findByProvider('stripe')).toEqual(created);
    expect(await store.getSettings()).toEqual({ enabledWebhookActions: ['subscription.cancel'] });
    expect(await store.getConfigVersion()).toBe(version);
  });

  it('a second process opening the same folder gets data_dir_locked, then opens it once we close', async () => {
    expect(store).toBeDefined();
    const locked = await openInOtherProcess(dataDir);
    expect(locked.ok).toBe(false);
    expect(locked.code).toBe('data_dir_locked');
    expect(locked.message).toContain(path.resolve(dataDir));
    expect(locked.message).toContain(String(process.pid));

    const ids = (await store!.listWebhooks()).map((w) => w.id);
    await store!.close();
    store = undefined;
    const opened = await openInOtherProcess(dataDir);
    expect(opened).toEqual({ ok: true, webhooks: ids });
  });
});

describe('connection failures', () => {
  it('an unreachable PostgreSQL is database_unavailable, with the cause and no password', async () => {
    const err = await createStore({ databaseUrl: 'postgres://postgres:hunter2@127.0.0.1:1/test' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('database_unavailable');
    expect((err as AppError).cause).toBeDefined();
    expect((err as AppError).message).not.toContain('hunter2');
  });

  it('an embedded folder PGlite cannot use is database_unavailable, and the lock is released', async () => {
    const dataDir = tempDir();
    try {
      fs.writeFileSync(pgliteDir(dataDir), 'not a folder');
      const err = await createStore({ dataDir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('database_unavailable');
      expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('an invalid schema name or a missing dataDir is config_invalid', async () => {
    await expect(createStore({ databaseUrl: 'postgres://127.0.0.1:1/x', schema: 'Bad-Name' })).rejects.toMatchObject({ code: 'config_invalid' });
    await expect(createStore({})).rejects.toMatchObject({ code: 'config_invalid' });
  });
});
