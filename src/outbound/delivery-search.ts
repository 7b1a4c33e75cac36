import type { Knex } from 'knex';
import { AppError } from '../errors.js';
import type { DeliveryStatus } from './types.js';

/*
 * Finding deliveries in bulk for `hookgate deliveries redeliver`: which ones match, grouped by endpoint,
 * and their ids page by page. Queueing each one again is `OutboundService.redeliver`, as for the API.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface DeliveryFilter {
  /** Finished deliveries only: `failed` or `succeeded`. */
  status: Extract<DeliveryStatus, 'failed' | 'succeeded'>;
  /** Finished (or, lacking that, last changed) at or after this time. */
  since: Date;
  webhookId?: string;
}

/** How many deliveries of one endpoint match. */
export interface DeliveryGroup {
  webhookId: string;
  url: string;
  isActive: boolean;
  count: number;
}

// `webhook.test` pings are one-off checks, never retried: a bulk redelivery leaves them alone.
function matching(knex: Knex, filter: DeliveryFilter): Knex.QueryBuilder {
  if (filter.webhookId !== undefined && !UUID.test(filter.webhookId)) {
    throw new AppError('webhook_not_found', `No outgoing webhook with id ${filter.webhookId}`);
  }
  const q = knex('outbound_deliveries as d')
    .join('webhooks as w', 'w.id', 'd.webhook_id')
    .where('d.status', filter.status)
    .andWhere('d.is_test', false)
    .andWhereRaw('coalesce(d.completed_at, d.updated_at) >= ?::timestamptz', [filter.since.toISOString()]);
  if (filter.webhookId !== undefined) q.andWhere('d.webhook_id', filter.webhookId);
  return q;
}

/** The matching deliveries counted per endpoint, largest group first. */
export async function groupMatchingDeliveries(knex: Knex, filter: DeliveryFilter): Promise<DeliveryGroup[]> {
  const rows = (await matching(knex, filter)
    .groupBy('w.id', 'w.url', 'w.is_active')
    .select('w.id as webhook_id', 'w.url', 'w.is_active')
    .count({ count: '*' })
    .orderBy([{ column: 'count', order: 'desc' }, { column: 'w.id' }])) as Array<{ webhook_id: string; url: string | null; is_active: boolean; count: string | number }>;
  return rows.map((r) => ({ webhookId: r.webhook_id, url: r.url ?? '', isActive: r.is_active, count: Number(r.count) }));
}

/**
 * One page of matching delivery ids in id (= creation) order, after `afterId`. Keyset paging, so a page
 * that was redelivered (and so no longer matches) does not shift the next one.
 */
export async function matchingDeliveryIds(knex: Knex, filter: DeliveryFilter, page: { afterId?: string | null; limit: number }): Promise<string[]> {
  const q = matching(knex, filter).select('d.id').orderBy('d.id').limit(page.limit);
  if (page.afterId) q.andWhere('d.id', '>', page.afterId);
  return ((await q) as Array<{ id: string }>).map((r) => r.id);
}
