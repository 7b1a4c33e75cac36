import type { Knex } from 'knex';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DatabaseKind } from './connection.js';
import { insertAuditEntry, keyEntry, listAuditEntries, recordChange, settingsEntry, webhookEntry } from './audit-log.js';
import { deleteInBatches } from './batched-delete.js';
import { EmbeddedCheckpointer, type EmbeddedCheckpointOptions } from './embedded-checkpoint.js';
import { runMigrations } from './migrate.js';
import {
  type DbAdminToken,
  type DbRun,
  type DbScriptVersion,
  type DbWebhook,
  jsonWithoutNul,
  RUN_COLUMNS,
  runInsertRow,
  jsonb,
  toAdminToken,
  toInboundWebhook,
  toIso,
  toOutgoingWebhook,
  toRunRecord,
  toWebhook,
} from './rows.js';
import { type Db, inboundColumns, outgoingColumns, queryInboundByProvider, queryOutgoingByEvent, queryRunsPage, readConfigVersion } from './queries.js';
import { pageOf, UUID } from './run-cursor.js';
import type { SecretBox } from './secret-box.js';
import { isUniqueViolation } from './sqlstate.js';
import type { NewInboundWebhook, NewOutgoingWebhook, Settings, Store } from './types.js';
import { openWebhookRow, sealInboundInput, sealOutgoingInput, sealStoredSecrets } from './webhook-secrets.js';

/** The unique index behind `provider_conflict` (migrations/0001_initial.ts). */
const PROVIDER_INDEX = 'webhooks_inbound_provider_key';
/** Page size bounds of `listRuns`. */
export const MAX_RUNS_PAGE = 1000;
/** 14 columns a run: 4,000 rows stay under the 65,535 bind parameters of one statement. */
const RUNS_PER_INSERT = 4000;
const RUNS_PER_DELETE = 500;

/** Oldest first through runs_created_at_idx; SKIP LOCKED lets processes pruning at once share the rows. */
const DELETE_OLD_RUNS_SQL = `with doomed as (
    select id from runs where created_at < ?::timestamptz order by created_at limit ? for update skip locked
  ), gone as (
    delete from runs r using doomed where r.id = doomed.id returning 1
  )
  select count(*)::int as n from gone`;
/**
 * A batch of runs as ONE bind parameter (a JSON array) expanded by the database: cheaper per row than a
 * multi-row VALUES list with 14 parameters a row, which PGlite pays for in WASM and knex in JS (CPU per
 * row at batch 25: PGlite 190 → 141 µs, pg client 75 → 34 µs).
 */
const INSERT_RUNS_SQL = `insert into runs (id, webhook_id, provider, event_type, status, duration_ms, script_version,
    actions_called, logs, error, emitted_event, created_at, inbox_id, replay_of, request_content_type, request_headers, request_body)
  select id, webhook_id, provider, event_type, status, duration_ms, script_version,
    coalesce(actions_called, '[]'), coalesce(logs, '[]'), error, emitted_event, created_at, inbox_id, replay_of,
    request_content_type, request_headers, request_body
  from jsonb_to_recordset(?::jsonb) as r(id uuid, webhook_id uuid, provider text, event_type text, status text,
    duration_ms double precision, script_version integer, actions_called jsonb, logs jsonb, error jsonb,
    emitted_event text, created_at timestamptz, inbox_id uuid, replay_of uuid,
    request_content_type text, request_headers jsonb, request_body text)
  on conflict (id) do nothing`;

export const OUTGOING_DEFAULTS = { maxRetries: 3, retryDelayMs: 1000, timeoutMs: 30_000 } as const;

/** Turns the provider index's unique violation into `provider_conflict`; rethrows anything else. */
function rethrowProviderConflict(err: unknown, provider: string | undefined): never {
  if (isUniqueViolation(err, PROVIDER_INDEX)) {
    throw new AppError('provider_conflict', `An inbound webhook for provider "${provider ?? ''}" already exists.`, {
      cause: err,
      details: { provider },
    });
  }
  throw err;
}

const SETTINGS_DEFAULTS: Settings = { enabledWebhookActions: [] };

/** The saved settings (null on a fresh store). */
async function readSettings(db: Db, options: { forUpdate?: boolean } = {}): Promise<Settings | null> {
  const query = db<{ key: string; value: unknown }>('settings').select('key', 'value');
  if (options.forUpdate) query.forUpdate();
  const rows = await query;
  if (rows.length === 0) return null;
  const saved = Object.fromEntries(rows.map((row) => [row.key, row.value]));
  const enabled = saved.enabledWebhookActions;
  return {
    ...SETTINGS_DEFAULTS,
    enabledWebhookActions: Array.isArray(enabled) ? (enabled as string[]) : SETTINGS_DEFAULTS.enabledWebhookActions,
  };
}

export interface KnexStoreOptions {
  kind: DatabaseKind;
  /** Schema the tables live in (for `knex_migrations`); default the connection's current schema. */
  schema?: string;
  /** Called by `close()` after knex is destroyed (e.g. to release the data-directory lock). */
  onClose?: () => void | Promise<void>;
  /** Encrypts the stored secrets (outgoing signing secrets, inbound verify secrets); see `openSecretBox`. */
  secrets: SecretBox;
  logger?: Logger;
  /**
   * PGlite only: take checkpoints (see EmbeddedCheckpointer), stopped by `close()`. `createStore` turns this on
   * for the embedded store; a second store object on the same knex leaves it off. Omitted or false: none.
   */
  checkpoints?: EmbeddedCheckpointOptions | false;
}

/** A `Store` backed by knex; `knex` is exposed for host code that keeps its own tables beside ours. */
export interface KnexStore extends Store {
  readonly knex: Knex;
  /** The box the stored secrets are encrypted with (for code that reads the `webhooks` secret columns itself). */
  readonly secrets: SecretBox;
  /**
   * Deletes run records created before `before`, at most `maxBatches` statements of 500 rows (default 20):
   * `more` says rows older than that are left for the next call. A request kept in a run's row goes with
   * it; inbox rows go with the inbox's own purge.
   */
  pruneRuns(before: Date, maxBatches?: number): Promise<{ count: number; more: boolean }>;
}

/**
 * The store on knex, one implementation for PostgreSQL and PGlite. The store owns `knex`: `close()`
 * destroys it. Writes that change several rows run in one transaction; with PGlite's single connection
 * every query inside a transaction must go through `trx`. Secrets are encrypted on the way in and
 * decrypted on the way out with `options.secrets` (webhook-secrets.ts), so no caller sees ciphertext.
 *
 * @example
 * const secrets = await openSecretBox({ secretKey: process.env.HOOKGATE_SECRET_KEY, postgres: true, memory: false });
 * const store = createKnexStore(await openDatabase({ databaseUrl }), { kind: 'postgres', secrets });
 * await store.migrate();
 */
export function createKnexStore(knex: Knex, options: KnexStoreOptions): KnexStore {
  let closing: Promise<void> | undefined;
  const box = options.secrets;
  const checkpointer = options.kind === 'pglite' && options.checkpoints
    ? new EmbeddedCheckpointer(knex, { ...(options.logger ? { logger: options.logger.child({ component: 'store' }) } : {}), ...options.checkpoints })
    : undefined;
  checkpointer?.start();
  const open = (row: DbWebhook) => toWebhook(openWebhookRow(box, row));
  const openInbound = (row: DbWebhook) => toInboundWebhook(openWebhookRow(box, row));
  const openOutgoing = (row: DbWebhook) => toOutgoingWebhook(openWebhookRow(box, row));

  async function updateWebhookRow(trx: Knex.Transaction, id: string, columns: Record<string, unknown>): Promise<DbWebhook> {
    const rows: DbWebhook[] = await trx('webhooks').where('id', id).update({ ...columns, updated_at: trx.fn.now() }).returning('*');
    return rows[0] as DbWebhook;
  }

  return {
    kind: options.kind,
    knex,
    secrets: box,

    async findByProvider(provider) {
      const row = await queryInboundByProvider(knex, provider).first();
      return row ? openInbound(row) : null;
    },

    async findByEvent(event, tenantId = null) {
      const rows = await queryOutgoingByEvent(knex, event, tenantId);
      return rows.map(openOutgoing);
    },

    async getWebhook(id) {
      if (!UUID.test(id)) return null;
      const row = await knex<DbWebhook>('webhooks').where('id', id).first();
      return row ? open(row) : null;
    },

    async listWebhooks(filter = {}) {
      const query = knex<DbWebhook>('webhooks').orderBy([{ column: 'created_at' }, { column: 'id' }]);
      if (filter.direction !== undefined) query.where('direction', filter.direction);
      if (filter.tenantId === null) query.whereNull('tenant_id');
      else if (filter.tenantId !== undefined) query.where('tenant_id', filter.tenantId);
      return (await query).map(open);
    },

    async createInboundWebhook(input: NewInboundWebhook, actor) {
      const columns = {
        direction: 'inbound',
        is_active: true,
        tenant_id: null,
        events: jsonb(['*']),
        allowed_actions: jsonb([]),
        emit_events: null,
        verify: jsonb({ scheme: 'none' }),
        ...inboundColumns(sealInboundInput(box, input)),
        script_version: 1,
      };
      try {
        return await knex.transaction(async (trx) => {
          const rows: DbWebhook[] = await trx('webhooks').insert(columns).returning('*');
          const created = rows[0] as DbWebhook;
          await trx('script_versions').insert({ webhook_id: created.id, version: 1, js_script: created.js_script });
          const webhook = openInbound(created);
          await recordChange(trx, actor, webhookEntry('webhook.created', null, webhook));
          return webhook;
        });
      } catch (err) {
        rethrowProviderConflict(err, input.provider);
      }
    },

    async updateInboundWebhook(id, patch, actor) {
      if (!UUID.test(id)) return null;
      try {
        return await knex.transaction(async (trx) => {
          const current = await trx<DbWebhook>('webhooks').where('id', id).andWhere('direction', 'inbound').forUpdate().first();
          if (!current) return null;
          const columns = inboundColumns(sealInboundInput(box, patch));
          const scriptChanged = patch.jsScript !== undefined && patch.jsScript !== current.js_script;
          if (scriptChanged) {
            const version = Number(current.script_version) + 1;
            columns.script_version = version;
            await trx('script_versions').insert({ webhook_id: id, version, js_script: patch.jsScript });
          }
          const updated = openInbound(await updateWebhookRow(trx, id, columns));
          await recordChange(trx, actor, webhookEntry('webhook.updated', openInbound(current), updated));
          return updated;
        });
      } catch (err) {
        rethrowProviderConflict(err, patch.provider);
      }
    },

    async createOutgoingWebhook(input: NewOutgoingWebhook, actor) {
      const columns = {
        direction: 'outgoing',
        is_active: true,
        tenant_id: null,
        events: jsonb(['*']),
        max_retries: OUTGOING_DEFAULTS.maxRetries,
        retry_delay_ms: OUTGOING_DEFAULTS.retryDelayMs,
        timeout_ms: OUTGOING_DEFAULTS.timeoutMs,
        ...outgoingColumns(sealOutgoingInput(box, input)),
      };
      return knex.transaction(async (trx) => {
        const rows: DbWebhook[] = await trx('webhooks').insert(columns).returning('*');
        const webhook = openOutgoing(rows[0] as DbWebhook);
        await recordChange(trx, actor, webhookEntry('webhook.created', null, webhook));
        return webhook;
      });
    },

    async updateOutgoingWebhook(id, patch, actor) {
      if (!UUID.test(id)) return null;
      return knex.transaction(async (trx) => {
        const current = await trx<DbWebhook>('webhooks').where('id', id).andWhere('direction', 'outgoing').forUpdate().first();
        if (!current) return null;
        const updated = openOutgoing(await updateWebhookRow(trx, id, outgoingColumns(sealOutgoingInput(box, patch))));
        await recordChange(trx, actor, webhookEntry('webhook.updated', openOutgoing(current), updated));
        return updated;
      });
    },

    async deleteWebhook(id, actor) {
      if (!UUID.test(id)) return false;
      return knex.transaction(async (trx) => {
        // returning() rather than the affected-row count: knex-pglite does not report counts for del().
        const rows: DbWebhook[] = await trx('webhooks').where('id', id).del().returning('*');
        const deleted = rows[0];
        if (deleted) await recordChange(trx, actor, webhookEntry('webhook.deleted', toWebhook(deleted), null));
        return deleted !== undefined;
      });
    },

    async listScriptVersions(webhookId) {
      if (!UUID.test(webhookId)) return [];
      const rows = await knex<DbScriptVersion>('script_versions').where('webhook_id', webhookId).orderBy('version', 'desc');
      return rows.map((row) => ({ version: Number(row.version), jsScript: row.js_script, createdAt: toIso(row.created_at) }));
    },

    getSettings: () => readSettings(knex),

    async saveSettings(settings, actor) {
      const saved: Settings = { enabledWebhookActions: [...settings.enabledWebhookActions] };
      const rows = Object.entries(saved).map(([key, value]) => ({ key, value: jsonb(value), updated_at: knex.fn.now() }));
      await knex.transaction(async (trx) => {
        // Locked, so two concurrent saves each audit the value the other left.
        const before = actor ? await readSettings(trx, { forUpdate: true }) : null;
        // Unchanged keys are not rewritten, so saving the same settings does not bump the config version.
        await trx('settings')
          .insert(rows)
          .onConflict('key')
          .merge(['value', 'updated_at'])
          .whereRaw('settings.value is distinct from excluded.value');
        await recordChange(trx, actor, settingsEntry(before, saved));
      });
      return saved;
    },

    async insertRuns(runs) {
      // One statement per batch of up to RUNS_PER_INSERT rows; a retried batch that already landed is
      // ignored row by row.
      for (let i = 0; i < runs.length; i += RUNS_PER_INSERT) {
        await knex.raw(INSERT_RUNS_SQL, [jsonWithoutNul(runs.slice(i, i + RUNS_PER_INSERT).map(runInsertRow))]);
      }
    },

    pruneRuns: (before, maxBatches = 20) => deleteInBatches(knex, DELETE_OLD_RUNS_SQL, before, RUNS_PER_DELETE, maxBatches),

    async listRuns(query) {
      const limit = Math.min(Math.max(Math.trunc(query.limit) || 1, 1), MAX_RUNS_PAGE);
      const rows = (await queryRunsPage(knex, query, limit)) as Array<DbRun & { cursor_ts: string }>;
      return pageOf(rows, limit, toRunRecord);
    },

    async getRun(id) {
      if (!UUID.test(id)) return null;
      const row = await knex<DbRun>('runs').where('id', id).first(...RUN_COLUMNS);
      return row ? toRunRecord(row) : null;
    },

    async findAdminTokenByHash(tokenHash) {
      const row = await knex<DbAdminToken>('admin_tokens').where('token_hash', tokenHash).first();
      return row ? toAdminToken(row) : null;
    },

    async insertAdminToken(record, actor) {
      return knex.transaction(async (trx) => {
        const [row] = await trx<DbAdminToken>('admin_tokens')
          .insert({
            id: record.id,
            token_hash: record.tokenHash,
            prefix: record.prefix,
            role: record.role,
            tenant_id: record.tenantId ?? null,
            name: record.name ?? null,
          })
          .returning('*');
        const created = toAdminToken(row as DbAdminToken);
        await recordChange(trx, actor, keyEntry(null, created));
        return created;
      });
    },

    async listAdminTokens(filter = {}) {
      const query = knex<DbAdminToken>('admin_tokens').orderBy([{ column: 'created_at' }, { column: 'id' }]);
      if (filter.tenantId === null) query.whereNull('tenant_id');
      else if (filter.tenantId !== undefined) query.where('tenant_id', filter.tenantId);
      return (await query).map(toAdminToken);
    },

    async revokeAdminToken(id, actor) {
      return knex.transaction(async (trx) => {
        const current = await trx<DbAdminToken>('admin_tokens').where('id', id).forUpdate().first();
        if (!current) return null;
        // Revoking twice keeps the first revocation time, and audits only the first.
        if (current.revoked_at) return toAdminToken(current);
        const rows: DbAdminToken[] = await trx('admin_tokens').where('id', id).update({ revoked_at: trx.fn.now() }).returning('*');
        const revoked = toAdminToken(rows[0] as DbAdminToken);
        await recordChange(trx, actor, keyEntry(toAdminToken(current), revoked));
        return revoked;
      });
    },

    async touchAdminToken(id) {
      // At most one write a minute per key: a busy key must not turn every cache miss into a row update.
      await knex('admin_tokens')
        .where('id', id)
        .andWhere((q) => q.whereNull('last_used_at').orWhere('last_used_at', '<', knex.raw("now() - interval '1 minute'")))
        .update({ last_used_at: knex.fn.now() });
    },

    async countAdminTokens() {
      const row = await knex('admin_tokens').count<{ count: string | number }>({ count: '*' }).first();
      return Number(row?.count ?? 0);
    },

    insertAuditEntry: (entry) => insertAuditEntry(knex, entry),

    listAuditEntries: (query) => listAuditEntries(knex, query),

    getConfigVersion: () => readConfigVersion(knex),

    async migrate() {
      await runMigrations(knex, { advisoryLock: options.kind === 'postgres', ...(options.schema ? { schema: options.schema } : {}) });
      // Legacy plaintext and values under an older key are re-encrypted; a wrong key stops the start here.
      await sealStoredSecrets(knex, box, options.logger);
    },

    async ping() {
      try {
        await knex.raw('select 1');
      } catch (err) {
        throw new AppError('database_unavailable', `The database did not answer: ${(err as Error).message}`, { cause: err });
      }
    },

    close() {
      closing ??= (async () => {
        try {
          await checkpointer?.stop();
          await knex.destroy();
        } finally {
          await options.onClose?.();
        }
      })();
      return closing;
    },
  };
}
