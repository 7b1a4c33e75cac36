import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../config.js';
import { isAppError } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { createStore, pendingMigrations, pgliteDir, type KnexStore } from '../store/index.js';
import { CliError } from './errors.js';

/** What every command gets: the server's configuration (same environment, same src/config.ts) and a logger. */
export interface CliContext {
  config: Readonly<Config>;
  logger: Logger;
  verbose: boolean;
}

/**
 * The configuration the server would use, and a logger that prints only warnings unless `--verbose`
 * (then LOG_LEVEL, default info): the commands' own output is the point, not the engine's logs.
 */
export function createCliContext(verbose: boolean): CliContext {
  const config = loadConfig();
  return { config, verbose, logger: createLogger(verbose ? config.logLevel : 'warn') };
}

/** `PostgreSQL` or `the embedded database in ./data`, for messages. */
export function describeDatabase(config: Readonly<Config>): string {
  return config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `the embedded database in ${path.resolve(config.dataDir)}`;
}

export interface OpenStoreOptions {
  /** Refuse a database with pending migrations (default true): only `migrate` changes the schema. */
  requireMigrated?: boolean;
}

/**
 * Opens the configured store for one command, runs `fn`, and closes it (releasing the embedded store's
 * lock) whatever happens. On the embedded store a running server holds the lock: that is reported
 * plainly rather than as a stack trace.
 *
 * @throws CliError when the store is locked, unreachable or not migrated.
 */
export async function withStore<T>(context: CliContext, fn: (store: KnexStore) => Promise<T>, options: OpenStoreOptions = {}): Promise<T> {
  const { config, logger } = context;
  // A mistyped HOOKGATE_DATA_DIR would otherwise get a new, empty database (and a new secret key) made for it.
  if (options.requireMigrated !== false && !config.databaseUrl && !existsSync(pgliteDir(config.dataDir))) {
    throw new CliError(
      `There is no embedded database in ${path.resolve(config.dataDir)} (HOOKGATE_DATA_DIR). Check the folder, or create the database with \`hookgate migrate\` (or by starting the server once).`,
    );
  }
  let store: KnexStore;
  try {
    store = await createStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, secretKey: config.secretKey, logger });
  } catch (err) {
    throw explainOpenFailure(err, config);
  }
  try {
    if (options.requireMigrated !== false) {
      const pending = await pendingMigrations(store.knex);
      if (pending.length > 0) {
        throw new CliError(`The database schema is not up to date (${pending.length} pending: ${pending.join(', ')}). Run \`hookgate migrate\` first.`);
      }
    }
    return await fn(store);
  } finally {
    await store.close();
  }
}

function explainOpenFailure(err: unknown, config: Readonly<Config>): unknown {
  if (!isAppError(err)) return err;
  if (err.code === 'data_dir_locked') {
    const pid = (err.details as { pid?: number } | undefined)?.pid;
    return new CliError(
      `The embedded database in ${path.resolve(config.dataDir)} is locked by process ${pid ?? '?'} (a running \`hookgate serve\` or \`npm start\`?). ` +
        'PGlite is single-process: stop that server and run the command again, or run both against PostgreSQL (DATABASE_URL), where the CLI works alongside running servers.',
      { code: err.code, cause: err },
    );
  }
  if (err.code === 'database_unavailable') {
    return new CliError(`${err.message}. Check DATABASE_URL (or HOOKGATE_DATA_DIR for the embedded database).`, { code: err.code, cause: err });
  }
  return err;
}
