import express, { type Request, type Response, Router } from 'express';
import { AppError } from '../errors.js';
import type { InboundHandler } from './inbound-handler.js';
import { normaliseHeaders } from './inbound-handler.js';

export interface InboundRouterOptions {
  handler: InboundHandler;
  /** Largest accepted body in bytes (default 1 MiB). */
  bodyLimitBytes: number;
}

function isJsonContentType(req: Request): boolean {
  const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  return type === 'application/json' || (type !== undefined && /^application\/[a-z0-9.+-]+\+json$/.test(type));
}

/** `POST /tools/webhook/:provider`, in the contract's order: 404, 415, 413, 400, 401, then the run. */
export function createInboundRouter(options: InboundRouterOptions): Router {
  const router = Router();
  const readRaw = express.raw({ type: () => true, limit: options.bodyLimitBytes });

  router.post('/tools/webhook/:provider', async (req: Request<{ provider: string }>, res: Response) => {
    const cached = await options.handler.lookup(req.params.provider);
    if (!isJsonContentType(req)) throw new AppError('unsupported_media_type');
    await new Promise<void>((resolve, reject) => readRaw(req, res, (err?: unknown) => (err ? reject(err) : resolve())));
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const { runId } = await options.handler.handle(cached, { rawBody, headers: normaliseHeaders(req.headers) });
    res.status(200).json({ received: true, runId });
  });
  return router;
}
