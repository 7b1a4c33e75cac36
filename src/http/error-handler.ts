import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, coerceError, isAppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isConnectionError } from '../store/sqlstate.js';

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  /** The text that failed to parse (entity.parse.failed). */
  body?: unknown;
}

/** Valid JSON that is not an object or array (`null`, `7`, `"x"`), which the parser refuses as it refuses junk. */
function isJsonScalar(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  try {
    const value: unknown = JSON.parse(text);
    return value === null || typeof value !== 'object';
  } catch {
    return false;
  }
}

/** Maps what body-parser throws onto the catalogue, so clients see our codes and not its messages. */
function fromBodyParser(thrown: unknown): AppError | null {
  // Anything may be thrown (null included): only body-parser's errors carry a `type`.
  const err = thrown as BodyParserError | null | undefined;
  switch (err?.type) {
    case 'entity.too.large':
      return new AppError('payload_too_large', undefined, { cause: err });
    case 'entity.parse.failed':
      if (isJsonScalar(err.body)) {
        return new AppError('validation_failed', 'The request is invalid: / must be object', {
          cause: err,
          details: [{ path: '/', message: 'must be object', keyword: 'type', params: { type: 'object' } }],
        });
      }
      return new AppError('invalid_json', undefined, { cause: err });
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('unsupported_media_type', err.message, { cause: err });
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new AppError('validation_failed', 'The request body could not be read.', { status: 400, cause: err });
    default:
      return null;
  }
}

/** What a handler threw, as the catalogue error the client is answered with; null when it is not ours (a 500). */
function toAppError(err: unknown): AppError | null {
  if (isAppError(err)) return err;
  // A lost database is the client's "retry later" (503), not an internal error.
  return fromBodyParser(err) ?? (isConnectionError(err) ? new AppError('database_unavailable', undefined, { cause: err }) : null);
}

/** The request an error is logged with. */
export interface ErrorContext {
  method: string;
  path: string;
  requestId: string | undefined;
}

/**
 * The answer to what a handler threw: its catalogue status and `{error: {code, message, details?}}`, or a
 * 500 `internal_error` for anything not ours. A 5xx is logged (with the cause's message; an unknown error
 * with its stack), never shown to the client. Shared by the Express error handler and the inbound endpoint,
 * which answers on Node's own response.
 */
export function errorAnswer(logger: Logger, err: unknown, context: ErrorContext): { status: number; code: string; body: unknown } {
  const appError = toAppError(err);
  if (appError) {
    if (appError.status >= 500) logger.error('request failed', { code: appError.code, path: context.path, requestId: context.requestId, err: coerceError(appError.cause ?? appError).message });
    return { status: appError.status, code: appError.code, body: { error: appError.toJSON() } };
  }
  logger.error('unhandled error', { path: context.path, method: context.method, requestId: context.requestId, err: coerceError(err).stack });
  const internal = new AppError('internal_error');
  return { status: 500, code: internal.code, body: { error: internal.toJSON() } };
}

/** The one Express error handler: {@link errorAnswer}, with the code kept for the request's log line. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    // For the request's log line (src/http/request-log.ts), which is written once answered.
    const answer = errorAnswer(logger, err, { method: req.method, path: req.path, requestId: res.locals.requestId as string | undefined });
    res.locals.errorCode = answer.code;
    res.status(answer.status).json(answer.body);
  };
}

/** The catch-all 404 for routes under a mounted router. */
export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new AppError('route_not_found', `No route for ${req.method} ${req.path}`));
};
