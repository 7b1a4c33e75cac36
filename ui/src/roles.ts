import { api, ApiError } from './api.js';

/**
 * Who is signed in and what the page shows them, mirroring the admin API's roles (src/admin/principal.ts):
 * a platform key (no tenant) is the platform `admin` and may do everything; a tenant `owner` or `admin`
 * manages its tenant's outgoing webhooks and deliveries; a `member` only reads. The API enforces all of
 * it anyway; the page hides what would only answer 403.
 */
export type Role = 'admin' | 'owner' | 'member';

export interface Identity {
  role: Role;
  /** true for a platform key (tenantId null). */
  platform: boolean;
  tenantId: string | null;
  label: string;
}

export interface Capabilities {
  /** Inbound webhooks, scripts, dry-runs, runs, replays: platform admin only. */
  inbound: boolean;
  /** The global action switches. */
  governActions: boolean;
  /** Create/edit/delete outgoing webhooks, ping, rotate, redeliver. */
  manageOutgoing: boolean;
}

export function capabilitiesOf(identity: Identity): Capabilities {
  const platform = identity.platform && identity.role === 'admin';
  return { inbound: platform, governActions: platform, manageOutgoing: platform || identity.role === 'owner' || identity.role === 'admin' };
}

const status = async (p: Promise<unknown>): Promise<number> =>
  p.then(
    () => 200,
    (err: unknown) => {
      if (err instanceof ApiError && err.status !== 401 && err.status !== 0) return err.status;
      throw err;
    },
  );

/**
 * Checks the key (401 → ApiError) and finds its role by probing routes without side effects (the API has
 * no "who am I" route yet) — `GET /settings` is platform-only, `GET /keys` needs a tenant owner, and an
 * empty `POST /webhooks` is refused with 403 before validation for a read-only key (400 otherwise; nothing
 * is created either way).
 */
export async function signIn(token: string): Promise<Identity> {
  await api('GET', '/actions', undefined, token);
  if ((await status(api('GET', '/settings', undefined, token))) === 200) return { role: 'admin', platform: true, tenantId: null, label: 'platform key' };
  if ((await status(api('GET', '/keys', undefined, token))) === 200) return { role: 'owner', platform: false, tenantId: null, label: 'tenant key' };
  const write = await status(api('POST', '/webhooks', {}, token));
  return { role: write === 403 ? 'member' : 'admin', platform: false, tenantId: null, label: 'tenant key' };
}
