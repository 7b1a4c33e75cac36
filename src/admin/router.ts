import express, { type Request, type Response, Router } from 'express';
import type { ActionRegistry } from '../actions/index.js';
import { computeAvailability } from '../actions/index.js';
import { AppError } from '../errors.js';
import type { ConfigCache, RunRecorder } from '../inbound/index.js';
import { executeScript, normaliseHeaders, scriptKeyOf } from '../inbound/index.js';
import { notFoundHandler } from '../http/error-handler.js';
import { checkScriptSyntax } from '../sandbox/index.js';
import type { Sandbox, SandboxLimits } from '../sandbox/types.js';
import { uuidv7 } from '../store/index.js';
import type { InboundWebhookPatch, NewInboundWebhook, RunQuery, Settings, Store } from '../store/types.js';
import type { EmittedEvent } from '../events/index.js';
import type { Enqueued, OutboundService, OutgoingWebhookInput } from '../outbound/index.js';
import { createAdminAuth } from './auth.js';
import { addOutgoingRoutes, createOutgoingWebhook, patchOutgoingWebhook, type OutgoingRoutesOptions } from './outgoing-routes.js';
import { createWebhookSchema, dryRunSchema, patchWebhookSchema, runsQuerySchema, settingsPatchSchema } from './schemas.js';
import { validator } from './validate.js';
import { webhookView } from './views.js';

export interface AdminRouterOptions {
  store: Store;
  registry: ActionRegistry;
  cache: ConfigCache;
  recorder: RunRecorder;
  sandbox: Sandbox;
  bootstrapToken?: string;
  limits?: Partial<SandboxLimits>;
  /** Outgoing webhooks; without it their routes answer `outbound_unavailable`. */
  outbound?: OutboundService | null;
  /** Emits an event (outbox write + in-process listeners) for `POST /events`. */
  publish?: (event: EmittedEvent) => Promise<Enqueued | null>;
}

type CreateBody = (NewInboundWebhook & { direction: 'inbound' }) | (OutgoingWebhookInput & { direction: 'outgoing' });
type PatchBody = InboundWebhookPatch & { direction?: 'inbound' };
interface DryRunBody {
  body: unknown;
  headers?: Record<string, string>;
  jsScript?: string;
  allowedActions?: string[];
}

const checkCreate = validator<CreateBody>(createWebhookSchema);
const checkPatch = validator<PatchBody>(patchWebhookSchema);
const checkSettings = validator<Settings>(settingsPatchSchema);
const checkRunsQuery = validator<Partial<RunQuery>>(runsQuerySchema, { query: true });
const checkDryRun = validator<DryRunBody>(dryRunSchema);

const DEFAULT_RUNS_LIMIT = 50;
/** Larger `limit`s are capped to this, so one call cannot pull the whole table. */
const MAX_RUNS_LIMIT = 200;

/** `/admin/api/*`: every route behind the bearer token; changes invalidate the config cache at once. */
export function createAdminRouter(options: AdminRouterOptions): Router {
  const { store, registry, cache } = options;
  const router = Router();
  const json = express.json({ limit: '1mb', type: () => true });
  const outgoing: OutgoingRoutesOptions = {
    store,
    outbound: options.outbound ?? null,
    publish: options.publish ?? (async () => { throw new AppError('outbound_unavailable'); }),
    onChange: () => cache.invalidate(),
  };

  router.use(createAdminAuth({ store, bootstrapToken: options.bootstrapToken }));
  // Bodies: JSON only. An empty body on a write is fine for routes without one (rotate, redeliver…).
  router.use((req, res, next) => {
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (!hasBody) return next();
    const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') throw new AppError('unsupported_media_type');
    json(req, res, next);
  });

  const assertScript = (jsScript: string | undefined): void => {
    if (jsScript === undefined) return;
    const check = checkScriptSyntax(jsScript);
    if (!check.ok) {
      throw new AppError('script_compile_error', `The script does not compile: ${check.message} (line ${check.line}, column ${check.column})`, {
        details: { message: check.message, line: check.line, column: check.column },
      });
    }
  };
  const assertActions = (ids: string[] | undefined): void => {
    const unknown = (ids ?? []).filter((id) => !registry.has(id));
    if (unknown.length > 0) {
      throw new AppError('unknown_action', `Unknown action ids: ${unknown.join(', ')}`, { details: { unknown, registered: registry.ids().sort() } });
    }
  };
  const loadWebhook = async (id: string) => {
    const webhook = isUuid(id) ? await store.getWebhook(id) : null;
    if (!webhook) throw new AppError('webhook_not_found', `No webhook with id ${id}`);
    return webhook;
  };

  router.get('/webhooks', async (_req, res) => {
    res.json({ items: (await store.listWebhooks()).map(webhookView) });
  });

  router.post('/webhooks', async (req: Request, res: Response) => {
    const body = checkCreate(req.body);
    if (body.direction === 'outgoing') {
      res.status(201).json(await createOutgoingWebhook(outgoing, body));
      return;
    }
    const { direction: _direction, ...input } = body;
    assertScript(input.jsScript);
    assertActions(input.allowedActions);
    const webhook = await store.createInboundWebhook(input);
    cache.invalidate();
    res.status(201).json(webhookView(webhook));
  });

  router.get('/webhooks/:id', async (req: Request<{ id: string }>, res: Response) => {
    res.json(webhookView(await loadWebhook(req.params.id)));
  });

  router.patch('/webhooks/:id', async (req: Request<{ id: string }>, res: Response) => {
    // The stored webhook's direction picks the schema the patch is checked against.
    if ((await loadWebhook(req.params.id)).direction === 'outgoing') {
      res.json(await patchOutgoingWebhook(outgoing, req.params.id, req.body));
      return;
    }
    const { direction: _direction, ...patch } = checkPatch(req.body);
    assertScript(patch.jsScript);
    assertActions(patch.allowedActions);
    const updated = await store.updateInboundWebhook(req.params.id, patch);
    if (!updated) throw new AppError('webhook_not_found', `No inbound webhook with id ${req.params.id}`);
    cache.invalidate();
    res.json(webhookView(updated));
  });

  router.delete('/webhooks/:id', async (req: Request<{ id: string }>, res: Response) => {
    if (!isUuid(req.params.id) || !(await store.deleteWebhook(req.params.id))) {
      throw new AppError('webhook_not_found', `No webhook with id ${req.params.id}`);
    }
    cache.invalidate();
    res.status(204).end();
  });

  router.post('/webhooks/:id/dry-run', async (req: Request<{ id: string }>, res: Response) => {
    const input = checkDryRun(req.body);
    const webhook = await loadWebhook(req.params.id);
    if (webhook.direction !== 'inbound') throw new AppError('validation_failed', 'Dry-run is for inbound webhooks.');
    assertScript(input.jsScript);
    assertActions(input.allowedActions);
    const jsScript = input.jsScript ?? webhook.jsScript;
    const outcome = await executeScript({
      runId: uuidv7(),
      target: {
        provider: webhook.provider,
        jsScript,
        scriptKey: scriptKeyOf(jsScript),
        allowedActions: input.allowedActions ?? webhook.allowedActions,
        emitEvents: webhook.emitEvents,
      },
      body: input.body,
      headers: normaliseHeaders(input.headers ?? {}),
      settings: await cache.getSettings(),
      registry,
      sandbox: options.sandbox,
      // Stub actions: the call is recorded with its arguments and answers null; nothing real runs.
      callAction: async () => null,
      limits: options.limits,
      keepArgs: true,
    });
    res.json({
      status: outcome.status,
      result: outcome.result,
      emit: outcome.emit,
      logs: outcome.logs,
      actionsCalled: outcome.actionsCalled,
      durationMs: outcome.durationMs,
      ...(outcome.error ? { error: outcome.error } : {}),
    });
  });

  router.get('/actions', async (_req, res) => {
    const settings = await cache.getSettings();
    const actions = registry.list();
    const { unavailable } = computeAvailability({ actions, enabled: settings.enabledWebhookActions });
    const enabled = new Set(settings.enabledWebhookActions);
    res.json({
      items: actions.map((a) => ({
        ...a,
        enabled: enabled.has(a.id),
        available: unavailable[a.id] === undefined,
        unavailableReason: unavailable[a.id] ?? null,
      })),
    });
  });

  router.get('/settings', async (_req, res) => {
    res.json(await cache.getSettings());
  });

  router.patch('/settings', async (req: Request, res: Response) => {
    const settings = checkSettings(req.body);
    assertActions(settings.enabledWebhookActions);
    const saved = await store.saveSettings({ enabledWebhookActions: [...settings.enabledWebhookActions].sort() });
    cache.invalidate();
    res.json(saved);
  });

  router.get('/runs', async (req: Request, res: Response) => {
    const query = checkRunsQuery({ ...req.query });
    await options.recorder.flush();
    res.json(await store.listRuns({ ...query, limit: Math.min(query.limit ?? DEFAULT_RUNS_LIMIT, MAX_RUNS_LIMIT) }));
  });

  router.get('/runs/:id', async (req: Request<{ id: string }>, res: Response) => {
    await options.recorder.flush();
    const run = isUuid(req.params.id) ? await store.getRun(req.params.id) : null;
    if (!run) throw new AppError('not_found', `No run with id ${req.params.id}`);
    res.json(run);
  });

  addOutgoingRoutes(router, outgoing);

  router.use(notFoundHandler);
  return router;
}

function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
