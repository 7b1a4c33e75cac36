import { describe, expect, it, vi } from 'vitest';

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A fresh copy of the module: the monotonic state (last timestamp, counter) is per module instance. */
async function fresh(): Promise<typeof import('../../src/store/uuidv7.js')> {
  vi.resetModules();
  return import('../../src/store/uuidv7.js');
}

describe('uuidv7', () => {
  it('has the RFC 9562 layout: 48-bit milliseconds, version 7, variant 10', async () => {
    const { uuidv7, uuidv7Timestamp } = await fresh();
    // RFC 9562 appendix A.6 example timestamp: 0x017F22E279B0 = 2022-02-22T19:22:22.000Z.
    const id = uuidv7(0x017f22e279b0);
    expect(id).toMatch(UUIDV7);
    expect(id.startsWith('017f22e2-79b0-7')).toBe(true);
    expect(uuidv7Timestamp(id)).toBe(Date.parse('2022-02-22T19:22:22.000Z'));
    const now = Date.now();
    const current = uuidv7();
    expect(current).toMatch(UUIDV7);
    expect(uuidv7Timestamp(current)).toBeGreaterThanOrEqual(now);
    expect(uuidv7Timestamp(current)).toBeLessThanOrEqual(Date.now());
  });

  it('is strictly increasing within one millisecond and across many calls', async () => {
    const { uuidv7, uuidv7Timestamp } = await fresh();
    const ms = Date.parse('2030-01-01T00:00:00.000Z');
    const sameMs = Array.from({ length: 50_000 }, () => uuidv7(ms));
    expect(new Set(sameMs).size).toBe(sameMs.length);
    for (let i = 1; i < sameMs.length; i++) expect(sameMs[i]! > sameMs[i - 1]!).toBe(true);
    expect(sameMs.every((id) => uuidv7Timestamp(id) === ms && UUIDV7.test(id))).toBe(true);

    const later = uuidv7(ms + 1);
    expect(later > sameMs[sameMs.length - 1]!).toBe(true);
    expect(uuidv7Timestamp(later)).toBe(ms + 1);
  });

  it('never goes backwards when the clock does', async () => {
    const { uuidv7, uuidv7Timestamp } = await fresh();
    const a = uuidv7(2_000_000);
    const b = uuidv7(1_000_000);
    expect(b > a).toBe(true);
    expect(uuidv7Timestamp(b)).toBe(2_000_000);
  });

  it('carries randomness: two processes (module instances) stamping one millisecond differ', async () => {
    const first = (await fresh()).uuidv7(5_000_000);
    const second = (await fresh()).uuidv7(5_000_000);
    expect(first).not.toBe(second);
    // Same timestamp, different counter seed / random tail.
    expect(first.slice(0, 13)).toBe(second.slice(0, 13));
  });
});
