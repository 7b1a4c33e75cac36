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
