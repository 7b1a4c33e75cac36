import { activeSecrets, anyMatch, checkTimestamp, decodeHex, hmacSha256, requireHeader, signatureInvalid } from './crypto-utils.js';
import { DEFAULT_TOLERANCE_SEC, type Verifier } from './types.js';

/**
 * Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]`, HMAC-SHA256 of `${t}.${body}` keyed by the whole
 * `whsec_…` string. Several `v1` entries appear while Stripe rolls a secret; any may match any active secret.
 */
export const verifyStripe: Verifier = (config, input) => {
  const secrets = activeSecrets(config);
  const parts = requireHeader(input.headers, 'Stripe-Signature')
    .split(',')
    .map((part) => {
      const at = part.indexOf('=');
      return at < 0 ? [part.trim(), ''] : [part.slice(0, at).trim(), part.slice(at + 1).trim()];
    });
  const timestamp = parts.find(([k]) => k === 't')?.[1];
  checkTimestamp(timestamp, config.toleranceSec ?? DEFAULT_TOLERANCE_SEC, input.nowMs);
  const candidates = parts.filter(([k]) => k === 'v1').map(([, v]) => decodeHex(v ?? '')).filter((b): b is Buffer => b !== null);
  if (candidates.length === 0) signatureInvalid();
  const signed = Buffer.concat([Buffer.from(`${timestamp}.`), input.rawBody]);
  if (!anyMatch(secrets.map((s) => hmacSha256(s, signed)), candidates)) signatureInvalid();
};
