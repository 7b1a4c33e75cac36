import type { Logger } from '../logger.js';
import { isDataError, type StoreAvailability } from '../store/index.js';
import type { NewRunRecord, RunRecord, RunRequest, RunStore } from '../store/types.js';

export interface RunRecorderOptions {
  store: RunStore;
  logger: Logger;
  /** Buffered records are written at least this often (ms). */
  flushMs?: number;
  /** … or as soon as this many are waiting. */
  batchSize?: number;
  /** While the database is down, keep at most this many; older ones are dropped and logged. */
  maxBuffered?: number;
  /** Told of every write's outcome (a lost database is seen here first when nothing else writes). */
  availability?: StoreAvailability;
}

/**
 * Writes run records in batches, off the request path: one multi-row insert every `flushMs` instead of
 * one insert per request. Readers call `flush()` first so they see every run answered so far. A record
 * is at risk only for `flushMs` after its response, if the process dies in that window — or, while the
 * database is unreachable, until it answers again: records wait in memory (up to `maxBuffered`) and are
 * written then.
 */
export class RunRecorder {
  readonly #store: RunStore;
  readonly #logger: Logger;
  readonly #flushMs: number;
  readonly #batchSize: number;
  readonly #maxBuffered: number;
  #buffer: NewRunRecord[] = [];
  readonly #availability: StoreAvailability | undefined;
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  /**
   * Records handed in so far, and the count of those written. The buffer holds a contiguous run of them
   * (batches leave from the front, a failed batch goes back to the front), so the last of a written batch
   * says that every record handed in before it is written too.
   */
  #handedIn = 0;
  #writtenThrough = 0;

  constructor(options: RunRecorderOptions) {
    this.#store = options.store;
    this.#logger = options.logger;
    this.#flushMs = options.flushMs ?? 50;
    this.#batchSize = options.batchSize ?? 500;
    this.#maxBuffered = options.maxBuffered ?? 10_000;
    this.#availability = options.availability;
  }

  /** Buffers a run record, with the request it ran when that is stored in the run's row (see `Inbox.requestOf`). */
  record(run: RunRecord, request?: RunRequest): void {
    this.#buffer.push(request ? { ...run, request } : run);
    this.#handedIn++;
    if (this.#buffer.length >= this.#batchSize) void this.flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), this.#flushMs);
      this.#timer.unref();
    }
  }

  /**
   * Writes what is buffered. Resolves once every record handed in before the call is written — true — or
   * the write failed — false: they are kept and tried again later. Never rejects.
   */
  flush(): Promise<boolean> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const target = this.#handedIn;
    this.#flushing = this.#flushing.then(() => this.#writeBuffered());
    return this.#flushing.then(() => this.#writtenThrough >= target);
  }

  get pending(): number {
    return this.#buffer.length;
  }

  async #writeBuffered(): Promise<void> {
    while (this.#buffer.length > 0) {
      const batch = this.#buffer.splice(0, this.#batchSize);
      // The buffer ends at the last record handed in, so what is left after the batch counts back to it.
      const lastOfBatch = this.#handedIn - this.#buffer.length;
      try {
        try {
          await this.#store.insertRuns(batch);
        } catch (err) {
          // A value the database refuses must not hold back every later record: one by one, dropping what it refuses.
          if (!isDataError(err)) throw err;
          await this.#insertOneByOne(batch);
        }
        this.#writtenThrough = lastOfBatch;
        this.#availability?.succeeded();
      } catch (err) {
        this.#availability?.failed(err);
        this.#buffer.unshift(...batch);
        const excess = this.#buffer.length - this.#maxBuffered;
        if (excess > 0) {
          this.#buffer.splice(0, excess);
          this.#logger.error('run records dropped while the database is unavailable', { dropped: excess });
        }
        this.#logger.warn('run records not written; will retry', { pending: this.#buffer.length, err: String(err) });
        this.#retryLater();
        return;
      }
    }
  }

  /**
   * Writes a refused batch a record at a time (the insert ignores records already written). A record the
   * database refuses as data is dropped and logged; any other failure is thrown, so the batch is kept.
   */
  async #insertOneByOne(batch: NewRunRecord[]): Promise<void> {
    for (const run of batch) {
      try {
        await this.#store.insertRuns([run]);
      } catch (err) {
        if (!isDataError(err)) throw err;
        // The code, not the message: the database's message may quote the refused value (request data).
        this.#logger.error('run record refused by the database; dropped', { runId: run.id, provider: run.provider, status: run.status, code: (err as { code?: unknown }).code });
      }
    }
  }

  #retryLater(): void {
    if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), Math.max(this.#flushMs, 1000));
      this.#timer.unref();
    }
  }
}
