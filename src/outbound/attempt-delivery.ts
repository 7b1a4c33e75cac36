import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import { uuidv7 } from '../store/index.js';
import { completeDelivery, type Completed, type CompleteInput } from './completion-writer.js';
import type { ClaimedDelivery } from './delivery-queue.js';
import type { DisablePolicy } from './endpoint-health.js';
import type { AttemptError, AttemptResult, HttpTransport } from './http-transport.js';
import { classifyAttempt, nextStep, type NextStep } from './retry-policy.js';
import { WebhookSender } from './signing.js';
import type { DeliveryAttempt } from './types.js';

/** What sending one claimed delivery needs. */
export interface AttemptContext {
  knex: Knex;
  transport: HttpTransport;
  /** Recorded on every attempt: which process sent it. */
  worker: string;
  now: () => number;
  random: () => number;
  /** Cap of one wait between attempts. */
  maxDelayMs: number;
  disablePolicy: DisablePolicy;
  logger: Logger;
  /** Records a completion; default `completeDelivery` (the worker passes its batching `CompletionWriter`). */
  complete?: (input: CompleteInput) => Promise<Completed>;
}

export interface AttemptOptions {
  /** Aborts the HTTP request (shutdown); the attempt is then recorded as a retryable `aborted`. */
  signal?: AbortSignal;
  /** Told once the HTTP part is over (or skipped), before the outcome is recorded; `answered` is false when no request was made. */
  onSent?: (answered: boolean) => void;
}

export interface AttemptOutcome {
  /** null when nothing was sent. */
  attempt: DeliveryAttempt | null;
  step: NextStep;
  completed: Completed;
}

/**
 * Leases taken again after a crash count as attempts; past the budget by this many more, a delivery
 * fails without sending, so one whose sending kills its process cannot loop forever.
 */
const MAX_LOST_ATTEMPTS = 3;

/** The request headers of one attempt (the contract's `X-Webhook-*` and Standard Webhooks sets). */
export function deliveryHeaders(delivery: Pick<ClaimedDelivery, 'id' | 'event' | 'payload'>, secrets: readonly string[], attemptId: string, nowMs: number): Record<string, string> {
  // One instant for both timestamps: whole seconds, as webhook-timestamp carries.
  const timestamp = new Date(Math.floor(nowMs / 1000) * 1000);
  const signed = WebhookSender.sign({ body: delivery.payload, secrets, webhookId: delivery.id, timestamp });
  // Field by field rather than a spread: this runs on every attempt, and spreads cost here (measured).
  return {
    'X-Webhook-Event': delivery.event,
    'X-Webhook-Delivery': attemptId,
    'X-Webhook-Timestamp': timestamp.toISOString(),
    'X-Webhook-Signature': signed['X-Webhook-Signature'],
    'webhook-id': signed['webhook-id'],
    'webhook-timestamp': signed['webhook-timestamp'],
    'webhook-signature': signed['webhook-signature'],
  };
}

/**
 * Sends one claimed delivery once and records the outcome: the attempt, the delivery's next status
 * (retry at a back-off, succeeded, failed) and the endpoint's health. A test ping is never retried and
 * never counts for health. Never throws for the endpoint's failures; a database error does throw.
 */
export async function attemptDelivery(ctx: AttemptContext, delivery: ClaimedDelivery, options: AttemptOptions = {}): Promise<AttemptOutcome> {
  const { endpoint } = delivery;
  const { signal } = options;
  const base = { deliveryId: delivery.id, webhookId: delivery.webhookId, leaseToken: delivery.leaseToken };
  const complete = ctx.complete ?? ((input: CompleteInput) => completeDelivery(ctx.knex, input));

  const skip = !delivery.test && !endpoint.isActive
    ? { code: 'endpoint_inactive', message: 'The webhook was inactive when its turn came; redeliver after activating it.' }
    : !delivery.test && delivery.roundAttempts > endpoint.maxRetries + 1 + MAX_LOST_ATTEMPTS
      ? { code: 'attempts_lost', message: 'Its attempts kept being lost with their process; given up.' }
      : null;
  if (skip) {
    const step: NextStep = { status: 'failed', error: skip, disableEndpoint: false };
    ctx.logger.warn('delivery not sent', { ...logFields(delivery), outcome: 'failed', code: skip.code });
    options.onSent?.(false);
    const completed = await complete({ ...base, now: new Date(ctx.now()), attempt: null, next: { status: 'failed' }, lastStatusCode: null, lastError: skip, health: null });
    return { attempt: null, step, completed };
  }

  const attemptId = uuidv7();
  const startedAt = ctx.now();
  // Secrets that could not be decrypted (wrong key, altered row): recorded as a failed attempt, never signed with.
  const notSigned = endpoint.secretsError;
  if (notSigned) ctx.logger.error('delivery not sent: the endpoint\'s stored secret cannot be decrypted', { ...logFields(delivery), code: notSigned.code });
  const result: AttemptResult = notSigned
    ? { statusCode: null, retryAfter: null, responseExcerpt: null, responseTruncated: false, durationMs: 0, error: notSigned }
    : await ctx.transport({
        url: endpoint.url,
        body: delivery.payload,
        headers: deliveryHeaders(delivery, endpoint.secrets, attemptId, startedAt),
        timeoutMs: endpoint.timeoutMs,
        signal,
      });
  options.onSent?.(!notSigned);
  const nowMs = ctx.now();
  const classified = classifyAttempt(result, nowMs);
  // A test ping never counts for health, so a 410 to one disables nothing (and its log says so).
  const verdict: typeof classified =
    delivery.test && classified.kind === 'gone' ? { kind: 'gone', error: { code: 'http_410', message: 'The endpoint answered 410 Gone; a test ping does not disable it.' } } : classified;
  const settings = { maxRetries: delivery.test ? 0 : endpoint.maxRetries, retryDelayMs: endpoint.retryDelayMs, maxDelayMs: ctx.maxDelayMs };
  const shutdown = result.error?.code === 'aborted';
  // Cut short by our own shutdown: due again at once for any worker, whatever the budget says, and the
  // completion gives back the place the claim took in the budget (`uncounted`). So neither the budget nor the
  // lost-attempts guard above ends a delivery that only restarts cut short: were its sending what made the
  // process stop gracefully, time after time, it would be tried on each restart, logged each time.
  const step: NextStep =
    shutdown && result.error ? { status: 'pending', delayMs: 0, error: result.error } : nextStep(verdict, delivery.roundAttempts, settings, ctx.random);

  const lastError: AttemptError | null = step.status === 'succeeded' ? null : step.error;
  const outcome = step.status === 'succeeded' ? 'succeeded' : step.status === 'pending' ? 'retry' : 'failed';
  const health: CompleteInput['health'] =
    delivery.test || shutdown || notSigned ? null : verdict.kind === 'succeeded' ? { ok: true } : { ok: false, disable: verdict.kind === 'gone' ? 'gone' : ctx.disablePolicy };
  const attempt: DeliveryAttempt = {
    id: attemptId,
    number: delivery.attemptNumber,
    worker: ctx.worker,
    startedAt: new Date(startedAt).toISOString(),
    durationMs: result.durationMs,
    statusCode: result.statusCode,
    responseExcerpt: result.responseExcerpt,
    responseTruncated: result.responseTruncated,
    error: lastError,
    outcome,
  };
  const completed = await complete({
    deliveryId: delivery.id,
    webhookId: delivery.webhookId,
    leaseToken: delivery.leaseToken,
    now: new Date(nowMs),
    attempt: {
      id: attemptId,
      number: attempt.number,
      worker: attempt.worker,
      startedAt: new Date(startedAt),
      durationMs: attempt.durationMs,
      statusCode: attempt.statusCode,
      responseExcerpt: attempt.responseExcerpt,
      responseTruncated: attempt.responseTruncated,
      error: attempt.error,
      outcome,
    },
    next: step.status === 'pending' ? { status: 'pending', availableAt: new Date(nowMs + step.delayMs) } : { status: step.status },
    lastStatusCode: result.statusCode,
    lastError,
    health,
    uncounted: shutdown,
  });

  // One line per attempt: info when it succeeded, warn when it will be retried, error when the delivery failed for good.
  const level = step.status === 'succeeded' ? 'info' : step.status === 'pending' ? 'warn' : 'error';
  if (ctx.logger.isLevelEnabled(level)) {
    ctx.logger.log(level, 'delivery attempt', {
      ...logFields(delivery),
      outcome,
      statusCode: result.statusCode,
      durationMs: result.durationMs,
      ...(step.status === 'succeeded' ? {} : { code: step.error.code }),
      ...(step.status === 'pending' ? { retryInMs: Math.round(step.delayMs) } : {}),
    });
  }
  if (!completed.leaseHeld) ctx.logger.warn('delivery lease had expired; another worker took it over', logFields(delivery));
  return { attempt, step, completed };
}

/**
 * What every delivery log line says: the event, the delivery, the endpoint's id, the attempt number and the
 * request (and run) that emitted the event. Never the payload, the URL or a secret.
 */
function logFields(delivery: ClaimedDelivery) {
  return {
    event: delivery.event,
    deliveryId: delivery.id,
    webhookId: delivery.webhookId,
    attempt: delivery.attemptNumber,
    ...(delivery.requestId ? { requestId: delivery.requestId } : {}),
    ...(delivery.runId ? { runId: delivery.runId } : {}),
  };
}
