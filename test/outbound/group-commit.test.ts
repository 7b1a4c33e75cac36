import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { GroupCommit } from '../../src/outbound/group-commit.js';

const logger = createLogger('error');
const dropped = () => Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });

describe('GroupCommit', () => {
  it('writes a batch again after each wait while the database is away, then answers every item from one write', async () => {
    const calls: Array<{ items: number[]; at: number }> = [];
    let failures = 2;
    const t0 = Date.now();
    const writer = new GroupCommit<number, number>({
      writeBatch: async (items) => {
        calls.push({ items, at: Date.now() - t0 });
        if (failures-- > 0) throw dropped();
        return items.map((n) => n * 10);
      },
      writeOne: () => Promise.reject(new Error('not split')),
      maxBatch: 10,
      logger,
      what: 'test',
      retryDelaysMs: [50, 100],
    });
    expect(await Promise.all([writer.submit(1), writer.submit(2)])).toEqual([10, 20]);
    expect(calls.map((c) => c.items)).toEqual([[1, 2], [1, 2], [1, 2]]);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(45);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(95);
  });

  it('starts no try past retryWithinMs, retries no pool timeout, and stops waiting once told to stop retrying', async () => {
    const failing = (error: () => Error, options: { retryDelaysMs: number[]; retryWithinMs?: number }, tryMs = 0) => {
      const calls: number[] = [];
      const t0 = Date.now();
      const writer = new GroupCommit<number, number>({
        writeBatch: async () => {
          calls.push(Date.now() - t0);
          await new Promise((resolve) => setTimeout(resolve, tryMs));
          throw error();
        },
        writeOne: () => Promise.reject(error()),
        maxBatch: 10,
        logger,
        what: 'test',
        ...options,
      });
      return { writer, calls };
    };
    // A try that itself takes long (a connect timeout) uses up the time: no more tries after it.
    const slow = failing(dropped, { retryDelaysMs: [10, 10, 10, 10], retryWithinMs: 200 }, 100);
    await expect(slow.writer.submit(1)).rejects.toThrow('Connection terminated');
    expect(slow.calls).toHaveLength(2); // at 0 and about 110; a third would start past 200 ms
    expect(slow.calls[1]!).toBeLessThanOrEqual(200);

    const poolTimeout = failing(() => Object.assign(new Error('Knex: Timeout acquiring a connection.'), { name: 'KnexTimeoutError' }), { retryDelaysMs: [0, 0, 0] });
    await expect(poolTimeout.writer.submit(1)).rejects.toThrow('Timeout acquiring');
    expect(poolTimeout.calls).toHaveLength(1);

    const stopping = failing(dropped, { retryDelaysMs: [5000, 5000] });
    const write = stopping.writer.submit(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const t0 = Date.now();
    stopping.writer.stopRetrying();
    await expect(write).rejects.toThrow('Connection terminated');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(stopping.calls).toHaveLength(2); // the first, and the one its wait was cut short for
  });

  it('splits a batch once the waits are used up, each item getting its own outcome; an error of the statement is not retried', async () => {
    let batchCalls = 0;
    const writer = new GroupCommit<number, number>({
      writeBatch: async () => {
        batchCalls += 1;
        throw dropped();
      },
      writeOne: async (n) => {
        if (n === 2) throw Object.assign(new Error('bad row'), { code: '22P02' });
        return n;
      },
      maxBatch: 10,
      logger,
      what: 'test',
      retryDelaysMs: [0],
    });
    const results = await Promise.allSettled([writer.submit(1), writer.submit(2)]);
    expect(batchCalls).toBe(2);
    expect(results).toEqual([{ status: 'fulfilled', value: 1 }, { status: 'rejected', reason: expect.objectContaining({ message: 'bad row' }) }]);

    let statementCalls = 0;
    const strict = new GroupCommit<number, number>({
      writeBatch: async () => {
        statementCalls += 1;
        throw Object.assign(new Error('syntax'), { code: '42601' });
      },
      writeOne: () => Promise.reject(new Error('syntax')),
      maxBatch: 10,
      logger,
      what: 'test',
      retryDelaysMs: [0, 0, 0],
    });
    await expect(strict.submit(1)).rejects.toThrow('syntax');
    expect(statementCalls).toBe(1);
  });
});
