import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isInMemory, openDatabase } from './connection.js';
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.js';
import { createKnexStore, type KnexStore } from './knex-store.js';
import { openSecretBox } from './secret-key.js';

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
export { runMigrations, pendingMigrations, migrationSource } from './migrate.js';
export { insertAuditEntry, MAX_AUDIT_PAGE, redeliveryEntry } from './audit-log.js';
export { isConnectionError, isDataError, isRetryableDbError, isUniqueViolation, SQLSTATE } from './sqlstate.js';
export { StoreAvailability } from './availability.js';
export { uuidv7, uuidv7Timestamp } from './uuidv7.js';
export { deleteInBatches } from './batched-delete.js';
export { EmbeddedCheckpointer, EMBEDDED_CHECKPOINT_DEFAULTS, type EmbeddedCheckpointOptions } from './embedded-checkpoint.js';
export { createSecretBox, secretKeyId, ENCRYPTED_PREFIX, type SecretBox } from './secret-box.js';
export { openSecretBox, parseSecretKeys, deriveSecretKey, generateSecretKey, loadOrCreateKeyFile, SECRET_KEY_FILE, type OpenSecretBoxOptions } from './secret-key.js';
export type { StoredPreviousSecret } from './webhook-secrets.js';

export interface CreateStoreOptions {
  /** PostgreSQL connection string; when unset the embedded PGlite store is used. */
  databaseUrl?: string;
  /**
   * The embedded store's folder (locked while open). `':memory:'` = in memory. With `databaseUrl` it only
   * holds the generated key file when no `secretKey` is given (default `./data`).
   */
  dataDir?: string;
  /**
   * HOOKGATE_SECRET_KEY: the key stored secrets are encrypted with — 32 bytes as 64 hex digits or base64,
   * or a passphrase of 16+ characters (scrypt); several comma-separated during a key rotation, the first
   * encrypts. Unset: a key generated into `<dataDir>/secret.key` (mode 0600), or a random per-process key
   * for an in-memory store.
   */
  secretKey?: string;
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
 * lock, so a second process gets AppError `data_dir_locked`) or in memory, with the key its secrets are
 * encrypted with (`secretKey`, else the key file). Does not migrate: call `store.migrate()` (which also
 * encrypts legacy plaintext secrets). `close()` destroys the connection pool and releases the lock.
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
    const secrets = await openSecretBox({
      secretKey: options.secretKey,
      dataDir: options.dataDir,
      postgres: !embedded,
      memory,
      ...(options.logger ? { logger: options.logger } : {}),
    }).catch(async (err: unknown) => {
      await knex.destroy().catch(() => undefined);
      throw err;
    });
    return createKnexStore(knex, {
      kind: embedded ? 'pglite' : 'postgres',
      secrets,
      ...(embedded ? { checkpoints: {} } : {}),
      ...(options.schema ? { schema: options.schema } : {}),
      ...(lock ? { onClose: () => lock.release() } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  } catch (err) {
    lock?.release();
    throw err;
  }
}
export { PgListener, configChannel, listenerName, notifyChannel, pgConnectionConfig, type PgListenerOptions } from './pg-listener.js';
