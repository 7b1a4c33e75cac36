import { createApiKey, findApiKey, KEY_CACHE_MS, keyView, PLATFORM_ADMIN } from '../../admin/index.js';
import type { AdminTokenRecord, ApiKeyRole } from '../../store/types.js';
import { createCliContext, withStore } from '../context.js';
import { usageError } from '../errors.js';
import { formatTable, formatTime } from '../format.js';
import type { CommandResult } from '../program.js';

/*
 * `hookgate keys create|list|revoke`: the admin API's key management (src/admin/key-routes.ts), straight
 * on the database, as the platform admin.
 */

export interface CreateKeyOptions {
  role: ApiKeyRole;
  tenant?: string;
  name?: string;
  json?: boolean;
}

export async function createKey(options: CreateKeyOptions, verbose: boolean): Promise<CommandResult> {
  if (options.tenant !== undefined && options.tenant.trim() === '') throw usageError('--tenant must not be empty.');
  if (options.name !== undefined && (options.name.length === 0 || options.name.length > 200)) throw usageError('--name must be 1 to 200 characters.');
  if (options.tenant === undefined && options.role !== 'admin') {
    throw usageError(`A ${options.role} key belongs to a tenant: add --tenant <tenantId> (only admin keys can be platform-wide).`);
  }
  return withStore(createCliContext(verbose), async (store) => {
    const { record, key } = await createApiKey(store, { role: options.role, tenantId: options.tenant ?? null, name: options.name ?? null }, PLATFORM_ADMIN);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ ...keyView(record), key })}\n`);
      return 0;
    }
    const scope = record.tenantId ? `tenant ${record.tenantId}` : 'platform';
    process.stdout.write(
      `Created ${record.role} key ${record.id} (${scope}${record.name ? `, "${record.name}"` : ''}), prefix ${record.prefix}.\n` +
        'The key, shown only this once (only its hash is stored):\n\n' +
        `  ${key}\n\n` +
        'Use it as "Authorization: Bearer <key>" on /admin/api/* or to sign in at /admin.\n',
    );
    return 0;
  });
}

export interface ListKeysOptions {
  tenant?: string;
  platform?: boolean;
  active?: boolean;
  json?: boolean;
}

export async function listKeys(options: ListKeysOptions, verbose: boolean): Promise<CommandResult> {
  if (options.tenant !== undefined && options.platform) throw usageError('--tenant and --platform exclude each other.');
  return withStore(createCliContext(verbose), async (store) => {
    const filter = options.platform ? { tenantId: null } : options.tenant !== undefined ? { tenantId: options.tenant } : {};
    const records = (await store.listAdminTokens(filter)).filter((k) => !options.active || !k.revokedAt);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ items: records.map(keyView) })}\n`);
    } else if (records.length === 0) {
      process.stdout.write('No keys.\n');
    } else {
      process.stdout.write(formatTable(['ID', 'PREFIX', 'ROLE', 'TENANT', 'NAME', 'CREATED', 'LAST USED', 'REVOKED'], records.map(keyRow)));
    }
    return 0;
  });
}

export async function revokeKey(ref: string, options: { json?: boolean }, verbose: boolean): Promise<CommandResult> {
  return withStore(createCliContext(verbose), async (store) => {
    const existing = findApiKey(await store.listAdminTokens({}), ref.trim());
    const wasRevoked = Boolean(existing.revokedAt);
    const record = wasRevoked ? existing : ((await store.revokeAdminToken(existing.id, PLATFORM_ADMIN)) ?? existing);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(keyView(record))}\n`);
    } else if (wasRevoked) {
      process.stdout.write(`Key ${record.id} (${record.prefix}) was already revoked at ${formatTime(record.revokedAt)}.\n`);
    } else {
      process.stdout.write(
        `Revoked key ${record.id} (${record.prefix}, ${record.role}${record.tenantId ? ` of tenant ${record.tenantId}` : ''}). ` +
          `Running servers refuse it within ${KEY_CACHE_MS / 1000} s.\n`,
      );
    }
    return 0;
  });
}

function keyRow(record: AdminTokenRecord): string[] {
  return [
    record.id,
    record.prefix,
    record.role,
    record.tenantId ?? '(platform)',
    record.name ?? '-',
    formatTime(record.createdAt),
    record.lastUsedAt ? formatTime(record.lastUsedAt) : 'never',
    formatTime(record.revokedAt),
  ];
}
