import type { Knex } from 'knex';
import { rowsOf } from './rows.js';

/*
 * Endpoint health: consecutive failures and since when. Kept in its own table (not on `webhooks`), since
 * it changes on every attempt and a write to `webhooks` bumps the config version every process polls.
 */

type Db = Knex | Knex.Transaction;

/** When a failing endpoint is disabled: failing for at least `afterMs` and at least `minFailures` attempts in a row. */
export interface DisablePolicy {
  afterMs: number;
  minFailures: number;
}

export interface EndpointHealth {
  consecutiveFailures: number;
  failingSince: Date;
}

/** A success ends a failing stretch. Skipped when the webhook is gone. */
export async function recordSuccess(db: Db, webhookId: string, now: Date): Promise<void> {
  await db.raw(
    `insert into outbound_endpoint_health as h (webhook_id, consecutive_failures, failing_since, last_success_at)
     select ?, 0, null, ?::timestamptz where exists (select 1 from webhooks where id = ?)
     on conflict (webhook_id) do update set consecutive_failures = 0, failing_since = null, last_success_at = excluded.last_success_at`,
    [webhookId, now.toISOString(), webhookId],
  );
}

/** Counts a failed attempt; returns the stretch so far (null when the webhook is gone). */
export async function recordFailure(db: Db, webhookId: string, now: Date): Promise<EndpointHealth | null> {
  const rows = rowsOf<{ consecutive_failures: number; failing_since: Date | string }>(
    await db.raw(
      `insert into outbound_endpoint_health as h (webhook_id, consecutive_failures, failing_since, last_failure_at)
       select ?, 1, ?::timestamptz, ?::timestamptz where exists (select 1 from webhooks where id = ?)
       on conflict (webhook_id) do update set
         consecutive_failures = h.consecutive_failures + 1,
         failing_since = coalesce(h.failing_since, excluded.failing_since),
         last_failure_at = excluded.last_failure_at
       returning consecutive_failures, failing_since`,
      [webhookId, now.toISOString(), now.toISOString(), webhookId],
    ),
  );
  const row = rows[0];
  return row ? { consecutiveFailures: Number(row.consecutive_failures), failingSince: new Date(row.failing_since) } : null;
}

/**
 * Switches an endpoint off (`is_active = false`) and notes why. Returns the endpoint only when this call
 * switched it off, so of several workers failing at once exactly one reports it.
 */
export async function disableEndpoint(db: Db, webhookId: string, reason: 'gone' | 'failing', now: Date): Promise<{ url: string; tenantId: string | null } | null> {
  const rows = rowsOf<{ url: string; tenant_id: string | null }>(
    await db.raw(
      `update webhooks set is_active = false, updated_at = ?::timestamptz
       where id = ? and direction = 'outgoing' and is_active
       returning url, tenant_id`,
      [now.toISOString(), webhookId],
    ),
  );
  const row = rows[0];
  if (!row) return null;
  await db.raw(`update outbound_endpoint_health set disabled_at = ?::timestamptz, disabled_reason = ? where webhook_id = ?`, [
    now.toISOString(),
    reason,
    webhookId,
  ]);
  return { url: row.url, tenantId: row.tenant_id };
}

/** A fresh start when an admin switches the endpoint back on. */
export async function resetHealth(db: Db, webhookId: string): Promise<void> {
  await db.raw(
    `update outbound_endpoint_health set consecutive_failures = 0, failing_since = null, disabled_at = null, disabled_reason = null
     where webhook_id = ?`,
    [webhookId],
  );
}

/** The health row of an endpoint, for the admin API. */
export async function readHealth(db: Db, webhookId: string): Promise<{
  consecutiveFailures: number;
  failingSince: string | null;
  lastFailureAt: string | null;
  lastSuccessAt: string | null;
  disabledAt: string | null;
  disabledReason: string | null;
} | null> {
  const row = await db('outbound_endpoint_health').where('webhook_id', webhookId).first();
  if (!row) return null;
  const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString());
  return {
    consecutiveFailures: Number(row.consecutive_failures),
    failingSince: iso(row.failing_since),
    lastFailureAt: iso(row.last_failure_at),
    lastSuccessAt: iso(row.last_success_at),
    disabledAt: iso(row.disabled_at),
    disabledReason: row.disabled_reason,
  };
}
