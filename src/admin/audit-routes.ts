import type { Request, Response, Router } from 'express';
import type { AuditAction, AuditQuery, AuditStore, AuditTargetType } from '../store/types.js';
import { auditQuerySchema } from './audit-schemas.js';
import { isPlatform, requirePermission } from './principal.js';
import { validator } from './validate.js';

const checkQuery = validator<{ targetId?: string; action?: AuditAction; actorKeyId?: string; limit?: number; cursor?: string }>(auditQuerySchema, { query: true });

const DEFAULT_AUDIT_LIMIT = 50;
/** Larger `limit`s are capped to this, so one call cannot pull the whole table. */
const MAX_AUDIT_LIMIT = 200;

/**
 * What a tenant owner or admin sees of its tenant's entries: the records a tenant key can reach (outgoing
 * webhooks, keys, events, deliveries). Inbound webhooks (scripts), runs and settings belong to the platform
 * even when labelled with a tenant, as in the rest of the API.
 */
export const TENANT_AUDIT_TARGETS: readonly AuditTargetType[] = ['outgoing_webhook', 'api_key', 'event', 'delivery'];

/**
 * `GET /audit`: the audit log newest first, `{items, nextCursor}`. The platform admin sees every entry; a
 * tenant owner or admin its tenant's (whoever made them, the platform admin included); a member is refused
 * (403), as for every other write-side record.
 */
export function addAuditRoutes(router: Router, options: { store: AuditStore }): void {
  router.get('/audit', async (req: Request, res: Response) => {
    const principal = requirePermission(res, 'manage');
    const query = checkQuery({ ...req.query });
    const scope: Partial<AuditQuery> = isPlatform(principal) ? {} : { tenantId: principal.tenantId as string, targetTypes: TENANT_AUDIT_TARGETS };
    res.json(await options.store.listAuditEntries({ ...query, ...scope, limit: Math.min(query.limit ?? DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT) }));
  });
}
