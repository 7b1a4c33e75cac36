import type { Knex } from 'knex';
import type { Logger } from '../logger.js';

/**
 * Wakes the workers of other processes (NOTIFY on the schema's channel) after an outbox write has
 * committed, coalesced: at most one NOTIFY of this process is on its way at a time, and any number of
 * requests made meanwhile are answered by one more after it. A NOTIFY sent inside each emit's transaction
 * would instead hold PostgreSQL's database-wide notify lock across that commit's fsync, so concurrent
 * emits would queue behind one another. A NOTIFY that fails is only logged: the workers' poll covers it.
 */
export class PgNotifier {
  readonly #knex: Knex;
  readonly #channel: string;
  readonly #logger: Logger;
  #sending: Promise<void> | null = null;
  #again = false;

  constructor(knex: Knex, channel: string, logger: Logger) {
    this.#knex = knex;
    this.#channel = channel;
    this.#logger = logger;
  }

  /** Asks for a NOTIFY after everything committed so far; resolves once one has been sent. */
  notify(): Promise<void> {
    if (this.#sending) {
      this.#again = true;
      return this.#sending;
    }
    this.#sending = this.#send();
    return this.#sending;
  }

  /** Resolves once nothing is on its way any more. */
  async flush(): Promise<void> {
    while (this.#sending) await this.#sending;
  }

  async #send(): Promise<void> {
    try {
      do {
        this.#again = false;
        await this.#knex.raw('select pg_notify(?, ?)', [this.#channel, '']).catch((err: unknown) => {
          this.#logger.warn('outbound NOTIFY failed; other processes will see the work at their next poll', { err: (err as Error).message });
        });
      } while (this.#again);
    } finally {
      this.#sending = null;
    }
  }
}
