import { activeSecrets, anyMatch, decodeHex, hmacSha256, requireHeader, signatureInvalid } from './crypto-utils.js';
import type { Verifier } from './types.js';

/** GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the body. */
export const verifyGithub: Verifier = (config, input) => {
  const secrets = activeSecrets(config);
  const value = requireHeader(input.headers, 'X-Hub-Signature-256');
  const mac = value.startsWith('sha256=') ? decodeHex(value.slice(7)) : null;
  if (!mac || !anyMatch(secrets.map((s) => hmacSha256(s, input.rawBody)), [mac])) signatureInvalid();
};
