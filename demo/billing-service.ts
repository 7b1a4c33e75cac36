import type { Knex } from 'knex';
import { webhookAction } from '../src/index.js';

const ONE_ID = { type: 'array', items: [{ type: 'string', minLength: 1, maxLength: 200 }], minItems: 1, maxItems: 1 };

/** The seed's example service: two actions an inbound script may call. */
export class BillingService {
  constructor(private readonly db: Knex) {}

  /** Creates the demo tables (idempotent). */
  async prepare(): Promise<void> {
    if (!(await this.db.schema.hasTable('demo_subscriptions'))) {
      await this.db.schema.createTable('demo_subscriptions', (t) => {
        t.text('id').primary();
        t.text('status').notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(this.db.fn.now());
      });
    }
    if (!(await this.db.schema.hasTable('demo_notifications'))) {
      await this.db.schema.createTable('demo_notifications', (t) => {
        t.increments('id');
        t.text('user_id').notNullable();
        t.text('message').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(this.db.fn.now());
      });
    }
  }

  @webhookAction({
    id: 'subscription.cancel',
    label: 'Cancel subscription',
    category: 'Billing',
    description: 'Marks the subscription cancelled.',
    params: ONE_ID,
  })
  async cancelSubscription(subscriptionId: string): Promise<{ subscriptionId: string; status: string }> {
    await this.db('demo_subscriptions')
      .insert({ id: subscriptionId, status: 'cancelled', updated_at: this.db.fn.now() })
      .onConflict('id')
      .merge();
    return { subscriptionId, status: 'cancelled' };
  }

  @webhookAction({
    id: 'subscription.notifyUser',
    label: 'Notify user',
    category: 'Billing',
    description: 'Records a notification to the user that their subscription ended.',
    dependsOn: ['subscription.cancel'],
    params: ONE_ID,
  })
  async notifyUser(userId: string): Promise<{ notified: string }> {
    await this.db('demo_notifications').insert({ user_id: userId, message: 'Your subscription was cancelled.' });
    return { notified: userId };
  }
}

/** The seed's example script for the demo's `stripe` webhook. */
export const DEMO_STRIPE_SCRIPT = `// Runs for every Stripe event; body is the event, actions are the allowed actions.
if (body.type === 'customer.subscription.deleted') {
  const subscription = body.data.object;
  await actions['subscription.cancel'](subscription.id);
  if (actions['subscription.notifyUser']) {
    await actions['subscription.notifyUser'](subscription.customer);
  }
  console.log('cancelled', subscription.id);
  result = { event: 'subscription.cancelled', data: { subscriptionId: subscription.id, customer: subscription.customer } };
}
`;
