import type { Knex } from 'knex';
import { SQLSTATE } from './sqlstate.js';

/** What node-postgres's client offers here: a query by name, parsed once per connection. */
interface PgConnection {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
  /** knex's mark for a connection its pool must destroy rather than lend again. */
  __knex__disposed?: unknown;
}

type PgClient = Knex.Client & { acquireConnection(): Promise<PgConnection>; releaseConnection(connection: PgConnection): Promise<unknown> };

/**
 * A statement the delivery queue runs thousands of times a second, written once with knex's `?`
 * placeholders. On PostgreSQL it runs as a named prepared statement on a pooled connection of the knex
 * instance, past knex's query runner: each connection parses it once, and PostgreSQL may keep its plan,
 * where `knex.raw` has it parsed and planned on every call (nearly a quarter of the queue's time in the
 * database, measured with pg_stat_statements). On PGlite, or inside a transaction, it runs through
 * `knex.raw` as any other statement. Either way knex's `query` events are emitted for it.
 */
export interface PreparedStatement {
  /** Unique per process: node-postgres refuses one name for two texts. */
  readonly name: string;
  /** With knex's `?` placeholders: what PGlite and transactions run. */
  readonly sql: string;
  /** With PostgreSQL's `$1`, `$2`…: what is prepared. */
  readonly text: string;
  /** Runs the statement with `values` (one per `?`, in order) and returns its rows. */
  rows<T>(db: Knex | Knex.Transaction, values: unknown[]): Promise<T[]>;
}

/**
 * SQLSTATEs of a prepared statement that no longer fits its connection: `0A000` "cached plan must not
 * change result type" (a migration changed a column it returns), `26000` (the server forgot it: a
 * `DISCARD ALL`). The connection is dropped, and the statement runs once more through `knex.raw`.
 */
const STALE_STATEMENT = new Set<string>([SQLSTATE.featureNotSupported, SQLSTATE.invalidStatementName]);

/**
 * Makes a prepared statement of `sql`, which must use `?` only as placeholders: no `??` identifiers, no
 * jsonb `?` operators.
 *
 * @example
 * const COUNT_DUE = preparedStatement('hookgate_count_due', 'select count(*)::int as n from outbound_deliveries where available_at <= ?::timestamptz');
 * const [row] = await COUNT_DUE.rows<{ n: number }>(knex, [new Date().toISOString()]);
 */
export function preparedStatement(name: string, sql: string): PreparedStatement {
  if (sql.includes('??')) throw new TypeError(`preparedStatement ${name}: '??' identifiers cannot be prepared`);
  let params = 0;
  const text = sql.replace(/\?/g, () => `$${++params}`);

  const viaKnex = async <T>(db: Knex | Knex.Transaction, values: unknown[]): Promise<T[]> =>
    ((await db.raw(sql, values as Knex.RawBinding[])) as { rows?: T[] }).rows ?? [];

  return {
    name,
    sql,
    text,
    async rows<T>(db: Knex | Knex.Transaction, values: unknown[]): Promise<T[]> {
      if (values.length !== params) throw new TypeError(`preparedStatement ${name}: ${params} values expected, got ${values.length}`);
      const client = db.client as PgClient;
      if (db.isTransaction || client.config.client !== 'pg') return viaKnex<T>(db, values);
      // knex's own events, so listeners on `knex.on('query' | 'query-response' | 'query-error')` see these statements too.
      const query = { method: 'raw', sql: text, bindings: values, name };
      client.emit('query', query);
      let rows: T[] | null;
      try {
        rows = await withPooledConnection(client, (connection) => runNamed<T>(connection, name, text, values));
      } catch (err) {
        client.emit('query-error', err, query);
        throw err;
      }
      // The statement no longer fits its connection (which the pool now drops): once more, unprepared.
      if (rows === null) return viaKnex<T>(db, values);
      client.emit('query-response', rows, query);
      return rows;
    },
  };
}

/** Runs a named statement; null when it no longer fits the connection (STALE_STATEMENT), which is then marked for the pool to destroy. */
async function runNamed<T>(connection: PgConnection, name: string, text: string, values: unknown[]): Promise<T[] | null> {
  try {
    return (await connection.query({ name, text, values })).rows as T[];
  } catch (err) {
    if (!STALE_STATEMENT.has((err as { code?: string }).code ?? '')) throw err;
    connection.__knex__disposed = err;
    return null;
  }
}

/** Lends a connection of knex's pool to `use`, and gives it back whatever happens. */
async function withPooledConnection<T>(client: PgClient, use: (connection: PgConnection) => Promise<T>): Promise<T> {
  const connection = await client.acquireConnection();
  try {
    return await use(connection);
  } finally {
    await client.releaseConnection(connection);
  }
}
