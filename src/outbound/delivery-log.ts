import type { Knex } from 'knex';
import { AppError } from '../errors.js';
import { uuidv7, type SecretBox } from '../store/index.js';
import { toClaimed, type ClaimedDelivery, type DbClaimed } from './delivery-queue.js';
import type { AttemptError } from './http-transport.js';
import { rowsOf, toIso, toIsoOrNull } from './rows.js';
import { WEBHOOK_TEST_EVENT, type Delivery, type DeliveryAttempt, type DeliveryQuery, type DeliveryStatus, type Envelope } from './types.js';

/*
 * Reading deliveries for the admin API, queueing one again, and the one-off `webhook.test` delivery.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface DbDelivery {
  id: string;
  message_id: string;
  webhook_id: string;
  event: string;
  status: DeliveryStatus;
  is_test: boolean;
  available_at: Date | string;
  attempt_count: number;
  last_status_code: number | null;
  last_error: AttemptError | null;
  created_at: Date | string;
  updated_at: Date | string;
  completed_at: Date | string | null;
}

interface DbAttempt {
  id: string;
  delivery_id: string;
  attempt_number: number;
  worker: string;
  started_at: Date | string;
  duration_ms: number;
  status_code: number | null;
  response_excerpt: string | null;
  response_truncated: boolean;
  error: AttemptError | null;
  outcome: DeliveryAttempt['outcome'];
}

function toAttempt(row: DbAttempt): DeliveryAttempt {
  return {
    id: row.id,
    number: Number(row.attempt_number),
    worker: row.worker,
    startedAt: toIso(row.started_at),
    durationMs: Number(row.duration_ms),
    statusCode: row.status_code === null ? null : Number(row.status_code),
    responseExcerpt: row.response_excerpt,
    responseTruncated: row.response_truncated,
    error: row.error,
    outcome: row.outcome,
  };
}

function toDelivery(row: DbDelivery, attempts: DeliveryAttempt[]): Delivery {
  const open = row.status === 'pending' || row.status === 'sending';
  return {
    id: row.id,
    messageId: row.message_id,
    webhookId: row.webhook_id,
    event: row.event,
    status: row.status,
    test: row.is_test,
    attemptCount: Number(row.attempt_count),
    nextAttemptAt: open ? toIso(row.available_at) : null,
    lastStatusCode: row.last_status_code === null ? null : Number(row.last_status_code),
    lastError: row.last_error,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
    completedAt: toIsoOrNull(row.completed_at),
    attempts,
  };
}

async function withAttempts(knex: Knex, rows: DbDelivery[]): Promise<Delivery[]> {
  if (rows.length === 0) return [];
  const attempts: DbAttempt[] = await knex('outbound_attempts')
    .whereIn(
      'delivery_id',
      rows.map((r) => r.id),
    )
    .orderBy([{ column: 'delivery_id' }, { column: 'attempt_number' }]);
  const byDelivery = new Map<string, DeliveryAttempt[]>();
  for (const attempt of attempts) {
    const list = byDelivery.get(attempt.delivery_id) ?? [];
    list.push(toAttempt(attempt));
    byDelivery.set(attempt.delivery_id, list);
  }
  return rows.map((row) => toDelivery(row, byDelivery.get(row.id) ?? []));
}

function deliveriesQuery(knex: Knex): Knex.QueryBuilder {
  return knex('outbound_deliveries as d').join('outbound_messages as m', 'm.id', 'd.message_id').select('d.*', 'm.event');
}

/** Deliveries newest first, each with its attempts. */
export async function listDeliveries(knex: Knex, query: DeliveryQuery): Promise<Delivery[]> {
  if (query.webhookId !== undefined && !UUID.test(query.webhookId)) return [];
  const q = deliveriesQuery(knex);
  if (query.webhookId !== undefined) q.where('d.webhook_id', query.webhookId);
  if (query.status !== undefined) q.where('d.status', query.status);
  if (query.tenantId !== undefined) q.whereIn('d.webhook_id', knex('webhooks').select('id').where('tenant_id', query.tenantId));
  // Keyset paging on the id, which grows with creation (UUIDv7): a page does not shift as new deliveries come.
  if (query.before !== undefined) {
    if (!UUID.test(query.before)) return [];
    q.where('d.id', '<', query.before);
  }
  const rows = (await q.orderBy('d.id', 'desc').limit(query.limit)) as DbDelivery[];
  return withAttempts(knex, rows);
}

export async function getDelivery(knex: Knex, id: string): Promise<Delivery | null> {
  if (!UUID.test(id)) return null;
  const row = (await deliveriesQuery(knex).where('d.id', id).first()) as DbDelivery | undefined;
  return row ? ((await withAttempts(knex, [row]))[0] ?? null) : null;
}

/**
 * Queues a finished delivery again, due now, with a fresh retry budget; one waiting for its retry is made
 * due now with the budget it has left. Its `webhook-id` stays the same, so a receiver that already
 * processed it can tell.
 *
 * @throws AppError `delivery_not_found`, `delivery_in_progress` (a worker is sending it), `webhook_inactive`.
 */
export async function redeliver(knex: Knex, id: string, now: Date): Promise<Delivery> {
  if (!UUID.test(id)) throw new AppError('delivery_not_found', `No delivery with id ${id}`);
  const current = await knex('outbound_deliveries as d')
    .join('webhooks as w', 'w.id', 'd.webhook_id')
    .where('d.id', id)
    .first<{ status: DeliveryStatus; is_active: boolean } | undefined>('d.status', 'w.is_active');
  if (!current) throw new AppError('delivery_not_found', `No delivery with id ${id}`);
  if (!current.is_active) throw new AppError('webhook_inactive', 'The delivery\'s webhook is inactive; activate it before redelivering.');
  // The row as this update left it (a worker may claim it the next moment).
  const rows = rowsOf<DbDelivery>(
    await knex.raw(
      `with requeued as (
         -- A finished delivery gets a new retry budget; one waiting for its retry is only made due now, so
         -- a second click (or a script redelivering everything) cannot add attempts.
         -- (A pending row already due keeps its place in due order.)
         update outbound_deliveries set status = 'pending',
           available_at = case when status = 'pending' then least(available_at, ?::timestamptz) else ?::timestamptz end,
           round_attempts = case when status = 'pending' then round_attempts else 0 end,
           completed_at = null, updated_at = ?::timestamptz
         where id = ? and status <> 'sending' returning *
       )
       select requeued.*, m.event from requeued join outbound_messages m on m.id = requeued.message_id`,
      [now.toISOString(), now.toISOString(), now.toISOString(), id],
    ),
  );
  if (rows.length === 0) throw new AppError('delivery_in_progress');
  return (await withAttempts(knex, rows))[0] as Delivery;
}

/**
 * Writes a `webhook.test` message and its delivery already leased to the caller (so no worker takes it),
 * for `POST /webhooks/:id/test` to send at once. Null when there is no outgoing webhook with this id.
 */
export async function insertTestDelivery(
  knex: Knex,
  webhookId: string,
  options: { now: Date; owner: string; leaseMarginMs: number; secrets: SecretBox; requestId?: string },
): Promise<ClaimedDelivery | null> {
  if (!UUID.test(webhookId)) return null;
  return knex.transaction(async (trx) => {
    const webhook = await trx('webhooks')
      .where({ id: webhookId, direction: 'outgoing' })
      .first<Pick<DbClaimed, 'url' | 'secret' | 'previous_secrets' | 'is_active' | 'tenant_id' | 'max_retries' | 'retry_delay_ms' | 'timeout_ms'> | undefined>();
    if (!webhook) return null;
    const now = options.now;
    const messageId = uuidv7(now.getTime());
    const envelope: Envelope = {
      id: messageId,
      event: WEBHOOK_TEST_EVENT,
      version: '1',
      timestamp: now.toISOString(),
      data: { webhookId, message: 'A test delivery from hookgate.' },
      metadata: { test: true, tenantId: webhook.tenant_id },
    };
    const payload = JSON.stringify(envelope);
    const requestId = options.requestId ?? null;
    await trx('outbound_messages').insert({ id: messageId, event: WEBHOOK_TEST_EVENT, tenant_id: webhook.tenant_id, payload, created_at: now, request_id: requestId });
    const [row] = rowsOf<{ id: string; lease_token: string }>(
      await trx.raw(
        `insert into outbound_deliveries
           (id, message_id, webhook_id, status, is_test, available_at, lease_token, lease_owner, round_attempts, attempt_count, created_at, updated_at)
         values (?, ?, ?, 'sending', true, ?::timestamptz + (? * interval '1 millisecond'), gen_random_uuid(), ?, 1, 1, ?::timestamptz, ?::timestamptz)
         returning id, lease_token`,
        [
          uuidv7(now.getTime()),
          messageId,
          webhookId,
          now.toISOString(),
          Number(webhook.timeout_ms) + options.leaseMarginMs,
          options.owner,
          now.toISOString(),
          now.toISOString(),
        ],
      ),
    );
    if (!row) throw new Error('insertTestDelivery: the insert returned no row');
    return toClaimed(
      {
        ...webhook,
        id: row.id,
        message_id: messageId,
        webhook_id: webhookId,
        lease_token: row.lease_token,
        round_attempts: 1,
        attempt_count: 1,
        is_test: true,
        event: WEBHOOK_TEST_EVENT,
        payload,
        request_id: requestId,
      },
      now,
      options.secrets,
    );
  });
}
