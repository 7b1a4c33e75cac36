import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import express from 'express';
import { AppError, isAppError } from '../errors.js';
import { errorAnswer } from '../http/error-handler.js';
import { REQUEST_ID_HEADER, requestIdOf } from '../http/request-id.js';
import { logWhenAnswered } from '../http/request-log.js';
import type { Logger } from '../logger.js';
import { uuidv7 } from '../store/index.js';
import type { InboundHandler } from './inbound-handler.js';
import { normaliseHeaders, rejectionWasRecorded } from './inbound-handler.js';
import { RateLimiter } from './rate-limiter.js';
import { bodyKindOf } from './request-body.js';

export interface InboundRouterOptions {
  handler: InboundHandler;
  /** Largest accepted body in bytes unless the webhook sets its own (default 1 MiB). */
  bodyLimitBytes: number;
  /** Told of every answer once sent: the webhook's provider (`unknown` when none matched) and the HTTP status. */
  onAnswered?: (provider: string, status: number) => void;
  /** One line per answered request (info; warn for a 5xx): provider, status, run id, duration, request id. */
  logger?: Logger;
  /** Where a 5xx answer's cause is logged (the admin API's errors go there too). */
  errorLogger: Logger;
}

/**
 * Answers `POST /tools/webhook/:provider` for `provider` on Node's own request and response, errors
 * included; never rejects. Express's extensions are not needed, so the engine's own server hands webhook
 * requests straight to it (see {@link inboundProviderOf}); `engine.router` reaches it through its route
 * for {@link INBOUND_PATH}.
 */
export type InboundEndpoint = (req: IncomingMessage, res: ServerResponse, provider: string) => Promise<void>;

/** Sets `Retry-After` on the answers that ask the sender to come back (429, 503). */
function retryAfter(res: ServerResponse, err: unknown, seconds: number): void {
  if (isAppError(err) && (err.status === 503 || err.status === 429)) res.setHeader('Retry-After', String(seconds));
}

/**
 * Writes an answer straight to Node's response: Express's `res.json`/`res.send` would also hash the body
 * for an ETag on every request (a third of the answer's cost), which a webhook sender never uses.
 */
function send(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.statusCode = status;
  if (status === 204 || status === 205) {
    // No content (a script may answer 204 or 205 with a body): no body, so no headers that describe one.
    if (status === 205) res.setHeader('Content-Length', '0');
    res.end();
    return;
  }
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

/** The inbound route, relative to where the engine's router is mounted. */
export const INBOUND_PATH = '/tools/webhook/:provider';

const INBOUND_PREFIX = '/tools/webhook/';

/**
 * The provider named by a request for {@link INBOUND_PATH} at the root (`POST /tools/webhook/<provider>`,
 * a trailing slash and a query string allowed, as Express's route allows them), or null for any other
 * request. Only the plain spelling is recognised; another one Express's route would also accept (other
 * letter case, a name that does not decode, a fragment, an absolute-form URL) gives null, so that request
 * goes through Express and gets the same answer there. Matches Express's default routing only (not
 * `strict routing` or `case sensitive routing`), with the engine's router at the app's root.
 */
export function inboundProviderOf(method: string | undefined, url: string | undefined): string | null {
  if (method !== 'POST' || url === undefined || !url.startsWith(INBOUND_PREFIX)) return null;
  const queryAt = url.indexOf('?', INBOUND_PREFIX.length);
  let name = url.slice(INBOUND_PREFIX.length, queryAt === -1 ? undefined : queryAt);
  if (name.endsWith('/')) name = name.slice(0, -1);
  // A `#` starts a fragment, which Express drops from the path: let Express name the provider.
  if (name === '' || name.includes('/') || name.includes('#')) return null;
  try {
    return decodeURIComponent(name);
  } catch {
    return null;
  }
}

/**
 * The inbound endpoint, in the contract's order: 404, 429 (rate limit), 415, 413, 400, 401, then the run
 * (sync: 200 with the run id) or the inbox (async: 202). A repeat of a stored delivery id → 200
 * `{received: true, duplicate: true}`; a saturated sandbox → 503; both 429 and 503 carry Retry-After.
 * Failures are answered from the error catalogue; a 5xx keeps only its code, never the details.
 */
export function createInboundEndpoint(options: InboundRouterOptions): InboundEndpoint {
  /**
   * The bytes the sender signed: what the raw reader read, or — where a host's body parser ran first
   * (`app.use(express.json())` before `engine.router`) — the `req.rawBody` its `verify` hook kept. A body
   * parsed with nothing kept cannot be verified: a set-up error (500, so the sender retries once it is fixed).
   */
  const rawBodyOf = (request: IncomingMessage & { body?: unknown; rawBody?: unknown }): Buffer => {
    if (Buffer.isBuffer(request.body)) return request.body;
    if (Buffer.isBuffer(request.rawBody)) return request.rawBody;
    if (request.body === undefined) return Buffer.alloc(0);
    // The sender gets the generic 500; the log line has this message, for the host's developer.
    throw new AppError('internal_error', undefined, { cause: new Error('A body parser of the host app read this request before hookgate: mount engine.router before express.json() (or let the parser keep req.rawBody), since a webhook\'s signature covers its raw bytes.') });
  };
  const readers = new Map<number, ReturnType<typeof express.raw>>();
  const readerFor = (limit: number) => {
    let reader = readers.get(limit);
    if (!reader) readers.set(limit, (reader = express.raw({ type: () => true, limit })));
    return reader;
  };
  const limiter = new RateLimiter();
  const { logger, errorLogger } = options;

  return async (req, res, providerName) => {
    const started = performance.now();
    // The request id: the sender's sane X-Request-Id, else the id of the run this request starts (one id
    // fewer to make and to correlate; for a request refused before it runs, an id that names no run).
    const runId = uuidv7();
    const requestId = requestIdOf(req.headers['x-request-id']) ?? runId;
    res.setHeader(REQUEST_ID_HEADER, requestId);
    // Through Express, the host's middleware and error handler find the request id where requestLog puts it.
    const locals = (res as Partial<express.Response>).locals;
    if (locals) locals.requestId = requestId;
    // Only a configured provider becomes a label: the URL's name is the sender's choice.
    let provider = 'unknown';
    // Set once a run was recorded for this request (ran, queued, or rejected by the signature check).
    let ranId: string | undefined;
    let errorCode: string | undefined;
    const { onAnswered } = options;
    if (onAnswered) res.on('finish', () => onAnswered(provider, res.statusCode));
    if (logger) logWhenAnswered(res, logger, 'inbound request', started, () => ({ requestId, provider, ...(ranId ? { runId: ranId } : {}), ...(errorCode ? { code: errorCode } : {}) }));
    try {
      const cached = await options.handler.lookup(providerName).catch((err: unknown) => {
        retryAfter(res, err, 1); // a lookup the database could not answer (503)
        throw err;
      });
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
      const request = req as IncomingMessage & { body?: unknown; rawBody?: unknown };
      await new Promise<void>((resolve, reject) => readRaw(request as express.Request, res as express.Response, (err?: unknown) => (err ? reject(err) : resolve())));
      const rawBody = rawBodyOf(request);
      let answer;
      try {
        answer = await options.handler.accept(cached, { rawBody, headers: normaliseHeaders(req.headers), runId, requestId });
      } catch (err) {
        if (isAppError(err) && err.status === 401) {
          // A failed signature check is recorded as a `rejected` run under this id (unless a flood passed the
          // cap), and was not the sender's request: its rate-limit token goes back.
          if (rejectionWasRecorded(err)) ranId = runId;
          if (webhook.rateLimit) limiter.refund(webhook.provider);
        }
        retryAfter(res, err, 1);
        throw err;
      }
      if (answer.kind !== 'duplicate') ranId = answer.runId;
      if (answer.kind === 'duplicate') sendJson(res, 200, { received: true, duplicate: true });
      else if (answer.kind === 'queued') sendJson(res, 202, { received: true, runId: answer.runId, queued: true });
      else if (answer.response) {
        // The script answered itself (Slack's url_verification challenge, a provider expecting a reply).
        res.setHeader('X-Hookgate-Run-Id', answer.runId);
        const { status, body } = answer.response;
        if (typeof body === 'string') send(res, status, 'text/plain; charset=utf-8', body);
        else sendJson(res, status, body);
      } else sendJson(res, 200, { received: true, runId: answer.runId });
    } catch (err) {
      try {
        if (res.headersSent) {
          // Answered already (nothing here throws after that): the connection cannot carry a second answer.
          errorLogger.error('inbound request failed after its answer', { requestId, err: String(err) });
          res.destroy();
          return;
        }
        // The sender sees a 5xx's code and the catalogue's message for it, never the details or a message
        // naming webhooks, keys or internal state (the log line keeps them).
        const shown = isAppError(err) && err.status >= 500 ? new AppError(err.code, undefined, { status: err.status, cause: err }) : err;
        const path = req.url === undefined ? '' : req.url.split('?', 1)[0]!;
        const failure = errorAnswer(errorLogger, shown, { method: req.method ?? 'POST', path, requestId });
        errorCode = failure.code;
        if (locals) locals.errorCode = failure.code;
        sendJson(res, failure.status, failure.body);
      } catch {
        // The answer to the failure failed too (a host logger that throws, error details that are not JSON):
        // a bare 500 or a closed connection, never an unhandled rejection or a request left waiting.
        errorCode ??= 'internal_error';
        if (res.headersSent) res.destroy();
        else {
          res.statusCode = 500;
          res.end();
        }
      }
    }
  };
}
