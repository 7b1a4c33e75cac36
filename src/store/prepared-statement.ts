import type { Knex } from 'knex';

/** What node-postgres's client offers here: a query by name, parsed once per connection. */
interface PgConnection {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

/**
 * A statement the delivery queue runs thousands of times a second, written once with knex's `?`
 * placeholders. On PostgreSQL it runs as a named prepared statement on a pooled connection of the knex
 * instance, past knex's query runner: each connection parses it once, and PostgreSQL may keep its plan, where
 * `knex.raw` would have it parsed and planned on every call (a quarter of the queue's time in the database,
 * measured with pg_stat_statements). On PGlite, or inside a transaction, it runs through `knex.raw` as any
 * other statement. Either way knex's `query` events are emitted for it.
 *
 * The SQL must use `?` only as placeholders: no `??` identifiers, no jsonb `?` operators.
 *
 * @example
 * const COUNT_DUE = new PreparedStatement('hookgate_count_due', 'select count(*)::int as n from outbound_deliveries where available_at <= ?::timestamptz');
 * const [row] = await COUNT_DUE.rows<{ n: number }>(knex, [new Date().toISOString()]);
 */
export class PreparedStatement {
  readonly name: string;
  readonly sql: string;
  /** The same text with `$1`, `$2`… as PostgreSQL's protocol takes it. */
  readonly #native: string;
  readonly #params: number;

  constructor(name: string, sql: string) {
    if (sql.includes('??')) throw new TypeError(`PreparedStatement ${name}: '??' identifiers cannot be prepared`);
    let params = 0;
    this.#native = sql.replace(/\?/g, () => `$${++params}`);
    this.name = name;
    this.sql = sql;
    this.#params = params;
  }

  /** Runs the statement with `values` (one per `?`, in order) and returns its rows. */
  async rows<T>(db: Knex | Knex.Transaction, values: unknown[]): Promise<T[]> {
    if (values.length !== this.#params) throw new TypeError(`PreparedStatement ${this.name}: ${this.#params} values expected, got ${values.length}`);
    const client = db.client as Knex.Client & { acquireConnection(): Promise<PgConnection>; releaseConnection(connection: PgConnection): Promise<unknown> };
    if (db.isTransaction || client.config.client !== 'pg') {
      return ((await db.raw(this.sql, values as Knex.RawBinding[])) as { rows?: T[] }).rows ?? [];
    }
    // knex's own events, so listeners on `knex.on('query' | 'query-response' | 'query-error')` see these statements too.
    const query = { method: 'raw', sql: this.#native, bindings: values, name: this.name };
    const connection = await client.acquireConnection();
    try {
      client.emit('query', query);
      const { rows } = await connection.query({ name: this.name, text: this.#native, values });
      client.emit('query-response', rows, query);
      return rows as T[];
    } catch (err) {
      client.emit('query-error', err, query);
      throw err;
    } finally {
      await client.releaseConnection(connection);
    }
  }
}
