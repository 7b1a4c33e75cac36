/**
 * An engine process for the outgoing-webhook crash tests: `tsx test/helpers/outbound-engine-process.ts`
 * with DATABASE_URL, HG_SCHEMA and HG_OUTBOUND (JSON worker settings). Loopback receivers are allowed.
 * Prints `{"port": N, "pid": N}` once it listens; exits on SIGTERM. Tests end it with SIGKILL to crash it.
 */
import type { AddressInfo } from 'node:net';
import { createStore } from '../../src/store/index.js';
import { startTestEngine } from './engine.js';

const store = await createStore({ databaseUrl: process.env.DATABASE_URL, dataDir: './data-unused', schema: process.env.HG_SCHEMA, poolMax: 4 });
const t = await startTestEngine(store, {
  allowInsecureUrls: true,
  allowPrivateNetworks: true,
  outbound: { worker: JSON.parse(process.env.HG_OUTBOUND ?? '{}') },
});
const port = Number(new URL(t.baseUrl).port) as AddressInfo['port'];
process.stdout.write(`${JSON.stringify({ port, pid: process.pid })}\n`);
process.on('SIGTERM', () => {
  void t.close().then(() => store.close()).then(() => process.exit(0));
});
