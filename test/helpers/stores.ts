import { randomBytes } from 'node:crypto';
import {
  createStore,
  dumpEmbeddedDatabase,
  openDatabase,
  runMigrations,
  createKnexStore,
  createSecretBox,
  type KnexStore,
} from '../../src/store/index.js';

/** PostgreSQL for integration tests (vitest.config.ts sets it). */
export const TEST_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface StoreFactory {
  name: 'pglite' | 'postgres';
  /** A fresh, migrated store of its own; `close()` also throws its data away. */
  create(): Promise<KnexStore>;
}

/** A schema name no other test uses: `hg_test_<random>`. */
export function uniqueSchemaName(prefix = 'hg_test'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/**
 * PGlite's initdb takes ~3 s; loading a dump ~0.7 s. The first in-memory store of a process is made the
 * slow way and dumped right after migrating (before any test writes), later ones start from the dump.
 */
let pgliteTemplate: Blob | undefined;
/** Creations run one at a time, so only the first pays for initdb. */
let pgliteQueue: Promise<unknown> = Promise.resolve();

async function createPgliteStoreNow(): Promise<KnexStore> {
  if (pgliteTemplate) {
    const store = await createStore({ memory: true, loadDataDir: pgliteTemplate });
    await store.migrate();
    return store;
  }
  const knex = await openDatabase({ memory: true });
  const store = createKnexStore(knex, { kind: 'pglite', secrets: createSecretBox([randomBytes(32)]) });
  try {
    await runMigrations(knex, { advisoryLock: false });
    pgliteTemplate = await dumpEmbeddedDatabase(knex);
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

function createPgliteStore(): Promise<KnexStore> {
  const created = pgliteQueue.then(createPgliteStoreNow);
  pgliteQueue = created.catch(() => undefined);
  return created;
}

async function createPostgresStore(): Promise<KnexStore> {
  const schema = uniqueSchemaName();
  const store = await createStore({ databaseUrl: TEST_DATABASE_URL, schema, poolMax: 4 });
  let closing: Promise<void> | undefined;
  const wrapped: KnexStore = {
    ...store,
    close: () =>
      (closing ??= (async () => {
        try {
          await store.knex.raw('drop schema if exists ?? cascade', [schema]);
        } finally {
          await store.close();
        }
      })()),
  };
  try {
    await wrapped.migrate();
  } catch (err) {
    await wrapped.close();
    throw err;
  }
  return wrapped;
}

/**
 * Every store implementation, for `describe.each(storeFactories())('… on $name', (factory) => …)`.
 * Each `create()` gives an isolated, migrated store: PGlite in memory, or PostgreSQL at DATABASE_URL in a
 * schema of its own that `close()` drops.
 */
export function storeFactories(): StoreFactory[] {
  return [
    { name: 'pglite', create: createPgliteStore },
    { name: 'postgres', create: createPostgresStore },
  ];
}
