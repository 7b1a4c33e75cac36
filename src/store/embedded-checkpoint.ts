import type { Knex } from 'knex';
import type { Logger } from '../logger.js';

export interface EmbeddedCheckpointOptions {
  /** How often the WAL written since the last checkpoint is looked at (default 15 s). */
  checkIntervalMs?: number;
  /** A checkpoint is taken once this much WAL was written since the last one (default 32 MiB). */
  walBytes?: number;
  /** ... or once the last one is this old and anything was written since (default 5 min, PostgreSQL's checkpoint_timeout). */
  maxAgeMs?: number;
  logger?: Logger;
}

export const EMBEDDED_CHECKPOINT_DEFAULTS = { checkIntervalMs: 15_000, walBytes: 32 * 1024 * 1024, maxAgeMs: 5 * 60_000 };

/**
 * Takes PostgreSQL checkpoints in the embedded store. PGlite runs PostgreSQL as a single backend with no
 * checkpointer process, and a single backend never asks for a checkpoint by WAL volume or time: left alone,
 * `pg_wal` grows by every write for as long as the process lives (≈ 1.25 KB per inbound request, measured),
 * new 16 MB segments are created and zero-filled on the request thread instead of recycled, and a restart
 * after a crash replays everything since the process started. A checkpoint lets PostgreSQL recycle the
 * segments behind it, so the folder keeps a few segments (2–3 measured). A checkpoint runs on PGlite's
 * thread, the HTTP process's: ≈ 25–32 ms per 32 MiB of WAL behind it, measured.
 *
 * The checks and the checkpoint go through knex like any query (PGlite has one connection), so a
 * checkpoint never runs inside someone's transaction. Failures are logged and tried again at the next check.
 */
export class EmbeddedCheckpointer {
  readonly #knex: Knex;
  readonly #options: Required<Omit<EmbeddedCheckpointOptions, 'logger'>>;
  readonly #logger: Logger | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(knex: Knex, options: EmbeddedCheckpointOptions = {}) {
    this.#knex = knex;
    this.#options = {
      checkIntervalMs: options.checkIntervalMs ?? EMBEDDED_CHECKPOINT_DEFAULTS.checkIntervalMs,
      walBytes: options.walBytes ?? EMBEDDED_CHECKPOINT_DEFAULTS.walBytes,
      maxAgeMs: options.maxAgeMs ?? EMBEDDED_CHECKPOINT_DEFAULTS.maxAgeMs,
    };
    this.#logger = options.logger;
  }

  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => {
      this.#running ??= this.checkpointIfDue()
        .then(() => undefined)
        .catch((err: unknown) => {
          this.#logger?.warn('embedded database checkpoint failed; trying again at the next check', { err: String(err) });
        })
        .finally(() => {
          this.#running = undefined;
        });
    }, this.#options.checkIntervalMs);
    this.#timer.unref();
  }

  /** Takes a checkpoint when enough WAL was written or the last one is old enough; true when it took one. */
  async checkpointIfDue(): Promise<boolean> {
    const result = await this.#knex.raw<{ rows: Array<{ wal_bytes: string | number; age_sec: string | number }> }>(
      `select pg_wal_lsn_diff(pg_current_wal_lsn(), redo_lsn) as wal_bytes,
              extract(epoch from clock_timestamp() - checkpoint_time) as age_sec
         from pg_control_checkpoint()`,
    );
    const row = result.rows[0];
    if (!row) return false;
    const walBytes = Number(row.wal_bytes);
    const ageMs = Number(row.age_sec) * 1000;
    // A checkpoint itself writes a record or two: "nothing since" is below a page, not zero.
    const due = walBytes >= this.#options.walBytes || (walBytes > 8192 && ageMs >= this.#options.maxAgeMs);
    if (!due || this.#stopped) return false;
    const startedAt = performance.now();
    await this.#knex.raw('checkpoint');
    if (this.#logger?.isDebugEnabled()) {
      this.#logger.debug('embedded database checkpoint', { walBytes, tookMs: Math.round(performance.now() - startedAt) });
    }
    return true;
  }

  /** Stops the checks and waits for one in progress (before the database closes; its own close checkpoints). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
