import { createHash, timingSafeEqual } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { AppError } from '../errors.js';
import { bearerToken } from '../http/bearer.js';
import type { Knex } from 'knex';
import type { SandboxStats } from '../sandbox/types.js';
import { pendingMigrations } from '../store/index.js';
import type { Store } from '../store/types.js';
import type { EngineMetrics } from './metrics.js';
import { withTimeout } from './metrics.js';

/** What readiness looks at; null while the engine is not started. */
export interface ReadinessSources {
  store: Store;
  /** The knex store's connection (null for a host's own store: its migrations are the host's business). */
  knex: Knex | null;
  sandbox: { stats(): SandboxStats };
}

/** One readiness check's verdict, as `/readyz` reports it. */
export type CheckResult = 'ok' | 'failing';

export interface HealthRouterOptions {
  sources: () => ReadinessSources | null;
  /** null = no `/metrics`. */
  metrics: EngineMetrics | null;
  /** When set, `/metrics` answers only `Authorization: Bearer <metricsToken>` (401 otherwise). */
  metricsToken?: string;
  /** True while the engine shuts down: `/readyz` answers 503 `shutting_down` so load balancers drain it. */
  shuttingDown?: () => boolean;
  /** Longest wait for the database check (default 1000 ms). */
  dbTimeoutMs?: number;
  /** How long a passed migrations check is trusted (default 60 s). */
  migrationsCacheMs?: number;
}

function sendJson(res: Response, status: number, body: unknown): void {
  res.status(status).setHeader('Cache-Control', 'no-store').json(body);
}

/** The refusal of a scrape without the metrics token, in the error catalogue's shape. */
function refuse(res: Response, code: 'auth_missing' | 'auth_invalid'): void {
  res.setHeader('WWW-Authenticate', 'Bearer');
  sendJson(res, 401, { error: new AppError(code).toJSON() });
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * `GET /healthz` (the process answers), `GET /readyz` (database, migrations, sandbox) and `GET /metrics`
 * (Prometheus text format). They reveal figures, never data; `/metrics` names providers and action ids,
 * so `metricsToken` can require a bearer token for it (probes of the other two carry none).
 */
export function createHealthRouter(options: HealthRouterOptions): Router {
  const router = Router();
  const dbTimeoutMs = options.dbTimeoutMs ?? 1000;
  const migrationsCacheMs = options.migrationsCacheMs ?? 60_000;
  // Only a pass is cached: the migration list reads the database, and a pending one is fixed by a deploy.
  let migrationsOkAt: { knex: Knex; at: number } | null = null;

  async function database(src: ReadinessSources): Promise<CheckResult> {
    try {
      await withTimeout(src.knex ? src.knex.raw('select 1') : src.store.getSettings(), dbTimeoutMs, 'database check');
      return 'ok';
    } catch {
      return 'failing';
    }
  }

  async function migrations(src: ReadinessSources): Promise<CheckResult> {
    if (!src.knex) return 'ok';
    if (migrationsOkAt?.knex === src.knex && Date.now() - migrationsOkAt.at < migrationsCacheMs) return 'ok';
    try {
      const pending = await withTimeout(pendingMigrations(src.knex), dbTimeoutMs, 'migrations check');
      if (pending.length > 0) return 'failing';
      migrationsOkAt = { knex: src.knex, at: Date.now() };
      return 'ok';
    } catch {
      return 'failing';
    }
  }

  router.get('/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }));

  router.get('/readyz', async (_req, res) => {
    if (options.shuttingDown?.()) {
      sendJson(res, 503, { status: 'shutting_down' });
      return;
    }
    const src = options.sources();
    if (!src) {
      // Not started (or closed): nothing has been opened yet, so no check can pass.
      sendJson(res, 503, { status: 'not_ready', checks: { database: 'failing', migrations: 'failing', sandbox: 'failing' }, failing: ['database', 'migrations', 'sandbox'] });
      return;
    }
    const db = await database(src);
    const checks: Record<'database' | 'migrations' | 'sandbox', CheckResult> = {
      database: db,
      // Cannot be verified without the database.
      migrations: db === 'ok' ? await migrations(src) : 'failing',
      sandbox: src.sandbox.stats().processes > 0 ? 'ok' : 'failing',
    };
    const failing = Object.entries(checks).filter(([, v]) => v !== 'ok').map(([k]) => k);
    if (failing.length === 0) sendJson(res, 200, { status: 'ready', checks });
    else sendJson(res, 503, { status: 'not_ready', checks, failing });
  });

  const metrics = options.metrics;
  if (metrics) {
    // Compared as SHA-256 digests with timingSafeEqual: constant time whatever the length of the guess.
    const expected = options.metricsToken === undefined ? null : digest(options.metricsToken);
    router.get('/metrics', async (req: Request, res) => {
      if (expected !== null) {
        const token = bearerToken(req.headers.authorization);
        if (token === null) return refuse(res, 'auth_missing');
        if (!timingSafeEqual(digest(token), expected)) return refuse(res, 'auth_invalid');
      }
      const text = await metrics.registry.metrics();
      res.status(200).setHeader('Content-Type', metrics.registry.contentType).send(text);
    });
  }
  return router;
}
