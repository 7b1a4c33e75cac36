import type { InboundWebhook } from '../store/types.js';

/** How long a delivery id is remembered when the webhook does not say (7 days: Stripe retries for 3). */
export const DEFAULT_RETENTION_SEC = 7 * 24 * 3600;

const MAX_KEY_LENGTH = 500;

function atPath(body: unknown, path: string): unknown {
  let value: unknown = body;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function asKey(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value !== '' ? value.slice(0, MAX_KEY_LENGTH) : null;
}

/**
 * The delivery id that makes a repeat recognisable, or null when the request carries none (it is then
 * never treated as a duplicate). A configured header or JSON path wins; otherwise the provider's own:
 * `webhook-id` (Standard Webhooks), `X-GitHub-Delivery`, `X-Shopify-Webhook-Id`, Stripe's event `id`,
 * Slack's `event_id`.
 */
export function deliveryIdOf(webhook: Pick<InboundWebhook, 'idempotency' | 'verify'>, body: unknown, headers: Record<string, string>): string | null {
  const config = webhook.idempotency;
  if (config?.enabled === false) return null;
  if (config?.header) return asKey(headers[config.header.toLowerCase()]);
  if (config?.jsonPath) return asKey(atPath(body, config.jsonPath));
  for (const name of ['webhook-id', 'x-github-delivery', 'x-shopify-webhook-id']) {
    const key = asKey(headers[name]);
    if (key) return key;
  }
  if (webhook.verify.scheme === 'stripe') return asKey(atPath(body, 'id'));
  if (webhook.verify.scheme === 'slack') return asKey(atPath(body, 'event_id'));
  return null;
}

export function retentionSecOf(webhook: Pick<InboundWebhook, 'idempotency'>): number {
  return webhook.idempotency?.retentionSec ?? DEFAULT_RETENTION_SEC;
}
