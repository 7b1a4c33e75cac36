import type { Webhook } from '../store/types.js';

/** A webhook as the admin API shows it: secrets never leave, only whether one is set or its prefix. */
export function webhookView(webhook: Webhook): Record<string, unknown> {
  if (webhook.direction === 'inbound') {
    const { secret, secrets, ...verify } = webhook.verify;
    return { ...webhook, verify: { ...verify, hasSecret: Boolean(secret) || Boolean(secrets?.length) } };
  }
  const { secret, ...rest } = webhook;
  return { ...rest, secretPrefix: secret.slice(0, 10) };
}
