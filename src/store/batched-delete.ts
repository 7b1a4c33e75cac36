import type { Knex } from 'knex';

/**
 * Deletes old rows a bounded batch at a time: `sql` takes `?` bindings `(before, batchSize)`, deletes at most
 * `batchSize` rows older than `before` and selects `count(*)::int as n` of what it deleted. Each statement
 * commits on its own (no long lock or transaction); the loop stops at a short batch or after `maxBatches`.
 * Statements should pick their rows with FOR UPDATE SKIP LOCKED, so several processes pruning at once share
 * the work instead of waiting on one another.
 */
export async function deleteInBatches(knex: Knex, sql: string, before: Date, batchSize: number, maxBatches: number): Promise<{ count: number; more: boolean }> {
  let count = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const result = (await knex.raw(sql, [before.toISOString(), batchSize])) as { rows?: Array<{ n: number }> };
    const row = result.rows?.[0];
    const n = Number(row?.n ?? 0);
    count += n;
    if (n < batchSize) return { count, more: false };
  }
  return { count, more: true };
}
