import { describe, expect, it } from 'vitest';
import { MAX_PREFETCH_PER_SLOT, PREFETCH_PER_SLOT, prefetchAt, SendPace } from '../../src/outbound/send-pace.js';

/** A SendPace on a clock the test moves. */
function paceOnClock() {
  let now = 1000;
  const pace = new SendPace(() => now);
  const advance = (ms: number) => {
    now += ms;
  };
  /** One request to `webhookId` answered after `ms`. */
  const answer = (webhookId: string, ms: number, key = `${webhookId}-${now}`) => {
    pace.started(key, webhookId);
    advance(ms);
    pace.ended(key, webhookId, true);
  };
  return { pace, advance, answer };
}

describe('send pace', () => {
  it('lets rows wait three per slot where a slot sends three in about 250 ms, one where it sends fewer than two', () => {
    expect(prefetchAt(undefined)).toBe(PREFETCH_PER_SLOT);
    expect(prefetchAt(0)).toBe(MAX_PREFETCH_PER_SLOT);
    expect(prefetchAt(83)).toBe(3);
    expect(prefetchAt(84)).toBe(2);
    expect(prefetchAt(125)).toBe(2);
    expect(prefetchAt(126)).toBe(1);
    expect(prefetchAt(30_000)).toBe(1);
  });

  it('knows nothing of an endpoint until one of its requests is answered, then averages its answers', () => {
    const { pace, answer } = paceOnClock();
    expect(pace.of('a')).toBeUndefined();
    expect(pace.overall()).toBeUndefined();
    answer('a', 20);
    expect(pace.of('a')).toBe(20);
    for (let i = 0; i < 30; i++) answer('a', 100);
    expect(pace.of('a')).toBeCloseTo(100, 0);
    expect(pace.of('b')).toBeUndefined();
  });

  it('counts an endpoint that starts hanging as slow at once, by the age of its oldest unanswered request', () => {
    const { pace, advance, answer } = paceOnClock();
    for (let i = 0; i < 5; i++) answer('a', 10);
    pace.started('hanging', 'a');
    advance(5);
    pace.started('later', 'a');
    expect(prefetchAt(pace.of('a'))).toBe(3);
    advance(295);
    // The oldest request is 300 ms old: one waiting row per slot, though every answer so far took 10 ms.
    expect(pace.of('a')).toBe(300);
    expect(prefetchAt(pace.of('a'))).toBe(1);
    expect(pace.overall()).toBe(300);
    pace.ended('hanging', 'a', true);
    pace.ended('later', 'a', true);
    expect(pace.of('a')).toBeGreaterThan(10);
  });

  it('slows the whole worker down to one waiting row per slot while any endpoint has a request that old', () => {
    const { pace, advance, answer } = paceOnClock();
    answer('slow', 20);
    pace.started('stuck', 'slow');
    for (let i = 0; i < 40; i++) answer('fast', 5);
    expect(prefetchAt(pace.of('fast'))).toBe(3);
    advance(500);
    expect(prefetchAt(pace.of('fast'))).toBe(3);
    expect(pace.overall()).toBeGreaterThanOrEqual(700);
    expect(prefetchAt(pace.overall())).toBe(1);
  });

  it('does not average requests that were never sent (a skipped delivery)', () => {
    const { pace, advance, answer } = paceOnClock();
    answer('a', 200);
    pace.started('skipped', 'a');
    advance(0);
    pace.ended('skipped', 'a', false);
    expect(pace.of('a')).toBe(200);
    expect(pace.overall()).toBe(200);
    // Ending a request twice, or one it never saw, changes nothing.
    pace.ended('skipped', 'a', true);
    pace.ended('unknown', 'a', true);
    expect(pace.of('a')).toBe(200);
  });
});
