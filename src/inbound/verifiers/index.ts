import type { VerifyConfig, VerifyScheme } from '../../store/types.js';
import { verifyApiKey } from './api-key.js';
import { verifyBasic } from './basic.js';
import { verifyGithub } from './github.js';
import { verifyHmacSha256 } from './hmac-sha256.js';
import { verifyShopify } from './shopify.js';
import { verifySlack } from './slack.js';
import { verifyStandardWebhooks } from './standard-webhooks.js';
import { verifyStripe } from './stripe.js';
import type { Verifier, VerifyInput } from './types.js';

export type { Verifier, VerifyInput } from './types.js';

/** One verifier per scheme; each checks the raw bytes in constant time against every active secret. */
const VERIFIERS: Record<VerifyScheme, Verifier> = {
  none: () => undefined,
  stripe: verifyStripe,
  github: verifyGithub,
  'standard-webhooks': verifyStandardWebhooks,
  shopify: verifyShopify,
  slack: verifySlack,
  'hmac-sha256': verifyHmacSha256,
  basic: verifyBasic,
  'api-key': verifyApiKey,
};

/**
 * Throws AppError when the request is not authentic: `signature_missing`, `signature_invalid`,
 * `signature_timestamp_invalid` (signature schemes), `credentials_missing`, `credentials_invalid`
 * (basic, api-key) — all 401.
 *
 * @example
 * verifySignature({ scheme: 'github', secrets: [newSecret, oldSecret] }, { rawBody, headers, nowMs: Date.now() });
 */
export function verifySignature(config: VerifyConfig, input: VerifyInput): void {
  const verifier = VERIFIERS[config.scheme];
  if (!verifier) throw new Error(`Unknown verify scheme ${String(config.scheme)}`);
  verifier(config, input);
}
