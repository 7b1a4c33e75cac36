import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { AppError, type ErrorCode } from '../errors.js';
import { isUsableSecret, MIN_KEY_BYTES, rawBodyOf, WebhookSender, type RawBody } from './signing.js';
import { MAX_ENVELOPE_BYTES, type Envelope } from './types.js';

/** What a handler gets besides the envelope. */
export interface ReceivedDelivery {
  /** `webhook-id`: the same on every attempt of one message to this endpoint; deduplicate on it. */
  webhookId: string;
  /** `X-Webhook-Delivery`: new on every attempt. */
  deliveryId: string | null;
  /** When this attempt was signed. */
  signedAt: Date;
  headers: Readonly<Record<string, string>>;
}

export type WebhookHandler = (envelope: Envelope, delivery: ReceivedDelivery) => unknown;

export interface WebhookReceiverOptions {
  /** The endpoint's `whsec_…` secret, or several while a rotation is under way (any one verifies). */
  secret: string | readonly string[];
  /** How far the signature timestamp may be from now, in seconds (default 300). */
  toleranceSec?: number;
  /** Largest body the middleware reads when nothing parsed it before (bytes; default 1 MiB, the largest envelope hookgate sends). */
  maxBodyBytes?: number;
  /** Told of a handler that threw (the sender gets a 500 and retries). */
  onError?: (err: unknown, envelope: Envelope) => void;
  /**
   * Accept deliveries that carry only `X-Webhook-Signature` (a proxy in between dropped the `webhook-*`
   * headers). Off by default, and weaker: that signature covers the body only, so neither the timestamp
   * nor the id is authenticated and a captured request can be replayed. The id handlers get is then the
   * envelope's `id` (inside the signed body).
   */
  acceptBodySignatureOnly?: boolean;
  /** Clock, for tests. */
  now?: () => number;
}

/** A request as `handle` takes it: the headers (Node's, a plain object or a Fetch `Headers`) and the body exactly as received. */
export interface ReceivedRequest {
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined> | Headers;
  body: RawBody;
}

/** What to answer the sender. */
export interface ReceiverResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** A request an Express body parser (or none) went through; `rawBody` where a parser's `verify` hook kept the bytes. */
type MiddlewareRequest = IncomingMessage & { body?: unknown; rawBody?: unknown };
type Next = (err?: unknown) => void;

const DEFAULT_TOLERANCE_SEC = 300;
const DEFAULT_MAX_BODY_BYTES = MAX_ENVELOPE_BYTES;
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

/**
 * The receiving side of hookgate's outgoing webhooks: verifies a delivery's signature and timestamp on
 * the raw body, then calls the handlers registered for its event type.
 *
 * Verification uses the Standard Webhooks headers (`webhook-signature` over
 * `webhook-id.webhook-timestamp.body`, so the id and the timestamp are signed too), and the timestamp must
 * be within `toleranceSec` (5 min) of now, so a captured request cannot be replayed later. Every secret is
 * tried, so timing does not tell which one matched. Answers: 401 on a missing or bad signature or
 * timestamp, 400 on a body that is not an envelope, 413 past `maxBodyBytes`, 500 when a handler throws (the
 * sender retries), else 200 `{received: true}` — also for event types nobody handles.
 *
 * @example
 * const receiver = new WebhookReceiver(process.env.HOOK_SECRET!)
 *   .on('subscription.cancelled', async (event) => cancel(event.data))
 *   .on('*', (event, { webhookId }) => audit(webhookId, event.event));
 * app.post('/hooks/hookgate', receiver.middleware());       // Express (reads the raw body itself)
 * // or: const { statusCode, headers, body } = await receiver.handle({ headers: req.headers, body: rawBody });
 */
export class WebhookReceiver {
  readonly #secrets: readonly string[];
  readonly #toleranceSec: number;
  readonly #maxBodyBytes: number;
  readonly #now: () => number;
  readonly #onError: WebhookReceiverOptions['onError'];
  readonly #bodySignatureOnly: boolean;
  readonly #handlers = new Map<string, WebhookHandler[]>();

  constructor(secretOrOptions: string | WebhookReceiverOptions) {
    const options: Partial<WebhookReceiverOptions> = typeof secretOrOptions === 'string' ? { secret: secretOrOptions } : (secretOrOptions ?? {});
    const given = options.secret;
    // Trimmed: a secret read from a file or an environment variable may end in a newline.
    const secrets = (typeof given === 'string' ? [given] : Array.isArray(given) ? [...(given as unknown[])] : []).map((s) => (typeof s === 'string' ? s.trim() : ''));
    if (secrets.length === 0 || secrets.some((s) => s.length === 0)) {
      throw new TypeError('WebhookReceiver needs the endpoint secret (whsec_…): a string, or a list of them during a rotation');
    }
    // One short key in a rotation list would let anyone sign deliveries that verify.
    if (secrets.some((s) => !isUsableSecret(s))) {
      throw new TypeError(`WebhookReceiver needs whole endpoint secrets (whsec_… with a key of at least ${MIN_KEY_BYTES} bytes), not a prefix of one`);
    }
    this.#secrets = secrets;
    this.#toleranceSec = options.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError;
    this.#bodySignatureOnly = options.acceptBodySignatureOnly ?? false;
  }

  /** Calls `handler` for deliveries of `eventType` (`*`: every event), after the specific handlers. */
  on(eventType: string, handler: WebhookHandler): this {
    if (typeof eventType !== 'string' || eventType.length === 0) throw new TypeError('WebhookReceiver.on needs an event type (or "*")');
    if (typeof handler !== 'function') throw new TypeError(`WebhookReceiver.on("${eventType}") needs a handler function`);
    const list = this.#handlers.get(eventType) ?? [];
    list.push(handler);
    this.#handlers.set(eventType, list);
    return this;
  }

  /**
   * Verifies and dispatches one request. Whatever the sender sent, it answers rather than throws; a body
   * that is not raw (an object a JSON parser made) is a set-up error, and rejects with a TypeError.
   */
  async handle(request: ReceivedRequest): Promise<ReceiverResponse> {
    const rawBody = rawBodyOf(request.body, 'WebhookReceiver.handle');
    const headers = lowerCased(request.headers);
    const failure = this.#verify(rawBody, headers);
    if (failure !== null) return errorResponse(failure);

    let envelope: Envelope;
    try {
      envelope = JSON.parse(Buffer.isBuffer(rawBody) ? rawBody.toString('utf8') : rawBody) as Envelope;
    } catch {
      return errorResponse('invalid_json');
    }
    if (!isEnvelope(envelope)) return errorResponse('validation_failed', 'The body is not a webhook envelope {id, event, version, timestamp, data, metadata}.');

    const delivery: ReceivedDelivery = {
      // Only a signed id: the header when the Standard Webhooks signature covered it, else the body's.
      webhookId: headers['webhook-signature'] !== undefined ? (headers['webhook-id'] ?? envelope.id) : envelope.id,
      deliveryId: headers['x-webhook-delivery'] ?? null,
      signedAt: new Date(this.#signedAtMs(headers) ?? this.#now()),
      headers,
    };
    const handlers = [...(this.#handlers.get(envelope.event) ?? []), ...(envelope.event === '*' ? [] : (this.#handlers.get('*') ?? []))];
    try {
      for (const handler of handlers) await handler(envelope, delivery);
    } catch (err) {
      try {
        this.#onError?.(err, envelope);
      } catch {
        // An error reporter that fails must not turn the answer into an exception.
      }
      return errorResponse('webhook_handler_failed');
    }
    return { statusCode: 200, headers: { ...JSON_HEADERS }, body: JSON.stringify({ received: true }) };
  }

  /**
   * Express (or plain `node:http`) middleware. Uses `req.body` when a raw parser (`express.raw()`,
   * `express.text()`) ran before it, or `req.rawBody` when a JSON parser's `verify` hook kept the bytes
   * there, else reads the body itself (up to `maxBodyBytes`: 413 beyond). A body that `express.json()`
   * already parsed, with no `rawBody`, cannot be verified (its bytes are gone): that is a set-up error
   * passed to `next`.
   */
  middleware(): (req: MiddlewareRequest, res: ServerResponse, next?: Next) => Promise<void> {
    return async (req, res, next) => {
      try {
        let body: RawBody;
        if (typeof req.body === 'string' || req.body instanceof Uint8Array) {
          body = req.body;
        } else if (typeof req.rawBody === 'string' || req.rawBody instanceof Uint8Array) {
          // express.json({ verify: (req, _res, buf) => { req.rawBody = buf } }): the bytes as received.
          body = req.rawBody;
        } else if (req.body !== undefined && req.readableEnded) {
          const err = new Error('WebhookReceiver needs the raw body: mount it before express.json(), or use express.raw({ type: "application/json" })');
          if (next) next(err);
          else send(res, errorResponse('internal_error'));
          return;
        } else {
          const read = await readBody(req, this.#maxBodyBytes);
          if (read === null) {
            // Answer, then drop the connection rather than read the rest of an oversize body.
            res.setHeader('connection', 'close');
            res.once('finish', () => req.destroy());
            send(res, errorResponse('payload_too_large'));
            return;
          }
          body = read;
        }
        send(res, await this.handle({ headers: req.headers, body }));
      } catch {
        // The sender went away mid-body (or the socket failed): nobody is left to answer.
        req.destroy();
      }
    };
  }

  /** null when the request is authentic and fresh, else the error code to answer. */
  #verify(rawBody: string | Buffer, headers: Record<string, string>): ErrorCode | null {
    if (headers['webhook-signature'] !== undefined) {
      // The id is signed with the rest: without it there is nothing to verify.
      if (!headers['webhook-id']) return 'signature_missing';
      if (!headers['webhook-timestamp'] || !this.#fresh(this.#signedAtMs(headers))) return 'signature_timestamp_invalid';
      const nowMs = this.#now();
      // Every secret is tried, so timing does not tell which one matched.
      let ok = false;
      for (const secret of this.#secrets) ok = WebhookSender.verifyStandard(rawBody, secret, headers, { toleranceSec: this.#toleranceSec, nowMs }) || ok;
      return ok ? null : 'signature_invalid';
    }
    const signature = headers['x-webhook-signature'];
    if (signature === undefined || !this.#bodySignatureOnly) return 'signature_missing';
    // Weaker (opted into): the body's signature only; the timestamp header is checked but not authenticated.
    if (!this.#fresh(this.#signedAtMs(headers))) return 'signature_timestamp_invalid';
    let ok = false;
    for (const secret of this.#secrets) ok = WebhookSender.verify(rawBody, secret, signature) || ok;
    return ok ? null : 'signature_invalid';
  }

  #signedAtMs(headers: Record<string, string>): number | null {
    const standard = headers['webhook-timestamp'];
    if (standard !== undefined) return /^\d{1,12}$/.test(standard) ? Number(standard) * 1000 : null;
    const iso = headers['x-webhook-timestamp'];
    if (iso === undefined) return null;
    const ms = Date.parse(iso);
    return Number.isFinite(ms) ? ms : null;
  }

  #fresh(signedAtMs: number | null): boolean {
    return signedAtMs !== null && Number.isFinite(signedAtMs) && Math.abs(this.#now() - signedAtMs) <= this.#toleranceSec * 1000;
  }
}

function lowerCased(headers: ReceivedRequest['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  // A Fetch `Headers` (its entries are not own properties): names come lower-cased, repeated lines joined.
  if (typeof Headers !== 'undefined' && headers instanceof Headers) {
    (headers as Headers).forEach((value, name) => {
      out[name] = value;
    });
    return out;
  }
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

function isEnvelope(value: unknown): value is Envelope {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.id === 'string' && typeof v.event === 'string' && typeof v.timestamp === 'string' && 'data' in v && typeof v.metadata === 'object' && v.metadata !== null;
}

function errorResponse(code: ErrorCode, message?: string): ReceiverResponse {
  return { statusCode: new AppError(code).status, headers: { ...JSON_HEADERS }, body: JSON.stringify({ error: new AppError(code, message).toJSON() }) };
}

function send(res: ServerResponse, response: ReceiverResponse): void {
  res.statusCode = response.statusCode;
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  res.setHeader('content-length', Buffer.byteLength(response.body));
  res.end(response.body);
}

/** The body, or null as soon as it passes `limit` (reading stops there). Rejects when the sender aborts. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    // Closed before the body ended: the sender went away.
    const onClose = () => onError(new Error('aborted'));
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}
