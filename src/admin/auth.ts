import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '../errors.js';
import { bearerToken } from '../http/bearer.js';
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
 * Distinct invalid tokens one client address may send per minute; past that, tokens this process has not
 * seen valid are answered 429 without being checked, so guessing (of a short HOOKGATE_ADMIN_TOKEN above
 * all) gets nowhere and costs the database nothing. A client repeating one stale token is not held up.
 */
export const INVALID_TOKENS_PER_MINUTE = 20;
const FAILURE_WINDOW_MS = 60_000;
const MAX_TRACKED = 10_000;

/**
 * Bearer-key auth for `/admin/api/*`; stores the caller's {@link Principal} in `res.locals.principal`.
 * Keys are compared as SHA-256 digests: the bootstrap token with `timingSafeEqual`, stored keys by looking
 * up the digest (the database only ever sees hashes, and the lookup's timing depends on a hash the caller
 * cannot steer, not on the key). Missing, unknown and revoked keys are 401.
 */
export function createAdminAuth(options: AdminAuthOptions): AdminAuth {
  const bootstrapHash = options.bootstrapToken ? Buffer.from(hashToken(options.bootstrapToken), 'hex') : null;
  const known = new Map<string, { principal: Principal; until: number }>(); // digest → principal, so a burst of calls is one lookup
  // Digests that were valid once (the bootstrap token included): never held up by the guessing limit, so a
  // flood of guesses through a shared address cannot lock out admins already at work. Still checked.
  const validOnce = new Set<string>();
  // Client address → the distinct invalid digests it sent in the current window.
  const failures = new Map<string, { startMs: number; digests: Set<string> }>();
  const noteFailure = (address: string, digest: string, now: number) => {
    let entry = failures.get(address);
    if (!entry || now - entry.startMs >= FAILURE_WINDOW_MS) {
      if (failures.size >= MAX_TRACKED) for (const [key, old] of failures) if (now - old.startMs >= FAILURE_WINDOW_MS) failures.delete(key);
      entry = { startMs: now, digests: new Set() };
      failures.set(address, entry);
    }
    entry.digests.add(digest);
  };
  const noteValid = (digest: string) => {
    if (validOnce.size < MAX_TRACKED) validOnce.add(digest);
  };

  const handler = (async (req, res, next) => {
    const token = bearerToken(req.headers.authorization);
    if (token === null) throw new AppError('auth_missing');
    const digest = hashToken(token);
    const digestBytes = Buffer.from(digest, 'hex');
    // A client guessing: refused before any comparison (the bootstrap token's included), unless the token
    // is one it already sent or one that was valid before. `req.ip` honours the host's `trust proxy`.
    const now = performance.now();
    const address = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const failed = failures.get(address);
    if (failed && now - failed.startMs < FAILURE_WINDOW_MS && failed.digests.size >= INVALID_TOKENS_PER_MINUTE && !failed.digests.has(digest) && !validOnce.has(digest)) {
      res.setHeader('Retry-After', String(Math.max(1, Math.ceil((failed.startMs + FAILURE_WINDOW_MS - now) / 1000))));
      throw new AppError('auth_rate_limited');
    }
    if (bootstrapHash && timingSafeEqual(bootstrapHash, digestBytes)) {
      noteValid(digest);
      res.locals.principal = PLATFORM_ADMIN;
      return next();
    }
    const cached = known.get(digest);
    // A monotonic clock: a wall clock set back must not stretch how long a (since revoked) key is trusted.
    if (cached && cached.until > performance.now()) {
      res.locals.principal = cached.principal;
      return next();
    }
    const record = await options.store.findAdminTokenByHash(digest);
    if (!record || record.revokedAt) {
      noteFailure(address, digest, now);
      throw new AppError('auth_invalid');
    }
    noteValid(digest);
    // "Last used" for `hookgate keys list`: once per cache period at most, and not awaited — a failed
    // bookkeeping write must not refuse a valid key.
    options.store.touchAdminToken?.(record.id).catch(() => undefined);
    const principal: Principal = { keyId: record.id, role: record.role, tenantId: record.tenantId ?? null };
    known.set(digest, { principal, until: performance.now() + KEY_CACHE_MS });
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
