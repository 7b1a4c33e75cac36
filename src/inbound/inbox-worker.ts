import { AppError, coerceError, isAppError } from '../errors.js';
import { requestIdOf } from '../http/request-id.js';
import type { Logger } from '../logger.js';
import { uuidv7 } from '../store/index.js';
import type { RunRecord } from '../store/types.js';
import type { ConfigCache } from './config-cache.js';
import type { InboundHandler } from './inbound-handler.js';
import type { Inbox, InboxItem } from './inbox.js';
import { bodyKindOf, parseBody } from './request-body.js';
import type { RunRecorder } from './run-recorder.js';

export interface InboxWorkerOptions {
  inbox: Inbox;
  handler: InboundHandler;
  cache: ConfigCache;
  recorder: RunRecorder;
  logger: Logger;
  /** Items run at once by this process (default 4). */
  concurrency?: number;
  /** How often to look for due items when not woken (default 500 ms). */
  pollMs?: number;
  /** Claims of one item before it is given up as `failed` (default 5). */
  maxAttempts?: number;
  /** Finished items older than this are deleted (default 30 days; 0 = never). */
  purgeAfterSec?: number;
  /** Deletes run records created before a time (the knex store's `pruneRuns`); null = runs are not pruned here. */
  pruneRuns?: ((before: Date) => Promise<{ count: number; more: boolean }>) | null;
  /** Run records older than this are deleted with `pruneRuns` (default 30 days; 0 = never). */
  runRetentionSec?: number;
  random?: () => number;
}

const PURGE_EVERY_MS = 3600_000;
/** After a purge that stopped at its bound: 10,000 rows a table a second keeps up with any inbound rate. */
const PURGE_CATCH_UP_MS = 1000;
const RECORD_WRITE_ATTEMPTS = 3;
const RECORD_RETRY_MS = 500;

/**
 * Runs stored inbound requests: async ones, and sync ones whose process died before finishing them (their
 * lease runs out). A run whose sandbox process crashed is tried again with back-off, up to `maxAttempts`
 * claims; the run id stays the same on every attempt, so an item leaves one run record.
 */
export class InboxWorker {
  readonly #o: Required<Omit<InboxWorkerOptions, 'random'>> & { random: () => number };
  #timer: NodeJS.Timeout | null = null;
  #running = 0;
  #polling: Promise<void> | null = null;
  #again = false;
  #stopped = true;
  /** `performance.now()` from which the next purge is due: hourly on a monotonic clock, whatever the wall clock does. */
  #nextPurgeAt = 0;
  #purging: Promise<void> | null = null;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(options: InboxWorkerOptions) {
    this.#o = { concurrency: 4, pollMs: 500, maxAttempts: 5, purgeAfterSec: 30 * 86400, pruneRuns: null, runRetentionSec: 30 * 86400, random: Math.random, ...options };
  }

  start(): void {
    this.#stopped = false;
    this.#timer = setInterval(() => this.wake(), this.#o.pollMs);
    this.#timer.unref();
    this.wake();
  }

  /** Looks for due items now (called when this process stored one). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#polling) {
      this.#again = true;
      return;
    }
    this.#polling = this.#poll().finally(() => {
      this.#polling = null;
      if (this.#again) {
        this.#again = false;
        this.wake();
      }
    });
  }

  /** Stops claiming and waits for the runs in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#polling;
    await Promise.all([...this.#inFlight, this.#purging]);
  }

  async #poll(): Promise<void> {
    try {
      const free = this.#o.concurrency - this.#running;
      if (free <= 0) return;
      const items = await this.#o.inbox.claim(free, this.#o.handler.leaseMs);
      for (const item of items) {
        this.#running += 1;
        const run = this.#runItem(item).finally(() => {
          this.#running -= 1;
          this.#inFlight.delete(run);
          this.wake();
        });
        this.#inFlight.add(run);
      }
      if (items.length === free) this.#again = true;
      this.#startPurge();
    } catch (err) {
      // A background loop never throws to the top: the next poll tries again.
      this.#o.logger.warn('inbox poll failed', { err: String(err) });
    }
  }

  /**
   * Hourly: finished items (and requests kept in run rows) past `purgeAfterSec` and run records past `runRetentionSec` go, in bounded
   * batches. A purge that stopped at its bound with rows left comes back a second later, not an hour.
   */
  #startPurge(): void {
    if (this.#purging !== null || performance.now() < this.#nextPurgeAt) return;
    // Not awaited by the poll: deleting old rows never holds up claiming due items.
    this.#purging = this.#purge()
      .catch((err: unknown) => {
        this.#o.logger.warn('inbox purge failed; trying again at the next interval', { err: String(err) });
      })
      .finally(() => {
        this.#purging = null;
      });
  }

  async #purge(): Promise<void> {
    this.#nextPurgeAt = performance.now() + PURGE_EVERY_MS;
    const { inbox, pruneRuns, purgeAfterSec, runRetentionSec, logger } = this.#o;
    let more = false;
    if (purgeAfterSec > 0) {
      const before = new Date(Date.now() - purgeAfterSec * 1000);
      const items = await inbox.purge(before);
      if (items.count > 0) logger.info('old inbox items deleted', { removed: items.count });
      const requests = await inbox.clearRunRequests(before);
      if (requests.count > 0) logger.info('old requests kept in run records cleared', { cleared: requests.count });
      more ||= items.more || requests.more;
    }
    if (runRetentionSec > 0 && pruneRuns) {
      const runs = await pruneRuns(new Date(Date.now() - runRetentionSec * 1000));
      if (runs.count > 0) logger.info('old run records deleted', { removed: runs.count });
      more ||= runs.more;
    }
    if (more) this.#nextPurgeAt = performance.now() + PURGE_CATCH_UP_MS;
  }

  async #runItem(item: InboxItem): Promise<void> {
    const { inbox, logger } = this.#o;
    try {
      if (item.attempts > this.#o.maxAttempts) {
        this.#recordGiveUp(item, `Given up after ${item.attempts - 1} attempts: ${item.lastError ?? 'the process running it stopped'}`);
        await this.#recordsWritten();
        await inbox.finish(item.id, 'failed', item.lastError ?? 'attempts exhausted');
        return;
      }
      const cached = await this.#o.cache.getWebhook(item.provider);
      if (!cached || cached.webhook.id !== item.webhookId) {
        this.#recordGiveUp(item, `The inbound webhook for ${item.provider} no longer exists.`);
        await this.#recordsWritten();
        await inbox.finish(item.id, 'failed', 'webhook deleted');
        return;
      }
      const body = parseBody(bodyKindOf(item.contentType) ?? 'json', item.body);
      // The id the request was answered with: the sender's stored X-Request-Id, else (the default) the run id.
      const requestId = requestIdOf(item.headers['x-request-id']) ?? undefined;
      const record = await this.#o.handler.process(cached, { runId: item.runId, inboxId: item.id, body, headers: item.headers, requestId });
      // The run record is written before the item is marked: a process that dies in between leaves an item
      // that runs again (its record under the same id is written once), never a finished item without a record.
      await this.#recordsWritten();
      if (record.status === 'crashed' && record.error?.code === 'sandbox_closed') {
        // Cut off by this engine's shutdown, not the item's fault: back to the queue without using an attempt.
        await inbox.release(item.id, 0, 'sandbox_closed', { newRunId: uuidv7(), refundAttempt: true });
        return;
      }
      if (record.status === 'crashed' && item.attempts < this.#o.maxAttempts) {
        // The crashed attempt keeps its run record; the next one records under a new run id.
        await inbox.release(item.id, this.#backoffMs(item.attempts), record.error?.message ?? 'sandbox crashed', { newRunId: uuidv7() });
        return;
      }
      await inbox.finish(item.id, record.status === 'crashed' ? 'failed' : 'done', record.error?.code ?? null);
    } catch (err) {
      if (isAppError(err) && (err.code === 'sandbox_busy' || err.code === 'sandbox_closed' || err.code === 'database_unavailable')) {
        // Not the item's fault: it waits a little without using up an attempt (with the database gone, the
        // release fails too and the item waits for its lease to run out).
        await inbox.release(item.id, 1000, err.code, { refundAttempt: true }).catch(() => undefined);
        return;
      }
      logger.error('inbox item failed', { inboxId: item.id, err: coerceError(err).message });
      await inbox.release(item.id, this.#backoffMs(item.attempts), coerceError(err).message).catch(() => undefined);
    }
  }

  /**
   * Waits until the run records handed in so far are written, flushing up to RECORD_WRITE_ATTEMPTS times
   * RECORD_RETRY_MS apart (a passing hiccup does not make the item run again). Throws
   * `database_unavailable` when they are still not written: the item then goes back to the queue.
   */
  async #recordsWritten(): Promise<void> {
    for (let attempt = 0; attempt < RECORD_WRITE_ATTEMPTS; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, RECORD_RETRY_MS));
      if (await this.#o.recorder.flush()) return;
    }
    throw new AppError('database_unavailable', 'The run record could not be written; the item runs again later.');
  }

  #backoffMs(attempts: number): number {
    return Math.min(1000 * 2 ** Math.max(attempts - 1, 0), 60_000) * (0.5 + this.#o.random());
  }

  #recordGiveUp(item: InboxItem, message: string): void {
    const record: RunRecord = {
      id: item.runId,
      webhookId: item.webhookId,
      provider: item.provider,
      eventType: null,
      status: 'crashed',
      durationMs: 0,
      scriptVersion: null,
      actionsCalled: [],
      logs: [],
      error: { code: 'inbox_gave_up', message },
      emittedEvent: null,
      createdAt: new Date().toISOString(),
      inboxId: item.id,
    };
    this.#o.recorder.record(record);
  }
}
