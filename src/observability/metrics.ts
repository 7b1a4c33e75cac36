import type { Knex } from 'knex';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../logger.js';
import type { SandboxStats } from '../sandbox/types.js';

/** What the scrape-time gauges read; set once the engine has started, cleared when it closes. */
export interface MetricsSources {
  sandbox: { stats(): SandboxStats };
  /** The knex store's connection, for the delivery queue gauges; null = those gauges are left out. */
  knex: Knex | null;
  /** Whether an action id is registered: other ids (a script may call any name) are counted as `unknown`. */
  isAction: (id: string) => boolean;
}

/** The engine's Prometheus metrics on a registry of its own, so two engines in one process do not clash. */
export interface EngineMetrics {
  readonly registry: Registry;
  /** One answered `POST /tools/webhook/:provider`; `provider` is `unknown` when no webhook matched. */
  inboundRequest(provider: string, status: number): void;
  /** One script run and the actions it called. */
  scriptRun(provider: string, status: string, durationMs: number, actionsCalled: ReadonlyArray<{ id: string; ok: boolean }>): void;
  /** One outgoing delivery attempt, by outcome (`succeeded`, `retry`, `failed`). */
  deliveryAttempt(outcome: string): void;
  attach(sources: MetricsSources | null): void;
}

export interface MetricsOptions {
  logger: Logger;
  /** Node's process metrics (CPU, heap, event loop lag) on the same registry. Default true. */
  defaultMetrics?: boolean;
  /** Longest wait for the delivery queue query of one scrape (default 1000 ms). */
  queryTimeoutMs?: number;
}

/** Open deliveries and the age of the oldest, from the partial index on open rows. */
async function queueFigures(knex: Knex): Promise<{ depth: number; oldestAgeSec: number }> {
  const result = await knex.raw<{ rows: Array<{ depth: number; age: number | null }> }>(
    `select count(*)::int as depth, extract(epoch from now() - min(created_at))::float8 as age
       from outbound_deliveries where status in ('pending', 'sending')`,
  );
  const row = result.rows[0];
  return { depth: row?.depth ?? 0, oldestAgeSec: Math.max(0, row?.age ?? 0) };
}

/** Rejects after `ms`; the timer does not keep the process alive. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Creates the engine's metrics. Labels stay low-cardinality: provider names and action ids are bounded
 * by configuration; run ids, delivery ids and URLs are never labels.
 *
 * @example
 * const metrics = createMetrics({ logger });
 * metrics.inboundRequest('stripe', 200);
 * const text = await metrics.registry.metrics();
 */
export function createMetrics(options: MetricsOptions): EngineMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const queryTimeoutMs = options.queryTimeoutMs ?? 1000;
  let sources: MetricsSources | null = null;

  const inbound = new Counter({ name: 'hookgate_inbound_requests_total', help: 'Inbound webhook requests answered, by provider and HTTP status.', labelNames: ['provider', 'status'], registers });
  const scripts = new Histogram({
    name: 'hookgate_script_duration_seconds',
    help: 'Script run duration, by provider and run status.',
    labelNames: ['provider', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const actionCalls = new Counter({ name: 'hookgate_action_calls_total', help: 'Action calls made by scripts, by action and outcome (ok, error).', labelNames: ['action', 'outcome'], registers });
  const deliveries = new Counter({ name: 'hookgate_deliveries_total', help: 'Outgoing delivery attempts, by outcome (succeeded, retry, failed).', labelNames: ['outcome'], registers });
  new Gauge({
    name: 'hookgate_sandbox_pool_in_flight',
    help: 'Script runs executing in the sandbox now.',
    registers,
    collect() {
      if (sources) this.set(sources.sandbox.stats().busy);
    },
  });
  new Gauge({
    name: 'hookgate_sandbox_pool_queued',
    help: 'Script runs waiting for a free isolate.',
    registers,
    collect() {
      if (sources) this.set(sources.sandbox.stats().queued);
    },
  });

  new Gauge({
    name: 'hookgate_sandbox_isolate_events',
    help: 'Sandbox bookkeeping summed over the live child processes, by event: isolates created, recycled and discarded, memory disposals, compilations, and inline runs, yields and demotions. A gauge: a replaced child starts again at 0.',
    labelNames: ['event'],
    registers,
    collect() {
      const stats = sources?.sandbox.stats();
      if (stats === undefined || !('isolates' in stats)) return;
      for (const [event, value] of Object.entries((stats as { isolates: Record<string, number> }).isolates)) {
        if (event !== 'maxHeapUsedBytes') this.set({ event }, value);
      }
    },
  });

  // Both queue gauges come from one query per scrape: the first collect starts it, the second reuses it.
  let pending: { at: number; figures: Promise<{ depth: number; oldestAgeSec: number } | null> } | null = null;
  const figures = (): Promise<{ depth: number; oldestAgeSec: number } | null> => {
    const knex = sources?.knex;
    if (!knex) return Promise.resolve(null);
    // Monotonic: a wall clock set back must not freeze the gauges.
    if (pending && performance.now() - pending.at < 1000) return pending.figures;
    const next = withTimeout(queueFigures(knex), queryTimeoutMs, 'delivery queue query').catch((err: unknown) => {
      options.logger.warn('delivery queue metrics unavailable', { err: String(err) });
      return null;
    });
    pending = { at: performance.now(), figures: next };
    return next;
  };
  new Gauge({
    name: 'hookgate_delivery_queue_depth',
    help: 'Outgoing deliveries pending or being sent.',
    registers,
    async collect() {
      const f = await figures();
      if (f) this.set(f.depth);
    },
  });
  new Gauge({
    name: 'hookgate_delivery_oldest_pending_age_seconds',
    help: 'Age of the oldest outgoing delivery still pending or being sent (0 when none).',
    registers,
    async collect() {
      const f = await figures();
      if (f) this.set(f.oldestAgeSec);
    },
  });

  return {
    registry,
    inboundRequest(provider, status) {
      inbound.inc({ provider, status: String(status) });
    },
    scriptRun(provider, status, durationMs, actionsCalled) {
      scripts.observe({ provider, status }, durationMs / 1000);
      for (const call of actionsCalled) {
        actionCalls.inc({ action: sources?.isAction(call.id) ? call.id : 'unknown', outcome: call.ok ? 'ok' : 'error' });
      }
    },
    deliveryAttempt(outcome) {
      deliveries.inc({ outcome });
    },
    attach(next) {
      sources = next;
      pending = null;
    },
  };
}
