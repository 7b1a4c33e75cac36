import type { Logger } from '../logger.js';
import { isConnectionError, isRetryableDbError } from '../store/index.js';

export interface GroupCommitOptions<I, O> {
  /** Writes a batch in one statement; answers one result per item, in order. */
  writeBatch: (items: I[]) => Promise<O[]>;
  /** Writes one item on its own: the fallback that keeps one bad item from failing the others. */
  writeOne: (item: I) => Promise<O>;
  /** Items per batch at most. */
  maxBatch: number;
  logger: Logger;
  /** Names the batches in logs. */
  what: string;
  /**
   * The waits before each new try of a batch that failed with a transient error (a deadlock, a dropped or
   * refused connection, a server restarting): one try more than there are waits. Default `[0, 0]`.
   */
  retryDelaysMs?: readonly number[];
  /**
   * No new try starts once this long has passed since the batch's first (a try against a database that
   * does not answer may itself take a connect timeout). Default: no limit.
   */
  retryWithinMs?: number;
}

interface Pending<I, O> {
  item: I;
  resolve: (result: O) => void;
  reject: (err: unknown) => void;
}

/** Waits before the tries after the first of a batch that failed with a transient error, before it is split. */
const DEFAULT_RETRY_DELAYS_MS = [0, 0];

/**
 * Worth another try: a deadlock or serialization failure, or a connection lost, refused or not yet served —
 * but not the pool's own timeout, which already waited as long as it would for a connection.
 */
function isTransient(err: unknown): boolean {
  if (isRetryableDbError(err)) return true;
  return isConnectionError(err) && (err as Error | null)?.name !== 'KnexTimeoutError';
}

/**
 * Group commit: every item handed in while a batch is being written goes into the next batch, so one
 * statement (one round trip, one commit) writes many, and an idle writer still writes the first one at
 * once (after the current tick, so that items of the same tick share it). A batch that fails for good is
 * written again item by item, each caller getting its own outcome.
 */
export class GroupCommit<I, O> {
  readonly #options: GroupCommitOptions<I, O>;
  #queue: Array<Pending<I, O>> = [];
  #writing: Promise<void> | null = null;
  #retrying = true;
  /** Ends the wait before a retry early (see `stopRetrying`). */
  #wakeRetry: (() => void) | null = null;

  constructor(options: GroupCommitOptions<I, O>) {
    this.#options = options;
  }

  /** Resolves with the item's result once its batch is committed. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#writing ??= this.#drain();
    });
  }

  /**
   * From now on a batch that fails is not tried again (the one waiting to be is tried at once, a last time):
   * for a shutdown, which should not wait out a database outage.
   */
  stopRetrying(): void {
    this.#retrying = false;
    this.#wakeRetry?.();
  }

  /** Undoes `stopRetrying` (a service started again). */
  resumeRetrying(): void {
    this.#retrying = true;
  }

  /** Resolves once everything handed in so far is written (or has failed). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  async #drain(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.#queue.length > 0) await this.#write(this.#queue.splice(0, this.#options.maxBatch));
    } finally {
      this.#writing = null;
    }
  }

  async #write(batch: Array<Pending<I, O>>): Promise<void> {
    const { writeBatch, writeOne, logger, what } = this.#options;
    const delays = this.#options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    const deadline = performance.now() + (this.#options.retryWithinMs ?? Infinity);
    for (let tries = 1; ; tries++) {
      try {
        const results = await writeBatch(batch.map((p) => p.item));
        batch.forEach((p, i) => p.resolve(results[i] as O));
        return;
      } catch (err) {
        const delay = delays[tries - 1];
        if (delay !== undefined && this.#retrying && performance.now() + delay <= deadline && isTransient(err)) {
          if (delay > 0) await this.#wait(delay);
          continue;
        }
        if (batch.length === 1) {
          batch[0]?.reject(err);
          return;
        }
        logger.warn(`batched ${what} failed; writing them one by one`, { size: batch.length, err: (err as Error).message });
        await Promise.all(batch.map((p) => writeOne(p.item).then(p.resolve, p.reject)));
        return;
      }
    }
  }

  #wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakeRetry = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakeRetry = done;
    });
  }
}
