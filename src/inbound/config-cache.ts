import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { PgListener } from '../store/index.js';
export { configChannel } from '../store/index.js';
import type { StoreAvailability } from '../store/index.js';
import type { InboundWebhook, Settings, Store } from '../store/types.js';

/** The sandbox's compile-cache key of a script: its content hash, so equal keys always mean equal code. */
export function scriptKeyOf(script: string): string {
  return createHash('sha256').update(script).digest('hex');
}

/** An inbound webhook with what the request path derives from it once. */
export interface CachedWebhook {
  webhook: InboundWebhook;
  /** Content hash of the script: the sandbox's compile-cache key. */
  scriptKey: string;
}

export interface ConfigCacheOptions {
  store: Store;
  logger: Logger;
  /** How often to ask the database whether another process changed the config (ms). */
  pollMs: number;
  /** Settings to use while the store has none saved. */
  defaultSettings: () => Settings;
  /** Told of every poll's outcome: a successful poll is what marks a lost database available again. */
  availability?: StoreAvailability;
  /**
   * PostgreSQL: LISTEN for the config version bumps of this schema (`configChannel`), so a change made by
   * another process reaches this one at once rather than at the next poll.
   */
  listen?: { connection: pg.ClientConfig; channel: string };
}

/**
 * Provider configs and settings held in memory so a request pays no config query. A change made on this
 * process calls `invalidate()`; a change made by another process sharing the database bumps the store's
 * config version, which is announced by NOTIFY on PostgreSQL (when `listen` is given: the cache checks the
 * version as soon as it hears it) and polled every `pollMs` — that poll bounds how stale another process
 * can be when a notification is missed.
 */
export class ConfigCache {
  readonly #options: ConfigCacheOptions;
  readonly #webhooks = new Map<string, Promise<CachedWebhook | null>>();
  #settings: Promise<Settings> | null = null;
  #version: number | null = null;
  #timer: NodeJS.Timeout | null = null;
  #listener: PgListener | null = null;

  constructor(options: ConfigCacheOptions) {
    this.#options = options;
  }

  /** The provider's webhook (active or not), or null when there is none. */
  getWebhook(provider: string): Promise<CachedWebhook | null> {
    let entry = this.#webhooks.get(provider);
    if (!entry) {
      entry = this.#options.store.findByProvider(provider).then((webhook) =>
        webhook ? { webhook, scriptKey: scriptKeyOf(webhook.jsScript) } : null,
      );
      this.#webhooks.set(provider, entry);
      // A failed lookup (database down) must not be cached.
      entry.catch(() => this.#webhooks.get(provider) === entry && this.#webhooks.delete(provider));
    }
    return entry;
  }

  getSettings(): Promise<Settings> {
    if (!this.#settings) {
      const entry = this.#options.store.getSettings().then((saved) => saved ?? this.#options.defaultSettings());
      this.#settings = entry;
      entry.catch(() => {
        if (this.#settings === entry) this.#settings = null;
      });
    }
    return this.#settings;
  }

  invalidate(): void {
    this.#webhooks.clear();
    this.#settings = null;
  }

  async start(): Promise<void> {
    this.#version = await this.#options.store.getConfigVersion();
    this.#timer = setInterval(() => void this.#poll(), this.#options.pollMs);
    this.#timer.unref();
    const listen = this.#options.listen;
    if (listen) {
      this.#listener = new PgListener({ ...listen, onNotify: () => void this.#poll(), logger: this.#options.logger });
      await this.#listener.start();
    }
  }

  stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    const listener = this.#listener;
    this.#listener = null;
    return listener ? listener.stop() : Promise.resolve();
  }

  async #poll(): Promise<void> {
    try {
      const version = await this.#options.store.getConfigVersion();
      this.#options.availability?.succeeded();
      if (version !== this.#version) {
        this.#version = version;
        this.invalidate();
      }
    } catch (err) {
      this.#options.availability?.failed(err);
      this.#options.logger.warn('config version poll failed', { err: String(err) });
    }
  }
}
