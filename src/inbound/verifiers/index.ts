import { AppError } from '../../errors.js';
import type { VerifyConfig } from '../../store/types.js';
import { anyEqual, checkTimestamp, decodeBase64, decodeHex, hmacSha256, requireSecret } from './crypto-utils.js';

export interface VerifyInput {
  rawBody: Buffer;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  nowMs: number;
}

const DEFAULT_TOLERANCE_SEC = 300;

function header(input: VerifyInput, name: string): string {
  const value = input.headers[name.toLowerCase()];
  if (!value) throw new AppError('signature_missing', `The ${name} header is missing.`);
  return value;
}

function fail(): never {
  throw new AppError('signature_invalid');
}

/** Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]`, HMAC-SHA256 of `${t}.${body}` keyed by the whole secret. */
function verifyStripe(config: VerifyConfig, input: VerifyInput): void {
  const secret = requireSecret(config.secret);
  const parts = header(input, 'Stripe-Signature').split(',').map((p) => p.trim().split('='));
  const timestamp = parts.find(([k]) => k === 't')?.[1];
  checkTimestamp(timestamp, config.toleranceSec ?? DEFAULT_TOLERANCE_SEC, input.nowMs);
  const candidates = parts.filter(([k]) => k === 'v1').map(([, v]) => decodeHex(v ?? '')).filter((b): b is Buffer => b !== null);
  if (candidates.length === 0) fail();
  const expected = hmacSha256(secret, Buffer.concat([Buffer.from(`${timestamp}.`), input.rawBody]));
  if (!anyEqual(expected, candidates)) fail();
}

/** GitHub: `X-Hub-Signature-256: sha256=<hex>` of the body. */
function verifyGithub(config: VerifyConfig, input: VerifyInput): void {
  const secret = requireSecret(config.secret);
  const value = header(input, 'X-Hub-Signature-256');
  const mac = value.startsWith('sha256=') ? decodeHex(value.slice(7)) : null;
  if (!mac || !anyEqual(hmacSha256(secret, input.rawBody), [mac])) fail();
}

/** Standard Webhooks: `webhook-signature: v1,<base64> …` over `${id}.${timestamp}.${body}`, key = base64 of `whsec_…`. */
function verifyStandardWebhooks(config: VerifyConfig, input: VerifyInput): void {
  const secret = requireSecret(config.secret);
  const key = decodeBase64(secret.startsWith('whsec_') ? secret.slice(6) : secret);
  if (!key) throw new AppError('signature_invalid', 'The configured standard-webhooks secret is not base64.');
  const id = header(input, 'webhook-id');
  const timestamp = header(input, 'webhook-timestamp');
  checkTimestamp(timestamp, config.toleranceSec ?? DEFAULT_TOLERANCE_SEC, input.nowMs);
  const candidates = header(input, 'webhook-signature')
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => decodeBase64(s.slice(3)))
    .filter((b): b is Buffer => b !== null);
  if (candidates.length === 0) fail();
  const expected = hmacSha256(key, Buffer.concat([Buffer.from(`${id}.${timestamp}.`), input.rawBody]));
  if (!anyEqual(expected, candidates)) fail();
}

/** Generic: `<header>: sha256=<hex>` (or bare hex) of the body, keyed by the secret string — what hookgate itself sends. */
function verifyHmacSha256(config: VerifyConfig, input: VerifyInput): void {
  const secret = requireSecret(config.secret);
  const value = header(input, config.header ?? 'X-Webhook-Signature');
  const mac = decodeHex(value.startsWith('sha256=') ? value.slice(7) : value);
  if (!mac || !anyEqual(hmacSha256(secret, input.rawBody), [mac])) fail();
}

const VERIFIERS: Record<VerifyConfig['scheme'], (config: VerifyConfig, input: VerifyInput) => void> = {
  none: () => undefined,
  stripe: verifyStripe,
  github: verifyGithub,
  'standard-webhooks': verifyStandardWebhooks,
  'hmac-sha256': verifyHmacSha256,
};

/** Throws AppError (`signature_missing`, `signature_invalid`, `signature_timestamp_invalid`) when the request is not authentic. */
export function verifySignature(config: VerifyConfig, input: VerifyInput): void {
  VERIFIERS[config.scheme](config, input);
}
