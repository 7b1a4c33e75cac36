import type { RateLimitConfig } from '../store/types.js';

interface Bucket {
  tokens: number;
  updatedMs: number;
  perSecond: number;
  burst: number;
}

/**
 * A token bucket per provider, in this process's memory: with N processes the total rate is up to N times
 * the configured one. Good enough to shed a flood before it reaches the database and the sandbox.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  /** `now`: milliseconds on a monotonic clock (default `performance.now`), so wall-clock jumps do not move the buckets. */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Takes one token; returns 0 when allowed, else the seconds to wait before one is available. */
  take(key: string, config: RateLimitConfig): number {
    const now = this.#now();
    const burst = config.burst ?? Math.max(1, Math.ceil(config.perSecond));
    let bucket = this.#buckets.get(key);
    if (!bucket || bucket.perSecond !== config.perSecond || bucket.burst !== burst) {
      bucket = { tokens: burst, updatedMs: now, perSecond: config.perSecond, burst };
      this.#buckets.set(key, bucket);
    }
    // Never a negative refill: a clock that went back (an injected wall clock) must not drain the bucket.
    bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.updatedMs) / 1000) * config.perSecond);
    bucket.updatedMs = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / config.perSecond));
  }

  /**
   * Gives back the token a request took: a request that failed its signature check was not the sender's,
   * so a flood of unsigned requests cannot use up the budget of the real sender.
   */
  refund(key: string): void {
    const bucket = this.#buckets.get(key);
    if (bucket) bucket.tokens = Math.min(bucket.burst, bucket.tokens + 1);
  }
}
