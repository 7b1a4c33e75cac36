import { PLATFORM_ADMIN } from '../../admin/index.js';
import { isAppError } from '../../errors.js';
import { groupMatchingDeliveries, matchingDeliveryIds, OutboundService, type DeliveryFilter } from '../../outbound/index.js';
import { redeliveryEntry } from '../../store/index.js';
import { createCliContext, withStore } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { formatTable } from '../format.js';
import type { CommandResult } from '../program.js';
import { createProgress } from '../progress.js';
import { parseSince } from '../since.js';

export interface RedeliverOptions {
  status: DeliveryFilter['status'];
  since: string;
  webhook?: string;
  dryRun?: boolean;
  batchSize: string;
  progress: boolean;
  json?: boolean;
}

/** What a bulk redelivery did. */
export interface RedeliverSummary {
  status: DeliveryFilter['status'];
  since: string;
  webhookId: string | null;
  dryRun: boolean;
  matched: number;
  /** Queued again (in a dry run: would be). */
  requeued: number;
  /** Their endpoint is switched off: redeliver after activating it (in a dry run: would be skipped). */
  skippedInactive: number;
  /** A worker was sending it at that moment. */
  skippedInProgress: number;
  /** Deleted (with its webhook) while this ran. */
  gone: number;
  byWebhook: Array<{ webhookId: string; url: string; isActive: boolean; count: number }>;
}

/** `hookgate deliveries redeliver`: queue matching finished deliveries again, in batches, with a progress bar. */
export async function redeliverDeliveries(options: RedeliverOptions, verbose: boolean): Promise<CommandResult> {
  const since = parseSince(options.since);
  const batchSize = Number(options.batchSize);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) throw usageError(`--batch-size ${options.batchSize} must be a whole number from 1 to 10000.`);
  const filter: DeliveryFilter = { status: options.status, since, ...(options.webhook !== undefined ? { webhookId: options.webhook } : {}) };
  const context = createCliContext(verbose);

  const summary = await withStore(context, async (store) => {
    if (filter.webhookId !== undefined) {
      const webhook = /^[0-9a-f-]{36}$/i.test(filter.webhookId) ? await store.getWebhook(filter.webhookId) : null;
      if (webhook?.direction !== 'outgoing') throw new CliError(`No outgoing webhook with id ${filter.webhookId}.`, { code: 'webhook_not_found' });
    }
    const byWebhook = await groupMatchingDeliveries(store.knex, filter);
    const result: RedeliverSummary = {
      status: filter.status,
      since: since.toISOString(),
      webhookId: filter.webhookId ?? null,
      dryRun: options.dryRun === true,
      matched: byWebhook.reduce((sum, g) => sum + g.count, 0),
      requeued: 0,
      skippedInactive: 0,
      skippedInProgress: 0,
      gone: 0,
      byWebhook,
    };
    if (result.matched === 0) return result;
    if (options.dryRun) {
      // What a real run would do, short of the rows that change meanwhile.
      result.skippedInactive = byWebhook.filter((g) => !g.isActive).reduce((sum, g) => sum + g.count, 0);
      result.requeued = result.matched - result.skippedInactive;
      return result;
    }

    // Only the queue's write side: no worker in this process, so nothing is sent from here.
    const outbound = new OutboundService({ store, logger: context.logger.child({ component: 'outbound' }), worker: false });
    await outbound.start();
    const tenants = new Map<string, string | null>();
    const tenantOf = async (webhookId: string): Promise<string | null> => {
      if (!tenants.has(webhookId)) tenants.set(webhookId, (await store.getWebhook(webhookId))?.tenantId ?? null);
      return tenants.get(webhookId) ?? null;
    };
    const progress = options.progress ? createProgress({ total: result.matched, label: 'redeliver', stream: process.stderr }) : null;
    try {
      let afterId: string | null = null;
      for (;;) {
        const ids = await matchingDeliveryIds(store.knex, filter, { afterId, limit: batchSize });
        for (const id of ids) {
          try {
            const requeued = await outbound.redeliver(id);
            result.requeued++;
            // Audited as the API audits one redelivery; the CLI acts as the platform admin.
            await store.insertAuditEntry(redeliveryEntry(PLATFORM_ADMIN, id, await tenantOf(requeued.webhookId), filter.status, requeued.status));
          } catch (err) {
            if (!isAppError(err)) throw err;
            if (err.code === 'webhook_inactive') result.skippedInactive++;
            else if (err.code === 'delivery_in_progress') result.skippedInProgress++;
            else if (err.code === 'delivery_not_found') result.gone++;
            else throw err;
          }
          progress?.tick();
        }
        if (ids.length < batchSize) break;
        afterId = ids[ids.length - 1] ?? null;
      }
    } finally {
      progress?.done();
      await outbound.stop();
    }
    return result;
  });

  process.stdout.write(options.json ? `${JSON.stringify(summary)}\n` : describeSummary(summary));
  return 0;
}

function describeSummary(s: RedeliverSummary): string {
  const scope = `${s.status} deliveries finished since ${s.since}${s.webhookId ? ` to webhook ${s.webhookId}` : ''}`;
  if (s.matched === 0) return `No ${scope}.\n`;
  const table = formatTable(
    ['WEBHOOK', 'URL', 'ACTIVE', 'DELIVERIES'],
    s.byWebhook.map((g) => [g.webhookId, g.url, g.isActive ? 'yes' : 'no (skipped)', String(g.count)]),
  );
  if (s.dryRun) {
    return `Dry run: ${s.matched} ${scope}; ${s.requeued} would be queued again${s.skippedInactive ? `, ${s.skippedInactive} skipped (inactive endpoint)` : ''}.\n${table}`;
  }
  const skipped = [
    s.skippedInactive ? `${s.skippedInactive} skipped (inactive endpoint; activate it, then run again)` : '',
    s.skippedInProgress ? `${s.skippedInProgress} skipped (being sent right now)` : '',
    s.gone ? `${s.gone} deleted meanwhile` : '',
  ].filter(Boolean);
  return `Matched ${s.matched} ${scope}: queued ${s.requeued} again${skipped.length ? `, ${skipped.join(', ')}` : ''}.\n${table}`;
}
