import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import { attemptDelivery, type AttemptContext, type AttemptOutcome } from './attempt-delivery.js';
import { claimDeliveries, nextDueAt, type ClaimedDelivery } from './delivery-queue.js';
import type { WebhookDisabledData } from './types.js';

export interface DeliveryWorkerConfig {
  /** Deliveries in flight in this process at once (default 10). */
  concurrency: number;
  /** Deliveries to one endpoint in flight in this process at once (default 4). */
  perEndpointConcurrency: number;
  /** Longest sleep between two looks at the queue, whatever wakes us or not (default 1000 ms). */
  pollMs: number;
  /** A lease lasts the endpoint's timeout plus this (default 15 s). */
  leaseMarginMs: number;
  /** On stop, in-flight attempts get this long to finish before they are aborted (default 5 s). */
  stopTimeoutMs: number;
}

export const WORKER_DEFAULTS: DeliveryWorkerConfig = {
  concurrency: 10,
  perEndpointConcurrency: 4,
  pollMs: 1000,
  leaseMarginMs: 15_000,
  stopTimeoutMs: 5000,
};

export interface DeliveryWorkerOptions {
  knex: Knex;
  attempt: AttemptContext;
  config: DeliveryWorkerConfig;
  logger: Logger;
  /** Told when a completion disabled an endpoint (→ the `webhook.disabled` event). */
  onDisabled?: (data: WebhookDisabledData, tenantId: string | null) => void;
  /** Told after every attempt (tests wait on it). */
  onAttempt?: (delivery: ClaimedDelivery, outcome: AttemptOutcome) => void;
}

/**
 * Takes due deliveries from the queue and sends them, up to `concurrency` at once and
 * `perEndpointConcurrency` per endpoint. It looks at the queue when woken (a local enqueue, a NOTIFY),
 * when an attempt finishes, when the earliest retry falls due, and at least every `pollMs`. Claims lease
 * rows in the database, so any number of workers in any number of processes share one queue.
 * The loop never throws: database errors are logged and it tries again at the next poll.
 */
export class DeliveryWorker {
  readonly #options: DeliveryWorkerOptions;
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #perEndpoint = new Map<string, number>();
  readonly #abort = new AbortController();
  #running = false;
  #loop: Promise<void> | null = null;
  #wakeRequested = false;
  #wakeSleeper: (() => void) | null = null;

  constructor(options: DeliveryWorkerOptions) {
    this.#options = options;
  }

  /** Deliveries being sent by this worker right now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Asks the loop to look at the queue now (cheap; calls coalesce). */
  wake(): void {
    this.#wakeRequested = true;
    this.#wakeSleeper?.();
  }

  /**
   * Stops claiming, gives in-flight attempts `stopTimeoutMs` to finish, then aborts the rest (they are
   * recorded as retryable `aborted` attempts, or their leases run out and another worker takes them).
   */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.wake();
    await this.#loop;
    const pending = Promise.allSettled([...this.#inFlight.values()]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#options.config.stopTimeoutMs);
    });
    if ((await Promise.race([pending, timedOut])) === 'timeout') {
      this.#abort.abort();
      await pending;
    }
    clearTimeout(timer);
  }

  async #run(): Promise<void> {
    const { config, knex, logger } = this.#options;
    const now = this.#options.attempt.now;
    while (this.#running) {
      this.#wakeRequested = false;
      let sleepMs = config.pollMs;
      try {
        const free = config.concurrency - this.#inFlight.size;
        if (free > 0) {
          const claimed = await claimDeliveries(knex, {
            owner: this.#options.attempt.worker,
            limit: free,
            now: new Date(now()),
            leaseMarginMs: config.leaseMarginMs,
            perEndpoint: config.perEndpointConcurrency,
            busy: this.#perEndpoint,
          });
          for (const delivery of claimed) this.#send(delivery);
          if (claimed.length === free) continue;
          if (claimed.length === 0) {
            // Nothing claimable now: sleep until the earliest row falls due (a retry, a lease running out).
            const due = await nextDueAt(knex);
            if (due) {
              const wait = due.getTime() - now();
              if (wait > 0) sleepMs = Math.min(Math.max(wait, 5), config.pollMs);
            }
          } else {
            sleepMs = 0;
          }
        }
      } catch (err) {
        logger.error('delivery queue claim failed; retrying at the next poll', { err: (err as Error).message });
      }
      if (sleepMs > 0 && this.#running) await this.#sleep(sleepMs);
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#wakeRequested) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      const self = this;
      function done() {
        clearTimeout(timer);
        self.#wakeSleeper = null;
        resolve();
      }
      this.#wakeSleeper = done;
    });
  }

  #send(delivery: ClaimedDelivery): void {
    const { webhookId } = delivery;
    this.#perEndpoint.set(webhookId, (this.#perEndpoint.get(webhookId) ?? 0) + 1);
    const run = (async () => {
      try {
        const outcome = await attemptDelivery(this.#options.attempt, delivery, this.#abort.signal);
        if (outcome.completed.disabled) this.#options.onDisabled?.(outcome.completed.disabled, delivery.endpoint.tenantId);
        this.#options.onAttempt?.(delivery, outcome);
      } catch (err) {
        // The attempt may have been sent; the lease runs out and another claim sends it again (at least once).
        this.#options.logger.error('delivery attempt could not be recorded', { deliveryId: delivery.id, err: (err as Error).message });
      } finally {
        const left = (this.#perEndpoint.get(webhookId) ?? 1) - 1;
        if (left > 0) this.#perEndpoint.set(webhookId, left);
        else this.#perEndpoint.delete(webhookId);
        this.#inFlight.delete(delivery.id);
        this.wake();
      }
    })();
    this.#inFlight.set(delivery.id, run);
  }
}
