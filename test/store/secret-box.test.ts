import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createSilentLogger } from '../../src/logger.js';
import {
  createSecretBox,
  deriveSecretKey,
  loadOrCreateKeyFile,
  openSecretBox,
  parseSecretKeys,
  SECRET_KEY_FILE,
  secretKeyId,
} from '../../src/store/index.js';

const tmpDirs: string[] = [];
function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hg-key-'));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('secret box (AES-256-GCM)', () => {
  const key = randomBytes(32);
  const box = createSecretBox([key]);

  it('encrypts to enc:v1:<keyId>:<base64url>, a new IV each time, and decrypts back', () => {
    const a = box.encrypt('whsec_abc');
    const b = box.encrypt('whsec_abc');
    expect(a).toMatch(new RegExp(`^enc:v1:${secretKeyId(key)}:[A-Za-z0-9_-]+$`));
    expect(a).not.toBe(b);
    expect(a).not.toContain('whsec_abc');
    expect(box.decrypt(a)).toBe('whsec_abc');
    expect(box.decrypt(box.encrypt(''))).toBe('');
    expect(box.decrypt(box.encrypt('ünïcödé ✓'))).toBe('ünïcödé ✓');
  });

  it('is real AES-256-GCM: an independent decipher with the key, the header as AAD and the layout iv|ct|tag reads it', () => {
    const stored = box.encrypt('my-github-secret');
    const [prefix, version, keyId, body] = stored.split(':') as [string, string, string, string];
    const bytes = Buffer.from(body, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12));
    decipher.setAAD(Buffer.from(`${prefix}:${version}:${keyId}`));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    expect(Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString()).toBe('my-github-secret');
  });

  it('takes a value without the enc: prefix as legacy plaintext', () => {
    expect(box.decrypt('whsec_legacy')).toBe('whsec_legacy');
    expect(box.keyIdOf('whsec_legacy')).toBeNull();
    expect(box.isCurrent('whsec_legacy')).toBe(false);
    expect(box.decrypt(box.reseal('whsec_legacy'))).toBe('whsec_legacy');
  });

  it('refuses tampered data with secret_corrupt: ciphertext, tag, IV, header, truncation, format', () => {
    const stored = box.encrypt('whsec_tamper-me');
    const [head, body] = [stored.slice(0, stored.lastIndexOf(':') + 1), stored.slice(stored.lastIndexOf(':') + 1)];
    const bytes = Buffer.from(body, 'base64url');
    const flipped = (index: number) => {
      const copy = Buffer.from(bytes);
      copy[index] = (copy[index] as number) ^ 0x01;
      return `${head}${copy.toString('base64url')}`;
    };
    for (const bad of [flipped(0), flipped(14), flipped(bytes.length - 1), `${head}${bytes.subarray(0, 20).toString('base64url')}`, `${head}${body}!`, 'enc:v2:00000000:AAAA', 'enc:nonsense']) {
      expect(() => box.decrypt(bad), bad).toThrow(expect.objectContaining({ code: 'secret_corrupt' }));
    }
    // Same key id, but the header is authenticated: a value moved under another header fails too.
    const other = createSecretBox([key, randomBytes(32)]);
    expect(other.decrypt(stored)).toBe('whsec_tamper-me');
  });

  it('a wrong key fails with secret_key_mismatch naming both key ids, never with garbage', () => {
    const stored = box.encrypt('whsec_x');
    const wrong = createSecretBox([randomBytes(32)]);
    let error: any;
    try {
      wrong.decrypt(stored);
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'secret_key_mismatch', status: 500, details: { keyId: box.keyId, configured: [wrong.keyId] } });
    expect(error.message).toContain('HOOKGATE_SECRET_KEY');
  });

  it('rotation: a box of [new, old] decrypts both and re-seals old values under the new key', () => {
    const newer = createSecretBox([randomBytes(32), key]);
    const old = box.encrypt('whsec_old');
    expect(newer.decrypt(old)).toBe('whsec_old');
    expect(newer.isCurrent(old)).toBe(false);
    const resealed = newer.reseal(old);
    expect(newer.keyIdOf(resealed)).toBe(newer.keyId);
    expect(newer.reseal(resealed)).toBe(resealed);
    expect(() => box.decrypt(resealed)).toThrow(expect.objectContaining({ code: 'secret_key_mismatch' }));
  });
});

describe('HOOKGATE_SECRET_KEY format', () => {
  const raw = randomBytes(32);

  it('64 hex digits and base64/base64url of 32 bytes are the key itself', async () => {
    for (const text of [raw.toString('hex'), raw.toString('hex').toUpperCase(), raw.toString('base64'), raw.toString('base64url'), ` ${raw.toString('base64')}\n`]) {
      expect((await deriveSecretKey(text)).equals(raw), text).toBe(true);
    }
  });

  it('anything else of 16+ characters is a passphrase stretched with scrypt (deterministic, 32 bytes)', async () => {
    const a = await deriveSecretKey('correct horse battery staple');
    expect(a).toHaveLength(32);
    expect((await deriveSecretKey('correct horse battery staple')).equals(a)).toBe(true);
    expect((await deriveSecretKey('correct horse battery stapl3')).equals(a)).toBe(false);
  });

  it('refuses short keys and empty list entries with config_invalid', async () => {
    await expect(deriveSecretKey('short')).rejects.toMatchObject({ code: 'config_invalid' });
    await expect(parseSecretKeys(`${raw.toString('hex')},`)).rejects.toMatchObject({ code: 'config_invalid' });
  });

  it('a comma-separated list is [encrypting key, older keys…]', async () => {
    const old = randomBytes(32);
    const box = createSecretBox(await parseSecretKeys(`${raw.toString('base64')}, ${old.toString('hex')}`));
    expect(box.keyIds).toEqual([secretKeyId(raw), secretKeyId(old)]);
  });
});

describe('the generated key file', () => {
  it('is created with mode 0600, holds a base64 32-byte key and is reused', () => {
    const dir = path.join(tmpDir(), 'data');
    const key = loadOrCreateKeyFile(dir);
    const file = path.join(dir, SECRET_KEY_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64').equals(key)).toBe(true);
    expect(loadOrCreateKeyFile(dir).equals(key)).toBe(true);
    // No temporary files are left behind.
    expect(fs.readdirSync(dir)).toEqual([SECRET_KEY_FILE]);
  });

  it('processes starting together all end up with the one key that was published first', async () => {
    const dir = path.join(tmpDir(), 'shared');
    const script = `import { loadOrCreateKeyFile } from './src/store/secret-key.ts';\nprocess.stdout.write(loadOrCreateKeyFile(${JSON.stringify(dir)}).toString('hex'));`;
    const children = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      return once(child, 'exit').then(([code]) => {
        expect(code).toBe(0);
        return out;
      });
    });
    const keys = await Promise.all(children);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.from(fs.readFileSync(path.join(dir, SECRET_KEY_FILE), 'utf8').trim(), 'base64').toString('hex')).toBe(keys[0]);
  }, 30_000);

  it('a damaged key file stops the start with config_invalid rather than making a new key', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, SECRET_KEY_FILE), 'not a key\n', { mode: 0o600 });
    expect(() => loadOrCreateKeyFile(dir)).toThrow(expect.objectContaining({ code: 'config_invalid' }));
  });

  it('on PostgreSQL without HOOKGATE_SECRET_KEY the key file is used, with a warning for multi-machine deployments', async () => {
    const dir = tmpDir();
    const logger = createSilentLogger();
    const warn = vi.spyOn(logger, 'warn');
    const child = vi.spyOn(logger, 'child').mockReturnValue(logger);
    const box = await openSecretBox({ postgres: true, memory: false, dataDir: dir, logger });
    expect(box.keyId).toBe(secretKeyId(loadOrCreateKeyFile(dir)));
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('Multi-machine deployments must set HOOKGATE_SECRET_KEY'), expect.anything());
    warn.mockClear();
    await openSecretBox({ postgres: true, memory: false, dataDir: dir, secretKey: randomBytes(32).toString('hex'), logger });
    await openSecretBox({ postgres: false, memory: false, dataDir: dir, logger });
    expect(warn).not.toHaveBeenCalled();
    child.mockRestore();
  });
});
