import express, { type Request, type Response, Router } from 'express';
import { AppError, isAppError } from '../errors.js';
import type { InboundHandler } from './inbound-handler.js';
import { normaliseHeaders } from './inbound-handler.js';
import { RateLimiter } from './rate-limiter.js';
import { bodyKindOf } from './request-body.js';

export interface InboundRouterOptions {
  handler: InboundHandler;
  /** Largest accepted body in bytes unless the webhook sets its own (default 1 MiB). */
  bodyLimitBytes: number;
  /** Told of every answer once sent: the webhook's provider (`unknown` when none matched) and the HTTP status. */
  onAnswered?: (provider: string, status: number) => void;
}

/** Sets `Retry-After` on the answers that ask the sender to come back (429, 503). */
function retryAfter(res: Response, err: unknown, seconds: number): void {
  if (isAppError(err) && (err.status === 503 || err.status === 429)) res.setHeader('Retry-After', String(seconds));
}

/**
 * Writes a JSON answer straight to Node's response: `res.json` would also hash the body for an ETag on
 * every request (a third of the answer's cost), which a webhook sender never uses.
 */
function sendJson(res: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * `POST /tools/webhook/:provider`, in the contract's order: 404, 429 (rate limit), 415, 413, 400, 401,
 * then the run (sync: 200 with the run id) or the inbox (async: 202). A repeat of a stored delivery id
 * → 200 `{received: true, duplicate: true}`; a saturated sandbox → 503; both 429 and 503 carry Retry-After.
 */
export function createInboundRouter(options: InboundRouterOptions): Router {
  const router = Router();
  const readers = new Map<number, ReturnType<typeof express.raw>>();
  const readerFor = (limit: number) => {
    let reader = readers.get(limit);
    if (!reader) readers.set(limit, (reader = express.raw({ type: () => true, limit })));
    return reader;
  };
  const limiter = new RateLimiter();

  router.post('/tools/webhook/:provider', async (req: Request<{ provider: string }>, res: Response) => {
    // Only a configured provider becomes a label: the URL's name is the sender's choice.
    let provider = 'unknown';
    if (options.onAnswered) res.on('finish', () => options.onAnswered?.(provider, res.statusCode));
    const cached = await options.handler.lookup(req.params.provider);
    const { webhook } = cached;
    provider = webhook.provider;
    if (webhook.rateLimit) {
      const wait = limiter.take(webhook.provider, webhook.rateLimit);
      if (wait > 0) {
        res.setHeader('Retry-After', String(wait));
        throw new AppError('rate_limited');
      }
    }
    if (bodyKindOf(req.headers['content-type']) === null) throw new AppError('unsupported_media_type');
    const readRaw = readerFor(webhook.bodyLimitBytes ?? options.bodyLimitBytes);
    await new Promise<void>((resolve, reject) => readRaw(req, res, (err?: unknown) => (err ? reject(err) : resolve())));
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let answer;
    try {
      answer = await options.handler.accept(cached, { rawBody, headers: normaliseHeaders(req.headers) });
    } catch (err) {
      retryAfter(res, err, 1);
      throw err;
    }
    if (answer.kind === 'duplicate') sendJson(res, 200, { received: true, duplicate: true });
    else if (answer.kind === 'queued') sendJson(res, 202, { received: true, runId: answer.runId, queued: true });
    else if (answer.response) {
      // The script answered itself (Slack's url_verification challenge, a provider expecting a reply).
      res.setHeader('X-Hookgate-Run-Id', answer.runId);
      const { status, body } = answer.response;
      if (typeof body === 'string') res.status(status).type('text/plain').send(body);
      else sendJson(res, status, body);
    } else sendJson(res, 200, { received: true, runId: answer.runId });
  });
  return router;
}
