import { createHash } from 'node:crypto';
import { AppError } from '../../errors.js';
import { activeSecrets, anyMatch } from './crypto-utils.js';
import type { Verifier } from './types.js';

// Hashing both sides first gives equal-length buffers, so the comparison is constant-time whatever was sent.
const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** HTTP Basic auth (Twilio, many form posters): `username` (optional) and any active secret as the password. */
export const verifyBasic: Verifier = (config, input) => {
  const secrets = activeSecrets(config);
  const header = input.headers.authorization;
  if (!header || !/^basic /i.test(header)) throw new AppError('credentials_missing', 'An Authorization: Basic header is required.');
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  const userOk = anyMatch([digest(config.username ?? user)], [digest(user)]);
  const passwordOk = anyMatch(secrets.map(digest), [digest(password)]);
  if (!(userOk && passwordOk)) throw new AppError('credentials_invalid');
};
