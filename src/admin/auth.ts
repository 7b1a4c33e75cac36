import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '../errors.js';
import type { AdminTokenStore } from '../store/types.js';
import { PLATFORM_ADMIN, type Principal } from './principal.js';

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

/** The auth middleware, plus `forget()` to drop its cache at once (after a key is revoked). */
export type AdminAuth = RequestHandler & { forget(): void };

/** How long a looked-up key is trusted without asking the store again (a revocation in another process takes this long). */
export const KEY_CACHE_MS = 5_000;

/**
 * Bearer-key auth for `/admin/api/*`; stores the caller's {@link Principal} in `res.locals.principal`.
 * Keys are compared as SHA-256 digests: the bootstrap token with `timingSafeEqual`, stored keys by looking
 * up the digest (the database only ever sees hashes, and the lookup's timing depends on a hash the caller
 * cannot steer, not on the key). Missing, unknown and revoked keys are 401.
 */
export function createAdminAuth(options: AdminAuthOptions): AdminAuth {
  const bootstrapHash = options.bootstrapToken ? Buffer.from(hashToken(options.bootstrapToken), 'hex') : null;
  const known = new Map<string, { principal: Principal; until: number }>(); // digest → principal, so a burst of calls is one lookup

  const handler = (async (req, res, next) => {
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match?.[1]) throw new AppError('auth_missing');
    const digest = hashToken(match[1]);
    const digestBytes = Buffer.from(digest, 'hex');
    if (bootstrapHash && timingSafeEqual(bootstrapHash, digestBytes)) {
      res.locals.principal = PLATFORM_ADMIN;
      return next();
    }
    const cached = known.get(digest);
    if (cached && cached.until > Date.now()) {
      res.locals.principal = cached.principal;
      return next();
    }
    const record = await options.store.findAdminTokenByHash(digest);
    if (!record || record.revokedAt) throw new AppError('auth_invalid');
    // "Last used" for `hookgate keys list`: once per cache period at most, and not awaited — a failed
    // bookkeeping write must not refuse a valid key.
    options.store.touchAdminToken?.(record.id).catch(() => undefined);
    const principal: Principal = { keyId: record.id, role: record.role, tenantId: record.tenantId ?? null };
    known.set(digest, { principal, until: Date.now() + KEY_CACHE_MS });
    res.locals.principal = principal;
    next();
  }) as AdminAuth;
  handler.forget = () => known.clear();
  return handler;
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
