import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createEngine, type EngineOptions } from '../src/engine.js';
import { createSilentLogger } from '../src/logger.js';

describe('loadConfig', () => {
  it('defaults every field from an empty environment', () => {
    expect(loadConfig({})).toEqual({
      port: 3000,
      host: '127.0.0.1',
      databaseUrl: undefined,
      dataDir: './data',
      adminToken: undefined,
      secretKey: undefined,
      allowInsecureUrls: false,
      allowPrivateNetworks: false,
      scriptTimeoutMs: 5000,
      scriptMemoryMb: 64,
      shutdownTimeoutMs: 25_000,
      metricsToken: undefined,
      runRetentionDays: 30,
      deliveryRetentionDays: 30,
      logLevel: 'info',
    });
  });

  it('reads the tokens (trimmed) and the numeric settings', () => {
    // A token read from a secret file often ends with a newline: trimmed, or it could never match a header.
    const config = loadConfig({ HOOKGATE_METRICS_TOKEN: 'scrape-token-0123456789\n', HOOKGATE_ADMIN_TOKEN: ' admin-token-0123456789\n', HOOKGATE_SCRIPT_TIMEOUT_MS: '2000', HOOKGATE_RUN_RETENTION_DAYS: '0', HOOKGATE_DELIVERY_RETENTION_DAYS: '7', PORT: '0' });
    expect(config).toMatchObject({ metricsToken: 'scrape-token-0123456789', adminToken: 'admin-token-0123456789', scriptTimeoutMs: 2000, runRetentionDays: 0, deliveryRetentionDays: 7, port: 0 });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    [{ HOOKGATE_METRICS_TOKEN: 'short' }, '/metricsToken'],
    [{ HOOKGATE_SCRIPT_TIMEOUT_MS: '5s' }, '/scriptTimeoutMs'],
    [{ PORT: '70000' }, '/port'],
    [{ HOOKGATE_RUN_RETENTION_DAYS: '-1' }, '/runRetentionDays'],
    [{ HOOKGATE_RUN_RETENTION_DAYS: '40000' }, '/runRetentionDays'],
    [{ HOOKGATE_DELIVERY_RETENTION_DAYS: '-1' }, '/deliveryRetentionDays'],
    [{ HOOKGATE_DELIVERY_RETENTION_DAYS: '1.5' }, '/deliveryRetentionDays'],
    [{ DATABASE_URL: 'mysql://x' }, '/databaseUrl'],
  ])('refuses %j with config_invalid naming the field', (env, path) => {
    expect(() => loadConfig(env)).toThrow(expect.objectContaining({ code: 'config_invalid', details: [expect.objectContaining({ path })] }));
  });
});

describe('createEngine options', () => {
  it.each([
    [{ bodyLimitBytes: -1 }, 'bodyLimitBytes'],
    [{ configPollMs: 0 }, 'configPollMs'],
    [{ sandbox: { limits: { timeoutMs: -1 } } }, 'sandbox.limits.timeoutMs'],
    [{ outbound: { worker: { concurrency: 0 } } }, 'outbound.worker.concurrency'],
    [{ outbound: { worker: { perEndpointConcurrency: 1.5 } } }, 'outbound.worker.perEndpointConcurrency'],
  ] as const)('refuses %j with config_invalid naming the option, before anything runs', (options, path) => {
    expect(() => createEngine({ ...options, logger: createSilentLogger() } as EngineOptions)).toThrow(expect.objectContaining({ code: 'config_invalid', message: expect.stringContaining(path) }));
  });
});
