import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import knexPkg, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isUniqueViolation } from './sqlstate.js';

export type DatabaseKind = 'postgres' | 'pglite';

export interface OpenDatabaseOptions {
  /** PostgreSQL connection string; when unset the embedded PGlite database is used. */
  databaseUrl?: string;
  /** The embedded store's folder; PGlite keeps its files in `<dataDir>/pgdata`. `':memory:'` = in memory. */
  dataDir?: string;
  /** In-memory PGlite (tests); `dataDir` is then ignored. */
  memory?: boolean;
  /** Schema to use (created when missing) and put first on the search path; tests use one per store. */
  schema?: string;
  /** PostgreSQL pool size (default 10, at least 2). PGlite always has exactly one connection. */
  poolMax?: number;
  /** Start an in-memory PGlite from a `dumpEmbeddedDatabase()` tarball instead of running initdb (tests). */
  loadDataDir?: Blob;
  logger?: Logger;
}

/** Where PGlite keeps its files inside a hookgate data directory. */
export function pgliteDir(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'pgdata');
}

/** Whether these options select the embedded database. */
export function isEmbedded(options: Pick<OpenDatabaseOptions, 'databaseUrl'>): boolean {
  return options.databaseUrl === undefined;
}

/** Whether these options select an in-memory embedded database. */
export function isInMemory(options: Pick<OpenDatabaseOptions, 'databaseUrl' | 'dataDir' | 'memory'>): boolean {
  return isEmbedded(options) && (options.memory === true || options.dataDir === ':memory:');
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The PGlite instance behind each embedded knex, for `dumpEmbeddedDatabase`. */
const pgliteOf = new WeakMap<Knex, PGlite>();

function redact(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '***';
    return `${url.protocol}//${url.username ? `${url.username}${url.password ? ':***' : ''}@` : ''}${url.host}${url.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

function knexLog(logger: Logger | undefined): Knex.Config['log'] {
  const child = logger?.child({ component: 'knex' });
  return {
    warn: (message: unknown) => child?.warn(String(message)),
    error: (message: unknown) => child?.error(String(message)),
    deprecate: (method: unknown, alternative: unknown) => child?.warn(`${String(method)} is deprecated; use ${String(alternative)}`),
    debug: (message: unknown) => child?.debug(String(message)),
  };
}

async function startPglite(options: OpenDatabaseOptions): Promise<{ pglite: PGlite; where: string }> {
  const memory = isInMemory(options);
  if (!memory && !options.dataDir) {
    throw new AppError('config_invalid', 'The embedded database needs a dataDir (HOOKGATE_DATA_DIR) or memory: true.');
  }
  const where = memory ? 'memory' : pgliteDir(options.dataDir as string);
  const pglite = new PGlite({
    ...(memory ? {} : { dataDir: where }),
    ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
  });
  try {
    await pglite.waitReady;
  } catch (err) {
    await pglite.close().catch(() => undefined);
    throw new AppError('database_unavailable', `The embedded database (${where}) could not start: ${(err as Error).message}`, { cause: err });
  }
  return { pglite, where };
}

/** `create schema if not exists` can still fail with a unique violation when two sessions run it at once. */
async function createSchema(knex: Knex, schema: string): Promise<void> {
  try {
    await knex.raw('create schema if not exists ??', [schema]);
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    await knex.raw('create schema if not exists ??', [schema]);
  }
}

/**
 * Opens the database and returns a knex instance: PostgreSQL (`pg`, a pool of `poolMax`) when
 * `databaseUrl` is set, else the embedded PGlite in `<dataDir>/pgdata` (or in memory). Checks the
 * connection before returning. Does not take the data-directory lock (see `acquireDataDirLock`) nor
 * run migrations (see `runMigrations`); `createStore` does both.
 *
 * @throws AppError `database_unavailable` (with the driver's error as `cause`) when it cannot connect.
 * @example
 * const knex = await openDatabase({ databaseUrl: 'postgres://postgres@127.0.0.1:5432/app', schema: 'hookgate' });
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Knex> {
  const { schema, logger } = options;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new AppError('config_invalid', `Invalid schema name ${JSON.stringify(schema)}: use lower-case letters, digits and _.`);
  }
  if (options.poolMax !== undefined && !(Number.isInteger(options.poolMax) && options.poolMax >= 2)) {
    // runMigrations holds an advisory lock on one connection while migrating on another.
    throw new AppError('config_invalid', `poolMax must be an integer of at least 2 (got ${options.poolMax}).`);
  }
  const common: Knex.Config = {
    log: knexLog(logger),
    // knex would paste the bound values (request bodies, event data, run logs) into its error messages,
    // which end up in log lines: keep the placeholders.
    compileSqlOnError: false,
    ...(schema ? { searchPath: [schema] } : {}),
  };

  let knex: Knex;
  let where: string;
  if (options.databaseUrl !== undefined) {
    where = redact(options.databaseUrl);
    knex = knexPkg.knex({
      ...common,
      client: 'pg',
      connection: { connectionString: options.databaseUrl, application_name: 'hookgate', connectionTimeoutMillis: 10_000 },
      pool: { min: 0, max: options.poolMax ?? 10 },
      acquireConnectionTimeout: 15_000,
    });
  } else {
    const started = await startPglite(options);
    where = started.where;
    knex = knexPkg.knex({
      ...common,
      client: ClientPgLite,
      // A function, so knex does not deep-clone the PGlite instance as if it were connection settings.
      connection: (() => ({ pglite: started.pglite })) as unknown as Knex.StaticConnectionConfig,
    });
    pgliteOf.set(knex, started.pglite);
  }

  try {
    // The search path is set when a connection is made, so a missing schema is created before any query needs it.
    if (schema) await createSchema(knex, schema);
    else await knex.raw('select 1');
  } catch (err) {
    await knex.destroy().catch(() => undefined);
    throw new AppError('database_unavailable', `Cannot connect to the database at ${where}: ${(err as Error).message}`, { cause: err });
  }
  logger?.info('database opened', { component: 'store', database: where, schema });
  return knex;
}

/**
 * A tarball of an embedded database (PGlite `dumpDataDir`), to start other in-memory databases from with
 * `loadDataDir` — test suites migrate once and copy. Throws for a PostgreSQL knex.
 */
export async function dumpEmbeddedDatabase(knex: Knex): Promise<Blob> {
  const pglite = pgliteOf.get(knex);
  if (!pglite) throw new Error('dumpEmbeddedDatabase: not an embedded (PGlite) database');
  // PGlite has one connection and knex holds it; run the dump while knex's pool is idle.
  return pglite.dumpDataDir('none');
}
