import type { Knex } from 'knex';
import { migrations, type Migration } from '../../migrations/index.js';

/** Knex reads the migration list from here instead of globbing a folder (works from .ts and from dist/). */
export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => [...migrations],
  getMigrationName: (migration) => migration.name,
  getMigration: async (migration) => migration,
};

export interface RunMigrationsOptions {
  /** Schema holding the tables and `knex_migrations` (default: the connection's current schema). */
  schema?: string;
  /**
   * Serialise with other processes through a PostgreSQL advisory lock (default true). Needs a pool of at
   * least two connections: the lock is held on one while knex migrates on another. PGlite has one
   * connection and its folder is locked to one process, so it passes false.
   */
  advisoryLock?: boolean;
}

/** Advisory lock key space: hashtext() of this plus the schema name. */
const LOCK_NAMESPACE = 'hookgate:migrate:';

/**
 * Brings the schema up to date (idempotent). Two processes starting together on one database would
 * race on creating `knex_migrations` (knex's own lock row comes too late for that), so on PostgreSQL the
 * second waits on an advisory lock until the first is done, then finds nothing to do.
 */
export async function runMigrations(knex: Knex, options: RunMigrationsOptions = {}): Promise<void> {
  const migrate = () =>
    knex.migrate.latest({
      migrationSource,
      tableName: 'knex_migrations',
      ...(options.schema ? { schemaName: options.schema } : {}),
    });
  if (options.advisoryLock === false) {
    await migrate();
    return;
  }
  await knex.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtext(? || current_schema()))', [LOCK_NAMESPACE]);
    await migrate();
  });
}

/** Names of the migrations not yet applied, oldest first. */
export async function pendingMigrations(knex: Knex, options: Pick<RunMigrationsOptions, 'schema'> = {}): Promise<string[]> {
  const [, pending] = (await knex.migrate.list({
    migrationSource,
    tableName: 'knex_migrations',
    ...(options.schema ? { schemaName: options.schema } : {}),
  })) as [unknown[], Migration[]];
  return pending.map((m) => m.name);
}
