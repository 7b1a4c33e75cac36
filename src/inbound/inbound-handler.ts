import type { ActionRegistry } from '../actions/index.js';
import { AppError, coerceError, isAppError } from '../errors.js';
import type { EmittedEvent } from '../events/index.js';
import type { Logger } from '../logger.js';
import { DEFAULT_LIMITS, type Sandbox, type SandboxLimits } from '../sandbox/types.js';
import { isConnectionError, uuidv7, type StoreAvailability } from '../store/index.js';
import type { InboundWebhook, RunRecord, RunRequest, VerifyConfig } from '../store/types.js';
import type { CachedWebhook, ConfigCache } from './config-cache.js';
import { deliveryIdOf, retentionSecOf } from './delivery-id.js';
import { eventMatches, extractEventType } from './event-type.js';
import { executeScript, type ScriptResponse } from './execute-script.js';
import type { Inbox, NewInboxItem } from './inbox.js';
import { bodyKindOf, parseBody } from './request-body.js';
import type { RunRecorder } from './run-recorder.js';
import { verifySignature } from './verifiers/index.js';

/** `rejected` runs recorded per provider per minute (per process); beyond that they are only counted. */
export const REJECTED_RUNS_PER_MINUTE = 60;

/** Verification errors whose request was recorded as a `rejected` run (not dropped by the cap). */
const recordedRejections = new WeakSet<object>();

/** True when `err` (thrown by `accept`) failed verification and its request was recorded as a run. */
export function rejectionWasRecorded(err: unknown): boolean {
  return typeof err === 'object' && err !== null && recordedRejections.has(err);
}

export interface InboundHandlerDeps {
  cache: ConfigCache;
  registry: ActionRegistry;
  sandbox: Sandbox;
  recorder: RunRecorder;
  /** Hands an emitted event to the outbox (and the engine's listeners); resolves once it is stored. */
  publish: (event: EmittedEvent) => Promise<unknown>;
  logger: Logger;
  limits?: Partial<SandboxLimits>;
  now?: () => number;
  /** The durable inbox (knex store only): idempotency, async mode, payloads for replay. null = run directly. */
  inbox?: Inbox | null;
  /** Called when an async request was stored, to wake the worker. */
  onQueued?: () => void;
  /** How long the answering process holds a sync item (default: script timeout + 30 s). */
  leaseMs?: number;
  /** Told after every script run (metrics): the provider, the recorded status, the duration and the action calls. */
  onScriptRun?: (provider: string, status: RunRecord['status'], durationMs: number, actionsCalled: RunRecord['actionsCalled']) => void;
  /** Whether the database answers: while it does not, requests are refused with 503 before they run. */
  availability?: StoreAvailability;
}

export interface InboundRequest {
  rawBody: Buffer;
  /** Lower-cased names, one string per header. */
  headers: Record<string, string>;
  /** The id of the run this request starts (also of its `rejected` run); default a new UUIDv7. */
  runId?: string;
  /** Carried into the log lines of the run, its action calls and the deliveries it causes; default the run id. */
  requestId?: string;
}

/** What became of an accepted request. */
export type InboundAnswer =
  | { kind: 'ran'; runId: string; inboxId: string | null; response: ScriptResponse | null }
  | { kind: 'queued'; runId: string; inboxId: string }
  | { kind: 'duplicate' };

/** One request as the script run needs it (parsed body, stored headers). */
export interface ProcessItem {
  runId: string;
  inboxId: string | null;
  body: unknown;
  headers: Record<string, string>;
  /** Set by an admin replay: the run whose stored request this one re-runs (recorded on the run). */
  replayOf?: string;
  /** A request stored in the run's own row, written with it in the recorder's batch (sync, no delivery id). */
  storeRequest?: RunRequest;
  /** For the log lines of the run, its action calls and its deliveries (kept out of the envelope); default the run id. */
  requestId?: string;
}

/** The inbound path after routing: verify, parse, filter, run, record, emit. */
export class InboundHandler {
  readonly #deps: InboundHandlerDeps;
  readonly #now: () => number;
  /** Per provider: the current minute's recorded and dropped `rejected` runs. */
  readonly #rejectedWindows = new Map<string, { startMs: number; recorded: number; dropped: number }>();

  constructor(deps: InboundHandlerDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** The active webhook for a provider; AppError `provider_not_found` (404) otherwise. */
  async lookup(provider: string): Promise<CachedWebhook> {
    const cached = await this.#deps.cache.getWebhook(provider).catch((err: unknown) => this.#storeFailed(err));
    if (!cached || !cached.webhook.isActive) {
      throw new AppError('provider_not_found', `No active inbound webhook for provider "${provider}".`);
    }
    return cached;
  }

  /**
   * Takes one request that passed routing: parses, verifies (a failure is recorded as a `rejected` run and
   * thrown as a 401), stores it in the inbox (a repeat of a stored delivery id is answered as a duplicate),
   * then runs it now (sync) or leaves it to the worker (async). Script failures are recorded, never thrown;
   * a saturated sandbox throws `sandbox_busy` and forgets the stored request, so the sender's retry runs it.
   * A lost database throws `database_unavailable` (503): before the run when it is known to be down, else
   * when the run's emitted event cannot be stored — never a 200 whose effects are not stored.
   */
  async accept(cached: CachedWebhook, request: InboundRequest): Promise<InboundAnswer> {
    const { webhook } = cached;
    const kind = bodyKindOf(request.headers['content-type']) ?? 'json';
    const text = request.rawBody.toString('utf8');
    const body = parseBody(kind, text);
    const runId = request.runId ?? uuidv7();
    const { requestId } = request;
    try {
      verifySignature(webhook.verify, { rawBody: request.rawBody, headers: request.headers, nowMs: this.#now() });
    } catch (err) {
      if (isAppError(err) && this.#recordRejected(webhook, err, runId)) recordedRejections.add(err);
      throw err;
    }

    // Known lost: refused before anything runs, so no action runs whose run and event could not be stored.
    this.#deps.availability?.assertAvailable();
    const headers = withoutCredentials(request.headers, webhook.verify);
    const inbox = this.#deps.inbox ?? null;
    if (!inbox) {
      const { response } = await this.process(cached, { runId, inboxId: null, body, headers, requestId });
      return { kind: 'ran', runId, inboxId: null, response };
    }
    const inboxId = uuidv7();
    const mode = webhook.mode ?? 'sync';
    const item: NewInboxItem = {
      id: inboxId,
      webhookId: webhook.id,
      provider: webhook.provider,
      deliveryKey: deliveryIdOf(webhook, body, headers),
      mode,
      contentType: request.headers['content-type'] ?? 'application/json',
      headers,
      body: text,
      runId,
    };
    if (mode === 'sync' && item.deliveryKey === null) {
      // Nothing to de-duplicate and the sender waits for the outcome (a crash means it retries): the
      // request is stored only for display and replay, in the run's own row (no inbox row), written in
      // the run recorder's batch, off the request path. `inboxId` still names it.
      const storeRequest = { contentType: item.contentType, headers, body: text };
      const { response } = await this.process(cached, { runId, inboxId, body, headers, storeRequest, requestId });
      return { kind: 'ran', runId, inboxId, response };
    }
    let stored: boolean;
    try {
      stored = await inbox.accept(item, { retentionSec: retentionSecOf(webhook), leaseMs: this.leaseMs });
    } catch (cause) {
      this.#deps.availability?.failed(cause);
      throw new AppError('database_unavailable', 'The request could not be stored; retry later.', { cause });
    }
    if (!stored) return { kind: 'duplicate' };
    if (mode === 'async') {
      this.#deps.onQueued?.();
      return { kind: 'queued', runId, inboxId };
    }

    let response: ScriptResponse | null;
    try {
      let status: RunRecord['status'];
      let error: RunRecord['error'];
      ({ response, status, error } = await this.process(cached, { runId, inboxId, body, headers, requestId }));
      // Cut off by a shutdown (past its deadline the sender gets no answer and retries): the retry must run
      // it, not be answered as a duplicate of a run that never finished.
      if (status === 'crashed' && error?.code === 'sandbox_closed') throw new AppError('sandbox_closed');
    } catch (err) {
      if (isAppError(err) && (err.code === 'sandbox_busy' || err.code === 'sandbox_closed')) {
        await inbox.remove(inboxId).catch((e: unknown) => this.#deps.logger.error('inbox item not removed', { inboxId, err: String(e) }));
      } else if (isAppError(err) && err.code === 'database_unavailable') {
        // Its event was not stored: the item stays `running`, so the inbox worker runs it again once its
        // lease runs out (the sender's retry is answered as a duplicate of it).
      } else {
        await this.#finish(inbox, inboxId, 'failed', coerceError(err).message);
      }
      throw err;
    }
    // Awaited before the answer: a done item is never run again, even if this process dies right after.
    await this.#finish(inbox, inboxId, 'done', null);
    return { kind: 'ran', runId, inboxId, response };
  }

  /** How long a process may hold an item before another process may take it over (the script's wall clock + 30 s). */
  get leaseMs(): number {
    return this.#deps.leaseMs ?? (this.#deps.limits?.timeoutMs ?? DEFAULT_LIMITS.timeoutMs) + 30_000;
  }

  /**
   * Filters, runs the script, emits and records one stored request. Used by the request path (sync) and by
   * the inbox worker (async, and sync requests whose process died). Returns the run record.
   * @throws AppError `sandbox_busy` / `sandbox_closed` when the sandbox refused the run (nothing recorded).
   */
  async process(cached: CachedWebhook, item: ProcessItem): Promise<RunRecord & { response: ScriptResponse | null }> {
    const { webhook } = cached;
    const { runId, body, headers } = item;
    const requestId = item.requestId ?? runId;
    const { logger } = this.#deps;
    const eventType = extractEventType(body, headers);
    const base = {
      id: runId,
      webhookId: webhook.id,
      provider: webhook.provider,
      eventType,
      scriptVersion: webhook.scriptVersion,
      createdAt: new Date(this.#now()).toISOString(),
      inboxId: item.inboxId,
      ...(item.replayOf ? { replayOf: item.replayOf } : {}),
    };
    if (!eventMatches(webhook.events, eventType)) {
      const ignored: RunRecord = { ...base, status: 'ignored', durationMs: 0, actionsCalled: [], logs: [], error: null, emittedEvent: null };
      this.#deps.recorder.record(ignored, item.storeRequest);
      if (logger.isDebugEnabled()) logger.debug('script run', { requestId, runId, provider: webhook.provider, status: 'ignored' });
      return { ...ignored, response: null };
    }

    const settings = await this.#deps.cache.getSettings().catch((err: unknown) => this.#storeFailed(err));
    const outcome = await executeScript({
      runId,
      target: { ...webhook, scriptKey: cached.scriptKey },
      body,
      headers,
      settings,
      registry: this.#deps.registry,
      sandbox: this.#deps.sandbox,
      callAction: (id, args) => this.#deps.registry.invoke(id, args),
      limits: this.#deps.limits,
      logger,
      requestId,
    });

    const record: RunRecord = {
      ...base,
      status: outcome.status,
      durationMs: outcome.durationMs,
      actionsCalled: outcome.actionsCalled,
      logs: outcome.logs,
      error: outcome.error,
      emittedEvent: outcome.emit?.event ?? null,
    };
    if (outcome.emit) {
      try {
        // Awaited: once the sender has its 200, the event is in the outbox and survives a crash.
        await this.#deps.publish({
          event: outcome.emit.event,
          data: outcome.emit.data,
          tenantId: webhook.tenantId,
          metadata: { provider: webhook.provider, runId, tenantId: webhook.tenantId },
          origin: { requestId, runId },
        });
      } catch (err) {
        if (isConnectionError(err)) {
          // Not stored because the database is gone: 503, so that the sender retries, rather than a 200 with
          // a lost event. The retry runs the script again (at least once, as after a crash); this attempt
          // leaves no run record, since a stored request is run again under this same run id.
          logger.error('emitted event could not be stored: the database is unavailable; the request is to run again', { requestId, runId, provider: webhook.provider, event: outcome.emit.event, actions: record.actionsCalled.map((c) => c.id), err: String(err) });
          this.#storeFailed(err);
        }
        record.status = 'error';
        if (isAppError(err) && (err.code === 'event_unknown' || err.code === 'event_invalid' || err.code === 'event_reserved' || err.code === 'payload_too_large')) {
          // Refused (by the event catalog, or for its size) before anyone heard of it: nothing was emitted.
          record.error = { code: err.code, message: err.message };
        } else {
          // The script's actions have run, so asking the sender to retry would run them twice: answer 200
          // and leave the failure on the run record, where an admin sees it.
          logger.error('emitted event could not be stored', { requestId, runId, provider: webhook.provider, event: outcome.emit.event, err: String(err) });
          record.error = { code: 'emit_failed', message: `The event ${outcome.emit.event} could not be stored for delivery.` };
        }
      }
    }
    this.#deps.recorder.record(record, item.storeRequest);
    this.#deps.onScriptRun?.(webhook.provider, record.status, record.durationMs, record.actionsCalled);
    if (record.status !== 'ok') {
      logger.warn('script run failed', { requestId, runId, provider: webhook.provider, status: record.status, durationMs: record.durationMs, code: record.error?.code });
    } else if (logger.isDebugEnabled()) {
      logger.debug('script run', { requestId, runId, provider: webhook.provider, status: record.status, durationMs: record.durationMs, actions: record.actionsCalled.length, event: record.emittedEvent });
    }
    return { ...record, response: record.status === 'ok' ? outcome.response : null };
  }

  /** A store call that failed: a lost database becomes 503 `database_unavailable` (retry later); anything else is rethrown. */
  #storeFailed(err: unknown): never {
    if (!isConnectionError(err)) throw err;
    this.#deps.availability?.failed(err);
    throw new AppError('database_unavailable', 'The database is unavailable; retry later.', { cause: err });
  }

  async #finish(inbox: Inbox, inboxId: string, status: 'done' | 'failed', error: string | null): Promise<void> {
    // Not fatal for the answer: an unfinished item is run again by a worker once its lease runs out.
    await inbox.finish(inboxId, status, error).catch((e: unknown) => this.#deps.logger.error('inbox item not marked finished', { inboxId, err: String(e) }));
  }

  /**
   * A request that failed verification leaves a trace an admin can see; the message names the check, never a
   * secret. At most REJECTED_RUNS_PER_MINUTE per provider (in this process): a flood of unsigned requests
   * is counted and logged, not written row by row.
   */
  #recordRejected(webhook: InboundWebhook, err: AppError, runId: string): boolean {
    const nowMs = performance.now();
    let window = this.#rejectedWindows.get(webhook.provider);
    if (!window || nowMs - window.startMs >= 60_000) {
      if (window && window.dropped > 0) {
        this.#deps.logger.warn('requests that failed verification were not recorded as runs', { provider: webhook.provider, dropped: window.dropped, perMinute: REJECTED_RUNS_PER_MINUTE });
      }
      window = { startMs: nowMs, recorded: 0, dropped: 0 };
      this.#rejectedWindows.set(webhook.provider, window);
    }
    if (window.recorded >= REJECTED_RUNS_PER_MINUTE) {
      // Told at once when a flood starts; the count of this window follows with the next one's first rejection.
      if (window.dropped++ === 0) {
        this.#deps.logger.warn('too many requests failing verification: recording no more as runs this minute', { provider: webhook.provider, perMinute: REJECTED_RUNS_PER_MINUTE });
      }
      return false;
    }
    window.recorded++;
    this.#deps.recorder.record({
      id: runId,
      webhookId: webhook.id,
      provider: webhook.provider,
      eventType: null,
      status: 'rejected',
      durationMs: 0,
      scriptVersion: webhook.scriptVersion,
      actionsCalled: [],
      logs: [],
      error: { code: err.code, message: err.message },
      emittedEvent: null,
      createdAt: new Date(this.#now()).toISOString(),
      inboxId: null,
    });
    return true;
  }
}

/** Headers as stored and shown to the script: credentials (Basic auth, API keys, cookies) removed. */
export function withoutCredentials(headers: Record<string, string>, verify: VerifyConfig): Record<string, string> {
  const out: Record<string, string> = {};
  const drop = new Set(['authorization', 'proxy-authorization', 'cookie']);
  if (verify.scheme === 'api-key') drop.add((verify.header ?? 'X-Api-Key').toLowerCase());
  for (const [name, value] of Object.entries(headers)) if (!drop.has(name)) out[name] = value;
  return out;
}

/** Node's headers, lower-cased, with repeated headers joined as HTTP allows. */
export function normaliseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
