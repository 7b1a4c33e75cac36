import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import type { SecretBox } from '../store/index.js';
import { attemptDelivery, type AttemptContext, type AttemptOutcome } from './attempt-delivery.js';
import { claimDeliveries, nextDueAt, releaseDeliveries, type ClaimedDelivery } from './delivery-queue.js';
import { PREFETCH_PER_SLOT, prefetchAt, SendPace } from './send-pace.js';
import type { WebhookDisabledData } from './types.js';

export interface DeliveryWorkerConfig {
  /** Requests in flight in this process at once (default 32); as many more rows (up to three times as many while requests are answered fast) may be held, waiting for a slot. */
  concurrency: number;
  /** Requests to one endpoint in flight from this process at once (default 8); as many more (up to three times as many for an endpoint that answers fast) may be held, waiting for their turn. */
  perEndpointConcurrency: number;
  /** Longest sleep between two looks at the queue, whatever wakes us or not (default 1000 ms). */
  pollMs: number;
  /** A lease lasts the endpoint's timeout plus this (default 15 s). */
  leaseMarginMs: number;
  /** On stop, in-flight attempts get this long to finish before they are aborted (default 5 s; under an engine, its `shutdownTimeoutMs`, or this if less). */
  stopTimeoutMs: number;
}

export const WORKER_DEFAULTS: DeliveryWorkerConfig = {
  concurrency: 32,
  perEndpointConcurrency: 8,
  pollMs: 1000,
  leaseMarginMs: 15_000,
  stopTimeoutMs: 5000,
};

export interface DeliveryWorkerOptions {
  knex: Knex;
  /** Decrypts the endpoints' stored secrets (the store's SecretBox). */
  secrets: SecretBox;
  attempt: AttemptContext;
  config: DeliveryWorkerConfig;
  logger: Logger;
  /** Told when a completion disabled an endpoint (→ the `webhook.disabled` event). */
  onDisabled?: (data: WebhookDisabledData, tenantId: string | null) => void;
  /** Told after every attempt (tests wait on it). */
  onAttempt?: (delivery: ClaimedDelivery, outcome: AttemptOutcome) => void;
  /** Told when claimed rows went back to the queue unsent (→ a NOTIFY, so other processes take them now). */
  onReleased?: (count: number) => void;
  /** Told when `stop`'s grace period is over and the attempts still in flight are aborted (→ record their outcomes without waiting out a database outage). */
  onAborting?: () => void;
}

/**
 * Once this much room for claimed rows is free, a claim runs at once; below it, a claim waits for more
 * room or until `CLAIM_COALESCE_MS` after the previous one — so one claim takes several rows rather than
 * one per finished request.
 */
const CLAIM_BATCH_SHARE = 0.5;
const CLAIM_COALESCE_MS = 5;
/**
 * The claim looks through `room × factor` due rows (in due order) for ones whose endpoint is under its
 * cap; each row looked at costs a heap fetch, and with a backlog every claim looks through its whole
 * window. So the factor stays small while claims find work, and doubles after a claim that found none
 * (every due row in view belonged to an endpoint at its cap, or nothing was due, where a larger window costs
 * nothing). Rows of other endpoints queued behind a capped endpoint's backlog are found by a wide claim,
 * which runs at most every `WIDE_CLAIM_EVERY_MS` and looks through at least `WIDE_CLAIM_ROWS` rows; at most
 * every `SKIPPING_CLAIM_EVERY_MS` it looks past every row of the endpoints at their cap here, so a hanging
 * endpoint's backlog of any length hides nothing behind it for longer (its rows cost that claim a heap fetch
 * each: about 0.3 ms per thousand, measured).
 */
const CLAIM_WINDOW_FACTOR = { least: 2, most: 32 };
const WIDE_CLAIM_ROWS = 2000;
const WIDE_CLAIM_EVERY_MS = 250;
const SKIPPING_CLAIM_EVERY_MS = 2000;
/** Attempts sent but not yet recorded, per slot, beyond which no more are claimed (the database is behind). */
const MAX_UNRECORDED_PER_SLOT = 4;
/**
 * A claimed row waits for a slot at most this share of the lease margin; after that it goes back to the
 * queue unsent, so its lease (timeout + margin from the claim) still outlasts the attempt when it is sent.
 */
const MAX_WAIT_SHARE_OF_MARGIN = 0.5;
/**
 * Shortest sleep until the next row falls due while the worker is not caught up — typically because due
 * rows wait that it cannot take (their endpoint at its cap here, or locked by another process): such a
 * backlog's own retries and lease ends may fall due every few milliseconds, and each wake-up costs a claim
 * that takes nothing. A retry due sooner is sent up to this much late. Caught up, it is 5 ms.
 */
const BEHIND_CAP_MIN_SLEEP_MS = 50;

interface Waiting {
  delivery: ClaimedDelivery;
  claimedAt: number;
}

/**
 * Takes due deliveries from the queue and sends them, up to `concurrency` requests at once and
 * `perEndpointConcurrency` per endpoint, each endpoint's in claim order. It looks at the queue when woken
 * (a local enqueue, a NOTIFY), when a request finishes, when the earliest retry falls due, and at least
 * every `pollMs`. Claims lease rows in the database, so any number of workers in any number of processes
 * share one queue; rows an emit of this process hands over (`reserve`) come already leased.
 *
 * Pipelined: a claim or a hand-off may add up to `concurrency` rows more than there are free slots (and per
 * endpoint, `perEndpointConcurrency` more than its own slots; up to three times as many where requests are
 * answered fast: send-pace.ts), so the next claim runs while those are being sent;
 * a slot is free again as soon as its request is answered, and the outcome is recorded meanwhile, in
 * batches (the lease keeps the row from being claimed again until then). A row that could not start soon
 * enough, or that is still waiting at stop, goes back to the queue unsent.
 * The loop never throws: database errors are logged and it tries again at the next poll.
 */
export class DeliveryWorker {
  readonly #options: DeliveryWorkerOptions;
  /** Every started delivery until its outcome is recorded (and every release in progress), by lease token. */
  readonly #inFlight = new Map<string, Promise<void>>();
  /** Claimed, waiting for a slot (oldest first). */
  #waiting: Waiting[] = [];
  /** Requests being sent: the slots in use. */
  #sending = 0;
  /** Claimed rows per endpoint, waiting or sending: what the claim's per-endpoint cap counts. */
  readonly #perEndpoint = new Map<string, number>();
  /** Requests being sent per endpoint: its slots in use. */
  readonly #sendingTo = new Map<string, number>();
  /**
   * How long requests take, per endpoint and over all: how many rows may wait for a slot (PREFETCH_PER_SLOT,
   * up to MAX_PREFETCH_PER_SLOT where requests are answered fast; send-pace.ts).
   */
  readonly #pace = new SendPace();
  readonly #abort = new AbortController();
  #lastClaimAt = -Infinity;
  /**
   * The last claim found every due row it could take (it came back short with no endpoint at its cap), and
   * nothing has been put back, left pending or announced since: a freed slot then needs no claim, and new
   * deliveries may be handed over directly (`reserve`), without passing older ones still in the queue.
   */
  #caughtUp = false;
  /** A claim is running; `#changed` says whether anything made the queue's state unknown meanwhile. */
  #claiming = false;
  #changed = false;
  /** Places taken by `reserve` for rows being written, not yet handed over. */
  #reserved = 0;
  #reservationsSettled: (() => void) | null = null;
  #windowFactor = CLAIM_WINDOW_FACTOR.least;
  #lastWideClaimAt = -Infinity;
  #lastSkippingClaimAt = -Infinity;
  #running = false;
  #loop: Promise<void> | null = null;
  #wakeRequested = false;
  #wakeSleeper: (() => void) | null = null;

  constructor(options: DeliveryWorkerOptions) {
    this.#options = options;
    // Every request in flight listens on the shutdown signal: not a leak past `concurrency`.
    setMaxListeners(options.config.concurrency + 10, this.#abort.signal);
  }

  /** Deliveries this worker holds right now: waiting for a slot, being sent, or sent and being recorded. */
  get inFlight(): number {
    return this.#inFlight.size + this.#waiting.length;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** There may be new due rows (an emit left some pending, a NOTIFY, a redelivery): the loop looks at the queue now (cheap; calls coalesce). */
  wake(): void {
    this.#notCaughtUp();
    this.#wakeLoop();
  }

  #wakeLoop(): void {
    this.#wakeRequested = true;
    this.#wakeSleeper?.();
  }

  /** The queue may hold due rows for this worker that no claim has seen. */
  #notCaughtUp(): void {
    this.#caughtUp = false;
    this.#changed = true;
  }

  /**
   * Takes a place for a delivery to `webhookId` that the outbox is writing this moment, to be handed over
   * once committed (`handOver`) or given back (`cancel`). Refused while stopping, while the queue may hold
   * older due rows, while a claim runs (it counts its room from before), while outcomes are not being
   * recorded fast enough, and when the worker or the endpoint has no room: the row is then left pending,
   * and the worker looks at the queue again.
   */
  reserve(webhookId: string, again = false): boolean {
    if (!this.#running) return false;
    // A row leased to this worker by a write that may have committed unseen: its place is taken in any case.
    const refused =
      !again &&
      (!this.#caughtUp ||
        this.#claiming ||
        this.#behind ||
        this.#held >= this.#capacity ||
        (this.#perEndpoint.get(webhookId) ?? 0) >= this.#endpointCapacity(webhookId));
    if (refused) {
      this.#notCaughtUp();
      return false;
    }
    this.#reserved += 1;
    increment(this.#perEndpoint, webhookId);
    return true;
  }

  /** Gives back places taken for rows that were not written. */
  cancel(webhookIds: readonly string[]): void {
    for (const webhookId of webhookIds) this.#endpointDone(webhookId);
    this.#reservationsDone(webhookIds.length);
  }

  /**
   * Rows written leased to this worker (their places taken by `reserve`), each with the moment its lease
   * was counted from: sent as slots allow, or put back when the worker has stopped meanwhile.
   */
  handOver(leased: ReadonlyArray<{ delivery: ClaimedDelivery; leasedAt: number }>): void {
    const nowMs = this.#options.attempt.now();
    const rows = leased.map(({ delivery, leasedAt }) => ({ delivery, claimedAt: performance.now() - Math.max(0, nowMs - leasedAt) }));
    this.#reservationsDone(rows.length);
    if (!this.#running) {
      this.#putBack(rows);
      return;
    }
    this.#waiting.push(...rows);
    this.#dispatch();
  }

  #reservationsDone(count: number): void {
    this.#reserved -= count;
    if (this.#reserved === 0) this.#reservationsSettled?.();
  }

  /** Rows this worker holds or has a place taken for: sending, waiting for a slot, or being written for it. */
  get #held(): number {
    return this.#sending + this.#waiting.length + this.#reserved;
  }

  get #capacity(): number {
    return this.#options.config.concurrency * (1 + prefetchAt(this.#pace.overall()));
  }

  #endpointCapacity(webhookId: string): number {
    return this.#options.config.perEndpointConcurrency * (1 + prefetchAt(this.#pace.of(webhookId)));
  }

  /**
   * The per-endpoint caps of one claim: what the claim counts per endpoint against its one cap, `base` (an
   * endpoint's capacity at the base prefetch) — the rows held here, less the extra room of an endpoint that
   * answers fast, held here or not — and the cap of each endpoint as the claim applied it. `#caughtUp` is
   * judged by the same caps after the claim: judged by caps that grew meanwhile, a claim cut short by the lower
   * ones would look caught up and leave rows queued until the poll, for later hand-offs to overtake.
   */
  #claimCaps(base: number): { busy: ReadonlyMap<string, number>; capOf: (webhookId: string) => number } {
    let busy: Map<string, number> | null = null;
    const caps = new Map<string, number>();
    for (const webhookId of this.#pace.endpoints()) {
      const cap = this.#endpointCapacity(webhookId);
      if (cap <= base) continue;
      caps.set(webhookId, cap);
      busy ??= new Map(this.#perEndpoint);
      busy.set(webhookId, (busy.get(webhookId) ?? 0) - (cap - base));
    }
    return { busy: busy ?? this.#perEndpoint, capOf: (webhookId) => caps.get(webhookId) ?? base };
  }

  /** Attempts sent but not yet recorded are too many (the database is behind): nothing more is taken on. */
  get #behind(): boolean {
    return this.#inFlight.size - this.#sending >= this.#options.config.concurrency * MAX_UNRECORDED_PER_SLOT;
  }

  /** A slot was freed or an outcome recorded: the loop looks at the queue again unless it is known to hold nothing for us. */
  #wakeForWork(): void {
    if (!this.#caughtUp) this.#wakeLoop();
  }

  /**
   * Stops claiming and puts back the rows still waiting for a slot, gives in-flight attempts
   * `stopTimeoutMs` to finish, then aborts the rest (they are recorded as retryable `aborted` attempts, or
   * their leases run out and another worker takes them).
   */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.wake();
    await this.#loop;
    // Rows being written for this worker right now are handed over (and put back below) once committed;
    // any that take longer keep their lease until it runs out, and another worker sends them.
    const { stopTimeoutMs } = this.#options.config;
    if (this.#reserved > 0) {
      await settlesWithin(new Promise<void>((resolve) => (this.#reservationsSettled = resolve)), stopTimeoutMs);
      this.#reservationsSettled = null;
    }
    this.#putBack(this.#waiting.splice(0));
    const pending = Promise.allSettled([...this.#inFlight.values()]);
    if (!(await settlesWithin(pending, stopTimeoutMs))) {
      this.#options.onAborting?.();
      this.#abort.abort();
      await pending;
    }
  }

  async #run(): Promise<void> {
    const { config, knex, logger } = this.#options;
    const now = this.#options.attempt.now;
    const baseEndpointCapacity = config.perEndpointConcurrency * (1 + PREFETCH_PER_SLOT);
    while (this.#running) {
      this.#wakeRequested = false;
      let sleepMs = config.pollMs;
      try {
        this.#dispatch();
        const capacity = this.#capacity;
        const held = this.#held;
        const room = capacity - held;
        const canClaim = room > 0 && !this.#behind;
        const coalesceMs = held === 0 || room >= Math.ceil(capacity * CLAIM_BATCH_SHARE) ? 0 : CLAIM_COALESCE_MS - (performance.now() - this.#lastClaimAt);
        if (canClaim && coalesceMs > 0) {
          sleepMs = coalesceMs;
        } else if (canClaim) {
          this.#lastClaimAt = performance.now();
          const wide = this.#lastClaimAt - this.#lastWideClaimAt >= WIDE_CLAIM_EVERY_MS;
          if (wide) this.#lastWideClaimAt = this.#lastClaimAt;
          const skipCapped = wide && this.#lastClaimAt - this.#lastSkippingClaimAt >= SKIPPING_CLAIM_EVERY_MS;
          if (skipCapped) this.#lastSkippingClaimAt = this.#lastClaimAt;
          this.#claiming = true;
          this.#changed = false;
          const claimNow = now();
          const caps = this.#claimCaps(baseEndpointCapacity);
          const claimed = await claimDeliveries(knex, {
            secrets: this.#options.secrets,
            owner: this.#options.attempt.worker,
            limit: room,
            now: new Date(claimNow),
            leaseMarginMs: config.leaseMarginMs,
            perEndpoint: baseEndpointCapacity,
            busy: caps.busy,
            window: wide ? Math.max(room * CLAIM_WINDOW_FACTOR.most, WIDE_CLAIM_ROWS) : Math.max(room * this.#windowFactor, 64),
            skipCapped,
          }).finally(() => {
            this.#claiming = false;
          });
          this.#windowFactor =
            claimed.length === 0 ? Math.min(this.#windowFactor * 2, CLAIM_WINDOW_FACTOR.most) : Math.max(this.#windowFactor / 2, CLAIM_WINDOW_FACTOR.least);
          const claimedAt = performance.now();
          for (const delivery of claimed) {
            increment(this.#perEndpoint, delivery.webhookId);
            this.#waiting.push({ delivery, claimedAt });
          }
          this.#dispatch();
          // A full claim may have left more due rows: not caught up, so that freed slots wake the loop for them
          // (a poll or a retry's timer may claim while caught up) and new emits are not handed past them.
          if (claimed.length === room) {
            this.#caughtUp = false;
            continue;
          }
          // Anything that happened while the claim ran (a row left pending, a retry, a wake-up) gets a fresh look.
          if (this.#changed) continue;
          this.#caughtUp = ![...this.#perEndpoint].some(([webhookId, held]) => held >= caps.capOf(webhookId));
          // Fewer than asked for: sleep until woken — by each of those requests when it is answered (unless
          // caught up), or by new work — or until the next row falls due (a retry, a lease running out).
          const looked = now();
          let due: Date | null;
          if (claimed.length === 0 || this.#caughtUp) {
            due = await nextDueAt(knex);
            if (due && due.getTime() <= looked) {
              // It fell due after the claim looked (a retry due a moment later): look again at once.
              if (due.getTime() > claimNow) continue;
              // Due when the claim looked, yet not taken (locked by another process's claim, beyond the
              // window, its endpoint at its cap here): not caught up, and the wake-up is the next row to fall
              // due after the claim looked, so that a retry due in 100 ms elsewhere does not wait for the poll
              // behind it (and one that fell due meanwhile — a timer may fire a little early — is taken now).
              this.#caughtUp = false;
              due = await nextDueAt(knex, new Date(claimNow));
            }
          } else {
            // Claimed some, with an endpoint at its cap: its waiting rows wake the loop only when its requests
            // are answered, which a hanging receiver can put off for its whole timeout.
            due = await nextDueAt(knex, new Date(claimNow));
          }
          if (due) {
            // Due already (it fell due since the claim looked) means look again at once.
            const wait = due.getTime() - now();
            const shortest = this.#caughtUp ? 5 : BEHIND_CAP_MIN_SLEEP_MS;
            sleepMs = wait > 0 ? Math.min(Math.max(wait, shortest), config.pollMs) : 0;
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

  /**
   * Starts waiting rows, oldest first, while the worker has a free slot and their endpoint has one; rows
   * that waited too long go back to the queue.
   */
  #dispatch(): void {
    // Stopping: rows claimed meanwhile (a claim that was running when `stop` came) stay waiting, and `stop` puts them back unsent.
    if (!this.#running) return;
    const { concurrency, perEndpointConcurrency, leaseMarginMs } = this.#options.config;
    const staleBefore = performance.now() - leaseMarginMs * MAX_WAIT_SHARE_OF_MARGIN;
    const stale: Waiting[] = [];
    const still: Waiting[] = [];
    // Taken out first: a send may finish at once (a skipped delivery) and call this again meanwhile.
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const next of waiting) {
      if (next.claimedAt < staleBefore) stale.push(next);
      else if (this.#sending < concurrency && (this.#sendingTo.get(next.delivery.webhookId) ?? 0) < perEndpointConcurrency) this.#send(next.delivery);
      else still.push(next);
    }
    this.#waiting = still.concat(this.#waiting);
    if (stale.length > 0) this.#putBack(stale);
  }

  #endpointDone(webhookId: string): void {
    decrement(this.#perEndpoint, webhookId);
  }

  /** Gives claimed rows back to the queue unsent, due now (tracked, so `stop` waits for it). */
  #putBack(rows: Waiting[]): void {
    if (rows.length === 0) return;
    const key = rows[0]?.delivery.leaseToken as string;
    const run = releaseDeliveries(this.#options.knex, rows.map((r) => r.delivery), new Date(this.#options.attempt.now()))
      .then(() => this.#options.onReleased?.(rows.length))
      .catch((err: unknown) => {
        // Their leases run out and any worker claims them again.
        this.#options.logger.warn('claimed deliveries could not be put back', { count: rows.length, err: (err as Error).message });
      })
      .finally(() => {
        for (const r of rows) this.#endpointDone(r.delivery.webhookId);
        this.#inFlight.delete(key);
        this.wake();
      });
    this.#inFlight.set(key, run);
  }

  #send(delivery: ClaimedDelivery): void {
    const { webhookId, leaseToken } = delivery;
    this.#pace.started(leaseToken, webhookId);
    this.#sending += 1;
    increment(this.#sendingTo, webhookId);
    let released = false;
    const release = (answered = false) => {
      if (released) return;
      released = true;
      this.#pace.ended(leaseToken, webhookId, answered);
      this.#sending -= 1;
      decrement(this.#sendingTo, webhookId);
      this.#endpointDone(webhookId);
      // The slot goes to a waiting row at once; the loop claims more.
      if (this.#running) this.#dispatch();
      this.#wakeForWork();
    };
    const run = (async () => {
      try {
        const outcome = await attemptDelivery(this.#options.attempt, delivery, { signal: this.#abort.signal, onSent: release });
        // A retry is a pending row again: the loop looks at the queue, and learns when it falls due.
        if (outcome.step.status === 'pending') this.#notCaughtUp();
        if (outcome.completed.disabled) this.#options.onDisabled?.(outcome.completed.disabled, delivery.endpoint.tenantId);
        this.#options.onAttempt?.(delivery, outcome);
      } catch (err) {
        // The attempt may have been sent; the lease runs out and another claim sends it again (at least once).
        this.#options.logger.error('delivery attempt could not be recorded', { deliveryId: delivery.id, err: (err as Error).message });
      } finally {
        release();
        this.#inFlight.delete(leaseToken);
        this.#wakeForWork();
      }
    })();
    this.#inFlight.set(leaseToken, run);
  }
}

/** Resolves true once `promise` settles, false if `ms` pass first. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Counts one more for `key`. */
function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** Counts one less for `key`, dropping it at zero. */
function decrement(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}
