import { coerceError } from './errors.js';
import type { Logger } from './logger.js';

export interface ExitOnSignalsOptions {
  /** The graceful shutdown the first signal runs (e.g. `engine.close()`, then the store's). */
  close: () => Promise<void>;
  logger: Logger;
  /** Once shutting down, exit 1 anyway after this long (default: never). */
  forceAfterMs?: number;
  /** Default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[];
}

/**
 * A server's signal handling: the first SIGTERM or SIGINT runs `close` and exits 0 once it resolves (1 if it
 * fails); a second signal during the shutdown exits 1 at once (an operator's Ctrl+C twice), and so does
 * `forceAfterMs` passing. Returns a function that removes the handlers.
 *
 * @example
 * exitOnSignals({ close: () => engine.close(), logger, forceAfterMs: 30_000 });
 */
export function exitOnSignals(options: ExitOnSignalsOptions): () => void {
  const { logger } = options;
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      logger.warn('second signal during shutdown: exiting now', { signal });
      process.exit(1);
    }
    closing = true;
    logger.info('shutting down', { signal });
    if (options.forceAfterMs !== undefined) {
      setTimeout(() => {
        logger.error('shutdown did not finish in time: exiting now', { forceAfterMs: options.forceAfterMs });
        process.exit(1);
      }, options.forceAfterMs).unref();
    }
    options.close().then(
      () => {
        logger.info('shut down cleanly');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error('shutdown failed', { err: coerceError(err).message });
        process.exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
}
