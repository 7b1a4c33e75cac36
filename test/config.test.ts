import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

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
      logLevel: 'info',
    });
  });

  it('reads HOOKGATE_METRICS_TOKEN and the numeric settings', () => {
    const config = loadConfig({ HOOKGATE_METRICS_TOKEN: 'scrape-token-0123456789', HOOKGATE_SCRIPT_TIMEOUT_MS: '2000', PORT: '0' });
    expect(config).toMatchObject({ metricsToken: 'scrape-token-0123456789', scriptTimeoutMs: 2000, port: 0 });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    [{ HOOKGATE_METRICS_TOKEN: 'short' }, '/metricsToken'],
    [{ HOOKGATE_SCRIPT_TIMEOUT_MS: '5s' }, '/scriptTimeoutMs'],
    [{ PORT: '70000' }, '/port'],
    [{ DATABASE_URL: 'mysql://x' }, '/databaseUrl'],
  ])('refuses %j with config_invalid naming the field', (env, path) => {
    expect(() => loadConfig(env)).toThrow(expect.objectContaining({ code: 'config_invalid', details: [expect.objectContaining({ path })] }));
  });
});
