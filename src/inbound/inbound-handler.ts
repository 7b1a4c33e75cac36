import type { ActionRegistry } from '../actions/index.js';
import { AppError } from '../errors.js';
import type { EmittedEvent } from '../events/index.js';
import type { Logger } from '../logger.js';
import type { Sandbox, SandboxLimits } from '../sandbox/types.js';
import { uuidv7 } from '../store/index.js';
import type { RunRecord } from '../store/types.js';
import type { CachedWebhook, ConfigCache } from './config-cache.js';
import { eventMatches, extractEventType } from './event-type.js';
import { executeScript } from './execute-script.js';
import type { RunRecorder } from './run-recorder.js';
import { verifySignature } from './verifiers/index.js';

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
}

export interface InboundRequest {
  rawBody: Buffer;
  /** Lower-cased names, one string per header. */
  headers: Record<string, string>;
}

/** The inbound path after routing: verify, parse, filter, run, record, emit. */
export class InboundHandler {
  readonly #deps: InboundHandlerDeps;
  readonly #now: () => number;

  constructor(deps: InboundHandlerDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** The active webhook for a provider; AppError `provider_not_found` (404) otherwise. */
  async lookup(provider: string): Promise<CachedWebhook> {
    const cached = await this.#deps.cache.getWebhook(provider);
    if (!cached || !cached.webhook.isActive) {
      throw new AppError('provider_not_found', `No active inbound webhook for provider "${provider}".`);
    }
    return cached;
  }

  /** Handles one accepted request and returns its run id. Script failures are recorded, never thrown. */
  async handle(cached: CachedWebhook, request: InboundRequest): Promise<{ runId: string }> {
    const { webhook } = cached;
    const body = parseJson(request.rawBody);
    verifySignature(webhook.verify, { rawBody: request.rawBody, headers: request.headers, nowMs: this.#now() });

    const runId = uuidv7();
    const eventType = extractEventType(body, request.headers);
    const base = {
      id: runId,
      webhookId: webhook.id,
      provider: webhook.provider,
      eventType,
      scriptVersion: webhook.scriptVersion,
      createdAt: new Date(this.#now()).toISOString(),
    };
    if (!eventMatches(webhook.events, eventType)) {
      this.#deps.recorder.record({ ...base, status: 'ignored', durationMs: 0, actionsCalled: [], logs: [], error: null, emittedEvent: null });
      return { runId };
    }

    const settings = await this.#deps.cache.getSettings();
    const outcome = await executeScript({
      runId,
      target: { ...webhook, scriptKey: cached.scriptKey },
      body,
      headers: request.headers,
      settings,
      registry: this.#deps.registry,
      sandbox: this.#deps.sandbox,
      callAction: (id, args) => this.#deps.registry.invoke(id, args),
      limits: this.#deps.limits,
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
        });
      } catch (err) {
        // The script's actions have run, so asking the sender to retry would run them twice: answer 200
        // and leave the failure on the run record, where an admin sees it.
        this.#deps.logger.error('emitted event could not be stored', { runId, provider: webhook.provider, event: outcome.emit.event, err: String(err) });
        record.status = 'error';
        record.error = { code: 'emit_failed', message: `The event ${outcome.emit.event} could not be stored for delivery.` };
      }
    }
    this.#deps.recorder.record(record);
    if (record.status !== 'ok') {
      this.#deps.logger.warn('script run failed', { runId, provider: webhook.provider, status: record.status, code: record.error?.code });
    }
    return { runId };
  }
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (cause) {
    throw new AppError('invalid_json', undefined, { cause });
  }
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
