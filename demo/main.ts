import { loadConfig } from '../src/index.js';
import { serveDemo } from './app.js';

/** `npm start`: the demo app (demo/app.ts) on the configured store, until SIGINT/SIGTERM. */
// Inside the promise, so that an invalid setting gets the same one-line answer as a failed start.
Promise.resolve()
  .then(() => serveDemo(loadConfig()))
  .catch((err: unknown) => {
    const error = err as { code?: string; message?: string };
    process.stderr.write(`hookgate failed to start: ${error.code ? `[${error.code}] ` : ''}${error.message ?? String(err)}\n`);
    process.exit(1);
  });
