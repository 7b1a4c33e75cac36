import { randomBytes } from 'node:crypto';
import type { Request, Response, Router } from 'express';
import { AppError } from '../errors.js';
import { uuidv7 } from '../store/index.js';
import type { AdminTokenRecord, ApiKeyRole, AdminTokenStore } from '../store/types.js';
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
    revokedAt: record.revokedAt ?? null,
  };
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
    if (tenantId === null && body.role !== 'admin') {
      throw new AppError('validation_failed', 'A platform key (no tenantId) has the role "admin"; owner and member keys need a tenantId.', {
        details: [{ path: '/role', message: 'must be "admin" without tenantId', keyword: 'role', params: {} }],
      });
    }
    const key = generateApiKey();
    const record = await store.insertAdminToken({
      id: uuidv7(),
      tokenHash: hashToken(key),
      prefix: key.slice(0, PREFIX_LENGTH),
      role: body.role,
      tenantId,
      name: body.name ?? null,
    });
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
    await store.revokeAdminToken(existing.id);
    options.onRevoke();
    res.status(204).end();
  });
}
