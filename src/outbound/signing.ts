import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { setBounded } from '../bounded-map.js';

/** Prefix of every outgoing secret, as in the Standard Webhooks spec. */
export const SECRET_PREFIX = 'whsec_';
/** How many characters of a secret the admin API shows (`whsec_` plus four). */
const SHOWN_PREFIX_LENGTH = 10;

export interface SignInput {
  /** The exact bytes that are sent. */
  body: string | Buffer;
  /**
   * The secret, or several during a rotation's grace period (newest first): each one adds a signature to
   * both signature headers, so a receiver holding either secret verifies.
   */
  secrets: string | readonly string[];
  /** `webhook-id`: the same on every attempt of one message to one endpoint. */
  webhookId: string;
  /** Signing time; `webhook-timestamp` is its unix seconds. */
  timestamp: Date;
}

/** The signature headers of one request. */
export type SignatureHeaders = {
  /** `sha256=<hex>` per secret, space-separated: HMAC-SHA256 of the raw body, key = the secret string. */
  'X-Webhook-Signature': string;
  'webhook-id': string;
  /** Unix seconds. */
  'webhook-timestamp': string;
  /** `v1,<base64>` per secret, space-separated (Standard Webhooks). */
  'webhook-signature': string;
};

/**
 * The shortest key a verification accepts, in bytes (hookgate's are 32). A lenient base64 decoding turns
 * `whsec_`, or the 10-character prefix the admin API shows, into an empty or 3-byte key that anyone could
 * sign with: such a secret verifies nothing.
 */
export const MIN_KEY_BYTES = 16;

/** Whether a secret makes keys long enough to verify with, for both signature headers. */
export function isUsableSecret(secret: string): boolean {
  return Buffer.byteLength(secret) >= MIN_KEY_BYTES && standardKeyBytes(secret).length >= MIN_KEY_BYTES;
}

/** The Standard Webhooks key bytes: the base64 after `whsec_` (a secret without the prefix is taken as base64 whole). */
function standardKeyBytes(secret: string): Buffer {
  return Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
}

/** Both HMAC keys of a secret: the secret string itself (`X-Webhook-Signature`) and its Standard Webhooks bytes. */
interface SigningKeys {
  seed: KeyObject;
  standard: KeyObject;
}

/**
 * Keys of the secrets signed with lately: every attempt to an endpoint signs with the same secret, and
 * importing the keys on every signature took about half the time of signing (measured in a loop of POSTs
 * to bench:outbound's receivers). A rotation leaves the old entry to age out.
 */
const signingKeys = new Map<string, SigningKeys>();
const SIGNING_KEYS_MAX = 1000;

function keysOf(secret: string): SigningKeys {
  let keys = signingKeys.get(secret);
  if (!keys) {
    keys = { seed: createSecretKey(Buffer.from(secret, 'utf8')), standard: createSecretKey(standardKeyBytes(secret)) };
    setBounded(signingKeys, secret, keys, SIGNING_KEYS_MAX);
  }
  return keys;
}

function hmac(key: string | Buffer | KeyObject, ...parts: Array<string | Buffer>): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

function asList(secrets: string | readonly string[]): readonly string[] {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  if (list.length === 0) throw new TypeError('WebhookSender.sign needs at least one secret');
  return list;
}

/** A body as received, before any parsing. */
export type RawBody = string | Buffer | Uint8Array | ArrayBuffer;

/**
 * The raw body as a string or Buffer (a Uint8Array or ArrayBuffer is viewed as a Buffer, not copied).
 * Anything else is a set-up error — most often a body a JSON parser already turned into an object, whose
 * bytes are gone — and throws a TypeError saying so.
 */
export function rawBodyOf(body: unknown, who: string): string | Buffer {
  if (typeof body === 'string' || Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body === 'object' ? 'an object' : typeof body;
  throw new TypeError(`${who} needs the raw body exactly as received (a string, Buffer or Uint8Array), not ${got}: a JSON body parser must not run before it.`);
}

/** The entries of a signature header: separated by spaces, and by ", " where a proxy joined repeated header lines. */
function signatureEntries(header: string): string[] {
  return header.split(/\s+/).map((entry) => (entry.endsWith(',') ? entry.slice(0, -1) : entry));
}

/** Constant-time: every candidate is compared, so timing does not tell which one matched. */
function anyMatches(expected: Buffer, candidates: Buffer[]): boolean {
  let matched = false;
  for (const candidate of candidates) {
    matched = (candidate.length === expected.length && timingSafeEqual(candidate, expected)) || matched;
  }
  return matched;
}

/**
 * Signing and verification of hookgate's outgoing webhooks.
 *
 * Every request carries two signatures over the same raw body:
 * - `X-Webhook-Signature: sha256=<hex>` — HMAC-SHA256 of the body, keyed with the secret string itself;
 * - Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`) — HMAC-SHA256
 *   of `${id}.${timestamp}.${body}`, keyed with the base64-decoded part of `whsec_…`; the official
 *   `standardwebhooks` package verifies it.
 *
 * @example
 * // In a receiver (Express): keep the raw body, then
 * app.post('/hooks', express.raw({ type: 'application/json' }), (req, res) => {
 *   if (!WebhookSender.verify(req.body, process.env.HOOK_SECRET!, req.header('x-webhook-signature') ?? '')) {
 *     return res.status(401).end();
 *   }
 *   res.status(204).end();
 * });
 */
export const WebhookSender = Object.freeze({
  /** A new secret: `whsec_` + base64 of 32 random bytes. */
  generateSecret(): string {
    return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
  },

  /** What reads show instead of the secret. */
  secretPrefix(secret: string): string {
    return secret.slice(0, SHOWN_PREFIX_LENGTH);
  },

  /**
   * The signature headers for one request.
   *
   * @example
   * const headers = WebhookSender.sign({ body, secrets: secret, webhookId: 'msg_1', timestamp: new Date() });
   */
  sign(input: SignInput): SignatureHeaders {
    const secrets = asList(input.secrets);
    const seconds = String(Math.floor(input.timestamp.getTime() / 1000));
    const body = input.body;
    const keys = secrets.map(keysOf);
    return {
      'X-Webhook-Signature': keys.map((k) => `sha256=${hmac(k.seed, body).toString('hex')}`).join(' '),
      'webhook-id': input.webhookId,
      'webhook-timestamp': seconds,
      'webhook-signature': keys.map((k) => `v1,${hmac(k.standard, `${input.webhookId}.${seconds}.`, body).toString('base64')}`).join(' '),
    };
  },

  /**
   * Checks an `X-Webhook-Signature` header against the raw body, in constant time. The header may hold
   * several space-separated `sha256=` entries (during a secret rotation); one match is enough.
   *
   * @param rawBody the body exactly as received (not re-serialised JSON).
   * @param secret the endpoint's `whsec_…` secret.
   * @param signatureHeader the `X-Webhook-Signature` value.
   * @returns false also for a missing or malformed secret or header.
   * @throws TypeError when `rawBody` is not a raw body (an object a JSON parser made: its bytes are gone).
   */
  verify(rawBody: RawBody, secret: string, signatureHeader: string): boolean {
    const body = rawBodyOf(rawBody, 'WebhookSender.verify');
    if (typeof secret !== 'string' || typeof signatureHeader !== 'string') return false;
    // A secret read from a file or an environment variable may end in a newline; no secret holds spaces.
    const key = secret.trim();
    if (Buffer.byteLength(key) < MIN_KEY_BYTES || !signatureHeader) return false;
    const candidates = signatureHeader
      .split(/[\s,]+/)
      .map((entry) => /^sha256=([0-9a-fA-F]{64})$/.exec(entry)?.[1])
      .filter((hex): hex is string => hex !== undefined)
      .map((hex) => Buffer.from(hex, 'hex'));
    return anyMatches(hmac(key, body), candidates);
  },

  /**
   * Checks the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`) against
   * the raw body, with the timestamp within `toleranceSec` (default 300) of `nowMs`. The signature list may
   * be split by spaces or, where a proxy joined repeated header lines, by ", ".
   * @throws TypeError when `rawBody` is not a raw body, as `verify`.
   */
  verifyStandard(
    rawBody: RawBody,
    secret: string,
    headers: Record<string, string | undefined>,
    options: { toleranceSec?: number; nowMs?: number } = {},
  ): boolean {
    const body = rawBodyOf(rawBody, 'WebhookSender.verifyStandard');
    if (typeof secret !== 'string' || typeof headers !== 'object' || headers === null) return false;
    const key = standardKeyBytes(secret.trim());
    if (key.length < MIN_KEY_BYTES) return false;
    const id = headers['webhook-id'];
    const timestamp = headers['webhook-timestamp'];
    const signature = headers['webhook-signature'];
    if (typeof id !== 'string' || !id || typeof timestamp !== 'string' || typeof signature !== 'string' || !/^\d{1,12}$/.test(timestamp)) return false;
    const nowSec = (options.nowMs ?? Date.now()) / 1000;
    if (Math.abs(nowSec - Number(timestamp)) > (options.toleranceSec ?? 300)) return false;
    const candidates = signatureEntries(signature)
      .map((entry) => /^v1,([A-Za-z0-9+/]+={0,2})$/.exec(entry)?.[1])
      .filter((b64): b64 is string => b64 !== undefined)
      .map((b64) => Buffer.from(b64, 'base64'));
    return anyMatches(hmac(key, `${id}.${timestamp}.`, body), candidates);
  },
});
