export { createMetrics, type EngineMetrics, type MetricsOptions, type MetricsSources } from './metrics.js';
export { createHealthRouter, type CheckResult, type HealthRouterOptions, type ReadinessSources } from './health.js';
