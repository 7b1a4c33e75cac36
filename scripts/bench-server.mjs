// One side of `npm run bench:inbound`: a server on an ephemeral port, printing {"port"} once it listens.
// BENCH_MODE=express: a plain Express 5 handler that parses the same JSON and answers the same body.
// BENCH_MODE=engine:  hookgate (built, from dist/) with a trivial script that calls one action.
// BENCH_MODE=http:    the same handler as express on node:http alone (for scripts/gc-per-request.mjs).
import express from 'express';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const mode = process.env.BENCH_MODE;

function announce(server) {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
}

if (mode === 'express') {
  const app = express();
  app.post('/tools/webhook/:provider', express.json({ limit: '1mb' }), (req, res) => {
    res.json({ received: true, runId: typeof req.body.id === 'string' ? req.body.id : 'x' });
  });
  const server = app.listen(0, '127.0.0.1', () => announce(server));
} else if (mode === 'http') {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const text = JSON.stringify({ received: true, runId: typeof body.id === 'string' ? body.id : 'x' });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  server.listen(0, '127.0.0.1', () => announce(server));
} else if (mode === 'engine') {
  const { createEngine, createLogger, createStore } = await import('../dist/src/index.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'hookgate-bench-'));
  const logger = createLogger('error');
  // On PostgreSQL the benchmark works in a schema of its own and drops it on exit.
  const schema = process.env.BENCH_DATABASE_URL ? `hookgate_bench_${process.pid}` : undefined;
  const store = await createStore({ databaseUrl: process.env.BENCH_DATABASE_URL, dataDir, schema, logger });
  await store.migrate();
  const engine = createEngine({ store, logger, adminToken: 'bench-admin-token-0123456789', onAdminTokenGenerated: () => {}, runFlushMs: Number(process.env.BENCH_RUN_FLUSH_MS ?? 50), sandbox: { isolatesPerProcess: Number(process.env.BENCH_ISOLATES ?? 8), processes: Number(process.env.BENCH_PROCESSES ?? 1) } });
  let calls = 0;
  engine.actions.register({ id: 'bench.noop', label: 'No-op', category: 'Bench', description: 'Counts calls', fn: () => ++calls });
  const server = await engine.listen(0);
  if (!(await store.findByProvider('bench'))) {
    // BENCH_SCRIPT: `action` (default) awaits one action; `noaction` runs without calling one (no round trip
    // back to this process); `ignored` filters the event out (recorded as ignored, no sandbox run).
    const variant = process.env.BENCH_SCRIPT ?? 'action';
    const jsScript = variant === 'noaction' ? 'result = null;' : "await actions['bench.noop'](body.id);\nresult = null;";
    await store.createInboundWebhook({ provider: 'bench', jsScript, allowedActions: ['bench.noop'], ...(variant === 'ignored' ? { events: ['never.sent'] } : {}) });
  }
  announce(server);
  process.on('SIGTERM', async () => {
    await engine.close();
    if (schema) await store.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
} else {
  throw new Error('BENCH_MODE must be express, http or engine');
}
