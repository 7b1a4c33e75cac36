/**
 * An engine process on the embedded store, for crash tests: `tsx test/helpers/embedded-inbox-engine-process.ts`
 * with HG_DATA_DIR (the PGlite folder), HG_INBOX (JSON inbox options) and HG_LIMITS (JSON sandbox limits).
 * Prints `{"port": N, "pid": N}` once it listens; tests end it with SIGKILL.
 */
import { createStore } from '../../src/store/index.js';
import { startTestEngine } from './engine.js';

const store = await createStore({ dataDir: process.env.HG_DATA_DIR });
const t = await startTestEngine(store, {
  inbox: JSON.parse(process.env.HG_INBOX ?? '{}'),
  sandbox: { limits: JSON.parse(process.env.HG_LIMITS ?? '{}') },
});
process.stdout.write(`${JSON.stringify({ port: Number(new URL(t.baseUrl).port), pid: process.pid })}\n`);
process.on('SIGTERM', () => {
  void t.close().then(() => store.close()).then(() => process.exit(0));
});
