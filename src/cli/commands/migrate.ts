import { pendingMigrations } from '../../store/index.js';
import { createCliContext, describeDatabase, withStore } from '../context.js';
import type { CommandResult } from '../program.js';

export interface MigrateOptions {
  dryRun?: boolean;
  json?: boolean;
}

/** `hookgate migrate`: brings the schema up to date and says which migrations ran. */
export async function migrate(options: MigrateOptions, verbose: boolean): Promise<CommandResult> {
  const context = createCliContext(verbose);
  const where = describeDatabase(context.config);
  const plural = (n: number) => `${n} migration${n === 1 ? '' : 's'}`;
  return withStore(
    context,
    async (store) => {
      const pending = await pendingMigrations(store.knex);
      if (options.dryRun) {
        if (options.json) process.stdout.write(`${JSON.stringify({ applied: [], pending })}\n`);
        else if (pending.length === 0) process.stdout.write(`${where}: up to date, nothing to migrate.\n`);
        else process.stdout.write(`${where}: ${plural(pending.length)} pending:\n${pending.map((n) => `  ${n}\n`).join('')}`);
        return 0;
      }
      // store.migrate(), not bare knex: it is what the server runs on start (migrations, then its own upkeep).
      await store.migrate();
      // What was pending and no longer is: ours, or a server's that migrated at the same moment.
      const still = new Set(await pendingMigrations(store.knex));
      const applied = pending.filter((n) => !still.has(n));
      if (options.json) process.stdout.write(`${JSON.stringify({ applied, pending: [...still] })}\n`);
      else if (applied.length === 0) process.stdout.write(`${where}: already up to date, no migration ran.\n`);
      else process.stdout.write(`${where}: applied ${plural(applied.length)}:\n${applied.map((n) => `  ${n}\n`).join('')}`);
      return 0;
    },
    { requireMigrated: false },
  );
}
