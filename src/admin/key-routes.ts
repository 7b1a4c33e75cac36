import { randomBytes } from 'node:crypto';
import type { Request, Response, Router } from 'express';
import { AppError } from '../errors.js';
import { uuidv7 } from '../store/index.js';
import type { AdminTokenRecord, ApiKeyRole, AdminTokenStore, AuditActor } from '../store/types.js';
import { createKeySchema } from './access-schemas.js';
import { hashToken } from './auth.js';
import { canSeeTenant, isPlatform, requirePermission } from './principal.js';
import { validator } from './validate.js';

interface CreateKeyBody {
  name?: string;
  role: ApiKeyRole;
  tenantId?: string | null;
}

const checkCreate = validator<CreateKeyBody>(createKeySchema);

/** Characters of a key shown in lists: `hg_` and 8 more, enough to tell keys apart, useless to guess one. */
const PREFIX_LENGTH = 11;

/** A new API key: `hg_` + 32 random bytes, base64url. */
export function generateApiKey(): string {
  return `hg_${randomBytes(32).toString('base64url')}`;
}

/** A key as the API lists it: never its hash. */
export function keyView(record: AdminTokenRecord): Record<string, unknown> {
  return {
    id: record.id,
    name: record.name ?? null,
    prefix: record.prefix,
    role: record.role,
    tenantId: record.tenantId ?? null,
    createdAt: record.createdAt,
    lastUsedAt: record.lastUsedAt ?? null,
    revokedAt: record.revokedAt ?? null,
  };
}

export interface NewApiKey {
  role: ApiKeyRole;
  /** null = a platform key (role `admin` only). */
  tenantId: string | null;
  name?: string | null;
}

/**
 * Makes a key and stores its hash; the key itself is in the answer only. Shared by `POST /keys` and
 * `hookgate keys create`.
 *
 * @throws AppError `validation_failed` for an owner/member key without a tenant.
 * @example
 * const { key, record } = await createApiKey(store, { role: 'owner', tenantId: 'acme', name: 'acme ops' });
 */
export async function createApiKey(store: AdminTokenStore, input: NewApiKey, actor?: AuditActor): Promise<{ record: AdminTokenRecord; key: string }> {
  if (input.tenantId === null && input.role !== 'admin') {
    throw new AppError('validation_failed', 'A platform key (no tenantId) has the role "admin"; owner and member keys need a tenantId.', {
      details: [{ path: '/role', message: 'must be "admin" without tenantId', keyword: 'role', params: {} }],
    });
  }
  const key = generateApiKey();
  const record = await store.insertAdminToken(
    {
      id: uuidv7(),
      tokenHash: hashToken(key),
      prefix: key.slice(0, PREFIX_LENGTH),
      role: input.role,
      tenantId: input.tenantId,
      name: input.name ?? null,
    },
    actor,
  );
  return { record, key };
}

/**
 * The key a reference names: its id, or its displayed prefix (`hg_AbCdEfGh`, or a longer start of the key).
 *
 * @throws AppError `key_not_found` when none or more than one key matches.
 */
export function findApiKey(records: readonly AdminTokenRecord[], ref: string): AdminTokenRecord {
  const byId = records.find((k) => k.id === ref);
  if (byId) return byId;
  const byPrefix = ref.length >= 6 ? records.filter((k) => k.prefix === ref || (ref.startsWith(k.prefix) && ref.length > k.prefix.length)) : [];
  if (byPrefix.length === 1 && byPrefix[0]) return byPrefix[0];
  if (byPrefix.length > 1) {
    throw new AppError('key_not_found', `${byPrefix.length} keys match ${ref}; use the key's id.`, { details: { ids: byPrefix.map((k) => k.id) } });
  }
  throw new AppError('key_not_found', `No key with id or prefix ${ref}`);
}

export interface KeyRoutesOptions {
  store: AdminTokenStore;
  /** Drops the auth cache, so a revoked key is refused at once in this process. */
  onRevoke: () => void;
}

/** `POST/GET /keys`, `DELETE /keys/:id`: the platform admin manages every key, a tenant owner its tenant's. */
export function addKeyRoutes(router: Router, options: KeyRoutesOptions): void {
  const { store } = options;

  router.post('/keys', async (req: Request, res: Response) => {
    const principal = requirePermission(res, 'keys');
    const body = checkCreate(req.body);
    const tenantId = body.tenantId === undefined ? principal.tenantId : body.tenantId;
    if (!canSeeTenant(principal, tenantId)) {
      throw new AppError('forbidden', 'A tenant key can only create keys of its own tenant.', { details: { tenantId: principal.tenantId } });
    }
    const { record, key } = await createApiKey(store, { role: body.role, tenantId, name: body.name ?? null }, principal);
    // The only answer that carries the key: only its hash is stored.
    res.status(201).json({ ...keyView(record), key });
  });

  router.get('/keys', async (_req: Request, res: Response) => {
    const principal = requirePermission(res, 'keys');
    const records = await store.listAdminTokens(isPlatform(principal) ? {} : { tenantId: principal.tenantId });
    res.json({ items: records.map(keyView) });
  });

  router.delete('/keys/:id', async (req: Request<{ id: string }>, res: Response) => {
    const principal = requirePermission(res, 'keys');
    const existing = (await store.listAdminTokens(isPlatform(principal) ? {} : { tenantId: principal.tenantId })).find((k) => k.id === req.params.id);
    if (!existing) throw new AppError('key_not_found', `No key with id ${req.params.id}`);
    await store.revokeAdminToken(existing.id, principal);
    options.onRevoke();
    res.status(204).end();
  });
}
