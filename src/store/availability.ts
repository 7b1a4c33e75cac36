import { performance } from 'node:perf_hooks';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isConnectionError } from './sqlstate.js';

/**
 * Whether the database answers, as this process last saw it. A store call that fails with a lost or
 * refused connection (`isConnectionError`) marks it unavailable; the next one that succeeds marks it
 * available again — the config cache's poll (every `configPollMs`) is the call that is sure to come.
 *
 * The inbound path asks before it runs a script: while the database is unavailable a request is answered
 * 503 `database_unavailable`, so the sender retries later, instead of running actions whose run record and
 * emitted event could not be stored.
 *
 * @example
 * const availability = new StoreAvailability(logger);
 * try { await store.getConfigVersion(); availability.succeeded(); } catch (err) { availability.failed(err); }
 * availability.assertAvailable(); // throws AppError database_unavailable while it is down
 */
export class StoreAvailability {
  readonly #logger: Logger;
  /** `performance.now()` of the first failure of the current outage; null while available. */
  #downSince: number | null = null;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  get available(): boolean {
    return this.#downSince === null;
  }

  /** Told of a failed store call. A connection error marks the database unavailable; returns whether it was one. */
  failed(err: unknown): boolean {
    if (!isConnectionError(err)) return false;
    if (this.#downSince === null) {
      this.#downSince = performance.now();
      this.#logger.error('database unavailable: inbound requests are answered 503 until it answers again', { err: String(err) });
    }
    return true;
  }

  /** Told of a store call that succeeded. */
  succeeded(): void {
    if (this.#downSince === null) return;
    const downMs = Math.round(performance.now() - this.#downSince);
    this.#downSince = null;
    this.#logger.warn('database available again', { downMs });
  }

  /** @throws AppError `database_unavailable` (503) while the database is unavailable. */
  assertAvailable(): void {
    if (this.#downSince !== null) throw new AppError('database_unavailable', 'The database is unavailable; retry later.');
  }
}
