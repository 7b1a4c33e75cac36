import type { Engine } from '../src/index.js';

const id = { type: 'string', minLength: 1 } as const;

/**
 * The demo's event catalog: the seed's example events, `subscription.cancelled` (what the demo's Stripe
 * script emits) and hookgate's operational events. Once defined, emitted events must match these.
 */
export function defineDemoEvents(engine: Pick<Engine, 'events'>): void {
  engine.events
    .define('identity.tenant.user.removed', { type: 'object', required: ['tenantId', 'userId'], properties: { tenantId: id, userId: id, removedBy: id } }, {
      description: 'A user was removed from a tenant',
    })
    .define('org-created', { type: 'object', required: ['orgId'], properties: { orgId: id, name: { type: 'string' }, createdBy: id } }, {
      description: 'An organisation was created',
    })
    .define('user-invited-to-org', { type: 'object', required: ['orgId', 'email'], properties: { orgId: id, email: { type: 'string', format: 'email' }, invitedBy: id, role: { type: 'string' } } }, {
      description: 'A user was invited to an organisation',
    })
    .define('connection.created', { type: 'object', required: ['connectionId'], properties: { connectionId: id, provider: { type: 'string' }, orgId: id } }, {
      description: 'An integration connection was created',
    })
    .define('flowRun.failed', { type: 'object', required: ['flowRunId'], properties: { flowRunId: id, flowId: id, error: { type: 'string' } } }, {
      description: 'A flow run failed',
    })
    .define('subscription.cancelled', { type: 'object', required: ['subscriptionId'], properties: { subscriptionId: id, customer: { type: ['string', 'null'] } } }, {
      description: 'A subscription was cancelled (emitted by the demo\'s Stripe script)',
    })
    .define('webhook.disabled', { type: 'object', required: ['webhookId', 'reason'], properties: { webhookId: id, url: { type: 'string' }, reason: { enum: ['gone', 'failing'] } } }, {
      description: 'hookgate disabled an outgoing endpoint that kept failing (operational)',
    })
    .define('webhook.test', { type: 'object' }, { description: 'A test ping from POST /admin/api/webhooks/:id/test (operational)' });
}
