import 'reflect-metadata';
import { createEngine, createLogger, createStore, loadConfig } from '../src/index.js';
import { BillingService, DEMO_STRIPE_SCRIPT } from './billing-service.js';
import { defineDemoEvents } from './event-types.js';

/** `npm start`: the demo app on the configured store, with the seed's actions and a `stripe` webhook. */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const store = await createStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
  const engine = createEngine({
    store,
    logger,
    adminToken: config.adminToken,
    allowInsecureUrls: config.allowInsecureUrls,
    allowPrivateNetworks: config.allowPrivateNetworks,
    sandbox: { limits: { timeoutMs: config.scriptTimeoutMs, memoryMb: config.scriptMemoryMb } },
  });
  const billing = new BillingService(store.knex);
  engine.actions.registerInstance(billing);
  defineDemoEvents(engine);
  engine.onEvent((e) => {
    logger.info('event emitted', { event: e.event, metadata: e.metadata });
  });

  const server = await engine.listen(config.port, config.host);
  await billing.prepare();
  if (!(await store.findByProvider('stripe'))) {
    await store.createInboundWebhook({
      provider: 'stripe',
      jsScript: DEMO_STRIPE_SCRIPT,
      allowedActions: ['subscription.cancel', 'subscription.notifyUser'],
      verify: { scheme: 'none' },
    });
  }
  const where = config.databaseUrl ? 'PostgreSQL' : `embedded PGlite in ${config.dataDir}`;
  logger.info(`hookgate demo listening on http://${config.host}:${config.port} (${where})`);

  let closing = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (closing) return;
    closing = true;
    logger.info('shutting down', { signal });
    server.close();
    await engine.close();
    await store.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  const error = err as { code?: string; message?: string };
  process.stderr.write(`hookgate failed to start: ${error.code ? `[${error.code}] ` : ''}${error.message ?? String(err)}\n`);
  process.exit(1);
});
