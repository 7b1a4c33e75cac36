import type { Knex } from 'knex';
import { WebhookSender } from './signing.js';

/** A secret replaced by a rotation, still signing until `expiresAt`. */
export interface StoredSecret {
  secret: string;
  expiresAt: string;
}

/** How many replaced secrets are kept at most, however often one rotates. */
const MAX_PREVIOUS_SECRETS = 4;

/** The secrets that sign now: the current one first, then those still within their grace period. */
export function activeSecrets(current: string, previous: StoredSecret[] | null | undefined, now: Date): string[] {
  const live = (previous ?? []).filter((p) => Date.parse(p.expiresAt) > now.getTime()).map((p) => p.secret);
  return [current, ...live.filter((s) => s !== current)];
}

/**
 * Replaces an outgoing webhook's secret. The old one keeps signing alongside the new one for `graceMs`
 * (receivers see two signatures and can switch at their own pace); expired ones are dropped.
 * Returns the new secret, or null when there is no outgoing webhook with this id.
 */
export async function rotateSecret(knex: Knex, webhookId: string, options: { now: Date; graceMs: number }): Promise<string | null> {
  return knex.transaction(async (trx) => {
    const row = await trx('webhooks')
      .where({ id: webhookId, direction: 'outgoing' })
      .forUpdate()
      .first<{ secret: string; previous_secrets: StoredSecret[] | null } | undefined>('secret', 'previous_secrets');
    if (!row) return null;
    const now = options.now.getTime();
    const kept = (row.previous_secrets ?? []).filter((p) => Date.parse(p.expiresAt) > now);
    const previous: StoredSecret[] = [{ secret: row.secret, expiresAt: new Date(now + options.graceMs).toISOString() }, ...kept].slice(
      0,
      MAX_PREVIOUS_SECRETS,
    );
    const secret = WebhookSender.generateSecret();
    await trx('webhooks')
      .where('id', webhookId)
      .update({ secret, previous_secrets: JSON.stringify(previous), updated_at: options.now });
    return secret;
  });
}
