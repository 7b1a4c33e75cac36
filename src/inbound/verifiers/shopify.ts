import { activeSecrets, anyMatch, decodeBase64, hmacSha256, requireHeader, signatureInvalid } from './crypto-utils.js';
import type { Verifier } from './types.js';

/** Shopify: `X-Shopify-Hmac-Sha256: <base64>`, HMAC-SHA256 of the body keyed by the app's client secret. */
export const verifyShopify: Verifier = (config, input) => {
  const secrets = activeSecrets(config);
  const mac = decodeBase64(requireHeader(input.headers, 'X-Shopify-Hmac-Sha256').trim());
  if (!mac || !anyMatch(secrets.map((s) => hmacSha256(s, input.rawBody)), [mac])) signatureInvalid();
};
