import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { AppError } from '../errors.js';

/*
 * Secrets at rest: AES-256-GCM with a random 96-bit IV per value (NIST SP 800-38D §8.2.2) and the
 * 128-bit tag, stored as text:
 *
 *   enc:v1:<keyId>:<base64url(iv ‖ ciphertext ‖ tag)>
 *
 * `keyId` is a fingerprint of the key (8 hex digits of HMAC-SHA256(key, …)), so a value names the key it
 * needs and a box holding several keys (rotation) knows which one to use, and a wrong key is reported as
 * such rather than as a failed tag. The `enc:v1:<keyId>` header is the GCM additional data: changing it
 * breaks the tag too. A value without the `enc:` prefix is legacy plaintext, stored before encryption.
 */

/** Every encrypted value starts with this; anything else is legacy plaintext. */
export const ENCRYPTED_PREFIX = 'enc:';
const VERSION = 'v1';
/** AES-256: 32-byte keys. */
export const SECRET_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[0-9a-f]{8}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Encrypts and decrypts stored secrets with the configured keys; the first key encrypts. */
export interface SecretBox {
  /** Fingerprint of the key that encrypts. */
  readonly keyId: string;
  /** Fingerprints of every key this box decrypts with, the encrypting one first. */
  readonly keyIds: readonly string[];
  /** `enc:v1:…` of `plaintext` under the current key (a new random IV each call). */
  encrypt(plaintext: string): string;
  /**
   * The plaintext of a stored value; a value without the `enc:` prefix is legacy plaintext and comes back
   * as it is.
   *
   * @throws AppError `secret_key_mismatch` when the value names a key this box does not hold;
   *   `secret_corrupt` when it is malformed or fails the GCM integrity check.
   */
  decrypt(stored: string): string;
  /** The key id a stored value names; null for legacy plaintext. Throws `secret_corrupt` when malformed. */
  keyIdOf(stored: string): string | null;
  /** Whether a stored value is already encrypted under the current key (so a re-seal leaves it alone). */
  isCurrent(stored: string): boolean;
  /** `stored` as it should be stored now: unchanged when under the current key, else decrypted and encrypted anew. */
  reseal(stored: string): string;
}

/** The fingerprint a value names its key by. Says nothing usable about a 256-bit key. */
export function secretKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('hookgate secret key id').digest('hex').slice(0, 8);
}

interface Parsed {
  keyId: string;
  header: string;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

function corrupt(reason: string): AppError {
  return new AppError('secret_corrupt', `A stored secret cannot be used: ${reason}.`, { details: { reason } });
}

function parse(stored: string): Parsed {
  const parts = stored.split(':');
  if (parts.length !== 4) throw corrupt('it is not in the enc:v1:<keyId>:<data> format');
  const [, version, keyId, body] = parts as [string, string, string, string];
  if (version !== VERSION) throw corrupt(`its format version ${JSON.stringify(version.slice(0, 8))} is not supported`);
  if (!KEY_ID.test(keyId) || !BASE64URL.test(body)) throw corrupt('it is not in the enc:v1:<keyId>:<data> format');
  const bytes = Buffer.from(body, 'base64url');
  if (bytes.length < IV_BYTES + TAG_BYTES) throw corrupt('it is too short');
  return {
    keyId,
    header: `${ENCRYPTED_PREFIX}${VERSION}:${keyId}`,
    iv: bytes.subarray(0, IV_BYTES),
    ciphertext: bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES),
    tag: bytes.subarray(bytes.length - TAG_BYTES),
  };
}

/**
 * A box over one or more 32-byte keys: the first encrypts, all decrypt (values naming an older key keep
 * working during a key rotation until they are re-sealed).
 *
 * @example
 * const box = createSecretBox([randomBytes(32)]);
 * const stored = box.encrypt('whsec_…');   // 'enc:v1:1a2b3c4d:…'
 * box.decrypt(stored);                     // 'whsec_…'
 */
export function createSecretBox(keys: readonly Buffer[]): SecretBox {
  if (keys.length === 0) throw new AppError('config_invalid', 'A secret box needs at least one key.');
  const byId = new Map<string, Buffer>();
  for (const key of keys) {
    if (key.length !== SECRET_KEY_BYTES) throw new AppError('config_invalid', `A secret key must be ${SECRET_KEY_BYTES} bytes (got ${key.length}).`);
    const id = secretKeyId(key);
    if (!byId.has(id)) byId.set(id, Buffer.from(key));
  }
  const keyIds = Object.freeze([...byId.keys()]);
  const keyId = keyIds[0] as string;
  const current = byId.get(keyId) as Buffer;
  const header = `${ENCRYPTED_PREFIX}${VERSION}:${keyId}`;

  const box: SecretBox = {
    keyId,
    keyIds,
    encrypt(plaintext) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(header));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return `${header}:${Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString('base64url')}`;
    },
    decrypt(stored) {
      if (!stored.startsWith(ENCRYPTED_PREFIX)) return stored;
      const value = parse(stored);
      const key = byId.get(value.keyId);
      if (!key) {
        throw new AppError(
          'secret_key_mismatch',
          `A stored secret was encrypted with key ${value.keyId}, but the configured key${keyIds.length > 1 ? 's are' : ' is'} ${keyIds.join(', ')}: set HOOKGATE_SECRET_KEY to the key it was encrypted with.`,
          { details: { keyId: value.keyId, configured: keyIds } },
        );
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, value.iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(value.header));
        decipher.setAuthTag(value.tag);
        return Buffer.concat([decipher.update(value.ciphertext), decipher.final()]).toString('utf8');
      } catch (err) {
        throw new AppError('secret_corrupt', 'A stored secret failed its integrity check (altered or damaged); it is not used.', {
          cause: err,
          details: { reason: 'integrity check failed', keyId: value.keyId },
        });
      }
    },
    keyIdOf(stored) {
      return stored.startsWith(ENCRYPTED_PREFIX) ? parse(stored).keyId : null;
    },
    isCurrent(stored) {
      return stored.startsWith(`${header}:`);
    },
    reseal(stored) {
      return box.isCurrent(stored) ? stored : box.encrypt(box.decrypt(stored));
    },
  };
  return Object.freeze(box);
}
