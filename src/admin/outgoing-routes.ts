import type { Request, Response, Router } from 'express';
import { AppError } from '../errors.js';
import type { EmittedEvent } from '../events/index.js';
import { requestIdFrom } from '../http/request-log.js';
import type { Delivery, DeliveryQuery, Enqueued, OutboundService, OutgoingWebhookInput, OutgoingWebhookUpdate } from '../outbound/index.js';
import type { AuditActor, OutgoingWebhook, Store } from '../store/types.js';
import { redeliveryEntry } from '../store/index.js';
import { UUID } from '../store/run-cursor.js';
import { createOutgoingWebhookSchema, deliveriesQuerySchema, emitEventSchema, noInputSchema, patchOutgoingWebhookSchema } from './schemas.js';
import { canSeeTenant, isPlatform, principalOf, type Principal } from './principal.js';
import { validator } from './validate.js';
import { webhookView } from './views.js';

export interface OutgoingRoutesOptions {
  store: Store;
  /** null when the store cannot hold the delivery queue: the routes then answer `outbound_unavailable`. */
  outbound: OutboundService | null;
  /** Emits an event durably (the outbox write) and to in-process listeners; resolves once it is committed. */
  publish: (event: EmittedEvent) => Promise<Enqueued | null>;
  /** Called after a webhook changed (the config cache). */
  onChange?: () => void;
}

type CreateOutgoingBody = OutgoingWebhookInput & { direction: 'outgoing' };
type PatchOutgoingBody = OutgoingWebhookUpdate & { direction?: 'outgoing' };
interface EmitBody {
  event: string;
  data?: unknown;
  tenantId?: string | null;
  metadata?: Record<string, unknown>;
}

const checkCreate = validator<CreateOutgoingBody>(createOutgoingWebhookSchema);
const checkPatch = validator<PatchOutgoingBody>(patchOutgoingWebhookSchema);
const checkDeliveriesQuery = validator<Partial<Omit<DeliveryQuery, 'before'>> & { cursor?: string }>(deliveriesQuerySchema, { query: true });
const checkEmit = validator<EmitBody>(emitEventSchema);
/** These actions take no input: no body, or `{}` (a field there is a mistake worth a 400, not silence). */
const checkNoInput = validator<Record<string, never>>(noInputSchema);

/** Metadata the engine sets on the events of script runs (which provider's request, which run): not writable here. */
const ENGINE_METADATA = ['provider', 'runId'] as const;

const DEFAULT_DELIVERIES_LIMIT = 50;
/** Larger `limit`s are capped to this, so one call cannot pull the whole table. */
const MAX_DELIVERIES_LIMIT = 200;

/** A created or rotated outgoing webhook: the one read that shows the secret. */
export function withSecret(webhook: OutgoingWebhook, secret: string): Record<string, unknown> {
  return { ...webhookView(webhook), secret };
}

function required(outbound: OutboundService | null): OutboundService {
  if (!outbound) throw new AppError('outbound_unavailable');
  return outbound;
}

/**
 * `POST /webhooks` for `direction: "outgoing"`: checks the URL (scheme, SSRF rules, DNS) and answers 201
 * with the generated secret, the only time it is shown.
 */
export async function createOutgoingWebhook(options: OutgoingRoutesOptions, body: unknown, actor?: AuditActor): Promise<Record<string, unknown>> {
  const { direction: _direction, ...input } = checkCreate(body);
  const { webhook, secret } = await required(options.outbound).createWebhook(input, actor);
  options.onChange?.();
  return withSecret(webhook, secret);
}

/** `PATCH /webhooks/:id` of an outgoing webhook (a new URL is checked again; the secret is not writable). */
export async function patchOutgoingWebhook(options: OutgoingRoutesOptions, id: string, body: unknown, actor?: AuditActor): Promise<Record<string, unknown>> {
  const { direction: _direction, ...patch } = checkPatch(body);
  const updated = await required(options.outbound).updateWebhook(id, patch, actor);
  options.onChange?.();
  return webhookView(updated);
}

/**
 * Adds the outgoing-webhook routes to the admin router (mounted at `/admin/api`, behind its auth and
 * JSON body parsing): rotate-secret, test, deliveries, redeliver, and `POST /events`.
 */
export function addOutgoingRoutes(router: Router, options: OutgoingRoutesOptions): void {
  const { store } = options;
  // Tenant keys see their tenant's outgoing webhooks only; another tenant's, a global one or an inbound one
  // (the platform's, whatever its tenantId) is "not found", as in GET /webhooks/:id.
  const loadOutgoing = async (id: string, principal: Principal): Promise<OutgoingWebhook> => {
    const webhook = await store.getWebhook(id);
    if (!webhook || !canSeeTenant(principal, webhook.tenantId) || (!isPlatform(principal) && webhook.direction !== 'outgoing')) {
      throw new AppError('webhook_not_found', `No webhook with id ${id}`);
    }
    if (webhook.direction !== 'outgoing') {
      throw new AppError('webhook_direction_mismatch', 'This operation is for outgoing webhooks.', { details: { direction: webhook.direction } });
    }
    return webhook;
  };

  const loadDelivery = async (id: string, principal: Principal): Promise<Delivery> => {
    const delivery = await required(options.outbound).getDelivery(id);
    const webhook = delivery && !isPlatform(principal) ? await store.getWebhook(delivery.webhookId) : null;
    if (!delivery || (!isPlatform(principal) && (!webhook || !canSeeTenant(principal, webhook.tenantId)))) {
      throw new AppError('delivery_not_found', `No delivery with id ${id}`);
    }
    return delivery;
  };

  router.post('/webhooks/:id/rotate-secret', async (req: Request<{ id: string }>, res: Response) => {
    checkNoInput(req.body ?? {});
    await loadOutgoing(req.params.id, principalOf(res));
    const { webhook, secret } = await required(options.outbound).rotateSecret(req.params.id, principalOf(res));
    options.onChange?.();
    res.json(withSecret(webhook, secret));
  });

  router.post('/webhooks/:id/test', async (req: Request<{ id: string }>, res: Response) => {
    checkNoInput(req.body ?? {});
    await loadOutgoing(req.params.id, principalOf(res));
    const delivery: Delivery = await required(options.outbound).sendTest(req.params.id, requestIdFrom(res));
    res.json({ attempt: delivery.attempts.at(-1) ?? null, delivery });
  });

  router.get('/deliveries', async (req: Request, res: Response) => {
    const { cursor, ...query } = checkDeliveriesQuery({ ...req.query });
    // A delivery id: the last one of the previous page.
    if (cursor !== undefined && !UUID.test(cursor)) throw new AppError('invalid_cursor', undefined, { details: { cursor } });
    const limit = Math.min(query.limit ?? DEFAULT_DELIVERIES_LIMIT, MAX_DELIVERIES_LIMIT);
    const principal = principalOf(res);
    const tenant = isPlatform(principal) ? {} : { tenantId: principal.tenantId as string };
    // One more than the page, to tell whether another follows.
    const rows = await required(options.outbound).listDeliveries({ ...query, ...tenant, ...(cursor ? { before: cursor } : {}), limit: limit + 1 });
    const items = rows.slice(0, limit);
    res.json({ items, nextCursor: rows.length > limit ? (items.at(-1)?.id ?? null) : null });
  });

  router.get('/deliveries/:id', async (req: Request<{ id: string }>, res: Response) => {
    res.json(await loadDelivery(req.params.id, principalOf(res)));
  });

  router.post('/deliveries/:id/redeliver', async (req: Request<{ id: string }>, res: Response) => {
    checkNoInput(req.body ?? {});
    const before = await loadDelivery(req.params.id, principalOf(res));
    const requeued = await required(options.outbound).redeliver(req.params.id);
    const webhook = await store.getWebhook(before.webhookId);
    await store.insertAuditEntry(redeliveryEntry(principalOf(res), before.id, webhook?.tenantId ?? null, before.status, requeued.status));
    res.status(202).json(requeued);
  });

  router.post('/events', async (req: Request, res: Response) => {
    const body = checkEmit(req.body);
    const principal = principalOf(res);
    // A tenant key emits for its own tenant only (its events reach its endpoints and the global ones).
    if (!isPlatform(principal) && body.tenantId !== undefined && body.tenantId !== principal.tenantId) {
      throw new AppError('forbidden', 'A tenant key can only emit events for its own tenant.', { details: { tenantId: principal.tenantId } });
    }
    const engineKeys = ENGINE_METADATA.filter((key) => body.metadata !== undefined && Object.hasOwn(body.metadata, key));
    if (engineKeys.length > 0) {
      const details = engineKeys.map((key) => ({ path: `/metadata/${key}`, message: 'is set by the engine, not by the caller', keyword: 'not', params: {} }));
      throw new AppError('validation_failed', `The request is invalid: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`, { details });
    }
    const tenantId = isPlatform(principal) ? (body.tenantId ?? null) : principal.tenantId;
    const requestId = requestIdFrom(res);
    const enqueued = await options.publish({
      event: body.event,
      data: body.data === undefined ? null : body.data,
      tenantId,
      metadata: { ...body.metadata, tenantId },
      // The admin request's id, for the log lines of the deliveries (not part of the envelope).
      ...(requestId ? { origin: { requestId } } : {}),
    });
    const fanOut = enqueued?.deliveryIds.length ?? 0;
    // A tenant key is told of the deliveries to its own endpoints only: how many global endpoints take the
    // event is the platform's business.
    const deliveries = isPlatform(principal) ? fanOut : (enqueued?.endpointTenantIds.filter((t) => t === tenantId).length ?? 0);
    const answer = { event: body.event, messageId: enqueued?.messageId ?? null, deliveries };
    // The name and fan-out only: event data may carry personal data, and the audit log outlives it.
    await store.insertAuditEntry({
      actor: principal,
      action: 'event.emitted',
      targetType: 'event',
      targetId: answer.messageId,
      tenantId,
      changes: { event: { after: answer.event }, deliveries: { after: fanOut } },
    });
    res.status(202).json(answer);
  });
}
