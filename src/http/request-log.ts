import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { RequestHandler, Response } from 'express';
import type { Logger } from '../logger.js';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id.js';

/**
 * Gives each request a request id (the caller's sane `X-Request-Id`, else a random UUID), echoes it as
 * `X-Request-Id`, keeps it in `res.locals.requestId` for the handlers (events emitted by the request carry
 * it to their deliveries' log lines), and logs one line once answered: method, path without the query
 * string, status, duration and the error code if any — never headers or bodies.
 */
export function requestLog(logger: Logger, message = 'admin request'): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    const requestId = requestIdOf(req.headers['x-request-id']) ?? randomUUID();
    res.locals.requestId = requestId;
    res.setHeader(REQUEST_ID_HEADER, requestId);
    logWhenAnswered(res, logger, message, started, () => {
      const path = req.originalUrl;
      const query = path.indexOf('?');
      return { requestId, method: req.method, path: query === -1 ? path : path.slice(0, query) };
    });
    next();
  };
}

/**
 * Once `res` is answered, logs `message` at info (warn for a 5xx) with `fields()`, the status, the duration
 * since `started` (performance.now()) and the error code the error handler noted (an Express response's
 * `res.locals.errorCode`; a plain response's caller puts it in `fields`). Builds nothing when that level is off.
 */
export function logWhenAnswered(res: ServerResponse, logger: Logger, message: string, started: number, fields: () => Record<string, unknown>): void {
  res.on('finish', () => {
    const status = res.statusCode;
    const level = status >= 500 ? 'warn' : 'info';
    if (!logger.isLevelEnabled(level)) return;
    const code = (res as Partial<Response>).locals?.errorCode as string | undefined;
    logger.log(level, message, { ...fields(), status, ...(code ? { code } : {}), durationMs: Math.round((performance.now() - started) * 100) / 100 });
  });
}

/** The request id `requestLog` gave this request (undefined outside it). */
export function requestIdFrom(res: Response): string | undefined {
  const id: unknown = res.locals.requestId;
  return typeof id === 'string' ? id : undefined;
}
