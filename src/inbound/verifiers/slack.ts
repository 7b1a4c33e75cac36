import { activeSecrets, anyMatch, checkTimestamp, decodeHex, hmacSha256, requireHeader, signatureInvalid } from './crypto-utils.js';
import { DEFAULT_TOLERANCE_SEC, type Verifier } from './types.js';

/**
 * Slack: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 of `v0:${X-Slack-Request-Timestamp}:${body}` keyed by
 * the signing secret; Slack asks receivers to refuse timestamps more than five minutes off.
 */
export const verifySlack: Verifier = (config, input) => {
  const secrets = activeSecrets(config);
  const signature = requireHeader(input.headers, 'X-Slack-Signature');
  const timestamp = requireHeader(input.headers, 'X-Slack-Request-Timestamp');
  checkTimestamp(timestamp, config.toleranceSec ?? DEFAULT_TOLERANCE_SEC, input.nowMs);
  const mac = signature.startsWith('v0=') ? decodeHex(signature.slice(3)) : null;
  if (!mac) signatureInvalid();
  const signed = Buffer.concat([Buffer.from(`v0:${timestamp}:`), input.rawBody]);
  if (!anyMatch(secrets.map((s) => hmacSha256(s, signed)), [mac])) signatureInvalid();
};
