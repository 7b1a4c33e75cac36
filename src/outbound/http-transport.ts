import { request as httpRequest, type Agent, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import { setBounded } from '../bounded-map.js';
import { isAppError } from '../errors.js';
import { createConnectionPool, type ConnectionPool } from './connection-pool.js';
import { pinnedLookup, resolveWebhookTarget, systemResolver, type CheckedTarget, type Resolver, type UrlPolicy } from './url-guard.js';

/** One POST of a webhook. */
export interface OutgoingRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  /** The whole attempt — resolving, connecting, waiting for the status — must fit in this. */
  timeoutMs: number;
  /** Aborts the attempt (shutdown); it then ends as a retryable `aborted` error. */
  signal?: AbortSignal;
}

export interface AttemptError {
  /** Stable: `timeout`, `connection_refused`, `connection_reset`, `dns_failed`, `tls_error`, `url_blocked`, `http_503`… */
  code: string;
  message: string;
}

export interface AttemptResult {
  /** null when no response arrived. */
  statusCode: number | null;
  /** The `Retry-After` response header, if any. */
  retryAfter: string | null;
  /** The start of the response body, at most `excerptBytes`, as UTF-8 text. */
  responseExcerpt: string | null;
  /** The body was longer than the excerpt (the rest was not read). */
  responseTruncated: boolean;
  durationMs: number;
  /** Set when no response arrived (network error, timeout, refused URL). */
  error: AttemptError | null;
}

/**
 * Sends one webhook request. The default is `createHttpTransport`; tests may pass their own. `close`, when
 * present, releases what the transport keeps between requests (pooled connections).
 */
export type HttpTransport = ((request: OutgoingRequest) => Promise<AttemptResult>) & { close?: () => void };

export interface HttpTransportOptions {
  /** Read once, when the transport is made: a later change to this object does not reach it. */
  policy: UrlPolicy;
  resolver?: Resolver;
  /** Bytes of the response body kept (default 4096). The rest is never read. */
  excerptBytes?: number;
  userAgent?: string;
  /** Keep-alive connections, one pool per checked address (default: a pool of its own). */
  pool?: ConnectionPool;
}

const DEFAULT_EXCERPT_BYTES = 4096;
/** URLs with an IP address for host whose check is remembered, at most. */
const LITERAL_TARGETS_MAX = 1000;

/** PostgreSQL text cannot hold NUL; a binary response must still be loggable. */
export function toStorableText(text: string): string {
  return text.replace(/\u0000/g, '\uFFFD');
}

/** Maps Node's socket and TLS errors to our stable attempt codes. */
export function attemptErrorOf(err: unknown): AttemptError {
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  const message = toStorableText(String(e?.message ?? err)).slice(0, 500);
  if (code === 'ECONNREFUSED') return { code: 'connection_refused', message };
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE') return { code: 'connection_reset', message };
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return { code: 'timeout', message };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { code: 'dns_failed', message };
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return { code: 'unreachable', message };
  if (code.startsWith('HPE_')) return { code: 'invalid_response', message };
  if (/CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return { code: 'tls_error', message };
  return { code: 'network_error', message };
}

class AttemptTimeout extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`No response within ${ms} ms.`);
  }
}

class AttemptAborted extends Error {
  readonly code = 'ABORTED';
  constructor() {
    super('The attempt was aborted (shutdown).');
  }
}

/**
 * The production transport: checks the URL and resolves it (SSRF rules, every attempt; remembered for a URL
 * whose host is an IP address, which needs no resolving), then POSTs over
 * node:http/https with the connection pinned to the checked address, reusing a keep-alive connection to
 * that same address when one is idle. Redirects are not followed (Node's client never does). The response
 * body is read only up to the excerpt size, then the socket is dropped, so a huge or endless body costs
 * nothing.
 */
export function createHttpTransport(options: HttpTransportOptions): HttpTransport {
  const resolver = options.resolver ?? systemResolver;
  const excerptBytes = options.excerptBytes ?? DEFAULT_EXCERPT_BYTES;
  const userAgent = options.userAgent ?? 'hookgate-webhooks/1';
  const pool = options.pool ?? createConnectionPool();
  // A copy: the checks remembered below hold for the policy as it is now.
  const policy: UrlPolicy = Object.freeze({ ...options.policy });
  // The checks of URLs whose host is an IP address: they need no DNS, so their answer cannot change (about
  // an eighth of an attempt's CPU, measured). A URL with a host name is resolved and checked on every attempt.
  const literalTargets = new Map<string, CheckedTarget>();
  const checkTarget = async (url: string): Promise<CheckedTarget> => {
    const target = await resolveWebhookTarget(url, policy, resolver);
    if (isIP(target.hostname)) setBounded(literalTargets, url, target, LITERAL_TARGETS_MAX);
    return target;
  };

  const transport: HttpTransport = async (request) => {
    const started = performance.now();
    const elapsed = () => Math.round((performance.now() - started) * 100) / 100;
    const failed = (error: AttemptError): AttemptResult => ({
      statusCode: null,
      retryAfter: null,
      responseExcerpt: null,
      responseTruncated: false,
      durationMs: elapsed(),
      error,
    });

    // The attempt's own abort: no AbortController and no `signal` on the request (the `signal` option alone
    // cost 19 µs of CPU against 34 µs for a whole bare request, measured); the stage under way — resolving, or
    // the request — is told directly.
    const abort = new AttemptAbort();
    const timer = setTimeout(() => abort.abort(new AttemptTimeout(request.timeoutMs)), request.timeoutMs);
    const onOuterAbort = () => abort.abort(new AttemptAborted());
    request.signal?.addEventListener('abort', onOuterAbort, { once: true });
    if (request.signal?.aborted) onOuterAbort();
    try {
      let target: CheckedTarget;
      try {
        target = literalTargets.get(request.url) ?? (await abort.race(checkTarget(request.url)));
      } catch (err) {
        if (isAppError(err)) {
          return failed({ code: err.code === 'url_unresolvable' ? 'dns_failed' : err.code, message: err.message });
        }
        throw err;
      }
      // Aborted already (a shutdown that came first, with the check remembered): no request at all.
      if (abort.reason) throw abort.reason;
      const agent = pool.agentFor(target);
      let response: Response;
      try {
        response = await post(target, agent, request, userAgent, excerptBytes, abort);
      } catch (err) {
        // A kept-alive connection the receiver closed as we wrote to it, before any answer: send once more
        // on a fresh connection (the pattern the Node.js docs give for `reusedSocket`; at least once anyway).
        if (!(err instanceof StaleSocket) || abort.reason) throw err instanceof StaleSocket ? err.cause : err;
        response = await post(target, agent, request, userAgent, excerptBytes, abort, { fresh: true });
      }
      return {
        statusCode: response.statusCode,
        retryAfter: response.retryAfter,
        responseExcerpt: response.responseExcerpt,
        responseTruncated: response.responseTruncated,
        durationMs: elapsed(),
        error: null,
      };
    } catch (err) {
      const reason = abort.reason ?? err;
      if (reason instanceof AttemptAborted) return failed({ code: 'aborted', message: reason.message });
      if (reason instanceof AttemptTimeout) return failed({ code: 'timeout', message: reason.message });
      return failed(attemptErrorOf(err));
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onOuterAbort);
    }
  };
  transport.close = () => pool.close();
  return transport;
}

/** The request failed on a reused keep-alive socket before any answer: worth one more try. */
class StaleSocket extends Error {
  constructor(override readonly cause: unknown) {
    super('The kept-alive connection was closed by the receiver.');
  }
}

/**
 * Ends one attempt early (its timeout, or a shutdown): remembers the first reason, and tells the stage
 * under way, which registers itself with `onAbort` (a later registration replaces it). A class, not a
 * factory of closures: one is made per attempt, and an object literal with a getter and four closures made
 * each attempt cost a sixth of this process's CPU per delivery in bench:outbound (measured).
 */
class AttemptAbort {
  reason: Error | null = null;
  #stage: ((reason: Error) => void) | null = null;

  abort(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    this.#stage?.(reason);
  }

  /** `stage` is called on abort (at once if already aborted). */
  onAbort(stage: (reason: Error) => void): void {
    this.#stage = stage;
    if (this.reason) stage(this.reason);
  }

  /** `promise`, or a rejection with the reason once aborted first. */
  race<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.onAbort(reject);
      promise.then(resolve, reject);
    });
  }
}

type Response = Pick<AttemptResult, 'statusCode' | 'retryAfter' | 'responseExcerpt' | 'responseTruncated'>;

function post(
  target: CheckedTarget,
  agent: Agent,
  request: OutgoingRequest,
  userAgent: string,
  excerptBytes: number,
  abort: AttemptAbort,
  options: { fresh?: boolean } = {},
): Promise<Response> {
  const { url } = target;
  const body = Buffer.from(request.body, 'utf8');
  const headers: Record<string, string> = {};
  for (const name in request.headers) headers[name] = request.headers[name] as string;
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(body.length);
  headers['user-agent'] = userAgent;
  return new Promise<Response>((resolve, reject) => {
    let answered = false;
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)({
      method: 'POST',
      protocol: url.protocol,
      // The name stays for SNI and Host; the lookup pins the connection to the checked address.
      hostname: target.hostname,
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      headers,
      lookup: pinnedLookup(target) as unknown as RequestOptions['lookup'],
      // The agent of the checked address (see connection-pool.ts); a retry after a stale socket skips the pool.
      agent: options.fresh ? false : agent,
    });
    // `on`, not `once`: a destroy after the answer (excerpt full, timeout) may emit a late error.
    req.on('error', (err: NodeJS.ErrnoException) => {
      const stale = !answered && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
      reject(stale ? new StaleSocket(err) : err);
    });
    // Before the status arrives, an abort ends the request (and rejects with its reason).
    abort.onAbort((reason) => req.destroy(reason));
    req.once('response', (res) => {
      answered = true;
      const retryAfter = headerValue(res.headers['retry-after']);
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const finish = (truncated: boolean) => {
        if (settled) return;
        settled = true;
        const body = Buffer.concat(chunks);
        // Cut at the byte limit: a decoder holds back a character the cut splits (no U+FFFD at the end).
        const excerpt = truncated ? new StringDecoder('utf8').write(body.subarray(0, excerptBytes)) : body.toString('utf8');
        resolve({
          statusCode: res.statusCode ?? 0,
          retryAfter,
          responseExcerpt: excerpt.length > 0 ? toStorableText(excerpt) : null,
          responseTruncated: truncated,
        });
        if (truncated) res.destroy();
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size > excerptBytes) finish(true);
      });
      res.once('end', () => finish(false));
      // The receiver closed the connection before the end of its answer (after the status line, or half-way
      // through the body): the answer is incomplete, so the attempt is a network error and is retried.
      const broken = () => {
        if (settled) return;
        settled = true;
        reject(Object.assign(new Error(`The receiver closed the connection after the ${res.statusCode ?? ''} status line, before the end of its answer (${size} bytes of body read).`), { code: 'ECONNRESET' }));
      };
      res.once('error', broken);
      res.once('aborted', broken);
      // The status arrived in time and we stop waiting for the rest of a body that stalls: it does not undo it.
      abort.onAbort(() => finish(true));
    });
    req.end(body);
  });
}

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : value;
}
