/**
 * A second engine process for cross-process tests: `tsx test/helpers/engine-process.ts` with DATABASE_URL
 * and HG_SCHEMA set. Prints `{"port": N}` on one line once it listens; exits on SIGTERM.
 */
import type { AddressInfo } from 'node:net';
import { createStore } from '../../src/store/index.js';
import { startTestEngine } from './engine.js';

const store = await createStore({ databaseUrl: process.env.DATABASE_URL, dataDir: './data-unused', schema: process.env.HG_SCHEMA });
const t = await startTestEngine(store, { configPollMs: Number(process.env.HG_CONFIG_POLL_MS ?? 500) });
const port = Number(new URL(t.baseUrl).port) as AddressInfo['port'];
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.on('SIGTERM', () => {
  void t.close().then(() => store.close()).then(() => process.exit(0));
});
