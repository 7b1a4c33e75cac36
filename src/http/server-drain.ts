import type { Server, ServerResponse } from 'node:http';

/** Closes one HTTP server gracefully; resolves once its last connection is gone. */
export type DrainServer = (deadline: number) => Promise<void>;

/**
 * Makes a Node HTTP server drainable; call it right after creating the server. The returned `drain`:
 * stops accepting connections, closes the idle keep-alive ones at once, lets requests in flight get their
 * answer — sent with `Connection: close`, as is every request that still arrives on an open connection,
 * so no keep-alive connection outlives its current request — and destroys whatever is still open at
 * `deadline` (epoch ms).
 *
 * Node's `server.close()` alone is not enough: it closes only the connections idle at that moment, and
 * answers later requests with `Connection: keep-alive`, so a busy client keeps the server open until the
 * keep-alive timeout after its last request.
 *
 * @example
 * const drain = drainable(server);
 * await drain(Date.now() + 25_000);
 */
export function drainable(server: Server): DrainServer {
  const answering = new Set<ServerResponse>();
  let draining = false;
  const closeIdle = () => setImmediate(() => server.closeIdleConnections());
  // Prepended: it must run before the app's handler, which may answer synchronously.
  server.prependListener('request', (_req, res: ServerResponse) => {
    if (draining) res.shouldKeepAlive = false;
    answering.add(res);
    res.once('close', () => {
      answering.delete(res);
      // A response whose headers went out before the drain began said keep-alive: its connection is idle now.
      if (draining) closeIdle();
    });
  });
  let drained: Promise<void> | null = null;
  return (deadline) =>
    (drained ??= new Promise<void>((resolve) => {
      draining = true;
      for (const res of answering) if (!res.headersSent) res.shouldKeepAlive = false;
      const timer = setTimeout(() => server.closeAllConnections(), Math.max(deadline - Date.now(), 0));
      // Since Node 19 `close()` also closes the connections idle now; the callback runs once none is left.
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
    }));
}
