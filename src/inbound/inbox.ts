import type { Knex } from 'knex';
import { jsonb, toIso } from '../store/rows.js';
import { deleteInBatches } from '../store/index.js';
import type { InboundMode, RunRequest } from '../store/types.js';

/** A stored inbound request: what the run needs to (re)run it, and where it is in its life. */
export interface InboxItem {
  id: string;
  webhookId: string | null;
  provider: string;
  deliveryKey: string | null;
  mode: InboundMode;
  status: 'pending' | 'running' | 'done' | 'failed';
  contentType: string;
  /** Lower-cased request headers, credentials removed. */
  headers: Record<string, string>;
  /** The raw body text exactly as received. */
  body: string;
  /** Claims so far (the sync request path's own run counts as one). */
  attempts: number;
  /** The run id every attempt of this item records under. */
  runId: string;
  lastError: string | null;
  receivedAt: string;
  finishedAt: string | null;
}

interface DbInboxItem {
  id: string;
  webhook_id: string | null;
  provider: string;
  delivery_key: string | null;
  mode: InboundMode;
  status: InboxItem['status'];
  content_type: string;
  headers: Record<string, string>;
  body: string;
  attempts: number;
  run_id: string;
  last_error: string | null;
  received_at: Date;
  finished_at: Date | null;
}

function toItem(row: DbInboxItem): InboxItem {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    provider: row.provider,
    deliveryKey: row.delivery_key,
    mode: row.mode,
    status: row.status,
    contentType: row.content_type,
    headers: row.headers,
    body: row.body,
    attempts: Number(row.attempts),
    runId: row.run_id,
    lastError: row.last_error,
    receivedAt: toIso(row.received_at),
    finishedAt: row.finished_at ? toIso(row.finished_at) : null,
  };
}

/** Oldest first through inbox_received_at_idx, skipping rows another process is deleting. */
const PURGE_SQL = `with doomed as (
    select id from inbox where status in ('done', 'failed') and received_at < ?::timestamptz
    order by received_at limit ? for update skip locked
  ), gone as (
    delete from inbox i using doomed where i.id = doomed.id returning 1
  )
  select count(*)::int as n from gone`;

/** A stored request as `requestOf` reads it back. */
export interface StoredRequest extends RunRequest {
  /** The run's `inboxId`. */
  id: string;
  /** When the request arrived; for a replay's copy, when the replay ran. */
  receivedAt: string;
  /** Stored in the run's own row rather than an inbox row (a replay stores its copy the same way). */
  inRunRow: boolean;
}

/** Requests kept in run rows (see `requestOf`) are cleared like finished inbox rows: oldest first, skipping locked rows. */
const CLEAR_RUN_REQUESTS_SQL = `with doomed as (
    select id from runs where request_body is not null and created_at < ?::timestamptz
    order by created_at limit ? for update skip locked
  ), cleared as (
    update runs r set request_content_type = null, request_headers = null, request_body = null
    from doomed where r.id = doomed.id returning 1
  )
  select count(*)::int as n from cleared`;

export type NewInboxItem = Pick<InboxItem, 'id' | 'webhookId' | 'provider' | 'deliveryKey' | 'mode' | 'contentType' | 'headers' | 'body' | 'runId'>;

export interface AcceptOptions {
  /** How long a delivery id is remembered (seconds). */
  retentionSec: number;
  /** Sync: the answering process holds the item (`running`) for this long; a crash lets a worker take it after. */
  leaseMs: number;
}

/**
 * The inbox table's queries. A request with a delivery id, or for an async webhook, is stored here before
 * it runs: the row carries the idempotency guarantee (a unique index on (provider, delivery_key)), survives
 * a crash, and keeps the payload a run can be replayed from. A sync request without a delivery id has none of
 * that to carry and is kept in its run's row instead (`requestOf` reads either).
 */
export class Inbox {
  readonly #knex: Knex;

  constructor(knex: Knex) {
    this.#knex = knex;
  }

  /**
   * Stores a request. Returns false when its delivery id was already stored within the retention window
   * (a duplicate: nothing was written). Sync items are stored `running` under a lease held by the caller;
   * async ones `pending` for a worker.
   */
  async accept(item: NewInboxItem, options: AcceptOptions): Promise<boolean> {
    if (await this.#insert(item, options)) return true;
    if (item.deliveryKey === null) return false;
    // The id is taken. If it is older than the window, release it (its row and payload are kept) and try
    // once more; two processes doing this at once are still serialised by the unique index.
    const released = await this.#knex('inbox')
      .where({ provider: item.provider, delivery_key: item.deliveryKey })
      .andWhereRaw(`received_at < now() - ?::int * interval '1 second'`, [options.retentionSec])
      .update({ delivery_key: null })
      .returning('id');
    return released.length > 0 && (await this.#insert(item, options));
  }

  async #insert(item: NewInboxItem, options: AcceptOptions): Promise<boolean> {
    const sync = item.mode === 'sync';
    const rows = await this.#knex
      .raw(
        `insert into inbox (id, webhook_id, provider, delivery_key, mode, status, content_type, headers, body, attempts, lease_until, run_id)
         values (?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ${sync ? `now() + ?::int * interval '1 millisecond'` : 'null'}, ?)
         on conflict (provider, delivery_key) where delivery_key is not null do nothing
         returning id`,
        [
          item.id,
          item.webhookId,
          item.provider,
          item.deliveryKey,
          item.mode,
          sync ? 'running' : 'pending',
          item.contentType,
          jsonb(item.headers),
          item.body,
          sync ? 1 : 0,
          ...(sync ? [Math.round(options.leaseMs)] : []),
          item.runId,
        ],
      )
      .then((result: { rows?: unknown[] }) => result.rows ?? []);
    return rows.length > 0;
  }

  /**
   * Claims up to `limit` items to run: due `pending` ones and `running` ones whose lease ran out (their
   * process died). `FOR UPDATE SKIP LOCKED` lets several processes claim side by side without waiting.
   */
  async claim(limit: number, leaseMs: number): Promise<InboxItem[]> {
    const result = await this.#knex.raw(
      `update inbox set status = 'running', attempts = attempts + 1,
              lease_until = now() + ?::int * interval '1 millisecond', available_at = now() + ?::int * interval '1 millisecond'
       where id in (
         select id from inbox
         where status in ('pending', 'running') and available_at <= now() and (status = 'pending' or lease_until < now())
         order by available_at
         limit ?
         for update skip locked)
       returning *`,
      [Math.round(leaseMs), Math.round(leaseMs), limit],
    );
    return ((result as { rows: DbInboxItem[] }).rows ?? []).map(toItem);
  }

  /** Marks an item finished (`done` or `failed`). */
  async finish(id: string, status: 'done' | 'failed', error: string | null = null): Promise<void> {
    await this.#knex('inbox').where('id', id).update({ status, last_error: error, lease_until: null, finished_at: this.#knex.fn.now() });
  }

  /** Puts a claimed item back to wait `delayMs` (the sandbox was busy, or a crashed run gets another try). */
  async release(id: string, delayMs: number, error: string | null, options: { refundAttempt?: boolean; newRunId?: string } = {}): Promise<void> {
    const { refundAttempt = false, newRunId } = options;
    await this.#knex('inbox')
      .where('id', id)
      .update({
        ...(newRunId ? { run_id: newRunId } : {}),
        status: 'pending',
        lease_until: null,
        last_error: error,
        available_at: this.#knex.raw(`now() + ?::int * interval '1 millisecond'`, [Math.round(delayMs)]),
        ...(refundAttempt ? { attempts: this.#knex.raw('greatest(attempts - 1, 0)') } : {}),
      });
  }

  /** Forgets a sync item that was never run (the sandbox refused it): the sender's retry must not be a duplicate. */
  async remove(id: string): Promise<void> {
    await this.#knex('inbox').where('id', id).del();
  }

  async get(id: string): Promise<InboxItem | null> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return null;
    const row = await this.#knex<DbInboxItem>('inbox').where('id', id).first();
    return row ? toItem(row) : null;
  }
  /**
   * The stored request a run processed, for display and replay: its inbox row, or — for a sync request
   * without a delivery id — the copy in the run's own row. null when there is none (an ignored-before-
   * storage or rejected run, a purged one, or a run whose row stores no request).
   */
  async requestOf(run: { id: string; inboxId?: string | null }): Promise<StoredRequest | null> {
    if (!run.inboxId) return null;
    const row = await this.#knex('runs')
      .where('id', run.id)
      .whereNotNull('request_body')
      .first<{ request_content_type: string; request_headers: Record<string, string>; request_body: string; created_at: Date } | undefined>('request_content_type', 'request_headers', 'request_body', 'created_at');
    if (row) return { id: run.inboxId, contentType: row.request_content_type, headers: row.request_headers, body: row.request_body, receivedAt: toIso(row.created_at), inRunRow: true };
    const item = await this.get(run.inboxId);
    return item ? { id: item.id, contentType: item.contentType, headers: item.headers, body: item.body, receivedAt: item.receivedAt, inRunRow: false } : null;
  }


  /**
   * Deletes finished items received before `before`, 500 rows a statement, at most `maxBatches` statements
   * (default 20); `more` says older ones are left for the next call. Pending and running items stay.
   */
  purge(before: Date, maxBatches = 20): Promise<{ count: number; more: boolean }> {
    return deleteInBatches(this.#knex, PURGE_SQL, before, 500, maxBatches);
  }

  /**
   * Clears the requests kept in run rows (sync, no delivery id) of runs created before `before`, like
   * `purge` (500 rows a statement, at most `maxBatches`): the run stays, its request is gone.
   */
  clearRunRequests(before: Date, maxBatches = 20): Promise<{ count: number; more: boolean }> {
    return deleteInBatches(this.#knex, CLEAR_RUN_REQUESTS_SQL, before, 500, maxBatches);
  }
}
