import { type ErrorRequestHandler, type NextFunction, type Request, type Response, Router } from 'express';
import type { Knex } from 'knex';
import type pg from 'pg';
import express from 'express';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ActionRegistry } from './actions/index.js';
import { createAdminRouter, createAdminUiRouter, createRunReplayer, ensureBootstrapToken, type AdminUiOptions } from './admin/index.js';
import { AppError, isAppError } from './errors.js';
import { EventBus, EventCatalog, type EmittedEvent, type EventListener } from './events/index.js';
import { errorHandler } from './http/error-handler.js';
import { requestLog } from './http/request-log.js';
import { drainable, type DrainServer } from './http/server-drain.js';
import { ConfigCache, configChannel, createInboundEndpoint, INBOUND_PATH, inboundProviderOf, InboundHandler, type InboundEndpoint, Inbox, InboxWorker, RunRecorder } from './inbound/index.js';
import { createLogger, type Logger } from './logger.js';
import { createHealthRouter, createMetrics } from './observability/index.js';
import { OutboundService, serialiseEvent, type EngineOutboundOptions, type Enqueued, type SerialisedEvent } from './outbound/index.js';
import { pgConnectionConfig } from './store/index.js';
import { createSandbox } from './sandbox/index.js';
import type { Sandbox, SandboxLimits, SandboxOptions } from './sandbox/types.js';
import { createStore, StoreAvailability } from './store/index.js';
import type { KnexStore } from './store/index.js';
import type { Store } from './store/types.js';

export interface EngineOptions {
  /** A store you opened yourself (e.g. your own implementation); otherwise one is opened from the fields below. */
  store?: Store;
  /** PostgreSQL connection string; unset = embedded PGlite in `dataDir`. */
  databaseUrl?: string;
  /** Embedded store folder (default `./data`). */
  dataDir?: string;
  /**
   * HOOKGATE_SECRET_KEY: encrypts the stored secrets of the store opened from the fields above (not used
   * with `store`: pass it to `createStore`). Unset = a key generated into `<dataDir>/secret.key`.
   */
  secretKey?: string;
  logger?: Logger;
  /** Accepted as an admin bearer token (HOOKGATE_ADMIN_TOKEN). */
  adminToken?: string;
  /** Receives a generated admin token on the first start of a store with none; default prints it once. */
  onAdminTokenGenerated?: (token: string) => void;
  sandbox?: SandboxOptions;
  /** Largest inbound body in bytes (default 1 MiB). */
  bodyLimitBytes?: number;
  /** How often to check for config changes made by other processes (default 500 ms). */
  configPollMs?: number;
  /** Run records are written in batches at least this often (default 50 ms). */
  runFlushMs?: number;
  /**
   * HOOKGATE_RUN_RETENTION_DAYS: run records older than this many days are deleted, hourly, by the inbox
   * worker (knex store; default 30, `0` keeps them, at most 36500). Stored requests follow `inbox.purgeAfterSec`
   * (a request kept in a run's row is cleared then, or goes with the run if that is pruned first).
   */
  runRetentionDays?: number;
  /** Outgoing `http://` URLs allowed (HOOKGATE_ALLOW_INSECURE_URLS); otherwise https only. Default false. */
  allowInsecureUrls?: boolean;
  /** Outgoing targets on loopback, private, link-local… addresses allowed (HOOKGATE_ALLOW_PRIVATE_NETWORKS). Default false. */
  allowPrivateNetworks?: boolean;
  /**
   * Outgoing deliveries: worker concurrency and polling (`worker: false` = this process only enqueues), retry cap, disabling,
   * secret grace, and the delivery log's retention (`retentionDays`, default 30; 0 keeps everything).
   */
  outbound?: EngineOutboundOptions;
  /** The admin UI at `/admin` (the bundle `npm run build` writes into dist/ui); `false` serves none. */
  adminUi?: AdminUiOptions | false;
  /** The inbound inbox (knex store only): its worker runs async requests and takes over crashed ones. */
  inbox?: EngineInboxOptions;
  /** `GET /metrics` (Prometheus text format, on a registry of this engine's own); `false` serves none. Default true. */
  metrics?: boolean;
  /** HOOKGATE_METRICS_TOKEN: when set, `GET /metrics` needs `Authorization: Bearer <metricsToken>` (at least 16 characters). */
  metricsToken?: string;
  /**
   * `close()`: how long requests in flight on the servers `listen` started, and delivery attempts in flight,
   * get to finish before they are cut off (HOOKGATE_SHUTDOWN_TIMEOUT_MS). Default 25 s: under Kubernetes' 30 s grace period.
   */
  shutdownTimeoutMs?: number;
}

export interface EngineInboxOptions {
  /** `false`: this process stores requests but runs no worker (another process must). Default true. */
  worker?: boolean;
  /** Items one process runs at once (default 4). */
  concurrency?: number;
  /** Poll interval when not woken (default 500 ms). */
  pollMs?: number;
  /** Claims of one item before it is given up (default 5). */
  maxAttempts?: number;
  /** How long a process may hold an item before another takes over (default script timeout + 30 s). */
  leaseMs?: number;
  /** Finished items older than this are deleted, and requests kept in run rows cleared (default 30 days; 0 keeps them). */
  purgeAfterSec?: number;
}

export interface EmitOptions {
  tenantId?: string | null;
  metadata?: Record<string, unknown>;
}

/** The engine a host app mounts: `app.use(engine.router)` after `await engine.start()`. */
export interface Engine {
  /** Register actions here (`registerInstance(service)` or `register({...})`) before `start()`. */
  readonly actions: ActionRegistry;
  /**
   * The event catalog: `engine.events.define(name, jsonSchema)`. Empty = any event name is accepted; once
   * a type is defined, emitted events (API, `emit`, scripts) must be defined and match their schema.
   */
  readonly events: EventCatalog;
  /** Serves `POST /tools/webhook/:provider`, `/admin/api/*`, `GET /healthz`, `GET /readyz` and `GET /metrics`. */
  readonly router: Router;
  readonly logger: Logger;
  /** The store, once started. */
  readonly store: Store;
  start(): Promise<void>;
  /**
   * Emits an event to every subscriber and queues it for the outgoing webhooks subscribed to it. The
   * promise resolves once the outbox write is committed (from then on it survives a crash) with the
   * message id and one delivery id per endpoint, or null when no endpoint takes the event. Not awaiting
   * it is fine: a failure is logged either way.
   */
  emit(event: string, data: unknown, options?: EmitOptions): Promise<Enqueued | null>;
  /** Subscribes to every emitted event; returns the unsubscribe function. */
  onEvent(listener: EventListener): () => void;
  /**
   * A listener for `http.createServer` in front of a host app that mounts `router` at its root: webhook
   * requests (`POST /tools/webhook/:provider`) are answered from Node's own request without entering the
   * app, so the host's middleware does not see them; everything else goes to `app`. Faster than the same
   * route through Express (see docs/performance.md); `listen` serves this way. For an app with Express's
   * default routing (no `strict routing`, no `case sensitive routing`) and `router` at its root.
   */
  requestListener(app: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void;
  /** Starts an Express app with just the engine on it (what `npm start` uses), behind `requestListener`. */
  listen(port: number, host?: string): Promise<Server>;
  /**
   * Shuts down gracefully: `/readyz` answers 503 from the start; the servers `listen` started stop accepting
   * connections and answer the requests in flight; no more deliveries or inbox items are claimed, claimed
   * deliveries not yet sent go back to the queue, and attempts in flight get until `shutdownTimeoutMs` (then
   * they are aborted and due again at once). Then the sandbox closes, run records are flushed and the store
   * the engine opened is closed.
   */
  close(): Promise<void>;
}

interface Started {
  store: Store;
  ownsStore: boolean;
  sandbox: Sandbox;
  cache: ConfigCache;
  recorder: RunRecorder;
  outbound: OutboundService | null;
  inboxWorker: InboxWorker | null;
  router: Router;
  /** `POST /tools/webhook/:provider`: first in `router`, and straight from the servers `listen` starts. */
  inbound: InboundEndpoint;
  httpErrors: ErrorRequestHandler;
}

/** The engine's numeric options that must be whole numbers in a range: [path, value, min, max]. */
function checkNumericOptions(options: EngineOptions): void {
  const worker = typeof options.outbound?.worker === 'object' ? options.outbound.worker : undefined;
  const limits = options.sandbox?.limits;
  const checks: Array<[string, unknown, number, number]> = [
    ['bodyLimitBytes', options.bodyLimitBytes, 1, 1024 ** 3],
    ['configPollMs', options.configPollMs, 10, 3_600_000],
    ['runFlushMs', options.runFlushMs, 0, 60_000],
    ['shutdownTimeoutMs', options.shutdownTimeoutMs, 0, 600_000],
    ['sandbox.processes', options.sandbox?.processes, 1, 64],
    ['sandbox.limits.timeoutMs', limits?.timeoutMs, 1, 300_000],
    ['sandbox.limits.cpuTimeMs', limits?.cpuTimeMs, 1, 300_000],
    ['sandbox.limits.memoryMb', limits?.memoryMb, 8, 4096],
    ['outbound.worker.concurrency', worker?.concurrency, 1, 10_000],
    ['outbound.worker.perEndpointConcurrency', worker?.perEndpointConcurrency, 1, 10_000],
    ['outbound.worker.pollMs', worker?.pollMs, 10, 3_600_000],
  ];
  for (const [path, value, min, max] of checks) {
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new AppError('config_invalid', `${path} must be a whole number from ${min} to ${max}.`, { details: { [path]: value } });
    }
  }
}

/**
 * Builds an engine. Nothing is opened until `start()`: register actions first, then start.
 *
 * @example
 * const engine = createEngine({ databaseUrl: process.env.DATABASE_URL });
 * engine.actions.registerInstance(new BillingService());
 * await engine.start();
 * app.use(engine.router);
 */
export function createEngine(options: EngineOptions = {}): Engine {
  const logger = options.logger ?? createLogger('info');
  checkNumericOptions(options);
  if (options.metricsToken !== undefined && !(typeof options.metricsToken === 'string' && options.metricsToken.length >= 16)) {
    throw new AppError('config_invalid', 'metricsToken must be a string of at least 16 characters.');
  }
  const runRetentionDays = options.runRetentionDays ?? 30;
  if (!(Number.isFinite(runRetentionDays) && runRetentionDays >= 0 && runRetentionDays <= 36_500)) {
    throw new AppError('config_invalid', 'runRetentionDays must be a number from 0 to 36500 (0 keeps run records forever).', { details: { runRetentionDays } });
  }
  const actions = new ActionRegistry();
  // Host listeners (`onEvent`). `publish` is the one way an event enters the engine — script results,
  // `engine.emit`, the admin API and operational events: it tells the listeners and writes the outbox.
  const listeners = new EventBus(logger.child({ component: 'events' }));
  const events = new EventCatalog();
  // Checked against the catalog before anyone hears of it: an invalid event is refused, not half-emitted.
  async function publish(event: EmittedEvent): Promise<Enqueued | null> {
    events.check(event.event, event.data);
    // Serialised once, now: what is sent is what was checked, whatever the caller does with `data` next.
    return publishUnchecked(event, serialiseEvent(event.event, event.data, event.metadata));
  }
  // The engine's own operational events (webhook.disabled) skip the catalog: the host app did not declare them.
  async function publishUnchecked(event: EmittedEvent, serialised?: SerialisedEvent): Promise<Enqueued | null> {
    // Refused before anyone hears of it: an event emitted now could not be queued, and null would read as
    // "no endpoint subscribed".
    if (!started) throw new AppError('database_unavailable', 'The engine has not started yet: emit after start().');
    listeners.emit(event);
    const { outbound } = started;
    if (!outbound) {
      logger.warn('event not queued for outgoing webhooks: they need the knex store (createStore), not a store of your own', { event: event.event });
      return null;
    }
    return outbound.publish(event, serialised);
  }
  const limits: Partial<SandboxLimits> = options.sandbox?.limits ?? {};
  let started: Started | null = null;
  let starting: Promise<void> | null = null;
  let closing: Promise<void> | null = null;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 25_000;
  /** The servers `listen` started, as their graceful close. */
  const servers: DrainServer[] = [];
  /** Requests being answered through `router`, on any server (a host app's too): `close` waits for them. */
  let answering = 0;
  let onIdle: (() => void) | null = null;

  const metrics = options.metrics === false ? null : createMetrics({ logger: logger.child({ component: 'metrics' }) });
  const knexOf = (store: Store) => ('knex' in store ? (store as KnexStore).knex : null);
  const router = Router();
  /** The started engine, counting the request as being answered until its response closes. */
  function answer(res: ServerResponse): Started {
    if (!started) throw new AppError('database_unavailable', 'The engine has not started yet.');
    answering += 1;
    res.once('close', () => {
      answering -= 1;
      if (answering === 0) onIdle?.();
    });
    return started;
  }
  // The inbound path first, as one route of this router: a webhook request no longer goes through the
  // health router, the started check and two more routers (each router dispatch costs on every request).
  router.post(
    INBOUND_PATH,
    (req: Request<{ provider: string }>, res: Response, next: NextFunction) => {
      answer(res).inbound(req, res, req.params.provider).catch(next);
    },
    // In the route's own stack, so Express calls it (and catches what it throws) like any error handler.
    ((err, req, res, next) => (started ? started.httpErrors(err, req, res, next) : next(err))) as ErrorRequestHandler,
  );
  // Before the started check: liveness answers while starting, readiness says why it is not ready.
  router.use(createHealthRouter({ metrics, metricsToken: options.metricsToken, sources: () => started && { store: started.store, knex: knexOf(started.store), sandbox: started.sandbox }, shuttingDown: () => closing !== null }));
  // Only the engine's own paths wait for its start and hold up its close: a host's routes mounted after
  // `engine.router` pass through untouched.
  router.use((req, res, next) => {
    if (req.path !== '/admin' && !req.path.startsWith('/admin/')) {
      next();
      return;
    }
    answer(res).router(req, res, next);
  });

  async function doStart(): Promise<void> {
    actions.check();
    const store = options.store ?? (await createStore({ databaseUrl: options.databaseUrl, dataDir: options.dataDir ?? './data', secretKey: options.secretKey, logger }));
    const ownsStore = !options.store;
    // Made in the try below; what was made is stopped again when a later step fails.
    let outbound: OutboundService | null = null;
    let cache: ConfigCache | null = null;
    let sandbox: Sandbox | null = null;
    try {
      await store.migrate();
      if ((await store.getSettings()) === null) {
        // First start of a fresh store: every registered action is switched on, as the contract says.
        await store.saveSettings({ enabledWebhookActions: actions.ids().sort() });
      }
      await ensureBootstrapToken(store, options.adminToken, options.onAdminTokenGenerated ?? printTokenOnce);
      // A lost database, as the config poll, the run recorder and the request path see it (503 until it is back).
      const availability = new StoreAvailability(logger.child({ component: 'store' }));
      // The inbox needs our SQL (the knex store); a host's own store runs requests directly, without it.
      const knex = knexOf(store);
      cache = new ConfigCache({
        store,
        logger: logger.child({ component: 'config-cache' }),
        pollMs: options.configPollMs ?? 500,
        defaultSettings: () => ({ enabledWebhookActions: actions.ids() }),
        availability,
        ...(knex && store.kind === 'postgres' ? { listen: await configListenTarget(knex) } : {}),
      });
      await cache.start();
      const inbox = knex ? new Inbox(knex) : null;
      const recorder = new RunRecorder({
        store,
        logger: logger.child({ component: 'runs' }),
        flushMs: options.runFlushMs,
        availability,
      });
      sandbox = createSandbox({ ...options.sandbox, limits, logger: logger.child({ component: 'sandbox' }) });
      if (knex) {
        outbound = new OutboundService({
          store,
          logger: logger.child({ component: 'outbound' }),
          allowInsecureUrls: options.allowInsecureUrls ?? false,
          allowPrivateNetworks: options.allowPrivateNetworks ?? false,
          ...options.outbound,
          // On close, attempts in flight get the shutdown deadline (or less, when told less).
          worker: options.outbound?.worker === false ? false : { ...options.outbound?.worker, stopTimeoutMs: Math.min(options.outbound?.worker?.stopTimeoutMs ?? shutdownTimeoutMs, shutdownTimeoutMs) },
          onAttempt: (delivery, outcome) => {
            metrics?.deliveryAttempt(outcome.step.status === 'pending' ? 'retry' : outcome.step.status);
            options.outbound?.onAttempt?.(delivery, outcome);
          },
          onOperationalEvent: (e) => {
            publishUnchecked({ event: e.event, data: e.data, tenantId: e.tenantId, metadata: { tenantId: e.tenantId, source: 'hookgate' } }).catch((err: unknown) =>
              logger.error('operational event could not be queued', { event: e.event, err: String(err) }),
            );
          },
        });
        await outbound.start();
      } else {
        logger.warn('outgoing webhooks are off: the store is not the knex store', { component: 'outbound' });
      }
      let inboxWorker: InboxWorker | null = null;
      const inbound = new InboundHandler({
        cache,
        registry: actions,
        sandbox,
        recorder,
        publish,
        logger: logger.child({ component: 'inbound' }),
        limits,
        inbox,
        leaseMs: options.inbox?.leaseMs,
        onQueued: () => inboxWorker?.wake(),
        onScriptRun: metrics ? (provider, status, durationMs, calls) => metrics.scriptRun(provider, status, durationMs, calls) : undefined,
        availability,
      });
      if (inbox && options.inbox?.worker !== false) {
        inboxWorker = new InboxWorker({
          inbox,
          handler: inbound,
          cache,
          recorder,
          logger: logger.child({ component: 'inbox' }),
          ...(options.inbox?.concurrency !== undefined ? { concurrency: options.inbox.concurrency } : {}),
          ...(options.inbox?.pollMs !== undefined ? { pollMs: options.inbox.pollMs } : {}),
          ...(options.inbox?.maxAttempts !== undefined ? { maxAttempts: options.inbox.maxAttempts } : {}),
          ...(options.inbox?.purgeAfterSec !== undefined ? { purgeAfterSec: options.inbox.purgeAfterSec } : {}),
          pruneRuns: (store as Partial<KnexStore>).pruneRuns?.bind(store) ?? null,
          runRetentionSec: runRetentionDays * 86_400,
        });
        inboxWorker.start();
      }
      const inner = Router();
      inner.use('/admin/api', requestLog(logger.child({ component: 'admin' })), createAdminRouter({
        store,
        registry: actions,
        cache,
        recorder,
        sandbox,
        bootstrapToken: options.adminToken,
        limits,
        outbound,
        publish,
        events,
        replay: createRunReplayer({ store, inbox, cache, recorder, handler: inbound }),
        inbox,
      }));
      if (options.adminUi !== false) inner.use('/admin', createAdminUiRouter(options.adminUi ?? {}));
      const httpLogger = logger.child({ component: 'http' });
      const httpErrors = errorHandler(httpLogger);
      const inboundEndpoint = createInboundEndpoint({
        handler: inbound,
        bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
        onAnswered: metrics ? (provider, status) => metrics.inboundRequest(provider, status) : undefined,
        logger: logger.child({ component: 'inbound' }),
        errorLogger: httpLogger,
      });
      inner.use(httpErrors);
      started = { store, ownsStore, sandbox, cache, recorder, outbound, inboxWorker, router: inner, inbound: inboundEndpoint, httpErrors };
      metrics?.attach({ sandbox, knex, isAction: (id) => actions.has(id) });
    } catch (err) {
      await outbound?.stop().catch(() => undefined);
      await cache?.stop().catch(() => undefined);
      await sandbox?.close().catch(() => undefined);
      if (ownsStore) await store.close().catch(() => undefined);
      throw err;
    }
  }

  const engine: Engine = {
    actions,
    events,
    router,
    logger,
    get store(): Store {
      if (!started) throw new AppError('database_unavailable', 'The engine has not started yet.');
      return started.store;
    },
    start() {
      starting ??= doStart().catch((err: unknown) => {
        starting = null;
        throw err;
      });
      return starting;
    },
    emit(event, data, emitOptions = {}) {
      const tenantId = emitOptions.tenantId ?? null;
      const published = publish({ event, data, tenantId, metadata: { ...emitOptions.metadata, tenantId } });
      // Handled here, so a caller that does not await cannot cause an unhandled rejection; one that awaits still sees it.
      // Refusals of the event itself (catalog, size, not started) are the caller's to handle: not logged as errors.
      published.catch((err: unknown) => {
        if (isAppError(err) && err.status < 500) logger.debug('event refused', { event, code: err.code });
        else logger.error('event could not be queued for outgoing webhooks', { event, err: String(err) });
      });
      return published;
    },
    onEvent: (listener) => listeners.subscribe(listener),
    requestListener(app) {
      // Webhook requests skip Express: its app.handle sets the prototype of every request and response,
      // which makes V8 keep most of what answering them allocates past young-generation collections
      // (docs/performance.md). Before start, and for any other spelling of the route, `app` answers.
      return (req, res) => {
        const provider = started ? inboundProviderOf(req.method, req.url) : null;
        if (provider === null) app(req, res);
        // The endpoint answers its own failures and does not reject; the catch is for a bug, not a plan.
        else answer(res).inbound(req, res, provider).catch((err: unknown) => {
          logger.error('inbound request failed', { err: String(err) });
          res.destroy();
        });
      };
    },
    async listen(port, host = '127.0.0.1') {
      await engine.start();
      const app = express();
      app.disable('x-powered-by');
      app.use(router);
      app.use((_req, res) => res.status(404).json({ error: new AppError('route_not_found').toJSON() }));
      const server = createServer(engine.requestListener(app));
      const drain = drainable(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(drain);
      return server;
    },
    close() {
      closing ??= shutDown().finally(() => {
        closing = null;
      });
      return closing;
    },
  };

  async function shutDown(): Promise<void> {
    const deadline = Date.now() + shutdownTimeoutMs;
    const current = started;
    const cacheStopped = current?.cache.stop();
    // Side by side, each bounded by the deadline: the servers stop accepting and answer what is in flight
    // (a run needs the sandbox and the store until then); the inbox worker finishes its runs and marks their
    // items; the delivery worker puts back what it claimed but did not send, and in-flight attempts record
    // their outcome — or, cut off at the deadline, are recorded as aborted and due again at once.
    const inboxStopped = current?.inboxWorker?.stop();
    await Promise.all([...servers.splice(0).map((drain) => drain(deadline)), requestsAnswered(deadline), beforeDeadline(inboxStopped, deadline), current?.outbound?.stop()]);
    started = null;
    metrics?.attach(null);
    starting = null;
    if (!current) return;
    // Runs still going (past the deadline) end as `crashed` (`sandbox_closed`) and are recorded by the flush
    // below; an inbox item's run is put back for a retry, before the store closes.
    await current.sandbox.close();
    await inboxStopped;
    await current.recorder.flush();
    await cacheStopped;
    if (current.ownsStore) await current.store.close();
  }

  function beforeDeadline(work: Promise<void> | undefined, deadline: number): Promise<void> {
    if (!work) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const passed = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(deadline - Date.now(), 0));
    });
    return Promise.race([work, passed]).finally(() => clearTimeout(timer));
  }

  function requestsAnswered(deadline: number): Promise<void> {
    if (answering === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(deadline - Date.now(), 0));
      function done() {
        clearTimeout(timer);
        onIdle = null;
        resolve();
      }
      onIdle = done;
    });
  }
  return engine;
}

/** Where the config cache LISTENs on PostgreSQL: this schema's config channel, on the store's connection settings. */
async function configListenTarget(knex: Knex): Promise<{ connection: pg.ClientConfig; channel: string }> {
  const result = (await knex.raw('select current_schema() as schema')) as { rows: Array<{ schema: string }> };
  return { connection: pgConnectionConfig(knex), channel: configChannel(result.rows[0]?.schema ?? 'public') };
}

function printTokenOnce(token: string): void {
  process.stdout.write(
    `\n  hookgate: generated the admin token (shown only this once; only its hash is stored):\n\n    ${token}\n\n` +
      `  Use it as "Authorization: Bearer <token>" on /admin/api/*. Set HOOKGATE_ADMIN_TOKEN to choose your own.\n\n`,
  );
}
