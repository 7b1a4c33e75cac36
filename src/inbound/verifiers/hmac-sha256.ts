import { activeSecrets, anyMatch, checkTimestamp, decodeBase64, decodeHex, hmacSha256, requireHeader, signatureInvalid } from './crypto-utils.js';
import { DEFAULT_TOLERANCE_SEC, type Verifier } from './types.js';

/**
 * Generic HMAC-SHA256 of the body (or of `${timestamp}.${body}` when `timestampHeader` is set), keyed by
 * the secret string, in `header` (default `X-Webhook-Signature` — what hookgate itself sends). The value
 * is `prefix` + hex (or base64); when no prefix is configured a `sha256=` one is optional. Several
 * space-separated signatures are accepted (a sender in the middle of a rotation sends two).
 */
export const verifyHmacSha256: Verifier = (config, input) => {
  const secrets = activeSecrets(config);
  const value = requireHeader(input.headers, config.header ?? 'X-Webhook-Signature');
  const decode = config.encoding === 'base64' ? decodeBase64 : decodeHex;
  const prefix = config.prefix;
  // With a configured prefix (which may itself contain a space) every signature must carry it.
  const parts = prefix
    ? value.startsWith(prefix)
      ? value.slice(prefix.length).split(prefix).map((part) => part.trim())
      : []
    : value.split(' ').map((part) => (part.startsWith('sha256=') ? part.slice(7) : part));
  const candidates = parts
    .filter((part) => part !== '')
    .map(decode)
    .filter((b): b is Buffer => b !== null);
  if (candidates.length === 0) signatureInvalid();
  let signed = input.rawBody;
  if (config.timestampHeader) {
    const timestamp = requireHeader(input.headers, config.timestampHeader);
    checkTimestamp(timestamp, config.toleranceSec ?? DEFAULT_TOLERANCE_SEC, input.nowMs);
    signed = Buffer.concat([Buffer.from(`${timestamp}.`), input.rawBody]);
  }
  if (!anyMatch(secrets.map((s) => hmacSha256(s, signed)), candidates)) signatureInvalid();
};
