import { performance } from 'node:perf_hooks';
import { setBounded } from '../bounded-map.js';

/** Rows that may wait for a free slot, per slot, whatever the pace: the next claim runs while they are sent. */
export const PREFETCH_PER_SLOT = 1;
/**
 * Rows that may wait per slot where requests are answered fast: as many as a slot sends in about
 * PREFETCH_WAIT_MS. Without that, emits that outrun the worker for a moment are refused the hand-off, and
 * while they keep coming every delivery goes through a claim (measured: all of them with 16 emitters on
 * bench:outbound), which costs PostgreSQL's backends 60 % more per delivery (scripts/queue-sql-cost.mjs:
 * 221 against 135 µs).
 */
export const MAX_PREFETCH_PER_SLOT = 3;
const PREFETCH_WAIT_MS = 250;
/** Weight of the latest answer in an average. */
const WEIGHT = 0.2;
/** Endpoints whose average is remembered; the one answered longest ago is forgotten first. */
const ENDPOINTS_MAX = 256;

/** Rows that may wait per slot where a request takes `paceMs` (unknown: the base). */
export function prefetchAt(paceMs: number | undefined): number {
  if (paceMs === undefined) return PREFETCH_PER_SLOT;
  return Math.max(PREFETCH_PER_SLOT, Math.min(MAX_PREFETCH_PER_SLOT, Math.floor(PREFETCH_WAIT_MS / Math.max(paceMs, 1))));
}

/**
 * How long requests take, per endpoint and over all of them: the average of the answers so far, or the age
 * of the oldest request still unanswered when that is longer — so an endpoint that starts hanging counts as
 * slow at once, not only after its first slow answer. Requests that were never sent (a skipped delivery)
 * are not averaged.
 *
 * @example
 * const pace = new SendPace();
 * pace.started(leaseToken, webhookId);
 * // … the request is answered
 * pace.ended(leaseToken, webhookId, true);
 * const waiting = perEndpointConcurrency * prefetchAt(pace.of(webhookId));
 */
export class SendPace {
  readonly #now: () => number;
  readonly #average = new Map<string, number>();
  #overall: number | undefined;
  /** Start of each request in flight, per endpoint and over all, oldest first (Map order is insertion order). */
  readonly #inFlight = new Map<string, Map<string, number>>();
  readonly #allInFlight = new Map<string, number>();

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** A request `key` (unique while in flight) to `webhookId` started now. */
  started(key: string, webhookId: string): void {
    const at = this.#now();
    let endpoint = this.#inFlight.get(webhookId);
    if (!endpoint) {
      endpoint = new Map();
      this.#inFlight.set(webhookId, endpoint);
    }
    endpoint.set(key, at);
    this.#allInFlight.set(key, at);
  }

  /** Request `key` is over: `answered` when it was sent (an answer, an error or a timeout), false when it was not. */
  ended(key: string, webhookId: string, answered: boolean): void {
    const at = this.#allInFlight.get(key);
    if (at === undefined) return;
    this.#allInFlight.delete(key);
    const endpoint = this.#inFlight.get(webhookId);
    endpoint?.delete(key);
    if (endpoint?.size === 0) this.#inFlight.delete(webhookId);
    if (!answered) return;
    const ms = this.#now() - at;
    const previous = this.#average.get(webhookId);
    setBounded(this.#average, webhookId, previous === undefined ? ms : previous + (ms - previous) * WEIGHT, ENDPOINTS_MAX);
    this.#overall = this.#overall === undefined ? ms : this.#overall + (ms - this.#overall) * WEIGHT;
  }

  /** How long a request to `webhookId` takes, in ms; undefined until one was answered. */
  of(webhookId: string): number | undefined {
    const average = this.#average.get(webhookId);
    if (average === undefined) return undefined;
    return Math.max(average, this.#oldestAge(this.#inFlight.get(webhookId)));
  }

  /** The endpoints whose pace is known (see `of`). */
  endpoints(): IterableIterator<string> {
    return this.#average.keys();
  }

  /** How long a request takes over all endpoints, in ms; undefined until one was answered. */
  overall(): number | undefined {
    if (this.#overall === undefined) return undefined;
    return Math.max(this.#overall, this.#oldestAge(this.#allInFlight));
  }

  #oldestAge(inFlight: Map<string, number> | undefined): number {
    if (!inFlight || inFlight.size === 0) return 0;
    return this.#now() - (inFlight.values().next().value as number);
  }
}
