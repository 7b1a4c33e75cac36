import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '../errors.js';
import type { AdminTokenStore } from '../store/types.js';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new admin token: `hg_admin_` + 32 random bytes, base64url. */
export function generateAdminToken(): string {
  return `hg_admin_${randomBytes(32).toString('base64url')}`;
}

export interface AdminAuthOptions {
  store: AdminTokenStore;
  /** HOOKGATE_ADMIN_TOKEN, when set. Only its hash is kept in memory. */
  bootstrapToken?: string;
}

/**
 * Bearer-token auth for `/admin/api/*`. Tokens are compared as SHA-256 digests: the bootstrap token with
 * `timingSafeEqual`, stored tokens by looking up the digest (the database only ever sees hashes).
 */
export function createAdminAuth(options: AdminAuthOptions): RequestHandler {
  const bootstrapHash = options.bootstrapToken ? Buffer.from(hashToken(options.bootstrapToken), 'hex') : null;
  const known = new Map<string, number>(); // digest → cached-until, so a burst of admin calls is one lookup
  const CACHE_MS = 5_000;

  return async (req, _res, next) => {
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match?.[1]) throw new AppError('auth_missing');
    const digest = hashToken(match[1]);
    const digestBytes = Buffer.from(digest, 'hex');
    if (bootstrapHash && timingSafeEqual(bootstrapHash, digestBytes)) return next();
    if ((known.get(digest) ?? 0) > Date.now()) return next();
    const record = await options.store.findAdminTokenByHash(digest);
    if (!record) throw new AppError('auth_invalid');
    known.set(digest, Date.now() + CACHE_MS);
    next();
  };
}

/**
 * On a store with no admin token and no HOOKGATE_ADMIN_TOKEN, makes one, stores its hash and hands the
 * token to `reveal` — the only time it exists in clear.
 */
export async function ensureBootstrapToken(store: AdminTokenStore, configured: string | undefined, reveal: (token: string) => void): Promise<void> {
  if (configured) return;
  if ((await store.countAdminTokens()) > 0) return;
  const token = generateAdminToken();
  await store.insertAdminToken({ id: crypto.randomUUID(), tokenHash: hashToken(token), prefix: token.slice(0, 14), role: 'admin' });
  reveal(token);
}
