import { AppError } from '../errors.js';
import type { ConfigCache, InboundHandler, Inbox, RunRecorder } from '../inbound/index.js';
import { bodyKindOf, parseBody } from '../inbound/index.js';
import { uuidv7 } from '../store/index.js';
import type { RunRecord, RunStore } from '../store/types.js';

export interface RunReplayerDeps {
  store: RunStore;
  /** null on a store without the inbox (a host's own store): no payload is kept, nothing can be replayed. */
  inbox: Inbox | null;
  cache: ConfigCache;
  recorder: RunRecorder;
  handler: InboundHandler;
}

/** A finished replay: the new run, and the run whose stored request it re-ran. */
export type ReplayedRun = RunRecord & { replayOf: string };

/** Re-runs the stored request of a run; see {@link createRunReplayer}. `requestId` (the admin request's) goes on the new run's log lines. */
export type RunReplayer = (runId: string, requestId?: string) => Promise<ReplayedRun>;

/**
 * `POST /runs/:id/replay`: re-runs the request a run processed (its stored request: the body as received
 * and the headers, credentials removed) against the webhook's *current* script, with real actions, as a new
 * run that is recorded and emits like any other. The signature is not checked again: it was checked when
 * the request arrived, and its timestamp would be stale by now.
 *
 * @throws AppError `not_found` (no such run), `run_not_replayable` (no stored request: an ignored or
 * rejected run, a purged inbox row, or a store without the inbox), `webhook_not_found`, `webhook_inactive`.
 */
export function createRunReplayer(deps: RunReplayerDeps): RunReplayer {
  return async (runId, requestId) => {
    await deps.recorder.flush();
    const run = await deps.store.getRun(runId);
    if (!run) throw new AppError('not_found', `No run with id ${runId}`);
    const item = deps.inbox ? await deps.inbox.requestOf(run) : null;
    if (!item) throw new AppError('run_not_replayable', `Run ${runId} has no stored request to replay.`);
    const cached = await deps.cache.getWebhook(run.provider);
    if (!cached || cached.webhook.id !== run.webhookId) throw new AppError('webhook_not_found', `The webhook of run ${runId} no longer exists.`);
    if (!cached.webhook.isActive) throw new AppError('webhook_inactive');
    const kind = bodyKindOf(item.contentType) ?? 'json';
    const { response: _response, ...record } = await deps.handler.process(cached, {
      runId: uuidv7(),
      inboxId: item.id,
      body: parseBody(kind, item.body),
      headers: item.headers,
      replayOf: run.id,
      requestId,
      // A request kept in its run's row is copied into the replay's, so the replay can be shown and replayed too.
      ...(item.inRunRow ? { storeRequest: { contentType: item.contentType, headers: item.headers, body: item.body } } : {}),
    });
    await deps.recorder.flush();
    return { ...record, replayOf: run.id };
  };
}
