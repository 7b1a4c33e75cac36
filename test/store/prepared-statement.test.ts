import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preparedStatement } from '../../src/store/prepared-statement.js';
import { SQLSTATE, type KnexStore } from '../../src/store/index.js';
import { storeFactories } from '../helpers/stores.js';

/** Finds prepared statements by name on the connection it runs on: its own name once it is prepared there. */
const PREPARED_HERE = preparedStatement('hookgate_test_prepared_here', 'select name from pg_prepared_statements where name = ?');
const ECHO = preparedStatement('hookgate_test_echo', 'select ?::int + 1 as n, ?::jsonb as doc');
const INSERT_KEY = preparedStatement('hookgate_test_insert_key', 'insert into settings (key, value) values (?, ?::jsonb) returning key');

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
    // It is prepared on the connection it runs on before it runs, so it finds itself there.
    const rows = await PREPARED_HERE.rows<{ name: string }>(store.knex, [PREPARED_HERE.name]);
    expect(rows).toEqual(factory.name === 'postgres' ? [{ name: PREPARED_HERE.name }] : []);
  });

  it('still answers after a migration changed the type of a column it returns', async () => {
    await store.knex.raw('create table prepared_probe (id int primary key, n int not null)');
    await store.knex.raw('insert into prepared_probe values (1, 7)');
    const probe = preparedStatement('hookgate_test_probe', 'select id, n from prepared_probe where id = ?');
    // Prepared on every pooled connection (more callers at once than the pool has connections).
    const before = await Promise.all(Array.from({ length: 12 }, () => probe.rows(store.knex, [1])));
    expect(before.flat()).toEqual(Array.from({ length: 12 }, () => ({ id: 1, n: 7 })));

    await store.knex.raw('alter table prepared_probe alter column n type text');
    // Each connection's cached plan now returns the wrong type ("cached plan must not change result type"):
    // the statement runs once more unprepared, and the pool drops that connection.
    const unprepared: string[] = [];
    const onQuery = (q: { sql: string; name?: string }) => void (q.name === undefined && unprepared.push(q.sql));
    store.knex.on('query', onQuery);
    try {
      for (let i = 0; i < 12; i++) expect(await probe.rows(store.knex, [1])).toEqual([{ id: 1, n: '7' }]);
    } finally {
      store.knex.removeListener('query', onQuery);
    }
    if (factory.name === 'postgres') expect(unprepared.length).toBeGreaterThan(0);
    expect(await probe.rows(store.knex, [1])).toEqual([{ id: 1, n: '7' }]);
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
    // Every failure gave its connection back: more of them than the pool holds, then a statement that works.
    for (let i = 0; i < 12; i++) await expect(INSERT_KEY.rows(store.knex, [key, '3'])).rejects.toMatchObject({ code: SQLSTATE.uniqueViolation });
    expect(await ECHO.rows(store.knex, [1, 'null'])).toEqual([{ n: 2, doc: null }]);
    // As knex shows any statement: with PostgreSQL's $n placeholders.
    const sql = 'insert into settings (key, value) values ($1, $2::jsonb) returning key';
    expect(seen).toEqual([sql, `error: ${sql}`]);
  });

  it('refuses the wrong number of values before sending anything', async () => {
    await expect(ECHO.rows(store.knex, [1])).rejects.toThrow('2 values expected, got 1');
  });
});

describe('preparedStatement', () => {
  it("refuses knex's ?? identifiers, which have no prepared form", () => {
    expect(() => preparedStatement('x', 'select * from ?? where id = ?')).toThrow("'??' identifiers cannot be prepared");
  });
});
