import { createLogger, createSilentLogger } from '../../src/logger.js';
import { OutboundService, type AttemptOutcome, type ClaimedDelivery, type OperationalEvent, type OutboundOptions } from '../../src/outbound/index.js';
import type { KnexStore } from '../../src/store/index.js';

export interface SeenAttempt {
  delivery: ClaimedDelivery;
  outcome: AttemptOutcome;
}

export interface TestOutbound {
  service: OutboundService;
  attempts: SeenAttempt[];
  operational: OperationalEvent[];
  /** Resolves with the first attempt (already seen or still to come) that matches. */
  waitForAttempt(match: (a: SeenAttempt) => boolean, timeoutMs?: number): Promise<SeenAttempt>;
  stop(): Promise<void>;
}

/**
 * An OutboundService for tests: loopback receivers allowed, quick polls, and every attempt and operational
 * event recorded, with event-driven waits on them.
 */
export async function startOutbound(store: KnexStore, options: Partial<OutboundOptions> = {}): Promise<TestOutbound> {
  const attempts: SeenAttempt[] = [];
  const operational: OperationalEvent[] = [];
  const waiters: Array<{ match: (a: SeenAttempt) => boolean; resolve: (a: SeenAttempt) => void }> = [];
  const service = new OutboundService({
    store,
    logger: process.env.HG_DEBUG ? createLogger('debug') : createSilentLogger(),
    allowInsecureUrls: true,
    allowPrivateNetworks: true,
    ...options,
    worker: options.worker === false ? false : { pollMs: 200, leaseMarginMs: 1000, stopTimeoutMs: 1000, ...options.worker },
    onOperationalEvent: (e) => {
      operational.push(e);
      options.onOperationalEvent?.(e);
    },
    onAttempt: (delivery, outcome) => {
      const seen = { delivery, outcome };
      attempts.push(seen);
      for (const w of waiters.filter((w) => w.match(seen))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(seen);
      }
    },
  });
  await service.start();
  return {
    service,
    attempts,
    operational,
    waitForAttempt(match, timeoutMs = 10_000) {
      const found = attempts.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for an attempt (saw ${attempts.length})`)), timeoutMs);
        waiters.push({ match, resolve: (a) => { clearTimeout(timer); resolve(a); } });
      });
    },
    stop: () => service.stop(),
  };
}
