/**
 * An engine process for the inbound inbox tests: `tsx test/helpers/inbox-engine-process.ts` with
 * DATABASE_URL, HG_SCHEMA, HG_INBOX (JSON inbox options) and HG_LIMITS (JSON sandbox limits).
 * Prints `{"port": N, "pid": N}` once it listens; exits on SIGTERM. Tests end it with SIGKILL to crash it.
 */
import { createStore } from '../../src/store/index.js';
import { startTestEngine } from './engine.js';

const store = await createStore({ databaseUrl: process.env.DATABASE_URL, dataDir: './data-unused', schema: process.env.HG_SCHEMA, poolMax: 4 });
const t = await startTestEngine(store, {
  configPollMs: 100,
  inbox: JSON.parse(process.env.HG_INBOX ?? '{}'),
  sandbox: { limits: JSON.parse(process.env.HG_LIMITS ?? '{}') },
});
process.stdout.write(`${JSON.stringify({ port: Number(new URL(t.baseUrl).port), pid: process.pid })}\n`);
process.on('SIGTERM', () => {
  void t.close().then(() => store.close()).then(() => process.exit(0));
});
