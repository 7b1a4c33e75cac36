import express, { type Request, type Response, Router } from 'express';
import type { ActionRegistry } from '../actions/index.js';
import { computeAvailability } from '../actions/index.js';
import { AppError } from '../errors.js';
import type { ConfigCache, Inbox, RunRecorder } from '../inbound/index.js';
import { notFoundHandler } from '../http/error-handler.js';
import { requestIdFrom } from '../http/request-log.js';
import { checkScriptSyntax } from '../sandbox/index.js';
import type { Sandbox, SandboxLimits } from '../sandbox/types.js';
import type { InboundWebhookPatch, NewInboundWebhook, RunQuery, RunRecord, Settings, Store } from '../store/types.js';
import type { EmittedEvent } from '../events/index.js';
import type { Enqueued, OutboundService, OutgoingWebhookInput } from '../outbound/index.js';
import { createAdminAuth } from './auth.js';
import { RESERVED_EVENTS, type EventCatalog } from '../events/index.js';
import { unsavedDryRunSchema, type UnsavedDryRunBody } from './access-schemas.js';
import { addAuditRoutes } from './audit-routes.js';
import { addKeyRoutes } from './key-routes.js';
import { dryRunScript, type DryRunInput, type DryRunTarget } from './dry-run.js';
import { buildOpenApiDocument } from './openapi.js';
import { canSeeTenant, isPlatform, principalOf, requirePermission } from './principal.js';
import type { RunReplayer } from './replay.js';
import { permissionGuard } from './route-table.js';
import { addOutgoingRoutes, createOutgoingWebhook, patchOutgoingWebhook, type OutgoingRoutesOptions } from './outgoing-routes.js';
import { createWebhookSchema, dryRunSchema, patchWebhookSchema, runsQuerySchema, settingsPatchSchema, webhooksQuerySchema } from './schemas.js';
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
  /** The event catalog, for `GET /event-types` and for checking what a dry-run would emit. */
  events?: EventCatalog;
  /** The stored inbound requests, for `GET /runs/:id/request`; null on a host's own store (nothing kept). */
  inbox?: Inbox | null;
  /** `POST /runs/:id/replay`; without it the route answers `run_not_replayable`. */
  replay?: RunReplayer;
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
const checkWebhooksQuery = validator<{ direction?: 'inbound' | 'outgoing' }>(webhooksQuerySchema, { query: true });
const checkDryRun = validator<DryRunBody>(dryRunSchema);
const checkUnsavedDryRun = validator<UnsavedDryRunBody>(unsavedDryRunSchema);

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

  const auth = createAdminAuth({ store, bootstrapToken: options.bootstrapToken });
  router.use(auth);
  // Roles, from the route table (src/admin/route-table.ts); tenant scoping is in the handlers.
  router.use(permissionGuard);
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
  // With a non-empty event catalog, an outgoing webhook subscribes to `*` or catalog names, and an inbound
  // webhook's `emitEvents` names catalog types (inbound `events` are the provider's own types: not checked).
  const assertCatalogEvents = (field: 'events' | 'emitEvents', names: unknown): void => {
    const catalog = options.events;
    if (!catalog || catalog.size === 0 || !Array.isArray(names)) return;
    // The engine's own events (webhook.disabled, webhook.test) can be subscribed to whether or not the catalog describes them.
    const unknown = names.filter((n): n is string => typeof n === 'string' && !(field === 'events' && (n === '*' || RESERVED_EVENTS.has(n))) && !catalog.has(n));
    if (unknown.length > 0) {
      throw new AppError('event_unknown', `Not in the event catalog: ${unknown.join(', ')}`, {
        details: { path: `/${field}`, unknown, known: catalog.list().map((t) => t.name) },
      });
    }
  };
  // A tenant key sees only its tenant's outgoing webhooks; anything else is "not found" to it, so it cannot
  // probe for other tenants' ids. Inbound webhooks (scripts) belong to the platform admin.
  const loadWebhook = async (id: string, res: Response) => {
    const principal = principalOf(res);
    const webhook = isUuid(id) ? await store.getWebhook(id) : null;
    if (!webhook || !canSeeTenant(principal, webhook.tenantId) || (!isPlatform(principal) && webhook.direction === 'inbound')) {
      throw new AppError('webhook_not_found', `No webhook with id ${id}`);
    }
    return webhook;
  };
  /** A tenant key writes only its own tenant: a missing `tenantId` becomes its tenant, another one is 403. */
  const scopeTenant = <T extends { tenantId?: string | null }>(body: T, res: Response): T => {
    const principal = principalOf(res);
    if (isPlatform(principal)) return body;
    if (body.tenantId !== undefined && body.tenantId !== principal.tenantId) {
      throw new AppError('forbidden', 'A tenant key can only use its own tenantId.', { details: { tenantId: principal.tenantId } });
    }
    return { ...body, tenantId: principal.tenantId };
  };

  router.get('/webhooks', async (req, res) => {
    const { direction } = checkWebhooksQuery({ ...req.query });
    const principal = principalOf(res);
    // A tenant key has outgoing webhooks only: asking for inbound ones finds none.
    const webhooks = isPlatform(principal)
      ? await store.listWebhooks(direction ? { direction } : {})
      : direction === 'inbound'
        ? []
        : await store.listWebhooks({ direction: 'outgoing', tenantId: principal.tenantId });
    res.json({ items: webhooks.map(webhookView) });
  });

  router.post('/webhooks', async (req: Request, res: Response) => {
    const body = checkCreate(req.body);
    if (body.direction === 'outgoing') {
      assertCatalogEvents('events', body.events);
      res.status(201).json(await createOutgoingWebhook(outgoing, scopeTenant(body, res), principalOf(res)));
      return;
    }
    requirePermission(res, 'platform');
    const { direction: _direction, ...input } = body;
    assertScript(input.jsScript);
    assertActions(input.allowedActions);
    assertCatalogEvents('emitEvents', input.emitEvents);
    const webhook = await store.createInboundWebhook(input, principalOf(res));
    cache.invalidate();
    res.status(201).json(webhookView(webhook));
  });

  router.get('/webhooks/:id', async (req: Request<{ id: string }>, res: Response) => {
    const webhook = await loadWebhook(req.params.id, res);
    if (webhook.direction === 'outgoing' && options.outbound) {
      // Why an endpoint was switched off (410, or failing too long), and how it is doing: this read only.
      res.json({ ...webhookView(webhook), health: await options.outbound.health(webhook.id) });
      return;
    }
    res.json(webhookView(webhook));
  });

  router.patch('/webhooks/:id', async (req: Request<{ id: string }>, res: Response) => {
    // The stored webhook's direction picks the schema the patch is checked against.
    if ((await loadWebhook(req.params.id, res)).direction === 'outgoing') {
      const body: unknown = req.body;
      // Another tenant's id is 403; the body itself is checked as sent (the stored tenantId is already the
      // caller's, so nothing is added: an empty patch stays an empty patch, refused as for the platform admin).
      if (body !== null && typeof body === 'object' && !Array.isArray(body)) scopeTenant(body as { tenantId?: string | null }, res);
      assertCatalogEvents('events', (body as { events?: unknown } | null)?.events);
      res.json(await patchOutgoingWebhook(outgoing, req.params.id, body, principalOf(res)));
      return;
    }
    requirePermission(res, 'platform');
    const { direction: _direction, ...patch } = checkPatch(req.body);
    assertScript(patch.jsScript);
    assertActions(patch.allowedActions);
    assertCatalogEvents('emitEvents', patch.emitEvents);
    const updated = await store.updateInboundWebhook(req.params.id, patch, principalOf(res));
    if (!updated) throw new AppError('webhook_not_found', `No inbound webhook with id ${req.params.id}`);
    cache.invalidate();
    res.json(webhookView(updated));
  });

  router.delete('/webhooks/:id', async (req: Request<{ id: string }>, res: Response) => {
    if ((await loadWebhook(req.params.id, res)).direction === 'inbound') requirePermission(res, 'platform');
    if (!(await store.deleteWebhook(req.params.id, principalOf(res)))) {
      throw new AppError('webhook_not_found', `No webhook with id ${req.params.id}`);
    }
    cache.invalidate();
    res.status(204).end();
  });

  /** Runs a script with stub actions: the answer of both dry-run routes. Nothing is emitted or changed. */
  const dryRun = async (target: DryRunTarget, input: DryRunInput) =>
    dryRunScript({ registry, sandbox: options.sandbox, settings: await cache.getSettings(), limits: options.limits, events: options.events }, target, input);

  router.post('/webhooks/:id/dry-run', async (req: Request<{ id: string }>, res: Response) => {
    const input = checkDryRun(req.body);
    const webhook = await loadWebhook(req.params.id, res);
    if (webhook.direction !== 'inbound') throw new AppError('webhook_direction_mismatch', 'Dry-run is for inbound webhooks.');
    assertScript(input.jsScript);
    assertActions(input.allowedActions);
    res.json(
      await dryRun(
        {
          provider: webhook.provider,
          jsScript: input.jsScript ?? webhook.jsScript,
          allowedActions: input.allowedActions ?? webhook.allowedActions,
          emitEvents: webhook.emitEvents,
          tenantId: webhook.tenantId,
        },
        input,
      ),
    );
  });

  // A script not saved yet (the editor of a new webhook): the same run, on the given fields alone.
  router.post('/dry-run', async (req: Request, res: Response) => {
    const input = checkUnsavedDryRun(req.body);
    assertScript(input.jsScript);
    assertActions(input.allowedActions);
    assertCatalogEvents('emitEvents', input.emitEvents);
    res.json(
      await dryRun(
        { provider: input.provider ?? 'dry-run', jsScript: input.jsScript, allowedActions: input.allowedActions ?? [], emitEvents: input.emitEvents ?? null },
        input,
      ),
    );
  });

  router.get('/webhooks/:id/versions', async (req: Request<{ id: string }>, res: Response) => {
    const webhook = await loadWebhook(req.params.id, res);
    if (webhook.direction !== 'inbound') throw new AppError('webhook_direction_mismatch', 'Script versions are kept for inbound webhooks.');
    res.json({ items: await store.listScriptVersions(webhook.id) });
  });

  router.get('/event-types', (_req, res) => {
    const items = options.events?.list() ?? [];
    res.json({ items, strict: items.length > 0 });
  });

  const openApi = buildOpenApiDocument();
  router.get('/openapi.json', (_req, res) => {
    res.json(openApi);
  });

  addKeyRoutes(router, { store, onRevoke: () => auth.forget() });
  addAuditRoutes(router, { store });

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
    const saved = await store.saveSettings({ enabledWebhookActions: [...settings.enabledWebhookActions].sort() }, principalOf(res));
    cache.invalidate();
    res.json(saved);
  });

  router.get('/runs', async (req: Request, res: Response) => {
    const query = checkRunsQuery({ ...req.query });
    await options.recorder.flush();
    res.json(await store.listRuns({ ...query, limit: Math.min(query.limit ?? DEFAULT_RUNS_LIMIT, MAX_RUNS_LIMIT) }));
  });

  /** A run by id, every run answered so far included; AppError `not_found` otherwise. */
  async function loadRun(id: string): Promise<RunRecord> {
    await options.recorder.flush();
    const run = isUuid(id) ? await store.getRun(id) : null;
    if (!run) throw new AppError('not_found', `No run with id ${id}`);
    return run;
  }

  router.get('/runs/:id', async (req: Request<{ id: string }>, res: Response) => {
    res.json(await loadRun(req.params.id));
  });

  router.get('/runs/:id/request', async (req: Request<{ id: string }>, res: Response) => {
    const run = await loadRun(req.params.id);
    const item = options.inbox ? await options.inbox.requestOf(run) : null;
    if (!item) throw new AppError('run_request_not_stored', `Run ${run.id} has no stored request (ignored, rejected or purged).`);
    res.json({ contentType: item.contentType, headers: item.headers, body: item.body, receivedAt: item.receivedAt });
  });

  router.post('/runs/:id/replay', async (req: Request<{ id: string }>, res: Response) => {
    if (!options.replay) throw new AppError('run_not_replayable', 'This engine keeps no stored requests to replay.');
    const replayed = await options.replay(req.params.id, requestIdFrom(res));
    // Audited after the fact: the new run is written by the run recorder, outside any transaction of ours.
    const webhook = replayed.webhookId ? await store.getWebhook(replayed.webhookId) : null;
    await store.insertAuditEntry({
      actor: principalOf(res),
      action: 'run.replayed',
      targetType: 'run',
      targetId: replayed.replayOf,
      tenantId: webhook?.tenantId ?? null,
      changes: { replayRunId: { after: replayed.id }, status: { after: replayed.status } },
    });
    res.status(201).json(replayed);
  });

  addOutgoingRoutes(router, outgoing);

  router.use(notFoundHandler);
  return router;
}

function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
