import type { Response } from 'express';
import { AppError } from '../errors.js';
import type { ApiKeyRole } from '../store/types.js';

/**
 * Who is calling the admin API. A platform key (`tenantId` null) is the platform `admin`: everything,
 * inbound scripts and global settings included. A tenant key is `owner` (its tenant's outgoing webhooks,
 * deliveries and keys), `admin` (outgoing webhooks and deliveries) or `member` (read only), and never
 * sees another tenant's data or the global (tenantId null) webhooks.
 */
export interface Principal {
  /** null for the HOOKGATE_ADMIN_TOKEN bootstrap token, which is not a stored key. */
  keyId: string | null;
  role: ApiKeyRole;
  tenantId: string | null;
}

/** What a route needs: `platform` = the platform admin only; `keys` = platform admin or a tenant owner; `manage` = owner or admin; `read` = any key. */
export type Permission = 'platform' | 'keys' | 'manage' | 'read';

export const PLATFORM_ADMIN: Principal = Object.freeze({ keyId: null, role: 'admin', tenantId: null });

export function isPlatform(principal: Principal): boolean {
  return principal.tenantId === null;
}

export function allows(principal: Principal, permission: Permission): boolean {
  if (isPlatform(principal)) return principal.role === 'admin';
  switch (permission) {
    case 'platform':
      return false;
    case 'keys':
      return principal.role === 'owner';
    case 'manage':
      return principal.role === 'owner' || principal.role === 'admin';
    case 'read':
      return true;
  }
}

/** The caller, as the auth middleware stored it. */
export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  if (!principal) throw new AppError('auth_missing');
  return principal;
}

/** The caller, after checking it has `permission` (403 `forbidden` otherwise). */
export function requirePermission(res: Response, permission: Permission): Principal {
  const principal = principalOf(res);
  if (!allows(principal, permission)) {
    throw new AppError('forbidden', `This operation needs the ${permission === 'platform' ? 'platform admin' : permission === 'keys' ? 'owner' : permission === 'manage' ? 'owner or admin' : 'any'} role.`, {
      details: { role: principal.role, tenantId: principal.tenantId, needs: permission },
    });
  }
  return principal;
}

/**
 * Whether the caller may see a record of `tenantId`. Tenant keys see only their own tenant's records (a
 * global record, tenantId null, belongs to the platform); callers answer 404 rather than 403, so a tenant
 * cannot probe for another tenant's ids.
 */
export function canSeeTenant(principal: Principal, tenantId: string | null): boolean {
  return isPlatform(principal) || principal.tenantId === tenantId;
}
