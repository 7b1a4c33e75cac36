/**
 * For the embedded checkpoint crash test: `tsx test/helpers/checkpoint-crash-process.ts` with HG_DATA_DIR (a
 * hookgate data folder). Writes rows, and WAL enough for a checkpoint after each batch, until three
 * checkpoints were taken; then one more batch (only the WAL has it), prints `{"rows": N, "checkpoints": 3}`
 * and kills itself with SIGKILL (no close, so no shutdown checkpoint). Exits 1 if no checkpoint comes.
 */
import { EmbeddedCheckpointer, openDatabase } from '../../src/store/index.js';

const knex = await openDatabase({ dataDir: process.env.HG_DATA_DIR });
const checkpointer = new EmbeddedCheckpointer(knex, { walBytes: 1024 * 1024 });
await knex.raw('create table crash_rows (n integer primary key, pad text not null)');
let rows = 0;
const batch = () => knex('crash_rows').insert(Array.from({ length: 250 }, () => ({ n: rows++, pad: 'x'.repeat(400) })));
let checkpoints = 0;
for (let i = 0; i < 10 && checkpoints < 3; i++) {
  await batch();
  await knex.raw(`select pg_logical_emit_message(false, 'hookgate-test', repeat('x', 1024 * 1024))`);
  if (await checkpointer.checkpointIfDue()) checkpoints++;
}
if (checkpoints < 3) {
  process.stderr.write(`only ${checkpoints} checkpoints were taken\n`);
  process.exit(1);
}
await batch();
process.stdout.write(`${JSON.stringify({ rows, checkpoints })}\n`, () => process.kill(process.pid, 'SIGKILL'));
