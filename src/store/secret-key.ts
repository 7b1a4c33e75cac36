import { randomBytes, scrypt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createSecretBox, SECRET_KEY_BYTES, secretKeyId, type SecretBox } from './secret-box.js';

/** The generated key's file inside the data directory. */
export const SECRET_KEY_FILE = 'secret.key';

/** Shortest passphrase accepted (a 32-byte key in hex or base64 is always longer). */
const MIN_PASSPHRASE_LENGTH = 16;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;
/** 32 bytes in base64 or base64url: 43 characters and an optional `=`. */
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;
/**
 * scrypt for passphrases (RFC 7914; N = 2^15, r = 8 is its interactive-login setting, ~0.1 s once per
 * start). The salt is fixed because every process must derive the same key from the same passphrase.
 */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const SCRYPT_SALT = 'hookgate:secret-key:v1';

function scryptKey(passphrase: string): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(passphrase.normalize('NFC'), SCRYPT_SALT, SECRET_KEY_BYTES, SCRYPT, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/**
 * One key as written in `HOOKGATE_SECRET_KEY`: 64 hex digits or base64/base64url of 32 bytes are the key
 * itself; anything else (at least 16 characters) is a passphrase, stretched with scrypt.
 */
export async function deriveSecretKey(text: string): Promise<Buffer> {
  const value = text.trim();
  if (HEX_KEY.test(value)) return Buffer.from(value, 'hex');
  if (BASE64_KEY.test(value)) {
    const key = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === SECRET_KEY_BYTES) return key;
  }
  if (value.length < MIN_PASSPHRASE_LENGTH) {
    throw new AppError(
      'config_invalid',
      `HOOKGATE_SECRET_KEY: each key must be 32 bytes as 64 hex digits or base64, or a passphrase of at least ${MIN_PASSPHRASE_LENGTH} characters.`,
    );
  }
  return scryptKey(value);
}

/**
 * `HOOKGATE_SECRET_KEY`: one key, or several separated by commas during a key rotation — the first
 * encrypts, the others only decrypt.
 *
 * @example await parseSecretKeys('new-passphrase-of-some-length,' + oldBase64Key)
 */
export async function parseSecretKeys(value: string): Promise<Buffer[]> {
  const parts = value.split(',').map((part) => part.trim());
  if (parts.some((part) => part === '')) throw new AppError('config_invalid', 'HOOKGATE_SECRET_KEY has an empty entry (keys are separated by single commas).');
  return Promise.all(parts.map(deriveSecretKey));
}

/** A new random key as `HOOKGATE_SECRET_KEY` takes it (base64 of 32 bytes). */
export function generateSecretKey(): string {
  return randomBytes(SECRET_KEY_BYTES).toString('base64');
}

function readKeyFile(file: string, logger: Logger | undefined): Buffer {
  const text = fs.readFileSync(file, 'utf8').trim();
  const key = BASE64_KEY.test(text) ? Buffer.from(text, 'base64') : Buffer.alloc(0);
  if (key.length !== SECRET_KEY_BYTES) {
    throw new AppError('config_invalid', `The key file ${file} does not hold a 32-byte base64 key; restore it from a backup (without it the stored secrets cannot be read).`);
  }
  if (process.platform !== 'win32' && (fs.statSync(file).mode & 0o077) !== 0) {
    logger?.warn('the secret key file can be read by other users; make it owner-only (chmod 600)', { component: 'store', file });
  }
  return key;
}

/** Best effort: make the new directory entry durable (not possible on every platform). */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Windows cannot open a directory; the file itself was synced.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * The key in `<dataDir>/secret.key`, generated on first use. The new key is written to a temporary file
 * opened with O_CREAT|O_EXCL and mode 0600, synced, then published with link(2), which like O_EXCL fails
 * when the name exists: two processes starting together both end up reading the one key that won, and
 * nobody ever reads a half-written file.
 */
export function loadOrCreateKeyFile(dataDir: string, logger?: Logger): Buffer {
  const dir = path.resolve(dataDir);
  const file = path.join(dir, SECRET_KEY_FILE);
  try {
    return readKeyFile(file, logger);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = path.join(dir, `.${SECRET_KEY_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    try {
      fs.fchmodSync(fd, 0o600);
      fs.writeSync(fd, `${generateSecretKey()}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(temp, file);
      syncDirectory(dir);
      logger?.info('generated the key that encrypts stored secrets; back it up with the database', { component: 'store', file });
    } catch (err) {
      // Another process published its key first: use that one.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  } finally {
    fs.rmSync(temp, { force: true });
  }
  return readKeyFile(file, logger);
}

export interface OpenSecretBoxOptions {
  /** `HOOKGATE_SECRET_KEY` (see `parseSecretKeys`). */
  secretKey?: string;
  /** Where the generated key file lives when no `secretKey` is given (default `./data`). */
  dataDir?: string;
  /** PostgreSQL (the key file still works, but each machine would have its own: warn). */
  postgres: boolean;
  /** In-memory database: without a `secretKey` the key is random and lives as long as the process. */
  memory: boolean;
  logger?: Logger;
}

/**
 * The box a store encrypts its secrets with: from `secretKey` when given; else, for an in-memory
 * database, a random key of the process's lifetime; else the key file in the data directory.
 *
 * @throws AppError `config_invalid` for a malformed key or key file.
 */
export async function openSecretBox(options: OpenSecretBoxOptions): Promise<SecretBox> {
  const log = options.logger?.child({ component: 'store' });
  if (options.secretKey !== undefined && options.secretKey.trim() !== '') {
    const box = createSecretBox(await parseSecretKeys(options.secretKey));
    log?.info('stored secrets are encrypted with HOOKGATE_SECRET_KEY', { keyId: box.keyId, decryptKeyIds: box.keyIds });
    return box;
  }
  if (options.memory) return createSecretBox([randomBytes(SECRET_KEY_BYTES)]);
  const key = loadOrCreateKeyFile(options.dataDir ?? './data', log);
  if (options.postgres) {
    log?.warn(
      `HOOKGATE_SECRET_KEY is not set: stored secrets are encrypted with the key file ${path.resolve(options.dataDir ?? './data', SECRET_KEY_FILE)}. ` +
        'Multi-machine deployments must set HOOKGATE_SECRET_KEY (every process sharing the database needs the same key).',
      { keyId: secretKeyId(key) },
    );
  }
  return createSecretBox([key]);
}
