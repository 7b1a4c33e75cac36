import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { afterEach, describe, expect, it } from 'vitest';
import winston from 'winston';
import { createKnexStore, createSecretBox, createStore, EmbeddedCheckpointer, openDatabase, type KnexStore } from '../../src/store/index.js';

const SEGMENT = 16 * 1024 * 1024;

/** WAL segment files in a PGlite folder (recycled ones included: what the folder holds on disk). */
function walSegments(dataDir: string): number {
  return fs.readdirSync(path.join(dataDir, 'pgdata', 'pg_wal')).filter((name) => /^[0-9A-F]{24}$/.test(name)).length;
}

async function walSinceCheckpoint(knex: Knex): Promise<number> {
  const { rows } = await knex.raw('select pg_wal_lsn_diff(pg_current_wal_lsn(), redo_lsn) as d from pg_control_checkpoint()');
  return Number(rows[0].d);
}

/**
 * Writes about `bytes` of WAL, 1 MiB a statement (a logical-decoding message: WAL and nothing else), yielding
 * between statements so that timers (the checkpointer's) run.
 */
async function writeWal(knex: Knex, bytes: number): Promise<void> {
  const { rows } = await knex.raw('select pg_current_wal_lsn() as lsn');
  const start = rows[0].lsn as string;
  for (;;) {
    await knex.raw(`select pg_logical_emit_message(false, 'hookgate-test', repeat('x', 1024 * 1024))`);
    const written = await knex.raw('select pg_wal_lsn_diff(pg_current_wal_lsn(), ?) as d', [start]);
    if (Number(written.rows[0].d) >= bytes) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('embedded store checkpoints (PGlite has no checkpointer process)', () => {
  const dirs: string[] = [];
  const stores: KnexStore[] = [];
  const tempDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookgate-checkpoint-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function openStore(dataDir: string, checkpoints: false | { walBytes: number; checkIntervalMs: number }): Promise<KnexStore> {
    const knex = await openDatabase({ dataDir });
    const store = createKnexStore(knex, { kind: 'pglite', secrets: createSecretBox([randomBytes(32)]), checkpoints });
    stores.push(store);
    return store;
  }

  it('keeps pg_wal bounded while writes go on; without checkpoints it grows with every write', async () => {
    const withCheckpoints = tempDir();
    const bounded = await openStore(withCheckpoints, { walBytes: 4 * 1024 * 1024, checkIntervalMs: 20 });
    await writeWal(bounded.knex, 4 * SEGMENT);
    // Since the last checkpoint: about one threshold's worth, not everything written.
    expect(await walSinceCheckpoint(bounded.knex)).toBeLessThan(2 * SEGMENT);

    const without = tempDir();
    const growing = await openStore(without, false);
    await writeWal(growing.knex, 4 * SEGMENT);
    expect(await walSinceCheckpoint(growing.knex)).toBeGreaterThanOrEqual(4 * SEGMENT);
    expect(walSegments(without)).toBeGreaterThanOrEqual(5);
    // Recycled segments stay as files, but no more than the checkpoints' distance asks for.
    expect(walSegments(withCheckpoints)).toBeLessThan(walSegments(without));
  }, 60_000);

  it('checkpointIfDue takes one only past the WAL threshold, or past the age limit when anything was written', async () => {
    const store = await openStore(tempDir(), false);
    const byVolume = new EmbeddedCheckpointer(store.knex, { walBytes: 2 * 1024 * 1024, maxAgeMs: 60 * 60_000 });
    await store.knex.raw('checkpoint');
    expect(await byVolume.checkpointIfDue()).toBe(false);
    await writeWal(store.knex, 1024 * 1024);
    expect(await byVolume.checkpointIfDue()).toBe(false);
    await writeWal(store.knex, 1024 * 1024);
    expect(await byVolume.checkpointIfDue()).toBe(true);
    expect(await walSinceCheckpoint(store.knex)).toBeLessThan(64 * 1024);

    const byAge = new EmbeddedCheckpointer(store.knex, { walBytes: SEGMENT, maxAgeMs: 0 });
    expect(await byAge.checkpointIfDue()).toBe(false); // nothing written since the last one
    await writeWal(store.knex, 64 * 1024);
    expect(await byAge.checkpointIfDue()).toBe(true);
  });

  it('closing a store does not wait for its next check', async () => {
    const dataDir = tempDir();
    const store = await createStore({ dataDir });
    // The default check runs every 15 s: stop() must not wait for a timer, only for a check in progress.
    const started = performance.now();
    await store.close();
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('closing stops the checks: one in flight is waited for, none runs or fails after', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
    const knex = await openDatabase({ dataDir: tempDir() });
    const store = createKnexStore(knex, { kind: 'pglite', secrets: createSecretBox([randomBytes(32)]), logger, checkpoints: { walBytes: 1024 * 1024, checkIntervalMs: 5 } });
    await writeWal(store.knex, 8 * 1024 * 1024);
    expect(lines.filter((line) => line.includes('embedded database checkpoint')).length).toBeGreaterThan(0);
    await store.close();
    const logged = lines.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(lines.length).toBe(logged);
    expect(lines.filter((line) => line.includes('checkpoint failed'))).toEqual([]);
  });

  it('a process killed after checkpoints loses no committed row: restart replays the WAL after the last one', async () => {
    const dataDir = tempDir();
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/checkpoint-crash-process.ts'], {
      env: { ...process.env, HG_DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('close', (code, signal) => reject(new Error(`writer exited (${code ?? signal}) before reporting`)));
    });
    const written = JSON.parse(line) as { rows: number; checkpoints: number };
    const [, signal] = await exited;
    expect(signal).toBe('SIGKILL');
    expect(written.checkpoints).toBe(3);

    const store = await createStore({ dataDir });
    stores.push(store);
    const { rows } = await store.knex.raw('select count(*)::int as n, max(n) as last from crash_rows');
    expect(rows[0]).toEqual({ n: written.rows, last: written.rows - 1 });
  }, 60_000);
});
