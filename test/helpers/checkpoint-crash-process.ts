/**
 * For the embedded checkpoint crash test: `tsx test/helpers/checkpoint-crash-process.ts` with HG_DATA_DIR (a hookgate data folder).
 * Writes rows into a PGlite folder with checkpoints every 1 MiB of WAL until several were taken, prints
 * `{"rows": N, "checkpoints": N}` and kills itself with SIGKILL (no close, no shutdown checkpoint).
 */
import { randomBytes } from 'node:crypto';
import { createKnexStore, createSecretBox, EmbeddedCheckpointer, openDatabase } from '../../src/store/index.js';

const knex = await openDatabase({ dataDir: process.env.HG_DATA_DIR });
// The store's own checkpointer is off: this one is driven by hand, so the count below is exact.
createKnexStore(knex, { kind: 'pglite', secrets: createSecretBox([randomBytes(32)]), checkpoints: false });
const checkpointer = new EmbeddedCheckpointer(knex, { walBytes: 1024 * 1024 });
await knex.raw('create table crash_rows (n integer primary key, pad text not null)');
let rows = 0;
let checkpoints = 0;
while (checkpoints < 3 || rows % 1000 === 0) {
  await knex('crash_rows').insert(Array.from({ length: 250 }, () => ({ n: rows++, pad: 'x'.repeat(400) })));
  if (await checkpointer.checkpointIfDue()) checkpoints++;
  // Rows written after the last checkpoint: only the WAL has them when the process dies.
  if (checkpoints >= 3) {
    await knex('crash_rows').insert(Array.from({ length: 250 }, () => ({ n: rows++, pad: 'y'.repeat(400) })));
    break;
  }
}
process.stdout.write(`${JSON.stringify({ rows, checkpoints })}\n`, () => process.kill(process.pid, 'SIGKILL'));
