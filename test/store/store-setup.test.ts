import { describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.js';
import pg from 'pg';
import type { KnexStore } from '../../src/store/index.js';
import { storeFactories, TEST_DATABASE_URL, uniqueSchemaName } from '../helpers/stores.js';

async function listTestSchemas(): Promise<string[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ nspname: string }>(`select nspname from pg_namespace where nspname like 'hg_test_%'`);
    return rows.map((r) => r.nspname);
  } finally {
    await client.end();
  }
}

/** The schema a postgres test store lives in (its search path). */
function schemaOf(store: KnexStore): string {
  return String((store.knex.client.config as { searchPath?: string[] }).searchPath?.[0]);
}

describe('PostgreSQL store', () => {
  it('several processes migrating one fresh schema at once all succeed', async () => {
    const schema = uniqueSchemaName();
    // Separate pools are separate sessions, as separate processes would have.
    const stores = await Promise.all(Array.from({ length: 4 }, () => createStore({ databaseUrl: TEST_DATABASE_URL, schema, poolMax: 2 })));
    try {
      const results = await Promise.allSettled(stores.map((s) => s.migrate()));
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok', 'ok', 'ok']);
      expect(await stores[0]!.getConfigVersion()).toBe(0);
      const created = await stores[1]!.createInboundWebhook({ provider: 'p', jsScript: '1' });
      expect(await stores[2]!.findByProvider('p')).toEqual(created);
      expect(await stores[3]!.getConfigVersion()).toBe(1);
    } finally {
      await stores[0]!.knex.raw('drop schema if exists ?? cascade', [schema]);
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('rejects a pool too small for the migration lock', async () => {
    await expect(createStore({ databaseUrl: TEST_DATABASE_URL, poolMax: 1 })).rejects.toMatchObject({ code: 'config_invalid' });
  });
});

describe.each(storeFactories())('test store factory $name', (factory) => {
  it('gives isolated, migrated stores; close() throws the data away', async () => {
    const [a, b] = await Promise.all([factory.create(), factory.create()]);
    try {
      await a.createInboundWebhook({ provider: 'isolated', jsScript: '1' });
      expect(await a.findByProvider('isolated')).not.toBeNull();
      expect(await b.findByProvider('isolated')).toBeNull();
      expect(await b.getSettings()).toBeNull();
      expect(await b.getConfigVersion()).toBe(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    if (factory.name === 'postgres') {
      const schemas = await listTestSchemas();
      expect(schemas).not.toContain(schemaOf(a));
      expect(schemas).not.toContain(schemaOf(b));
    }
  });
});
