import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import { preparedStatement } from '../store/prepared-statement.js';
import { RELAXED_COMMIT } from './delivery-queue.js';
import { disableEndpoint, recordFailure, recordSuccess, type DisablePolicy } from './endpoint-health.js';
import { GroupCommit } from './group-commit.js';
import type { AttemptError } from './http-transport.js';
import { rowsOf } from './rows.js';
import type { DeliveryAttempt, WebhookDisabledData } from './types.js';

type Db = Knex | Knex.Transaction;

/*
 * The completion: an attempt recorded and its delivery moved on — one at a time (`completeDelivery`, in a
 * short transaction) or many in one statement (`CompletionWriter`).
 */

/** Completions written in one statement at most. */
const MAX_BATCH = 500;
/** Waits before each new try of a batch of completions that failed on a transient error (6.1 s in all). */
const COMPLETION_RETRY_DELAYS_MS = [100, 400, 1600, 4000];

/**
 * Group commit of completions (see `GroupCommit`): one statement, committed without waiting for the disk
 * (`RELAXED_COMMIT`), records the attempts that finished while the previous one was being written.
 *
 * Only completions that cannot change the endpoint's state are batched — successes, retries and failures
 * of test pings, skipped deliveries; an attempt that counts as a failure for the endpoint's health (and
 * may disable it) goes through `completeDelivery` on its own, as before.
 */
export class CompletionWriter {
  readonly #knex: Knex;
  readonly #batches: GroupCommit<CompleteInput, Completed>;

  constructor(knex: Knex, logger: Logger) {
    this.#knex = knex;
    this.#batches = new GroupCommit({
      writeBatch: async (inputs) => {
        const held = await writeCompletions(knex, inputs);
        return inputs.map((input) => ({ leaseHeld: held.has(input.deliveryId), disabled: null }));
      },
      writeOne: (input) => completeDelivery(knex, input),
      maxBatch: MAX_BATCH,
      logger,
      what: 'completions',
      // Through a database restart of a few seconds: a completion given up leaves its delivery to be sent
      // again once its lease runs out, though the receiver already has it.
      retryDelaysMs: COMPLETION_RETRY_DELAYS_MS,
      retryWithinMs: 8000,
    });
  }

  /** Records the attempt and moves the delivery on; resolves once committed. */
  complete(input: CompleteInput): Promise<Completed> {
    if (input.health?.ok === false) return completeDelivery(this.#knex, input);
    return this.#batches.submit(input);
  }

  /** Resolves once everything handed in so far is written (or has failed). */
  flush(): Promise<void> {
    return this.#batches.flush();
  }

  /** A shutdown: a batch that fails from now on is given up at once (see `GroupCommit.stopRetrying`). */
  stopRetrying(): void {
    this.#batches.stopRetrying();
  }

  resumeRetrying(): void {
    this.#batches.resumeRetrying();
  }
}

/*
 * Many completions in one statement: the deliveries' new states (each only while its lease token still
 * holds it), their attempts (unless the delivery is gone — its webhook was deleted), and one success per
 * endpoint. Returns the ids whose lease was still held.
 */
export const WRITE_COMPLETIONS = preparedStatement('hookgate_write_completions', `
with ${RELAXED_COMMIT}, batch as materialized (
  select jsonb_array_elements_text(?::jsonb)::uuid as id
), present as materialized (
  -- The batch's deliveries by primary key, whatever the planner thinks of the row count of a JSON
  -- argument (it guesses 100, and on a young table it would rather scan every row than look 100 up).
  select d.id from outbound_deliveries d where d.id = any (array(select id from batch))
), updated as (
  update outbound_deliveries d set
    status = v.status, available_at = v.available_at, lease_token = null, lease_owner = null,
    round_attempts = d.round_attempts - (case when v.uncounted then 1 else 0 end),
    last_status_code = v.last_status_code, last_error = v.last_error, updated_at = v.now, completed_at = v.completed_at
  from relaxed, jsonb_to_recordset(?::jsonb) as v(id uuid, lease_token uuid, status text, available_at timestamptz,
    last_status_code integer, last_error jsonb, now timestamptz, completed_at timestamptz, uncounted boolean)
  -- No status test: a lease token is set only while a row is sending (every write that moves a row out of
  -- sending clears it), and a test on status would let the planner scan every sending row by the status index.
  where d.id = any (array(select id from batch)) and d.id = v.id and d.lease_token = v.lease_token
  returning d.id
), attempts as (
  insert into outbound_attempts
    (id, delivery_id, attempt_number, worker, started_at, duration_ms, status_code, response_excerpt, response_truncated, error, outcome)
  select a.id, a.delivery_id, a.attempt_number, a.worker, a.started_at, a.duration_ms, a.status_code, a.response_excerpt,
    a.response_truncated, a.error, a.outcome
  from jsonb_to_recordset(?::jsonb) as a(id uuid, delivery_id uuid, attempt_number integer, worker text, started_at timestamptz,
    duration_ms double precision, status_code integer, response_excerpt text, response_truncated boolean, error jsonb, outcome text)
  where a.delivery_id in (select id from present)
  on conflict (delivery_id, attempt_number) do nothing
), health as (
  insert into outbound_endpoint_health as h (webhook_id, consecutive_failures, failing_since, last_success_at)
  select s.webhook_id, 0, null, s.at from jsonb_to_recordset(?::jsonb) as s(webhook_id uuid, at timestamptz)
  where exists (select 1 from webhooks w where w.id = s.webhook_id)
  on conflict (webhook_id) do update set consecutive_failures = 0, failing_since = null, last_success_at = excluded.last_success_at
)
select id from updated`);

/** Writes many completions in one statement (see WRITE_COMPLETIONS); returns the ids whose lease was still held. */
export async function writeCompletions(knex: Knex, inputs: readonly CompleteInput[]): Promise<Set<string>> {
  // One pass, each instant formatted once: this runs for every delivery.
  const deliveries: Array<Record<string, unknown>> = [];
  const attempts: Array<Record<string, unknown>> = [];
  // One row per endpoint (an upsert may not touch a row twice), in id order so that concurrent batches
  // lock health rows in the same order and cannot deadlock.
  const successes = new Map<string, string>();
  for (const input of inputs) {
    const at = input.now.toISOString();
    const { next } = input;
    const delivery: Record<string, unknown> = {
      id: input.deliveryId,
      lease_token: input.leaseToken,
      status: next.status,
      available_at: next.status === 'pending' ? next.availableAt.toISOString() : at,
      last_status_code: input.lastStatusCode,
      last_error: input.lastError,
      now: at,
      completed_at: next.status === 'pending' ? null : at,
    };
    // Absent (null in SQL) unless set: the common case sends nothing more.
    if (input.uncounted) delivery.uncounted = true;
    deliveries.push(delivery);
    const { attempt } = input;
    if (attempt) {
      attempts.push({
        id: attempt.id,
        delivery_id: input.deliveryId,
        attempt_number: attempt.number,
        worker: attempt.worker,
        started_at: attempt.startedAt.toISOString(),
        duration_ms: attempt.durationMs,
        status_code: attempt.statusCode,
        response_excerpt: attempt.responseExcerpt,
        response_truncated: attempt.responseTruncated,
        error: attempt.error,
        outcome: attempt.outcome,
      });
    }
    if (input.health?.ok === true && (successes.get(input.webhookId) ?? '') < at) successes.set(input.webhookId, at);
  }
  const health = [...successes].sort(([a], [b]) => (a < b ? -1 : 1)).map(([webhook_id, at]) => ({ webhook_id, at }));

  const rows = await WRITE_COMPLETIONS.rows<{ id: string }>(knex, [
    JSON.stringify(inputs.map((input) => input.deliveryId)),
    JSON.stringify(deliveries),
    JSON.stringify(attempts),
    JSON.stringify(health),
  ]);
  return new Set(rows.map((r) => r.id));
}

/** One attempt to log: the attempt the admin API shows, with its start as a Date. */
export type AttemptRecord = Omit<DeliveryAttempt, 'startedAt'> & { startedAt: Date };

export interface CompleteInput {
  deliveryId: string;
  webhookId: string;
  leaseToken: string;
  now: Date;
  /** null when nothing was sent (e.g. the endpoint was inactive). */
  attempt: AttemptRecord | null;
  next: { status: 'succeeded' } | { status: 'failed' } | { status: 'pending'; availableAt: Date };
  lastStatusCode: number | null;
  lastError: AttemptError | null;
  /** How this attempt counts for the endpoint's health; null for test pings and unsent deliveries. */
  health: null | { ok: true } | { ok: false; disable: 'gone' | DisablePolicy };
  /**
   * The attempt was cut short by this process's own shutdown: it is logged, but gives back the place the
   * claim took in the delivery's retry budget (as a release does), so restarts never use that budget up.
   */
  uncounted?: boolean;
}

export interface Completed {
  /** false when the lease had expired and another worker holds the delivery now (the attempt is still logged). */
  leaseHeld: boolean;
  /** Set when this completion disabled the endpoint. */
  disabled: WebhookDisabledData | null;
}

/**
 * Records an attempt and moves the delivery on, in one short transaction: the attempt row, the delivery's
 * new status (only while our lease token still holds it), and the endpoint's health — which may disable
 * the endpoint (410 at once, or after failing for the configured stretch). The worker batches the
 * common completions instead (`CompletionWriter`); this is the one-at-a-time path.
 */
export async function completeDelivery(knex: Knex, input: CompleteInput): Promise<Completed> {
  return knex.transaction(async (trx) => {
    const { next } = input;
    const finished = next.status !== 'pending';
    const updated = rowsOf<{ id: string }>(
      await trx.raw(
        `update outbound_deliveries set
           status = ?, available_at = ?::timestamptz, lease_token = null, lease_owner = null, round_attempts = round_attempts - ?,
           last_status_code = ?, last_error = ?::jsonb, updated_at = ?::timestamptz, completed_at = ?::timestamptz
         where id = ? and lease_token = ? and status = 'sending'
         returning id`,
        [
          next.status,
          (next.status === 'pending' ? next.availableAt : input.now).toISOString(),
          input.uncounted ? 1 : 0,
          input.lastStatusCode,
          input.lastError ? JSON.stringify(input.lastError) : null,
          input.now.toISOString(),
          finished ? input.now.toISOString() : null,
          input.deliveryId,
          input.leaseToken,
        ],
      ),
    );
    if (input.attempt) await insertAttempt(trx, input.deliveryId, input.attempt);

    let disabled: WebhookDisabledData | null = null;
    if (input.health?.ok === true) {
      await recordSuccess(trx, input.webhookId, input.now);
    } else if (input.health?.ok === false) {
      const health = await recordFailure(trx, input.webhookId, input.now);
      const policy = input.health.disable;
      const reason =
        policy === 'gone'
          ? 'gone'
          : health && health.consecutiveFailures >= policy.minFailures && input.now.getTime() - health.failingSince.getTime() >= policy.afterMs
            ? 'failing'
            : null;
      if (reason && health) {
        const endpoint = await disableEndpoint(trx, input.webhookId, reason, input.now);
        if (endpoint) {
          disabled = {
            webhookId: input.webhookId,
            url: endpoint.url,
            reason,
            consecutiveFailures: health.consecutiveFailures,
            failingSince: health.failingSince.toISOString(),
            lastStatusCode: input.lastStatusCode,
            lastError: input.lastError,
          };
        }
      }
    }
    return { leaseHeld: updated.length > 0, disabled };
  });
}

/** Inserts an attempt unless its delivery is gone (its webhook was deleted meanwhile). */
async function insertAttempt(db: Db, deliveryId: string, attempt: AttemptRecord): Promise<void> {
  await db.raw(
    `insert into outbound_attempts
       (id, delivery_id, attempt_number, worker, started_at, duration_ms, status_code, response_excerpt, response_truncated, error, outcome)
     select ?, ?, ?, ?, ?::timestamptz, ?, ?, ?, ?, ?::jsonb, ?
     where exists (select 1 from outbound_deliveries where id = ?)
     on conflict (delivery_id, attempt_number) do nothing`,
    [
      attempt.id,
      deliveryId,
      attempt.number,
      attempt.worker,
      attempt.startedAt.toISOString(),
      attempt.durationMs,
      attempt.statusCode,
      attempt.responseExcerpt,
      attempt.responseTruncated,
      attempt.error ? JSON.stringify(attempt.error) : null,
      attempt.outcome,
      deliveryId,
    ],
  );
}
