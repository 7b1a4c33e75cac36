// One engine process for `npm run load` and `npm run scale` (scripts/load.mjs, scripts/scale.mjs): hookgate from
// dist/ on LOAD_DATABASE_URL in schema LOAD_SCHEMA (PGlite in a temp folder when no URL is given), listening
// on an ephemeral port. Prints {"port","pid"} once it serves.
//
// With LOAD_SETUP=1 it also migrates and creates what the load needs: an inbound webhook `load` whose script
// calls one action and emits `load.order`, and one outgoing webhook per port in LOAD_RECEIVER_PORTS subscribed
// to `load.order`. Several processes may share one PostgreSQL schema: the first sets up, the others only serve
// (as N engine processes behind a load balancer would). On SIGTERM it shuts down as a production process does
// (engine.close()); LOAD_DROP_SCHEMA=1 drops the schema afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { createEngine, createLogger, createStore, WebhookSender } = await import('../dist/src/index.js');

const ADMIN_TOKEN = process.env.LOAD_ADMIN_TOKEN ?? 'load-admin-token-0123456789abcdef';
const databaseUrl = process.env.LOAD_DATABASE_URL || undefined;
const dataDir = databaseUrl ? undefined : mkdtempSync(join(tmpdir(), 'hookgate-load-'));
const schema = databaseUrl ? process.env.LOAD_SCHEMA : undefined;
const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
// Every process sharing the database needs the same secret key; a fixed one for this throw-away schema.
const secretKey = process.env.HOOKGATE_SECRET_KEY ?? 'a'.repeat(64);
const store = await createStore({ databaseUrl, dataDir, schema, logger, secretKey });

const SCRIPT = `await actions['load.record'](body.id);
result = { event: 'load.order', data: { id: body.id, n: body.n, amount: body.amount } };`;

if (process.env.LOAD_SETUP === '1') {
  await store.migrate();
  await store.saveSettings({ enabledWebhookActions: ['load.record'] });
  await store.createInboundWebhook({ provider: 'load', jsScript: SCRIPT, allowedActions: ['load.record'], emitEvents: ['load.order'] });
  for (const port of (process.env.LOAD_RECEIVER_PORTS ?? '').split(',').filter(Boolean)) {
    await store.createOutgoingWebhook({ url: `http://127.0.0.1:${port}/hook/${port}`, secret: WebhookSender.generateSecret(), events: ['load.order'] });
  }
}

const engine = createEngine({
  store,
  logger,
  adminToken: ADMIN_TOKEN,
  onAdminTokenGenerated: () => undefined,
  adminUi: false,
  allowInsecureUrls: true,
  allowPrivateNetworks: true,
});
let recorded = 0;
engine.actions.register({ id: 'load.record', label: 'Record', category: 'Load', description: 'Counts the orders it sees', fn: () => ++recorded });
const server = await engine.listen(0);
process.stdout.write(`${JSON.stringify({ port: server.address().port, pid: process.pid })}\n`);

let stopping = false;
process.on('SIGTERM', async () => {
  if (stopping) return;
  stopping = true;
  await engine.close();
  if (schema && process.env.LOAD_DROP_SCHEMA === '1') await store.knex.raw('drop schema if exists ?? cascade', [schema]);
  await store.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
});
