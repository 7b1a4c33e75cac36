import type { Knex } from 'knex';
import { REDACTED } from '../audit/index.js';
import { insertAuditEntry, type SecretBox } from '../store/index.js';
import type { AuditActor } from '../store/types.js';
import { WebhookSender } from './signing.js';
import { setBounded } from '../bounded-map.js';

/**
 * A secret replaced by a rotation, still signing until `expiresAt`. In the database (`previous_secrets`)
 * `secret` is encrypted with the store's SecretBox, like the current `secret` column.
 */
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
 * `activeSecrets` of the stored (encrypted) columns: the current secret and the previous ones still in
 * their grace period, decrypted; expired ones are not even decrypted.
 *
 * @throws AppError `secret_key_mismatch` / `secret_corrupt`: never a secret to sign with that is not the real one.
 */
export function openActiveSecrets(box: SecretBox, current: string, previous: StoredSecret[] | null | undefined, now: Date): string[] {
  const live = (previous ?? []).filter((p) => Date.parse(p.expiresAt) > now.getTime());
  return activeSecrets(openSecret(box, current), live.map((p) => ({ ...p, secret: openSecret(box, p.secret) })), now);
}

/** Secrets decrypted lately, per box: every delivery to an endpoint opens the same stored secret. */
const opened = new WeakMap<SecretBox, Map<string, string>>();
const OPENED_MAX = 1000;

/** `box.decrypt(stored)`, remembered (a failure is not: it throws every time). */
function openSecret(box: SecretBox, stored: string): string {
  let cache = opened.get(box);
  if (!cache) {
    cache = new Map();
    opened.set(box, cache);
  }
  let secret = cache.get(stored);
  if (secret === undefined) {
    secret = box.decrypt(stored);
    // First in, first out: a rotation leaves the old entry to age out.
    setBounded(cache, stored, secret, OPENED_MAX);
  }
  return secret;
}

/**
 * Replaces an outgoing webhook's secret. The old one keeps signing alongside the new one for `graceMs`
 * (receivers see two signatures and can switch at their own pace); expired ones are dropped.
 * Returns the new secret, or null when there is no outgoing webhook with this id. With an `actor`, the
 * rotation is audited in the same transaction (the secrets themselves as "[redacted]").
 */
export async function rotateSecret(knex: Knex, webhookId: string, options: { now: Date; graceMs: number; secrets: SecretBox; actor?: AuditActor }): Promise<string | null> {
  const box = options.secrets;
  return knex.transaction(async (trx) => {
    const row = await trx('webhooks')
      .where({ id: webhookId, direction: 'outgoing' })
      .forUpdate()
      .first<{ secret: string; previous_secrets: StoredSecret[] | null; tenant_id: string | null } | undefined>('secret', 'previous_secrets', 'tenant_id');
    if (!row) return null;
    const now = options.now.getTime();
    const kept = (row.previous_secrets ?? []).filter((p) => Date.parse(p.expiresAt) > now);
    // The replaced secret moves over as stored, encrypted (a legacy plaintext one is encrypted on the way).
    const previous: StoredSecret[] = [{ secret: box.reseal(row.secret), expiresAt: new Date(now + options.graceMs).toISOString() }, ...kept].slice(
      0,
      MAX_PREVIOUS_SECRETS,
    );
    const secret = WebhookSender.generateSecret();
    await trx('webhooks')
      .where('id', webhookId)
      .update({ secret: box.encrypt(secret), previous_secrets: JSON.stringify(previous), updated_at: options.now });
    if (options.actor) {
      await insertAuditEntry(trx, {
        actor: options.actor,
        action: 'webhook.secret_rotated',
        targetType: 'outgoing_webhook',
        targetId: webhookId,
        tenantId: row.tenant_id,
        changes: { secret: { before: REDACTED, after: REDACTED } },
      });
    }
    return secret;
  });
}
