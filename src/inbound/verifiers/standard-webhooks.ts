import { AppError } from '../../errors.js';
import { activeSecrets, anyMatch, checkTimestamp, decodeBase64, hmacSha256, requireHeader, signatureInvalid } from './crypto-utils.js';
import { DEFAULT_TOLERANCE_SEC, type Verifier } from './types.js';

/**
 * Standard Webhooks: `webhook-signature: v1,<base64> …` (space-separated) over `${id}.${timestamp}.${body}`,
 * keyed by the base64-decoded part of `whsec_…`.
 */
export const verifyStandardWebhooks: Verifier = (config, input) => {
  const keys = activeSecrets(config).map((secret) => {
    const key = decodeBase64(secret.startsWith('whsec_') ? secret.slice(6) : secret);
    if (!key) throw new AppError('signature_invalid', 'A configured standard-webhooks secret is not base64.');
    return key;
  });
  const id = requireHeader(input.headers, 'webhook-id');
  const timestamp = requireHeader(input.headers, 'webhook-timestamp');
  checkTimestamp(timestamp, config.toleranceSec ?? DEFAULT_TOLERANCE_SEC, input.nowMs);
  const candidates = requireHeader(input.headers, 'webhook-signature')
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => decodeBase64(s.slice(3)))
    .filter((b): b is Buffer => b !== null);
  if (candidates.length === 0) signatureInvalid();
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), input.rawBody]);
  if (!anyMatch(keys.map((key) => hmacSha256(key, signed)), candidates)) signatureInvalid();
};
