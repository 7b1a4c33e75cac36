import { createHash } from 'node:crypto';
import { AppError } from '../../errors.js';
import { activeSecrets, anyMatch } from './crypto-utils.js';
import type { Verifier } from './types.js';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** A shared key in a header (`header`, default `X-Api-Key`); `Bearer ` is stripped when the header is Authorization. */
export const verifyApiKey: Verifier = (config, input) => {
  const secrets = activeSecrets(config);
  const name = config.header ?? 'X-Api-Key';
  let value = input.headers[name.toLowerCase()];
  if (!value) throw new AppError('credentials_missing', `The ${name} header is missing.`);
  if (name.toLowerCase() === 'authorization' && /^bearer /i.test(value)) value = value.slice(7).trim();
  if (!anyMatch(secrets.map(digest), [digest(value)])) throw new AppError('credentials_invalid');
};
