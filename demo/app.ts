import 'reflect-metadata';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEngine, createLogger, createStore, type Config, type Engine, type Logger, type Store } from '../src/index.js';
import { BillingService, DEMO_STRIPE_SCRIPT } from './billing-service.js';
import { defineDemoEvents } from './event-types.js';

export interface DemoServer {
  engine: Engine;
  store: Store;
  server: Server;
  logger: Logger;
  /** Stops listening, then closes the engine and the store (releasing the embedded store's lock). */
  close(): Promise<void>;
}

/**
 * The demo app on the configured store, with the seed's actions and a `stripe` webhook: what `npm start`
 * and `hookgate serve` run.
 *
 * @example
 * const demo = await startDemo(loadConfig());
 * await demo.close();
 */
export async function startDemo(config: Readonly<Config>): Promise<DemoServer> {
  const logger = createLogger(config.logLevel);
  const store = await createStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, secretKey: config.secretKey, logger });
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

  let server: Server;
  try {
    server = await engine.listen(config.port, config.host);
    await billing.prepare();
    if (!(await store.findByProvider('stripe'))) {
      await store.createInboundWebhook({
        provider: 'stripe',
        jsScript: DEMO_STRIPE_SCRIPT,
        allowedActions: ['subscription.cancel', 'subscription.notifyUser'],
        verify: { scheme: 'none' },
      });
    }
  } catch (err) {
    await engine.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
  const where = config.databaseUrl ? 'PostgreSQL' : `embedded PGlite in ${config.dataDir}`;
  // The bound port, not the configured one: PORT=0 picks a free port.
  logger.info(`hookgate demo listening on http://${config.host}:${(server.address() as AddressInfo).port} (${where})`);

  return {
    engine,
    store,
    server,
    logger,
    async close() {
      server.close();
      await engine.close();
      await store.close();
    },
  };
}

/** Runs the demo until SIGINT or SIGTERM, then shuts it down cleanly and exits 0. */
export async function serveDemo(config: Readonly<Config>): Promise<DemoServer> {
  const demo = await startDemo(config);
  let closing = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (closing) return;
    closing = true;
    demo.logger.info('shutting down', { signal });
    await demo.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  return demo;
}
