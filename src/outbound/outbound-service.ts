import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Knex } from 'knex';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SecretBox } from '../store/index.js';
import type { AuditActor, NewOutgoingWebhook, OutgoingWebhook, OutgoingWebhookPatch, Store } from '../store/types.js';
import { attemptDelivery, type AttemptContext, type AttemptOutcome } from './attempt-delivery.js';
import { CompletionWriter } from './completion-writer.js';
import { GroupCommit } from './group-commit.js';
import { getDelivery, insertTestDelivery, listDeliveries, redeliver } from './delivery-log.js';
import { enqueueEvents, type ClaimedDelivery, type Enqueued, type EnqueueInput, type EnqueueItem, type EnqueueResult, type HandOff } from './delivery-queue.js';
import { DeliveryLogPruner, type PruneResult, type RetentionConfig } from './delivery-retention.js';
import { DeliveryWorker, WORKER_DEFAULTS, type DeliveryWorkerConfig } from './delivery-worker.js';
import { readHealth, resetHealth } from './endpoint-health.js';
import { rotateSecret } from './endpoint-secrets.js';
import { createHttpTransport, type HttpTransport } from './http-transport.js';
import { notifyChannel, pgConnectionConfig, PgListener } from '../store/index.js';
import { PgNotifier } from './pg-notifier.js';
import { rowsOf } from './rows.js';
import { WebhookSender } from './signing.js';
import { serialiseEvent, WEBHOOK_DISABLED_EVENT, type Delivery, type DeliveryQuery, type OperationalEvent, type SerialisedEvent } from './types.js';
import { resolveWebhookTarget, type Resolver, type UrlPolicy } from './url-guard.js';

export interface OutboundOptions {
  /** Must be the knex store (PostgreSQL or PGlite, `createStore`): the queue lives in its database. */
  store: Store;
  logger: Logger;
  /** `http://` URLs allowed (HOOKGATE_ALLOW_INSECURE_URLS). Default false. */
  allowInsecureUrls?: boolean;
  /** Private, loopback, link-local… targets allowed (HOOKGATE_ALLOW_PRIVATE_NETWORKS). Default false. */
  allowPrivateNetworks?: boolean;
  /** Worker settings, or false for a process that only enqueues (others deliver). */
  worker?: Partial<DeliveryWorkerConfig> | false;
  /** Cap of a Retry-After, and of the back-off before its jitter: a back-off waits at most 1.5 × this (default 1 h). */
  maxRetryDelayMs?: number;
  /** An endpoint failing without a success for this long is disabled (default 5 days)… */
  disableAfterMs?: number;
  /** …once it has also failed at least this many attempts in a row (default 5). */
  disableMinFailures?: number;
  /** How long a rotated-out secret keeps signing (default 24 h). */
  secretGraceMs?: number;
  /** Bytes of each response kept in the attempt log (default 4096). */
  responseExcerptBytes?: number;
  /**
   * Days a finished delivery (succeeded or failed) is kept after it finished, with its attempts; messages
   * no delivery refers to any more go too. Default 30; 0 keeps everything. Pending and in-flight
   * deliveries are never deleted. Worker processes prune, in bounded batches.
   */
  retentionDays?: number;
  /** How often a worker process prunes the delivery log (default 1 h). */
  pruneIntervalMs?: number;
  /** Injected in tests: the HTTP client, the DNS resolver, the clock and the randomness. */
  transport?: HttpTransport;
  resolver?: Resolver;
  now?: () => number;
  random?: () => number;
  /** Receives `webhook.disabled`; the engine emits it like any other event. */
  onOperationalEvent?: (event: OperationalEvent) => void;
  /** Told after every attempt this process makes (tests wait on it). */
  onAttempt?: (delivery: ClaimedDelivery, outcome: AttemptOutcome) => void;
  /** Told after every prune this process runs (tests wait on it). */
  onPruned?: (result: PruneResult) => void;
}

/** What `createEngine({ outbound })` takes: everything but what the engine supplies itself. */
export type EngineOutboundOptions = Omit<OutboundOptions, 'store' | 'logger' | 'allowInsecureUrls' | 'allowPrivateNetworks' | 'onOperationalEvent'>;

/** The writable fields of an outgoing webhook; the secret is always generated. */
export type OutgoingWebhookInput = Omit<NewOutgoingWebhook, 'secret'>;
export type OutgoingWebhookUpdate = Omit<OutgoingWebhookPatch, 'secret'>;

const HOUR = 3_600_000;
/** Events written by one outbox statement at most. */
const OUTBOX_BATCH = 200;

/**
 * Outgoing webhooks: the outbox (`publish`), the delivery worker with its wake-ups (LISTEN/NOTIFY on
 * PostgreSQL, in-process on PGlite, a poll under both), and the operations behind the admin API.
 *
 * @example
 * const outbound = new OutboundService({ store, logger });
 * await outbound.start();
 * await outbound.publish({ event: 'invoice.paid', data: { id: 'in_1' }, tenantId: null, metadata: {} });
 */
export class OutboundService {
  readonly policy: Readonly<UrlPolicy>;
  readonly #options: OutboundOptions;
  readonly #knex: Knex;
  readonly #secrets: SecretBox;
  readonly #now: () => number;
  readonly #attempt: AttemptContext;
  readonly #leaseMarginMs: number;
  readonly #completions: CompletionWriter;
  /** Outbox writes of concurrent `publish` calls, batched into one statement. */
  readonly #outbox: GroupCommit<EnqueueItem, EnqueueResult | null>;
  readonly #retention: RetentionConfig;
  /** The transport this service made itself (and so closes). */
  readonly #ownTransport: HttpTransport | null;
  #worker: DeliveryWorker | null = null;
  #pruner: DeliveryLogPruner | null = null;
  #listener: PgListener | null = null;
  #notifier: PgNotifier | null = null;
  #channel: string | null = null;
  #started = false;

  constructor(options: OutboundOptions) {
    const { knex, secrets } = options.store as { knex?: Knex; secrets?: SecretBox };
    if (!knex || !secrets) throw new AppError('outbound_unavailable');
    this.#options = options;
    this.#knex = knex;
    this.#secrets = secrets;
    this.#now = options.now ?? Date.now;
    this.policy = Object.freeze({ allowInsecureUrls: options.allowInsecureUrls ?? false, allowPrivateNetworks: options.allowPrivateNetworks ?? false });
    const workerId = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.#leaseMarginMs = (options.worker ? options.worker.leaseMarginMs : undefined) ?? WORKER_DEFAULTS.leaseMarginMs;
    this.#retention = { retentionDays: options.retentionDays ?? 30, intervalMs: options.pruneIntervalMs ?? HOUR };
    if (!(Number.isFinite(this.#retention.retentionDays) && this.#retention.retentionDays >= 0 && Number.isFinite(this.#retention.intervalMs) && this.#retention.intervalMs > 0)) {
      throw new AppError('config_invalid', 'outbound.retentionDays must be a number >= 0 and outbound.pruneIntervalMs a number > 0.', { details: this.#retention });
    }
    this.#completions = new CompletionWriter(knex, options.logger);
    this.#outbox = new GroupCommit({
      writeBatch: (items) => enqueueEvents(knex, items, this.#handOff()),
      // The item itself, not a copy: a write that failed may have committed, and the item keeps its ids.
      writeOne: async (item) => (await enqueueEvents(knex, [item], this.#handOff()))[0] ?? null,
      maxBatch: OUTBOX_BATCH,
      logger: options.logger,
      what: 'outbox writes',
      // An emit waits through a blip of about a second; its caller hears of a longer outage.
      retryDelaysMs: [50, 250, 1000],
      retryWithinMs: 2000,
    });
    const transport =
      options.transport ??
      createHttpTransport({ policy: this.policy, ...(options.resolver ? { resolver: options.resolver } : {}), ...(options.responseExcerptBytes ? { excerptBytes: options.responseExcerptBytes } : {}) });
    this.#ownTransport = options.transport ? null : transport;
    this.#attempt = {
      knex: this.#knex,
      transport,
      complete: (input) => this.#completions.complete(input),
      worker: workerId,
      now: this.#now,
      random: options.random ?? Math.random,
      maxDelayMs: options.maxRetryDelayMs ?? HOUR,
      disablePolicy: { afterMs: options.disableAfterMs ?? 5 * 24 * HOUR, minFailures: options.disableMinFailures ?? 5 },
      logger: options.logger,
    };
  }

  /** Identifies this process in leases and attempt logs. */
  get workerId(): string {
    return this.#attempt.worker;
  }

  /** Starts listening for new work and the worker (unless `worker: false`). */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const options = this.#options;
    if (options.store.kind === 'postgres') {
      const [row] = rowsOf<{ schema: string }>(await this.#knex.raw('select current_schema() as schema'));
      this.#channel = notifyChannel(row?.schema ?? 'public');
      this.#notifier = new PgNotifier(this.#knex, this.#channel, options.logger);
    }
    if (options.worker === false) return;
    this.#worker = new DeliveryWorker({
      knex: this.#knex,
      secrets: this.#secrets,
      attempt: this.#attempt,
      config: { ...WORKER_DEFAULTS, ...options.worker },
      logger: options.logger,
      onDisabled: (data, tenantId) => {
        options.logger.warn('outgoing webhook disabled', { webhookId: data.webhookId, reason: data.reason, failures: data.consecutiveFailures });
        options.onOperationalEvent?.({ event: WEBHOOK_DISABLED_EVENT, data, tenantId });
      },
      ...(options.onAttempt ? { onAttempt: options.onAttempt } : {}),
      // Rows a stopping (or overloaded) worker gave back: the other processes' workers should not wait for their poll.
      onReleased: () => void this.#notifier?.notify(),
      // The grace period of a stop is over: the outcomes still to come are written once, not retried for seconds.
      onAborting: () => this.#completions.stopRetrying(),
    });
    this.#completions.resumeRetrying();
    this.#worker.start();
    this.#pruner = this.#makePruner();
    this.#pruner.start();
    if (this.#channel) {
      this.#listener = new PgListener({
        connection: pgConnectionConfig(this.#knex),
        channel: this.#channel,
        onNotify: () => this.#worker?.wake(),
        logger: options.logger,
      });
      await this.#listener.start();
    }
  }

  /** Stops the listener, the worker (in-flight attempts get its stop timeout) and the pruner; writes what is pending. */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    // Together: the worker must stop claiming now, not once the listener's connection has closed (a wake-up
    // meanwhile is harmless to a stopped worker).
    await Promise.all([this.#listener?.stop(), this.#worker?.stop()]);
    this.#listener = null;
    this.#worker = null;
    await this.#pruner?.stop();
    this.#pruner = null;
    await this.#outbox.flush();
    await this.#completions.flush();
    await this.#notifier?.flush();
    this.#notifier = null;
    this.#ownTransport?.close?.();
  }

  /**
   * The outbox write: the message and one delivery per subscribed active endpoint, in one statement
   * (shared with the other `publish` calls of the moment). Resolves once it is committed (then it
   * survives any crash); null when no endpoint is subscribed. Deliveries this process's worker has room
   * for, while no older ones wait in the queue, are written already leased to it and sent at once; the
   * rest are written pending, and the workers of every process are woken for them. `serialised`: the
   * event as `serialiseEvent` made it when it was emitted (else it is made here).
   * @throws AppError `payload_too_large`
   */
  async publish(input: EnqueueInput, serialised?: SerialisedEvent): Promise<Enqueued | null> {
    // Serialised (and its size checked) now, not in the shared write, where a refusal would fail the batch.
    serialised ??= serialiseEvent(input.event, input.data, input.metadata);
    const written = await this.#outbox.submit({ input, now: new Date(this.#now()), serialised });
    if (!written) return null;
    if (written.queued > 0) {
      // Other processes' workers: not awaited (the outbox write is what the caller waits for).
      void this.#notifier?.notify();
      this.#worker?.wake();
    }
    return { messageId: written.messageId, deliveryIds: written.deliveryIds, endpointTenantIds: written.endpointTenantIds };
  }

  /**
   * Lets one outbox write hand deliveries straight to the worker running when it began (none without a
   * worker). That worker also gets the rows back, or the places back, if it has stopped meanwhile.
   */
  #handOff(): HandOff | undefined {
    const worker = this.#worker;
    if (!worker) return undefined;
    return {
      owner: this.#attempt.worker,
      leaseMarginMs: this.#leaseMarginMs,
      secrets: this.#secrets,
      reserve: (webhookId, again) => worker.reserve(webhookId, again),
      cancel: (webhookIds) => worker.cancel(webhookIds),
      deliver: (leased) => worker.handOver(leased),
    };
  }

  /** Checks a URL as a save does: form, scheme, and every address it resolves to. */
  async checkUrl(url: string): Promise<void> {
    await resolveWebhookTarget(url, this.policy, this.#options.resolver);
  }

  /**
   * Creates an outgoing webhook with a generated secret; the secret is returned this once. The `actor`
   * (the admin API's caller) is audited in the same transaction as the change, here and below.
   */
  async createWebhook(input: OutgoingWebhookInput, actor?: AuditActor): Promise<{ webhook: OutgoingWebhook; secret: string }> {
    await this.checkUrl(input.url);
    const secret = WebhookSender.generateSecret();
    const webhook = await this.#options.store.createOutgoingWebhook({ ...input, secret }, actor);
    return { webhook, secret };
  }

  /** Partial update; a new URL is checked again. Switching an endpoint back on clears its failure record. */
  async updateWebhook(id: string, patch: OutgoingWebhookUpdate, actor?: AuditActor): Promise<OutgoingWebhook> {
    if (patch.url !== undefined) await this.checkUrl(patch.url);
    const updated = await this.#options.store.updateOutgoingWebhook(id, patch, actor);
    if (!updated) throw new AppError('webhook_not_found', `No outgoing webhook with id ${id}`);
    if (patch.isActive === true) await resetHealth(this.#knex, id);
    return updated;
  }

  /** A new secret, returned this once; the old one keeps signing alongside for the grace period. */
  async rotateSecret(id: string, actor?: AuditActor): Promise<{ webhook: OutgoingWebhook; secret: string }> {
    const secret = await rotateSecret(this.#knex, id, { now: new Date(this.#now()), graceMs: this.#options.secretGraceMs ?? 24 * HOUR, secrets: this.#secrets, ...(actor ? { actor } : {}) });
    const webhook = secret ? await this.#options.store.getWebhook(id) : null;
    if (!secret || !webhook || webhook.direction !== 'outgoing') throw new AppError('webhook_not_found', `No outgoing webhook with id ${id}`);
    return { webhook, secret };
  }

  /**
   * Sends a `webhook.test` ping now (once, no retries, whether or not the webhook is active); returns the
   * delivery with its attempt. `requestId` (the admin request's) goes on the attempt's log line.
   */
  async sendTest(id: string, requestId?: string): Promise<Delivery> {
    const delivery = await insertTestDelivery(this.#knex, id, { now: new Date(this.#now()), owner: this.workerId, leaseMarginMs: this.#leaseMarginMs, secrets: this.#secrets, requestId });
    if (!delivery) throw new AppError('webhook_not_found', `No outgoing webhook with id ${id}`);
    this.#options.onAttempt?.(delivery, await attemptDelivery(this.#attempt, delivery));
    return (await getDelivery(this.#knex, delivery.id)) as Delivery;
  }

  listDeliveries(query: DeliveryQuery): Promise<Delivery[]> {
    return listDeliveries(this.#knex, query);
  }

  getDelivery(id: string): Promise<Delivery | null> {
    return getDelivery(this.#knex, id);
  }

  /** Queues a finished delivery again, due now. */
  async redeliver(id: string): Promise<Delivery> {
    const delivery = await redeliver(this.#knex, id, new Date(this.#now()));
    await this.#notifier?.notify();
    this.#worker?.wake();
    return delivery;
  }

  /** Deletes, now, what is past the retention (as the worker processes do periodically); returns what went. */
  pruneDeliveryLog(): Promise<PruneResult> {
    return this.#pruner?.pruneNow() ?? this.#makePruner().pruneNow();
  }

  #makePruner(): DeliveryLogPruner {
    const options = this.#options;
    return new DeliveryLogPruner({
      knex: this.#knex,
      config: this.#retention,
      now: this.#now,
      random: options.random ?? Math.random,
      logger: options.logger,
      ...(options.onPruned ? { onPruned: options.onPruned } : {}),
    });
  }

  /** The endpoint's failure record (null before its first attempt). */
  health(id: string) {
    return readHealth(this.#knex, id);
  }
}
