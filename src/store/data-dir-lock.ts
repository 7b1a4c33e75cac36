import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../errors.js';

/** The lock file's name inside the data directory. */
export const LOCK_FILE = 'hookgate.lock';

interface LockContent {
  pid: number;
  hostname: string;
  startedAt: string;
}

/** A held lock on a data directory. */
export interface DataDirLock {
  readonly dataDir: string;
  readonly lockFile: string;
  /** Removes the lock file if it is still ours. Safe to call twice. */
  release(): void;
}

/** Lock files this process holds, so a pid equal to ours in a stale file (a restarted container) is told apart. */
const heldByThisProcess = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(lockFile: string): LockContent | null {
  try {
    const parsed = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as Partial<LockContent>;
    return typeof parsed.pid === 'number' && Number.isInteger(parsed.pid) && parsed.pid > 0 ? (parsed as LockContent) : null;
  } catch {
    return null;
  }
}

/**
 * Takes the lock on an embedded data directory, creating the directory if needed: PGlite has no lock of
 * its own, and two processes writing one folder corrupt it. The lock file is created exclusively and
 * holds the owner's pid; a file whose pid is no longer running is stale and is taken over.
 *
 * The file is written to a temporary name and hard-linked into place, so it never exists without its
 * content (an empty file could not be told from a crashed owner).
 *
 * @throws AppError `data_dir_locked` when a live process holds the lock.
 * @example
 * const lock = acquireDataDirLock('./data');
 * try { … } finally { lock.release(); }
 */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  const dir = path.resolve(dataDir);
  const lockFile = path.join(dir, LOCK_FILE);
  fs.mkdirSync(dir, { recursive: true });

  const content: LockContent = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString() };
  const tmp = `${lockFile}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(content)}\n`, { flag: 'wx' });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(tmp, lockFile);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
      }
      const owner = readLock(lockFile);
      const ownerIsUs = owner?.pid === process.pid;
      if (owner && ((ownerIsUs && heldByThisProcess.has(lockFile)) || (!ownerIsUs && isAlive(owner.pid)))) {
        throw new AppError(
          'data_dir_locked',
          `The data directory ${dir} is in use by process ${owner.pid}${owner.hostname ? ` on ${owner.hostname}` : ''} ` +
            `(lock file ${lockFile}). Stop that process, or use another HOOKGATE_DATA_DIR.`,
          { details: { dataDir: dir, pid: owner.pid } },
        );
      }
      // Stale (dead owner, unreadable, or an earlier incarnation of this pid): take it over.
      fs.rmSync(lockFile, { force: true });
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  heldByThisProcess.add(lockFile);

  let released = false;
  return {
    dataDir: dir,
    lockFile,
    release() {
      if (released) return;
      released = true;
      heldByThisProcess.delete(lockFile);
      const owner = readLock(lockFile);
      if (owner?.pid === process.pid && owner.startedAt === content.startedAt) fs.rmSync(lockFile, { force: true });
    },
  };
}
