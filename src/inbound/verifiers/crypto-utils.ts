import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../errors.js';

export function hmacSha256(key: string | Buffer, data: Buffer | string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** Constant-time equality of two byte strings (false on different lengths, without an early exit on content). */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** True when any candidate equals the expected MAC; every candidate is compared, so timing does not tell which. */
export function anyEqual(expected: Buffer, candidates: Buffer[]): boolean {
  let matched = false;
  for (const candidate of candidates) matched = safeEqual(expected, candidate) || matched;
  return matched;
}

export function decodeHex(text: string): Buffer | null {
  return /^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0 ? Buffer.from(text, 'hex') : null;
}

export function decodeBase64(text: string): Buffer | null {
  return /^[A-Za-z0-9+/]+={0,2}$/.test(text) ? Buffer.from(text, 'base64') : null;
}

/** Rejects a unix-seconds timestamp that is malformed or further than `toleranceSec` from now. */
export function checkTimestamp(raw: string | undefined, toleranceSec: number, nowMs: number): number {
  if (raw === undefined || !/^\d{1,12}$/.test(raw)) {
    throw new AppError('signature_timestamp_invalid', 'The signature timestamp is missing or malformed.');
  }
  const seconds = Number(raw);
  if (Math.abs(nowMs / 1000 - seconds) > toleranceSec) {
    throw new AppError('signature_timestamp_invalid', `The signature timestamp is more than ${toleranceSec} s from the server's clock.`);
  }
  return seconds;
}

export function requireSecret(secret: string | undefined): string {
  // A webhook saved with a scheme but no secret must fail closed, not verify against an empty key.
  if (!secret) throw new AppError('signature_invalid', 'This webhook has no verification secret configured.');
  return secret;
}

/** Every active secret of a config (`secret` first, then `secrets`); throws when there is none (fail closed). */
export function activeSecrets(config: { secret?: string; secrets?: string[] }): string[] {
  const all = [config.secret, ...(config.secrets ?? [])].filter((s): s is string => typeof s === 'string' && s !== '');
  if (all.length === 0) requireSecret(undefined);
  return all;
}

/**
 * True when any candidate equals any expected MAC. Every pair is compared, so the timing tells neither
 * which secret nor which candidate matched.
 */
export function anyMatch(expected: Buffer[], candidates: Buffer[]): boolean {
  let matched = false;
  for (const mac of expected) matched = anyEqual(mac, candidates) || matched;
  return matched;
}

/** A header's value; AppError `signature_missing` naming the header when absent or empty. */
export function requireHeader(headers: Record<string, string>, name: string): string {
  const value = headers[name.toLowerCase()];
  if (!value) throw new AppError('signature_missing', `The ${name} header is missing.`);
  return value;
}

export function signatureInvalid(): never {
  throw new AppError('signature_invalid');
}
