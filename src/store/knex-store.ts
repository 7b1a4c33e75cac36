import type { Knex } from 'knex';
import { AppError } from '../errors.js';
import type { DatabaseKind } from './connection.js';
import { runMigrations } from './migrate.js';
import {
  type DbAdminToken,
  type DbRun,
  type DbScriptVersion,
  type DbWebhook,
  fromRunRecord,
  jsonb,
  toAdminToken,
  toInboundWebhook,
  toIso,
  toOutgoingWebhook,
  toRunRecord,
  toWebhook,
} from './rows.js';
import { inboundColumns, outgoingColumns, queryInboundByProvider, queryOutgoingByEvent, queryRunsPage, readConfigVersion } from './queries.js';
import { encodeRunCursor, UUID } from './run-cursor.js';
import { isUniqueViolation } from './sqlstate.js';
import type { NewInboundWebhook, NewOutgoingWebhook, Settings, Store } from './types.js';

/** The unique index behind `provider_conflict` (migrations/0001_initial.ts). */
const PROVIDER_INDEX = 'webhooks_inbound_provider_key';
/** Page size bounds of `listRuns`. */
export const MAX_RUNS_PAGE = 1000;
/** 14 columns a run: 4,000 rows stay under the 65,535 bind parameters of one statement. */
const RUNS_PER_INSERT = 4000;

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

export interface KnexStoreOptions {
  kind: DatabaseKind;
  /** Schema the tables live in (for `knex_migrations`); default the connection's current schema. */
  schema?: string;
  /** Called by `close()` after knex is destroyed (e.g. to release the data-directory lock). */
  onClose?: () => void | Promise<void>;
}

/** A `Store` backed by knex; `knex` is exposed for host code that keeps its own tables beside ours. */
export interface KnexStore extends Store {
  readonly knex: Knex;
}

/**
 * The store on knex, one implementation for PostgreSQL and PGlite. The store owns `knex`: `close()`
 * destroys it. Writes that change several rows run in one transaction; with PGlite's single connection
 * every query inside a transaction must go through `trx`.
 *
 * @example
 * const store = createKnexStore(await openDatabase({ databaseUrl }), { kind: 'postgres' });
 * await store.migrate();
 */
export function createKnexStore(knex: Knex, options: KnexStoreOptions): KnexStore {
  let closing: Promise<void> | undefined;

  async function updateWebhookRow(trx: Knex.Transaction, id: string, columns: Record<string, unknown>): Promise<DbWebhook> {
    const rows: DbWebhook[] = await trx('webhooks').where('id', id).update({ ...columns, updated_at: trx.fn.now() }).returning('*');
    return rows[0] as DbWebhook;
  }

  return {
    kind: options.kind,
    knex,

    async findByProvider(provider) {
      const row = await queryInboundByProvider(knex, provider).first();
      return row ? toInboundWebhook(row) : null;
    },

    async findByEvent(event, tenantId = null) {
      const rows = await queryOutgoingByEvent(knex, event, tenantId);
      return rows.map(toOutgoingWebhook);
    },

    async getWebhook(id) {
      if (!UUID.test(id)) return null;
      const row = await knex<DbWebhook>('webhooks').where('id', id).first();
      return row ? toWebhook(row) : null;
    },

    async listWebhooks(filter = {}) {
      const query = knex<DbWebhook>('webhooks').orderBy([{ column: 'created_at' }, { column: 'id' }]);
      if (filter.direction !== undefined) query.where('direction', filter.direction);
      if (filter.tenantId === null) query.whereNull('tenant_id');
      else if (filter.tenantId !== undefined) query.where('tenant_id', filter.tenantId);
      return (await query).map(toWebhook);
    },

    async createInboundWebhook(input: NewInboundWebhook) {
      const columns = {
        direction: 'inbound',
        is_active: true,
        tenant_id: null,
        events: jsonb(['*']),
        allowed_actions: jsonb([]),
        emit_events: null,
        verify: jsonb({ scheme: 'none' }),
        ...inboundColumns(input),
        script_version: 1,
      };
      try {
        return await knex.transaction(async (trx) => {
          const rows: DbWebhook[] = await trx('webhooks').insert(columns).returning('*');
          const created = rows[0] as DbWebhook;
          await trx('script_versions').insert({ webhook_id: created.id, version: 1, js_script: created.js_script });
          return toInboundWebhook(created);
        });
      } catch (err) {
        rethrowProviderConflict(err, input.provider);
      }
    },

    async updateInboundWebhook(id, patch) {
      if (!UUID.test(id)) return null;
      try {
        return await knex.transaction(async (trx) => {
          const current = await trx<DbWebhook>('webhooks').where('id', id).andWhere('direction', 'inbound').forUpdate().first();
          if (!current) return null;
          const columns = inboundColumns(patch);
          const scriptChanged = patch.jsScript !== undefined && patch.jsScript !== current.js_script;
          if (scriptChanged) {
            const version = Number(current.script_version) + 1;
            columns.script_version = version;
            await trx('script_versions').insert({ webhook_id: id, version, js_script: patch.jsScript });
          }
          return toInboundWebhook(await updateWebhookRow(trx, id, columns));
        });
      } catch (err) {
        rethrowProviderConflict(err, patch.provider);
      }
    },

    async createOutgoingWebhook(input: NewOutgoingWebhook) {
      const columns = {
        direction: 'outgoing',
        is_active: true,
        tenant_id: null,
        events: jsonb(['*']),
        max_retries: OUTGOING_DEFAULTS.maxRetries,
        retry_delay_ms: OUTGOING_DEFAULTS.retryDelayMs,
        timeout_ms: OUTGOING_DEFAULTS.timeoutMs,
        ...outgoingColumns(input),
      };
      const rows: DbWebhook[] = await knex('webhooks').insert(columns).returning('*');
      return toOutgoingWebhook(rows[0] as DbWebhook);
    },

    async updateOutgoingWebhook(id, patch) {
      if (!UUID.test(id)) return null;
      return knex.transaction(async (trx) => {
        const current = await trx<DbWebhook>('webhooks').where('id', id).andWhere('direction', 'outgoing').forUpdate().first('id');
        if (!current) return null;
        return toOutgoingWebhook(await updateWebhookRow(trx, id, outgoingColumns(patch)));
      });
    },

    async deleteWebhook(id) {
      if (!UUID.test(id)) return false;
      // returning() rather than the affected-row count: knex-pglite does not report counts for del().
      const rows = await knex('webhooks').where('id', id).del().returning('id');
      return rows.length > 0;
    },

    async listScriptVersions(webhookId) {
      if (!UUID.test(webhookId)) return [];
      const rows = await knex<DbScriptVersion>('script_versions').where('webhook_id', webhookId).orderBy('version', 'desc');
      return rows.map((row) => ({ version: Number(row.version), jsScript: row.js_script, createdAt: toIso(row.created_at) }));
    },

    async getSettings() {
      const rows = await knex<{ key: string; value: unknown }>('settings').select('key', 'value');
      if (rows.length === 0) return null;
      const saved = Object.fromEntries(rows.map((row) => [row.key, row.value]));
      const enabled = saved.enabledWebhookActions;
      return {
        ...SETTINGS_DEFAULTS,
        enabledWebhookActions: Array.isArray(enabled) ? (enabled as string[]) : SETTINGS_DEFAULTS.enabledWebhookActions,
      };
    },

    async saveSettings(settings) {
      const saved: Settings = { enabledWebhookActions: [...settings.enabledWebhookActions] };
      const rows = Object.entries(saved).map(([key, value]) => ({ key, value: jsonb(value), updated_at: knex.fn.now() }));
      // Unchanged keys are not rewritten, so saving the same settings does not bump the config version.
      await knex('settings')
        .insert(rows)
        .onConflict('key')
        .merge(['value', 'updated_at'])
        .whereRaw('settings.value is distinct from excluded.value');
      return saved;
    },

    async insertRuns(runs) {
      // One statement per batch (split only past PostgreSQL's 65,535 bind parameters); a retried batch
      // that already landed is ignored row by row.
      for (let i = 0; i < runs.length; i += RUNS_PER_INSERT) {
        await knex('runs').insert(runs.slice(i, i + RUNS_PER_INSERT).map(fromRunRecord)).onConflict('id').ignore();
      }
    },

    async listRuns(query) {
      const limit = Math.min(Math.max(Math.trunc(query.limit) || 1, 1), MAX_RUNS_PAGE);
      const rows = (await queryRunsPage(knex, query, limit)) as Array<DbRun & { cursor_ts: string }>;
      const items = rows.slice(0, limit);
      const last = items[items.length - 1];
      return {
        items: items.map(toRunRecord),
        nextCursor: rows.length > limit && last ? encodeRunCursor({ createdAt: last.cursor_ts, id: last.id }) : null,
      };
    },

    async getRun(id) {
      if (!UUID.test(id)) return null;
      const row = await knex<DbRun>('runs').where('id', id).first();
      return row ? toRunRecord(row) : null;
    },

    async findAdminTokenByHash(tokenHash) {
      const row = await knex<DbAdminToken>('admin_tokens').where('token_hash', tokenHash).first();
      return row ? toAdminToken(row) : null;
    },

    async insertAdminToken(record) {
      const [row] = await knex<DbAdminToken>('admin_tokens')
        .insert({
          id: record.id,
          token_hash: record.tokenHash,
          prefix: record.prefix,
          role: record.role,
          tenant_id: record.tenantId ?? null,
          name: record.name ?? null,
        })
        .returning('*');
      return toAdminToken(row as DbAdminToken);
    },

    async listAdminTokens(filter = {}) {
      const query = knex<DbAdminToken>('admin_tokens').orderBy([{ column: 'created_at' }, { column: 'id' }]);
      if (filter.tenantId === null) query.whereNull('tenant_id');
      else if (filter.tenantId !== undefined) query.where('tenant_id', filter.tenantId);
      return (await query).map(toAdminToken);
    },

    async revokeAdminToken(id) {
      // coalesce: revoking twice keeps the first revocation time.
      const rows: DbAdminToken[] = await knex('admin_tokens')
        .where('id', id)
        .update({ revoked_at: knex.raw('coalesce(revoked_at, now())') })
        .returning('*');
      return rows[0] ? toAdminToken(rows[0]) : null;
    },

    async countAdminTokens() {
      const row = await knex('admin_tokens').count<{ count: string | number }>({ count: '*' }).first();
      return Number(row?.count ?? 0);
    },

    getConfigVersion: () => readConfigVersion(knex),

    migrate: () =>
      runMigrations(knex, { advisoryLock: options.kind === 'postgres', ...(options.schema ? { schema: options.schema } : {}) }),

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
          await knex.destroy();
        } finally {
          await options.onClose?.();
        }
      })();
      return closing;
    },
  };
}
