import { createCliContext } from '../context.js';
import { usageError } from '../errors.js';
import type { CommandResult } from '../program.js';

export interface ServeOptions {
  port?: string;
  host?: string;
}

/** `hookgate serve`: the demo app and engine, as `npm start` runs it, until SIGINT/SIGTERM. */
export async function serve(options: ServeOptions): Promise<CommandResult> {
  // A server's logs are the point: LOG_LEVEL as `npm start` has it, not the other commands' quiet default.
  const config = { ...createCliContext(true).config };
  if (options.port !== undefined) config.port = parsePort(options.port);
  if (options.host !== undefined) config.host = options.host;
  const { serveApp } = await import('../app.js');
  await serveApp(config);
  return 'running';
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw usageError(`--port ${text} is not a port number (0-65535).`);
  return port;
}
