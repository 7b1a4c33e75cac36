import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isInMemory, openDatabase } from './connection.js';
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.js';
import { createKnexStore, type KnexStore } from './knex-store.js';

export type * from './types.js';
export { VERIFY_SCHEMES } from './types.js';
export { openDatabase, dumpEmbeddedDatabase, pgliteDir, type DatabaseKind, type OpenDatabaseOptions } from './connection.js';
export { acquireDataDirLock, LOCK_FILE, type DataDirLock } from './data-dir-lock.js';
export {
  createKnexStore,
  OUTGOING_DEFAULTS,
  MAX_RUNS_PAGE,
  type KnexStore,
  type KnexStoreOptions,
} from './knex-store.js';
export { runMigrations, migrationSource } from './migrate.js';
export { isRetryableDbError, isUniqueViolation, SQLSTATE } from './sqlstate.js';
export { uuidv7, uuidv7Timestamp } from './uuidv7.js';

export interface CreateStoreOptions {
  /** PostgreSQL connection string; when unset the embedded PGlite store is used. */
  databaseUrl?: string;
  /** The embedded store's folder (locked while open). `':memory:'` = in memory. Unused with `databaseUrl`. */
  dataDir?: string;
  /** PostgreSQL schema (created when missing); tests use one per store. */
  schema?: string;
  /** In-memory PGlite, for tests. */
  memory?: boolean;
  /** PostgreSQL pool size (default 10). */
  poolMax?: number;
  /** In-memory PGlite only: start from a `dumpEmbeddedDatabase()` tarball (tests). */
  loadDataDir?: Blob;
  logger?: Logger;
}

/**
 * Opens the store: PostgreSQL when `databaseUrl` is set, else PGlite in `dataDir` (taking the folder's
 * lock, so a second process gets AppError `data_dir_locked`) or in memory. Does not migrate: call
 * `store.migrate()`. `close()` destroys the connection pool and releases the lock.
 *
 * @throws AppError `data_dir_locked`, `database_unavailable`, `config_invalid`.
 * @example
 * const store = await createStore({ databaseUrl: process.env.DATABASE_URL, dataDir: './data' });
 * await store.migrate();
 * const stripe = await store.findByProvider('stripe');
 * await store.close();
 */
export async function createStore(options: CreateStoreOptions): Promise<KnexStore> {
  const databaseUrl = options.databaseUrl?.trim() ? options.databaseUrl : undefined;
  const embedded = databaseUrl === undefined;
  const memory = isInMemory({ databaseUrl, dataDir: options.dataDir, memory: options.memory });
  if (embedded && !memory && !options.dataDir) {
    throw new AppError('config_invalid', 'The embedded store needs a dataDir (HOOKGATE_DATA_DIR) or memory: true.');
  }

  const lock: DataDirLock | undefined = embedded && !memory ? acquireDataDirLock(options.dataDir as string) : undefined;
  try {
    const knex = await openDatabase({ ...options, databaseUrl, memory });
    return createKnexStore(knex, {
      kind: embedded ? 'pglite' : 'postgres',
      ...(options.schema ? { schema: options.schema } : {}),
      ...(lock ? { onClose: () => lock.release() } : {}),
    });
  } catch (err) {
    lock?.release();
    throw err;
  }
}
