import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { isAppError } from '../errors.js';
import type { EventOrigin } from '../events/index.js';
import { SQLSTATE, uuidv7, type SecretBox } from '../store/index.js';
import { preparedStatement } from '../store/prepared-statement.js';
import { OUTGOING_BY_EVENT } from '../store/queries.js';
import { openActiveSecrets, type StoredSecret } from './endpoint-secrets.js';
import type { AttemptError } from './http-transport.js';
import { envelopeJson, serialiseEvent, type SerialisedEvent } from './types.js';

/*
 * The durable queue: the outbox write and the claim with a lease (the completion is in
 * completion-writer.ts). Each is one statement with nothing but its own queries inside (PGlite has a
 * single connection, and no transaction may stay open across an HTTP call).
 */

/** An event to enqueue. */
export interface EnqueueInput {
  event: string;
  data: unknown;
  tenantId: string | null;
  metadata: Record<string, unknown>;
  /** Stored beside the envelope (not in it) for the delivery attempts' log lines. */
  origin?: EventOrigin;
}

export interface Enqueued {
  messageId: string;
  /** One per subscribed endpoint. */
  deliveryIds: string[];
  /** The tenant of each delivery's endpoint, in the order of `deliveryIds` (null: a global endpoint). */
  endpointTenantIds: Array<string | null>;
}

/** What the outbox write answers per event. */
export interface EnqueueResult extends Enqueued {
  /** Rows written pending, for any worker to claim (the others went to this process's worker: see HandOff). */
  queued: number;
}

/**
 * A CTE that makes the statement commit without waiting for its WAL to reach the disk: `set_config(…,
 * true)` sets `synchronous_commit = off` for the statement's own transaction only. Joined into the queue's
 * bookkeeping statements — claims, completions, the retention prune — and never into the outbox write. A
 * PostgreSQL crash may forget the last fraction of a second of such commits, and forgetting a claim or a
 * completion only puts a delivery back where a worker sends it again (at least once; receivers deduplicate
 * on `webhook-id`); a forgotten prune is redone. What it saves is an fsync per statement, which on
 * ordinary disks is the queue's ceiling.
 */
export const RELAXED_COMMIT = `relaxed as materialized (select set_config('synchronous_commit', 'off', true) as setting)`;

/** The outbox write, `onConflict` appended to each insert. */
function outboxWrite(name: string, onConflict: string) {
  return preparedStatement(name, `
with messages as (
  insert into outbound_messages (id, event, tenant_id, payload, created_at, request_id, run_id)
  select m.id, m.event, m.tenant_id, m.payload, m.at, m.request_id, m.run_id
  from jsonb_to_recordset(?::jsonb) as m(id uuid, event text, tenant_id text, payload text, at timestamptz, request_id text, run_id uuid)${onConflict}
  returning id
)
insert into outbound_deliveries
  (id, message_id, webhook_id, status, available_at, lease_token, lease_owner, round_attempts, attempt_count, created_at, updated_at)
select d.id, d.message_id, d.webhook_id, d.status, d.available_at, d.lease_token, d.lease_owner, d.attempts, d.attempts, d.at, d.at
from jsonb_to_recordset(?::jsonb) as d(id uuid, message_id uuid, webhook_id uuid, status text, available_at timestamptz,
  lease_token uuid, lease_owner text, attempts integer, at timestamptz)${onConflict}`);
}

/** The outbox write, one statement: the messages, and a delivery per endpoint referring to each. */
export const INSERT_MESSAGES_AND_DELIVERIES = outboxWrite('hookgate_outbox_write', '');
/** The same for a batch holding an item written before: rows already there (committed by that write) are skipped. */
const REWRITE_MESSAGES_AND_DELIVERIES = outboxWrite('hookgate_outbox_rewrite', '\n  on conflict (id) do nothing');

/** Tries of the outbox write when an endpoint was deleted between finding it and inserting its delivery. */
const ENQUEUE_TRIES = 3;

/**
 * Lets the outbox write hand deliveries straight to this process's worker: each one the worker has room
 * for is written already leased to it (as a claim would leave it) and handed over once committed, so it
 * costs no claim and waits for no wake-up. The others are written pending, for any worker to claim.
 */
export interface HandOff {
  /** Recorded with each lease. */
  owner: string;
  /** The lease lasts the endpoint's timeout plus this. */
  leaseMarginMs: number;
  /** Decrypts the endpoints' stored secrets. */
  secrets: SecretBox;
  /**
   * Takes a place in the worker for a delivery to this endpoint; false when it has none (or is behind the
   * queue). `again`: the row was leased to the worker by a write that may have committed, and is written
   * again under the same lease — a place is taken whenever the worker runs, room or not.
   */
  reserve(webhookId: string, again?: boolean): boolean;
  /** Gives back places taken for rows that were not written. */
  cancel(webhookIds: readonly string[]): void;
  /** The rows written leased to the worker, once committed, each with the moment its lease counts from. */
  deliver(leased: Array<{ delivery: ClaimedDelivery; leasedAt: number }>): void;
}

/** An event to enqueue, with the moment it was emitted (the envelope's `timestamp`). */
export interface EnqueueItem {
  input: EnqueueInput;
  now: Date;
  /** The event's data and metadata as serialised when it was emitted (else serialised here, unchecked by the caller). */
  serialised?: SerialisedEvent;
  /**
   * What its first write gave it (set by `enqueueEvents`; leave it out): the message id, and per endpoint the
   * delivery id and the lease token of a row leased to this process's worker. A write that fails may still
   * have committed (the connection dropped before the answer), so a second write of the same item reuses
   * them and skips rows already there: the event is never queued twice under different ids, and a row
   * leased by the first write is handed over under that same lease.
   */
  ids?: { messageId: string; deliveries: Map<string, { id: string; leaseToken: string | null }> };
}

/**
 * The outbox write for several events at once: finds the active endpoints subscribed to each (the
 * GIN-indexed `findByEvent` query, once per event name and tenant), then inserts every message and one
 * delivery per endpoint in one statement — all or nothing, and committed (flushed to disk) when it
 * resolves. Answers per event its ids, or null when no endpoint is subscribed (nothing is written for it).
 * The caller wakes the workers once it has committed: a NOTIFY inside the write would take PostgreSQL's
 * database-wide notify lock across the commit's fsync and serialise every emit.
 */
export async function enqueueEvents(knex: Knex, items: readonly EnqueueItem[], handOff?: HandOff): Promise<Array<EnqueueResult | null>> {
  for (let tries = 1; ; tries++) {
    const subscribers = new Map<string, Promise<DbEndpoint[]>>();
    const endpointsOf = ({ event, tenantId }: EnqueueInput) => {
      const key = JSON.stringify([event, tenantId]);
      let found = subscribers.get(key);
      if (!found) {
        found = SUBSCRIBED_ENDPOINTS.rows<DbEndpoint>(knex, [JSON.stringify([event]), tenantId]);
        subscribers.set(key, found);
      }
      return found;
    };
    const endpoints = await Promise.all(items.map((item) => endpointsOf(item.input)));
    const messages: Array<{ id: string; event: string; tenant_id: string | null; payload: string; at: string; request_id?: string; run_id?: string }> = [];
    const deliveries: DbNewDelivery[] = [];
    const leased: Array<{ delivery: ClaimedDelivery; leasedAt: number }> = [];
    // What a worker needs of each endpoint, made once per batch and shared by its deliveries (read-only).
    const views = new Map<DbEndpoint, ClaimedDelivery['endpoint']>();
    const viewOf = (endpoint: DbEndpoint, now: Date, secrets: SecretBox) => {
      let view = views.get(endpoint);
      if (!view) {
        view = toEndpoint(endpoint, now, secrets);
        views.set(endpoint, view);
      }
      return view;
    };
    // A batch holding an item written before (that write may have committed) skips the rows already there.
    const rewrite = items.some((item) => item.ids !== undefined);
    const build = () => items.map((item, i): EnqueueResult | null => {
      const { input, now } = item;
      const subscribed = endpoints[i] as DbEndpoint[];
      if (subscribed.length === 0) return null;
      const at = now.toISOString();
      // Written before: the same ids, each row pending or leased as it was.
      const ids = (item.ids ??= { messageId: uuidv7(now.getTime()), deliveries: new Map() });
      const messageId = ids.messageId;
      const parts = (item.serialised ??= serialiseEvent(input.event, input.data, input.metadata));
      const message = { id: messageId, event: input.event, tenant_id: input.tenantId, payload: envelopeJson(messageId, at, parts), at, request_id: input.origin?.requestId, run_id: input.origin?.runId };
      messages.push(message);
      let queued = 0;
      const deliveryIds = subscribed.map((endpoint) => {
        let first = ids.deliveries.get(endpoint.id);
        // New to this item (or to this endpoint: it was subscribed since): leased when the worker has room.
        const fresh = first === undefined;
        if (!handOff || (fresh ? !handOff.reserve(endpoint.id) : first!.leaseToken === null)) {
          first ??= { id: uuidv7(now.getTime()), leaseToken: null };
          ids.deliveries.set(endpoint.id, first);
          deliveries.push({ id: first.id, message_id: messageId, webhook_id: endpoint.id, status: 'pending', available_at: at, lease_token: null, lease_owner: null, attempts: 0, at });
          queued += 1;
          return first.id;
        }
        first ??= { id: uuidv7(now.getTime()), leaseToken: randomUUID() };
        ids.deliveries.set(endpoint.id, first);
        const { id } = first;
        const leaseToken = first.leaseToken as string;
        const leaseEnds = new Date(now.getTime() + Number(endpoint.timeout_ms) + handOff.leaseMarginMs).toISOString();
        deliveries.push({ id, message_id: messageId, webhook_id: endpoint.id, status: 'sending', available_at: leaseEnds, lease_token: leaseToken, lease_owner: handOff.owner, attempts: 1, at });
        // Leased by the first write: the row may be there, leased to the worker under this token, so it is
        // handed over again (room or not); only a worker that has stopped leaves it to its lease's end.
        if (!fresh && !handOff.reserve(endpoint.id, true)) return id;
        const delivery: ClaimedDelivery = {
          id,
          messageId,
          webhookId: endpoint.id,
          leaseToken,
          attemptNumber: 1,
          roundAttempts: 1,
          test: false,
          event: input.event,
          payload: message.payload,
          requestId: message.request_id ?? null,
          runId: message.run_id ?? null,
          endpoint: viewOf(endpoint, now, handOff.secrets),
        };
        leased.push({ delivery, leasedAt: now.getTime() });
        return id;
      });
      return { messageId, deliveryIds, endpointTenantIds: subscribed.map((endpoint) => endpoint.tenant_id), queued };
    });
    let results: Array<EnqueueResult | null>;
    try {
      results = build();
      const write = rewrite ? REWRITE_MESSAGES_AND_DELIVERIES : INSERT_MESSAGES_AND_DELIVERIES;
      if (messages.length > 0) await write.rows(knex, [JSON.stringify(messages), JSON.stringify(deliveries)]);
    } catch (err) {
      // The places taken for rows that were not written (or whose write may have committed unseen).
      handOff?.cancel(leased.map((l) => l.delivery.webhookId));
      if (tries < ENQUEUE_TRIES && (err as { code?: unknown }).code === SQLSTATE.foreignKeyViolation) continue;
      throw err;
    }
    if (leased.length > 0) handOff?.deliver(leased);
    return results;
  }
}

/**
 * The active endpoints subscribed to an event of a tenant (the GIN-indexed OUTGOING_BY_EVENT, as
 * `store.findByEvent` runs it), with what the outbox write needs to send to them at once (see HandOff).
 */
export const SUBSCRIBED_ENDPOINTS = preparedStatement(
  'hookgate_subscribed_endpoints',
  `select id, url, secret, previous_secrets, is_active, tenant_id, max_retries, retry_delay_ms, timeout_ms
   from webhooks where ${OUTGOING_BY_EVENT} order by created_at, id`,
);
type DbEndpoint = Pick<DbClaimed, 'url' | 'secret' | 'previous_secrets' | 'is_active' | 'tenant_id' | 'max_retries' | 'retry_delay_ms' | 'timeout_ms'> & { id: string };

/** A delivery row as the outbox write inserts it: pending, or already leased to this process's worker. */
interface DbNewDelivery {
  id: string;
  message_id: string;
  webhook_id: string;
  status: 'pending' | 'sending';
  available_at: string;
  lease_token: string | null;
  lease_owner: string | null;
  attempts: number;
  at: string;
}

/** The outbox write for one event (see `enqueueEvents`). */
export async function enqueueEvent(knex: Knex, input: EnqueueInput, options: { now: Date; handOff?: HandOff }): Promise<EnqueueResult | null> {
  const [enqueued] = await enqueueEvents(knex, [{ input, now: options.now }], options.handOff);
  return enqueued ?? null;
}

/** A delivery a worker holds the lease on, with what it needs to send it. */
export interface ClaimedDelivery {
  id: string;
  messageId: string;
  webhookId: string;
  leaseToken: string;
  /** This attempt's number over the delivery's life (1-based; a lost attempt leaves a gap). */
  attemptNumber: number;
  /** Attempts since the delivery was created or last redelivered, this one included. */
  roundAttempts: number;
  test: boolean;
  event: string;
  payload: string;
  /** The request id and run id of the request that emitted the event (null when none was recorded), for the log lines. */
  requestId: string | null;
  runId: string | null;
  endpoint: {
    url: string;
    /** Current secret first, then any still within a rotation's grace period. */
    secrets: string[];
    /** Set (and `secrets` empty) when the stored secrets could not be decrypted: the attempt is not sent. */
    secretsError?: AttemptError;
    isActive: boolean;
    tenantId: string | null;
    maxRetries: number;
    retryDelayMs: number;
    timeoutMs: number;
  };
}

export interface DbClaimed {
  id: string;
  message_id: string;
  webhook_id: string;
  lease_token: string;
  round_attempts: number;
  attempt_count: number;
  is_test: boolean;
  event: string;
  payload: string;
  request_id?: string | null;
  run_id?: string | null;
  url: string;
  secret: string;
  previous_secrets: StoredSecret[] | null;
  is_active: boolean;
  tenant_id: string | null;
  max_retries: number;
  retry_delay_ms: number;
  timeout_ms: number;
}

export interface ClaimOptions {
  /** Decrypts the endpoints' stored secrets (the store's SecretBox). */
  secrets: SecretBox;
  /** Recorded with each lease and attempt. */
  owner: string;
  limit: number;
  now: Date;
  /** The lease lasts the endpoint's timeout plus this. */
  leaseMarginMs: number;
  /** At most this many deliveries per endpoint in flight in this process… */
  perEndpoint: number;
  /** …counting these, already in flight here (webhook id → count). */
  busy: ReadonlyMap<string, number>;
  /** How many due rows, in due order, the per-endpoint cap looks through (default 20 × limit; the worker adapts it). */
  window?: number;
  /**
   * The window holds only rows of endpoints under their cap here: the scan goes past those at it, however
   * many rows they have (each one a heap fetch), so the worker asks for it on a wide claim every 2 s at most.
   */
  skipCapped?: boolean;
}

/**
 * The claim, in one statement: due rows (pending and due, or sending with an expired lease) in due order,
 * at most `perEndpoint` per endpoint counting those in flight here, locked with FOR UPDATE SKIP LOCKED so
 * concurrent claimers never take the same row (the LIMIT applies after the skipping, so concurrent
 * claimers take consecutive batches rather than fighting over the first), and leased (status `sending`, a new lease token, an expiry
 * of timeout + margin) before the statement commits — the HTTP call happens after, outside any transaction.
 * The attempt counters go up at claim time, so an attempt lost with a crashed process still counts. The
 * commit does not wait for the disk (`RELAXED_COMMIT`): a claim lost with the database is claimed again.
 */
export const CLAIM = preparedStatement('hookgate_claim', `
with candidates as (
  select id, available_at from (
    select id, available_at, row_number() over (partition by webhook_id order by available_at, id) as rn, webhook_id
    from (
      select id, webhook_id, available_at from outbound_deliveries
      where status in ('pending', 'sending') and available_at <= ?::timestamptz
        -- A claim that skips capped endpoints looks past the rows of those already at their cap here, however
        -- many: otherwise a hanging endpoint's backlog longer than the window hides every row behind it.
        and (not ?::boolean or coalesce(((?::jsonb) ->> (webhook_id::text))::int, 0) < ?)
      order by available_at, id
      limit ?
    ) due
  ) ranked
  where rn + coalesce(((?::jsonb) ->> (webhook_id::text))::int, 0) <= ?
), picked as (
  -- By primary key only. The status test is written so that the partial due index cannot serve it: with
  -- missing statistics (a young table) the planner would otherwise scan every due row here.
  select d.id from outbound_deliveries d
  where d.id = any (array(select id from candidates))
    and d.status not in ('succeeded', 'failed') and d.available_at <= ?::timestamptz
  order by d.available_at, d.id
  limit ?
  for update of d skip locked
), ${RELAXED_COMMIT}
update outbound_deliveries d set
  status = 'sending',
  lease_token = gen_random_uuid(),
  lease_owner = ?,
  available_at = ?::timestamptz + (w.timeout_ms + ?) * interval '1 millisecond',
  round_attempts = d.round_attempts + 1,
  attempt_count = d.attempt_count + 1,
  updated_at = ?::timestamptz
from picked, webhooks w, outbound_messages m, relaxed
where d.id = picked.id and w.id = d.webhook_id and m.id = d.message_id
returning d.id, d.message_id, d.webhook_id, d.lease_token, d.round_attempts, d.attempt_count, d.is_test,
  m.event, m.payload, m.request_id, m.run_id, w.url, w.secret, w.previous_secrets, w.is_active, w.tenant_id,
  w.max_retries, w.retry_delay_ms, w.timeout_ms`);

export async function claimDeliveries(knex: Knex, options: ClaimOptions): Promise<ClaimedDelivery[]> {
  if (options.limit <= 0) return [];
  const now = options.now.toISOString();
  const busy = JSON.stringify(Object.fromEntries(options.busy));
  const window = options.window ?? Math.max(options.limit * 20, 100);
  const rows = await CLAIM.rows<DbClaimed>(knex, [
    now,
    options.skipCapped ?? false,
    busy,
    options.perEndpoint,
    window,
    busy,
    options.perEndpoint,
    now,
    options.limit,
    options.owner,
    now,
    options.leaseMarginMs,
    now,
  ]);
  return rows.map((row) => toClaimed(row, options.now, options.secrets));
}

/** The signing secrets of a claimed row, decrypted; a key or integrity failure becomes an error on that delivery alone. */
function claimedSecrets(row: Pick<DbClaimed, 'secret' | 'previous_secrets'>, now: Date, box: SecretBox): Pick<ClaimedDelivery['endpoint'], 'secrets' | 'secretsError'> {
  try {
    return { secrets: openActiveSecrets(box, row.secret, row.previous_secrets, now) };
  } catch (err) {
    if (!isAppError(err)) throw err;
    return { secrets: [], secretsError: { code: err.code, message: err.message } };
  }
}

/** What a worker needs of a delivery's endpoint, from its row. */
function toEndpoint(row: DbEndpoint, now: Date, box: SecretBox): ClaimedDelivery['endpoint'] {
  return {
    url: row.url,
    ...claimedSecrets(row, now, box),
    isActive: row.is_active,
    tenantId: row.tenant_id,
    maxRetries: Number(row.max_retries),
    retryDelayMs: Number(row.retry_delay_ms),
    timeoutMs: Number(row.timeout_ms),
  };
}

export function toClaimed(row: DbClaimed, now: Date, box: SecretBox): ClaimedDelivery {
  return {
    id: row.id,
    messageId: row.message_id,
    webhookId: row.webhook_id,
    leaseToken: row.lease_token,
    attemptNumber: Number(row.attempt_count),
    roundAttempts: Number(row.round_attempts),
    test: row.is_test,
    event: row.event,
    payload: row.payload,
    requestId: row.request_id ?? null,
    runId: row.run_id ?? null,
    endpoint: toEndpoint(row, now, box),
  };
}

/**
 * Gives claimed deliveries back unsent (still under our lease): pending and due at `now`, the claim's
 * attempt counters taken back, since no attempt was made. The lease token alone says the lease still
 * holds: it is set only while a row is sending. Rows are found by primary key (see WRITE_COMPLETIONS).
 */
export async function releaseDeliveries(knex: Knex, leases: ReadonlyArray<Pick<ClaimedDelivery, 'id' | 'leaseToken'>>, now: Date): Promise<void> {
  await knex.raw(
    `update outbound_deliveries d set status = 'pending', available_at = ?::timestamptz, lease_token = null, lease_owner = null,
       round_attempts = d.round_attempts - 1, attempt_count = d.attempt_count - 1, updated_at = ?::timestamptz
     from jsonb_to_recordset(?::jsonb) as r(id uuid, lease_token uuid)
     where d.id = any (array(select jsonb_array_elements_text(?::jsonb)::uuid)) and d.id = r.id and d.lease_token = r.lease_token`,
    [now.toISOString(), now.toISOString(), JSON.stringify(leases.map((l) => ({ id: l.id, lease_token: l.leaseToken }))), JSON.stringify(leases.map((l) => l.id))],
  );
}

/** The earliest open delivery due after a moment, by the due index (the worker's loop runs it after its claims). */
const NEXT_DUE = preparedStatement(
  'hookgate_next_due',
  `select available_at from outbound_deliveries
   where status in ('pending', 'sending') and available_at > ?::timestamptz
   order by available_at, id
   limit 1`,
);

/**
 * When the earliest open delivery is due (or its lease ends) — of those due after `after`, when given; null
 * when there is none.
 */
export async function nextDueAt(knex: Knex, after?: Date): Promise<Date | null> {
  const [row] = await NEXT_DUE.rows<{ available_at: Date | string }>(knex, [after ? after.toISOString() : '-infinity']);
  return row ? new Date(row.available_at) : null;
}
