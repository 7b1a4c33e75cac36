import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, coerceError, isAppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isConnectionError } from '../store/sqlstate.js';

interface BodyParserError extends Error {
  type?: string;
  status?: number;
}

/** Maps what body-parser throws onto the catalogue, so clients see our codes and not its messages. */
function fromBodyParser(err: BodyParserError): AppError | null {
  switch (err.type) {
    case 'entity.too.large':
      return new AppError('payload_too_large', undefined, { cause: err });
    case 'entity.parse.failed':
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

/** The one error handler: AppError → `{error: {code, message, details?}}`; anything else → logged 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    // A lost database is the client's "retry later" (503), not an internal error.
    const appError = isAppError(err) ? err : (fromBodyParser(err as BodyParserError) ?? (isConnectionError(err) ? new AppError('database_unavailable', undefined, { cause: err }) : null));
    // For the request's log line (src/http/request-log.ts, the inbound router), which is written once answered.
    const requestId = res.locals.requestId as string | undefined;
    if (appError) {
      res.locals.errorCode = appError.code;
      if (appError.status >= 500) logger.error('request failed', { code: appError.code, path: req.path, requestId, err: coerceError(appError.cause ?? appError).message });
      res.status(appError.status).json({ error: appError.toJSON() });
      return;
    }
    logger.error('unhandled error', { path: req.path, method: req.method, requestId, err: coerceError(err).stack });
    const internal = new AppError('internal_error');
    res.locals.errorCode = internal.code;
    res.status(500).json({ error: internal.toJSON() });
  };
}

/** The catch-all 404 for routes under a mounted router. */
export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new AppError('route_not_found', `No route for ${req.method} ${req.path}`));
};
