import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import { RELAXED_COMMIT } from './delivery-queue.js';
import { deleteInBatches } from '../store/index.js';

/*
 * Retention of the delivery log: finished deliveries (succeeded or failed) whose completion is older than
 * the retention go, with their attempts (ON DELETE CASCADE), and then the messages older than that which
 * no delivery references any more. Open deliveries — pending, or leased and being sent — are never
 * touched, whatever their age.
 *
 * Bounded and batched: each statement deletes at most `batchSize` rows and commits on its own, so no long
 * lock or transaction; a run stops after `maxBatches` statements per table. Rows are taken with
 * FOR UPDATE SKIP LOCKED, so several processes pruning at once share the work instead of waiting on or
 * deadlocking with one another, and a delivery being redelivered at that moment is skipped.
 */

export interface PruneOptions {
  /** Finished deliveries completed before this, and unreferenced messages created before it, go. */
  before: Date;
  /** Rows per statement (default 500). */
  batchSize?: number;
  /** Statements per table in this run (default 20). */
  maxBatches?: number;
}

export interface PruneResult {
  deliveries: number;
  messages: number;
  /** The run stopped at `maxBatches` with rows still to delete. */
  more: boolean;
}

// Both commit without waiting for the disk (RELAXED_COMMIT): a delete lost with a database crash is redone next run.
const DELETE_FINISHED_DELIVERIES = `
with doomed as (
  select id from outbound_deliveries
  where status in ('succeeded', 'failed') and completed_at < ?::timestamptz
  order by completed_at
  limit ?
  for update skip locked
), ${RELAXED_COMMIT}, gone as (
  delete from outbound_deliveries d using doomed, relaxed where d.id = doomed.id returning 1
)
select count(*)::int as n from gone`;

const DELETE_UNREFERENCED_MESSAGES = `
with doomed as (
  select m.id from outbound_messages m
  where m.created_at < ?::timestamptz
    and not exists (select 1 from outbound_deliveries d where d.message_id = m.id)
  order by m.created_at
  limit ?
  for update of m skip locked
), ${RELAXED_COMMIT}, gone as (
  delete from outbound_messages m using doomed, relaxed where m.id = doomed.id returning 1
)
select count(*)::int as n from gone`;

/**
 * One bounded prune of the delivery log. Deliveries first, so the messages they leave unreferenced go in
 * the same run.
 *
 * @example
 * await pruneDeliveryLog(knex, { before: new Date(Date.now() - 30 * 86_400_000) });
 */
export async function pruneDeliveryLog(knex: Knex, options: PruneOptions): Promise<PruneResult> {
  const batchSize = options.batchSize ?? 500;
  const maxBatches = options.maxBatches ?? 20;
  const deliveries = await deleteInBatches(knex, DELETE_FINISHED_DELIVERIES, options.before, batchSize, maxBatches);
  const messages = await deleteInBatches(knex, DELETE_UNREFERENCED_MESSAGES, options.before, batchSize, maxBatches);
  return { deliveries: deliveries.count, messages: messages.count, more: deliveries.more || messages.more };
}

export interface RetentionConfig {
  /** How long finished deliveries are kept, in days; 0 keeps them forever. */
  retentionDays: number;
  /** Time between two prunes (a run that stopped at its bound is followed after `catchUpMs` instead). */
  intervalMs: number;
}

export interface DeliveryLogPrunerOptions {
  knex: Knex;
  config: RetentionConfig;
  now: () => number;
  random: () => number;
  logger: Logger;
  /** Told after every run (tests wait on it). */
  onPruned?: (result: PruneResult) => void;
}

/** The pause before the next run when the last one stopped at its bound with rows left. */
const CATCH_UP_MS = 1000;
/** The first run comes within this after start (randomised, so restarted processes do not prune in step). */
const FIRST_RUN_SPREAD_MS = 60_000;
const DAY_MS = 86_400_000;

/**
 * Runs `pruneDeliveryLog` periodically in a delivery worker process. Never throws: a failed run is logged
 * and the next one comes at the usual interval.
 */
export class DeliveryLogPruner {
  readonly #options: DeliveryLogPrunerOptions;
  #timer: NodeJS.Timeout | null = null;
  #run: Promise<void> | null = null;
  #stopped = true;

  constructor(options: DeliveryLogPrunerOptions) {
    this.#options = options;
  }

  start(): void {
    if (!this.#stopped || this.#options.config.retentionDays <= 0) return;
    this.#stopped = false;
    this.#schedule(this.#options.random() * Math.min(this.#options.config.intervalMs, FIRST_RUN_SPREAD_MS));
  }

  /** Cancels the next run and waits for one in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#run;
  }

  /** One prune now, with the configured retention (nothing when it keeps everything). */
  async pruneNow(): Promise<PruneResult> {
    const { retentionDays } = this.#options.config;
    if (retentionDays <= 0) return { deliveries: 0, messages: 0, more: false };
    return pruneDeliveryLog(this.#options.knex, { before: new Date(this.#options.now() - retentionDays * DAY_MS) });
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#run = this.#runOnce().finally(() => {
        this.#run = null;
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #runOnce(): Promise<void> {
    const { logger, config } = this.#options;
    let next = config.intervalMs;
    try {
      const result = await this.pruneNow();
      if (result.deliveries > 0 || result.messages > 0) logger.info('old deliveries deleted', { ...result, retentionDays: config.retentionDays });
      if (result.more) next = Math.min(CATCH_UP_MS, config.intervalMs);
      this.#options.onPruned?.(result);
    } catch (err) {
      logger.warn('delivery log prune failed; trying again at the next interval', { err: (err as Error).message });
    }
    this.#schedule(next);
  }
}
