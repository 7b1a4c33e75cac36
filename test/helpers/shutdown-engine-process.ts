/**
 * An engine process for the graceful-shutdown tests: `tsx test/helpers/shutdown-engine-process.ts` with
 * DATABASE_URL, HG_SCHEMA, HG_OUTBOUND (JSON worker settings) and HOOKGATE_SHUTDOWN_TIMEOUT_MS. Loopback
 * receivers are allowed. Prints `{"port": N, "pid": N}` once it listens. Signals are handled as `npm start`
 * handles them (`exitOnSignals`: SIGTERM → `engine.close()`, then the store, then exit 0).
 * One action, `test.post(url)`: POSTs to the URL and answers the status — a slow receiver makes it a slow action.
 */
import type { AddressInfo } from 'node:net';
import { createEngine, createLogger, exitOnSignals, loadConfig } from '../../src/index.js';
import { createStore } from '../../src/store/index.js';
import { ADMIN_TOKEN } from './engine.js';

const config = loadConfig({ ...process.env, PORT: '0' });
const logger = createLogger(config.logLevel);
const store = await createStore({ databaseUrl: config.databaseUrl, dataDir: './data-unused', schema: process.env.HG_SCHEMA, poolMax: 4, logger });
const engine = createEngine({
  store,
  logger,
  adminToken: ADMIN_TOKEN,
  configPollMs: 100,
  runFlushMs: 5,
  allowInsecureUrls: true,
  allowPrivateNetworks: true,
  sandbox: { processes: 1, isolatesPerProcess: 4, limits: { timeoutMs: config.scriptTimeoutMs } },
  outbound: { worker: JSON.parse(process.env.HG_OUTBOUND ?? '{}') },
  shutdownTimeoutMs: config.shutdownTimeoutMs,
});
engine.actions.register({
  id: 'test.post',
  label: 'POST',
  category: 'Test',
  description: 'POSTs to a URL and answers the status',
  params: { type: 'array', items: [{ type: 'string' }], minItems: 1, maxItems: 1 },
  fn: async (url: string) => (await fetch(url, { method: 'POST' })).status,
});
// Before the port is printed: a test may signal as soon as it reads it.
exitOnSignals({
  close: async () => {
    await engine.close();
    await store.close();
  },
  logger,
  forceAfterMs: config.shutdownTimeoutMs + 5000,
});
const server = await engine.listen(0);
process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port, pid: process.pid })}\n`);
