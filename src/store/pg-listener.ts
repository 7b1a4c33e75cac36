import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import pg from 'pg';
import type { Logger } from '../logger.js';

/**
 * The NOTIFY channel of a schema: several hookgate installations (or test schemas) on one database must
 * not wake each other. A hash keeps it a short, plain identifier.
 */
export function notifyChannel(schema: string): string {
  return `hookgate_outbound_${createHash('sha256').update(schema).digest('hex').slice(0, 16)}`;
}

/**
 * The NOTIFY channel on which a schema's config version bumps are announced. Sent by the version trigger
 * (migration 0011), so the name is one SQL can compute: `'hookgate_config_' || substr(md5(schema), 1, 16)`.
 */
export function configChannel(schema: string): string {
  return `hookgate_config_${createHash('md5').update(schema).digest('hex').slice(0, 16)}`;
}

/** `application_name` of the listener connection of a channel (`hookgate-listen-…`, `hookgate-listen-config-…`). */
export function listenerName(channel: string): string {
  return channel.replace('hookgate_outbound_', 'hookgate-listen-').replace('hookgate_config_', 'hookgate-listen-config-');
}

/** The connection settings knex uses, for a client of our own beside its pool. */
export function pgConnectionConfig(knex: Knex): pg.ClientConfig {
  const connection = (knex.client as { config?: { connection?: unknown } }).config?.connection;
  if (typeof connection === 'string') return { connectionString: connection };
  if (connection && typeof connection === 'object') return { ...(connection as pg.ClientConfig) };
  throw new Error('pgConnectionConfig: knex has no static PostgreSQL connection settings');
}

export interface PgListenerOptions {
  connection: pg.ClientConfig;
  channel: string;
  /** Called on every notification, and after each (re)connect in case some were missed. */
  onNotify: () => void;
  logger: Logger;
  /** First reconnect delay (doubles up to 30 s). */
  reconnectMs?: number;
}

/**
 * LISTEN on a dedicated `pg` client (a pooled connection would lose the LISTEN when it goes back to the
 * pool). Reconnects with back-off when the connection drops; the caller's poll covers the gap.
 */
export class PgListener {
  readonly #options: PgListenerOptions;
  #client: pg.Client | null = null;
  #stopped = true;
  #timer: NodeJS.Timeout | null = null;
  #delayMs: number;

  constructor(options: PgListenerOptions) {
    this.#options = options;
    this.#delayMs = options.reconnectMs ?? 500;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    await this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    // Named after the channel, so an operator (or a test) can tell whose listener a backend is.
    const client = new pg.Client({ ...this.#options.connection, application_name: listenerName(this.#options.channel) });
    client.on('notification', (msg) => {
      if (msg.channel === this.#options.channel) this.#options.onNotify();
    });
    client.on('error', (err) => {
      this.#options.logger.warn('notification listener connection failed', { channel: this.#options.channel, err: err.message });
      this.#reconnectLater(client);
    });
    client.on('end', () => this.#reconnectLater(client));
    try {
      await client.connect();
      await client.query(`listen "${this.#options.channel}"`);
    } catch (err) {
      this.#options.logger.warn('notification listener could not connect; polling until it can', { channel: this.#options.channel, err: (err as Error).message });
      this.#reconnectLater(client);
      return;
    }
    if (this.#stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#delayMs = this.#options.reconnectMs ?? 500;
    this.#options.onNotify();
  }

  #reconnectLater(client: pg.Client): void {
    if (this.#stopped || this.#timer || (this.#client !== null && this.#client !== client)) return;
    this.#client = null;
    client.end().catch(() => undefined);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#connect();
    }, this.#delayMs);
    this.#timer.unref();
    this.#delayMs = Math.min(this.#delayMs * 2, 30_000);
  }
}
