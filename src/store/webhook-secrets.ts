import type { Knex } from 'knex';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DbWebhook } from './rows.js';
import type { SecretBox } from './secret-box.js';
import type { InboundWebhookPatch, OutgoingWebhookPatch, VerifyConfig } from './types.js';

/*
 * Where the secrets of the `webhooks` table live, encrypted with the store's SecretBox:
 * - `secret` (text): an outgoing webhook's current signing secret;
 * - `previous_secrets` (jsonb `[{secret, expiresAt}]`): outgoing secrets replaced by a rotation, still signing;
 * - `verify` (jsonb): an inbound webhook's `secret` and `secrets[]`.
 * Everything else in `verify` (scheme, header, username…) stays readable. Values are sealed here on the
 * way in and opened on the way out, so nothing above the store sees ciphertext.
 */

/** One entry of `webhooks.previous_secrets`, as the outbound rotation writes it. */
export interface StoredPreviousSecret {
  secret: string;
  expiresAt: string;
}

export function sealVerify(box: SecretBox, verify: VerifyConfig): VerifyConfig {
  return {
    ...verify,
    ...(verify.secret !== undefined ? { secret: box.encrypt(verify.secret) } : {}),
    ...(verify.secrets !== undefined ? { secrets: verify.secrets.map((s) => box.encrypt(s)) } : {}),
  };
}

export function openVerify(box: SecretBox, verify: VerifyConfig): VerifyConfig {
  return {
    ...verify,
    ...(typeof verify.secret === 'string' ? { secret: box.decrypt(verify.secret) } : {}),
    ...(Array.isArray(verify.secrets) ? { secrets: verify.secrets.map((s) => box.decrypt(s)) } : {}),
  };
}

/** An inbound create or patch with its verify secrets encrypted. */
export function sealInboundInput<T extends InboundWebhookPatch>(box: SecretBox, input: T): T {
  return input.verify === undefined ? input : { ...input, verify: sealVerify(box, input.verify) };
}

/** An outgoing create or patch with its secret encrypted. */
export function sealOutgoingInput<T extends OutgoingWebhookPatch>(box: SecretBox, input: T): T {
  return input.secret === undefined ? input : { ...input, secret: box.encrypt(input.secret) };
}

/**
 * A `webhooks` row with its secrets decrypted (legacy plaintext passes as it is).
 *
 * @throws AppError `secret_key_mismatch` or `secret_corrupt` (with the webhook id in `details`).
 */
export function openWebhookRow(box: SecretBox, row: DbWebhook): DbWebhook {
  try {
    return {
      ...row,
      secret: typeof row.secret === 'string' ? box.decrypt(row.secret) : row.secret,
      verify: row.verify ? openVerify(box, row.verify) : row.verify,
    };
  } catch (err) {
    throw withWebhookId(err, row.id);
  }
}

/** The same AppError with the webhook's id added to its details and message, so an operator can find the row. */
export function withWebhookId(err: unknown, webhookId: string): unknown {
  if (!isAppError(err)) return err;
  const details = { ...(err.details as Record<string, unknown> | undefined), webhookId };
  return new AppError(err.code, `${err.message} (webhook ${webhookId})`, { cause: err.cause ?? err, details });
}

interface SecretColumns {
  id: string;
  secret: string | null;
  previous_secrets: StoredPreviousSecret[] | null;
  verify: VerifyConfig | null;
}

/** Every stored secret value of a row. */
function valuesOf(row: SecretColumns): string[] {
  return [
    ...(typeof row.secret === 'string' ? [row.secret] : []),
    ...(row.previous_secrets ?? []).map((p) => p.secret).filter((s): s is string => typeof s === 'string'),
    ...(typeof row.verify?.secret === 'string' ? [row.verify.secret] : []),
    ...(Array.isArray(row.verify?.secrets) ? row.verify.secrets : []),
  ];
}

/** The row's columns re-sealed under the current key; only those that changed. A damaged value is left as it is. */
function resealRow(box: SecretBox, row: SecretColumns, onDamaged: (err: unknown) => void): Record<string, unknown> {
  const reseal = (value: string): string => {
    try {
      return box.reseal(value);
    } catch (err) {
      onDamaged(err);
      return value;
    }
  };
  const columns: Record<string, unknown> = {};
  if (typeof row.secret === 'string' && !box.isCurrent(row.secret)) columns.secret = reseal(row.secret);
  const previous = row.previous_secrets ?? [];
  if (previous.some((p) => typeof p.secret === 'string' && !box.isCurrent(p.secret))) {
    columns.previous_secrets = JSON.stringify(previous.map((p) => (typeof p.secret === 'string' ? { ...p, secret: reseal(p.secret) } : p)));
  }
  const verify = row.verify;
  if (verify && [verify.secret, ...(verify.secrets ?? [])].some((s) => typeof s === 'string' && !box.isCurrent(s))) {
    columns.verify = JSON.stringify({
      ...verify,
      ...(typeof verify.secret === 'string' ? { secret: reseal(verify.secret) } : {}),
      ...(Array.isArray(verify.secrets) ? { secrets: verify.secrets.map(reseal) } : {}),
    });
  }
  return columns;
}

/**
 * Run at every start (`store.migrate()`), after the migrations: every stored secret that is not encrypted
 * under the current key — legacy plaintext from before encryption, or a value under an older key of a
 * rotation — is encrypted under the current key. A migration could not do this: it does not know the key.
 * Idempotent and safe with several processes starting at once (rows are re-read under FOR UPDATE and
 * only values still not current are rewritten).
 *
 * @throws AppError `secret_key_mismatch` when stored secrets name a key that is not configured (the
 *   wrong HOOKGATE_SECRET_KEY, or a missing key file): the start fails rather than signing with garbage.
 */
export async function sealStoredSecrets(knex: Knex, box: SecretBox, logger?: Logger): Promise<{ resealed: number }> {
  const select = ['id', 'secret', 'previous_secrets', 'verify'] as const;
  const rows: SecretColumns[] = await knex('webhooks').select(...select);
  const unknown = new Map<string, string[]>();
  const stale: string[] = [];
  for (const row of rows) {
    let needsReseal = false;
    for (const value of valuesOf(row)) {
      let keyId: string | null;
      try {
        keyId = box.keyIdOf(value);
      } catch {
        continue; // malformed: reported with secret_corrupt when the webhook is read
      }
      if (keyId === null || (keyId !== box.keyId && box.keyIds.includes(keyId))) needsReseal = true;
      else if (!box.keyIds.includes(keyId)) unknown.set(keyId, [...(unknown.get(keyId) ?? []), row.id]);
    }
    if (needsReseal) stale.push(row.id);
  }
  if (unknown.size > 0) {
    const webhookIds = [...new Set([...unknown.values()].flat())];
    throw new AppError(
      'secret_key_mismatch',
      `Stored secrets of ${webhookIds.length} webhook(s) were encrypted with key ${[...unknown.keys()].join(', ')}, but the configured key is ${box.keyIds.join(', ')}: ` +
        'set HOOKGATE_SECRET_KEY to the key they were encrypted with (or restore the data directory\'s secret.key).',
      { details: { keyIds: [...unknown.keys()], configured: box.keyIds, webhookIds: webhookIds.slice(0, 20) } },
    );
  }
  if (stale.length === 0) return { resealed: 0 };

  const log = logger?.child({ component: 'store' });
  let resealed = 0;
  await knex.transaction(async (trx) => {
    const locked: SecretColumns[] = await trx('webhooks').whereIn('id', stale).forUpdate().select(...select);
    for (const row of locked) {
      const columns = resealRow(box, row, (err) =>
        log?.error('a stored secret could not be re-encrypted; it stays as it is and the webhook fails when read', {
          webhookId: row.id,
          code: isAppError(err) ? err.code : undefined,
        }),
      );
      if (Object.keys(columns).length === 0) continue;
      await trx('webhooks').where('id', row.id).update(columns);
      resealed += 1;
    }
  });
  if (resealed > 0) log?.info('encrypted stored secrets under the current key (legacy plaintext or an older key)', { webhooks: resealed, keyId: box.keyId });
  return { resealed };
}
