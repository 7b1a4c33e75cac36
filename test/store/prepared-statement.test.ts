import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PreparedStatement } from '../../src/store/prepared-statement.js';
import { SQLSTATE, type KnexStore } from '../../src/store/index.js';
import { storeFactories } from '../helpers/stores.js';

/** Finds prepared statements by name on the connection it runs on: its own name once it is prepared there. */
const PREPARED_HERE = new PreparedStatement('hookgate_test_prepared_here', 'select name from pg_prepared_statements where name = ?');
const ECHO = new PreparedStatement('hookgate_test_echo', 'select ?::int + 1 as n, ?::jsonb as doc');
const INSERT_KEY = new PreparedStatement('hookgate_test_insert_key', 'insert into settings (key, value) values (?, ?::jsonb) returning key');

describe.each(storeFactories())('prepared statements on $name', (factory) => {
  let store: KnexStore;
  beforeAll(async () => {
    store = await factory.create();
  });
  afterAll(() => store?.close());

  it('runs with its values and returns the rows', async () => {
    expect(await ECHO.rows(store.knex, [41, JSON.stringify({ a: [1, 'x'] })])).toEqual([{ n: 42, doc: { a: [1, 'x'] } }]);
  });

  it('is a named prepared statement on PostgreSQL connections, a plain statement on PGlite', async () => {
    // Two runs: the second may land on another pooled connection, where it is prepared anew.
    await PREPARED_HERE.rows(store.knex, [PREPARED_HERE.name]);
    const rows = await PREPARED_HERE.rows<{ name: string }>(store.knex, [PREPARED_HERE.name]);
    expect(rows).toEqual(factory.name === 'postgres' ? [{ name: PREPARED_HERE.name }] : []);
  });

  it('inside a transaction runs on the transaction, which a rollback undoes', async () => {
    const key = `prepared.${Date.now()}`;
    await expect(
      store.knex.transaction(async (trx) => {
        expect(await INSERT_KEY.rows(trx, [key, '1'])).toEqual([{ key }]);
        expect(await trx('settings').where({ key }).first()).toBeDefined();
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await store.knex('settings').where({ key }).first()).toBeUndefined();
  });

  it('fails with the database error and its SQLSTATE, and tells knex query listeners', async () => {
    const key = `prepared.dup.${Date.now()}`;
    await INSERT_KEY.rows(store.knex, [key, '1']);
    const seen: string[] = [];
    const onQuery = (q: { sql: string }) => seen.push(q.sql);
    const onError = (_err: unknown, q: { sql: string }) => seen.push(`error: ${q.sql}`);
    store.knex.on('query', onQuery).on('query-error', onError);
    try {
      await expect(INSERT_KEY.rows(store.knex, [key, '2'])).rejects.toMatchObject({ code: SQLSTATE.uniqueViolation });
    } finally {
      store.knex.removeListener('query', onQuery).removeListener('query-error', onError);
    }
    // As knex shows any statement: with PostgreSQL's $n placeholders.
    const sql = 'insert into settings (key, value) values ($1, $2::jsonb) returning key';
    expect(seen).toEqual([sql, `error: ${sql}`]);
  });

  it('refuses the wrong number of values before sending anything', async () => {
    await expect(ECHO.rows(store.knex, [1])).rejects.toThrow('2 values expected, got 1');
  });
});

describe('PreparedStatement', () => {
  it("refuses knex's ?? identifiers, which have no prepared form", () => {
    expect(() => new PreparedStatement('x', 'select * from ?? where id = ?')).toThrow("'??' identifiers cannot be prepared");
  });
});
