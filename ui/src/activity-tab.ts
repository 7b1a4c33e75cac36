import { api, ApiError, describe, isMissingRoute } from './api.js';
import { statusChart } from './chart.js';
import type { AppContext } from './context.js';
import { badge, clear, field, h, json, toast, when } from './dom.js';
import type { Delivery, Items, Run, StoredRequest, Webhook } from './types.js';

const RUN_STATUSES = ['ok', 'error', 'timeout', 'memory', 'limit', 'crashed', 'ignored', 'rejected'];
const DELIVERY_STATUSES = ['pending', 'sending', 'succeeded', 'failed'];
const RANGES: [string, number][] = [['Last hour', 3_600_000], ['Last 24 hours', 86_400_000], ['Last 7 days', 7 * 86_400_000], ['Any time', 0]];

function select(name: string, label: string, options: [string, string][]): HTMLSelectElement {
  return h('select', { name, 'aria-label': label }, options.map(([v, t]) => h('option', { value: v, text: t })));
}

/** A stored body for reading: JSON indented, anything else (form bodies) as received. */
function prettyBody(request: StoredRequest): string {
  if (!request.contentType.includes('json')) return request.body;
  try {
    return json(JSON.parse(request.body));
  } catch {
    return request.body;
  }
}

/** Runs and deliveries: filters, a chart per status over time, tables, details with replay/redeliver. */
export function activityTab(ctx: AppContext, root: HTMLElement): { open(item?: string): Promise<void> } {
  const provider = select('provider', 'Provider', [['', 'All providers']]);
  const runStatus = select('runStatus', 'Run status', [['', 'All statuses'], ...RUN_STATUSES.map((s): [string, string] => [s, s])]);
  const endpoint = select('webhookId', 'Outgoing webhook', [['', 'All endpoints']]);
  const deliveryStatus = select('deliveryStatus', 'Delivery status', [['', 'All statuses'], ...DELIVERY_STATUSES.map((s): [string, string] => [s, s])]);
  const range = select('range', 'Time', RANGES.map(([t, ms]): [string, string] => [String(ms), t]));
  range.value = String(86_400_000);
  const refresh = h('button', { type: 'button', text: 'Refresh' });
  const charts = h('div', { class: 'charts' });
  const runsHost = h('section', { 'aria-label': 'Runs' });
  const deliveriesHost = h('section', { 'aria-label': 'Deliveries' });
  const detail = h('section', { class: 'card detail', 'aria-label': 'Details', hidden: true, tabindex: -1 });
  let webhooks: Webhook[] = [];
  let initialised = false;
  /** Pages of 200 deliveries shown (newest first); "Load older deliveries" adds one, a filter change starts over. */
  let deliveryPages = 1;
  const loadOlder = h('button', { type: 'button', text: 'Load older deliveries' });

  const inRange = (iso: string): boolean => {
    const ms = Number(range.value);
    return ms === 0 || Date.parse(iso) >= Date.now() - ms;
  };

  async function load(): Promise<void> {
    const rq = new URLSearchParams({ limit: '200' });
    if (provider.value) rq.set('provider', provider.value);
    if (runStatus.value) rq.set('status', runStatus.value);
    const dq = new URLSearchParams({ limit: '200' });
    if (endpoint.value) dq.set('webhookId', endpoint.value);
    if (deliveryStatus.value) dq.set('status', deliveryStatus.value);
    // The deliveries page by page (the API's cursor), as many pages as asked for.
    const deliveryPagesOf = async (): Promise<{ items: Delivery[]; more: boolean }> => {
      const items: Delivery[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < deliveryPages; page++) {
        if (cursor) dq.set('cursor', cursor);
        const res: Items<Delivery> & { nextCursor?: string | null } = await api<Items<Delivery> & { nextCursor?: string | null }>('GET', `/deliveries?${dq}`);
        items.push(...res.items);
        cursor = res.nextCursor ?? null;
        if (!cursor) break;
      }
      return { items, more: cursor !== null };
    };
    const [runs, deliveries] = await Promise.all([
      // Runs are the platform admin's (inbound scripts); tenant keys see their deliveries only.
      ctx.can.inbound ? api<Items<Run>>('GET', `/runs?${rq}`) : { items: [] as Run[] },
      deliveryPagesOf().catch((err: unknown) => {
        if (err instanceof ApiError && err.code === 'outbound_unavailable') return { items: [] as Delivery[], more: false };
        throw err;
      }),
    ]);
    const r = runs.items.filter((x) => inRange(x.createdAt));
    const d = deliveries.items.filter((x) => inRange(x.createdAt));
    const ms = Number(range.value);
    const span = ms ? { from: Date.now() - ms, to: Date.now() } : undefined;
    // Older deliveries not loaded yet may fall in the range: the chart says what it counts.
    const deliveriesTitle = deliveries.more ? `Deliveries per status (the newest ${deliveries.items.length} loaded)` : 'Deliveries per status';
    clear(charts, ctx.can.inbound && statusChart('Runs per status', r, 12, span), statusChart(deliveriesTitle, d, 12, span));
    const urlOf = new Map(webhooks.map((w) => [w.id, w.direction === 'outgoing' ? w.url : w.provider]));

    runsHost.hidden = !ctx.can.inbound;
    clear(
      runsHost,
      h('h3', { text: `Runs (${r.length})` }),
      r.length === 0
        ? h('p', { class: 'empty', text: 'No runs match.' })
        : h(
            'table',
            { class: 'list', 'aria-label': 'Runs' },
            h('thead', {}, h('tr', {}, ['Time', 'Provider', 'Event', 'Status', 'Duration', 'Actions', ''].map((t) => h('th', { scope: 'col', text: t })))),
            h(
              'tbody',
              {},
              r.map((x) =>
                h(
                  'tr',
                  { dataset: { id: x.id } },
                  h('td', { 'data-label': 'Time', text: when(x.createdAt) }),
                  h('td', { 'data-label': 'Provider' }, h('code', { text: x.provider })),
                  h('td', { 'data-label': 'Event', text: x.eventType ?? '—' }),
                  h('td', { 'data-label': 'Status' }, badge(x.status)),
                  h('td', { 'data-label': 'Duration', text: `${x.durationMs} ms` }),
                  h('td', { 'data-label': 'Actions', text: x.actionsCalled.map((c) => c.id).join(', ') || '—' }),
                  h('td', {}, h('button', { type: 'button', text: 'Details', 'aria-label': `Details of run ${x.id}`, onclick: () => void showRun(x.id) })),
                ),
              ),
            ),
          ),
    );
    clear(
      deliveriesHost,
      h('h3', { text: deliveries.more ? `Deliveries (${d.length}; older ones not loaded)` : `Deliveries (${d.length})` }),
      deliveries.more && h('div', { class: 'buttons' }, loadOlder),
      d.length === 0
        ? h('p', { class: 'empty', text: 'No deliveries match.' })
        : h(
            'table',
            { class: 'list', 'aria-label': 'Deliveries' },
            h('thead', {}, h('tr', {}, ['Time', 'Endpoint', 'Event', 'Status', 'Attempts', 'Last code', ''].map((t) => h('th', { scope: 'col', text: t })))),
            h(
              'tbody',
              {},
              d.map((x) =>
                h(
                  'tr',
                  { dataset: { id: x.id } },
                  h('td', { 'data-label': 'Time', text: when(x.createdAt) }),
                  h('td', { 'data-label': 'Endpoint', class: 'wrap', text: urlOf.get(x.webhookId) ?? x.webhookId }),
                  h('td', { 'data-label': 'Event', text: x.test ? `${x.event} (test)` : x.event }),
                  h('td', { 'data-label': 'Status' }, badge(x.status)),
                  h('td', { 'data-label': 'Attempts', text: String(x.attemptCount) }),
                  h('td', { 'data-label': 'Last code', text: x.lastStatusCode === null ? '—' : String(x.lastStatusCode) }),
                  h('td', {}, h('button', { type: 'button', text: 'Details', 'aria-label': `Details of delivery ${x.id}`, onclick: () => void showDelivery(x.id) })),
                ),
              ),
            ),
          ),
    );
  }

  const reload = (): void => void load().catch((err: unknown) => toast(describe(err), 'error'));

  function showDetail(...children: Parameters<typeof clear>[1][]): void {
    clear(detail, h('div', { class: 'toolbar' }, h('h3', { text: 'Details' }), h('button', { type: 'button', text: 'Close', onclick: () => { detail.hidden = true; history.replaceState(null, '', '#activity'); } })), ...children);
    detail.hidden = false;
    detail.focus();
  }

  async function showRun(id: string): Promise<void> {
    history.replaceState(null, '', `#activity/run:${id}`);
    const run = await api<Run>('GET', `/runs/${encodeURIComponent(id)}`);
    // The API leaves `inboxId` out of runs that have none (rejected, ignored before storage).
    const replayable = typeof run.inboxId === 'string';
    // The stored request (platform admins only); ignored, rejected and purged runs have none.
    const request = replayable && ctx.can.inbound ? await api<StoredRequest>('GET', `/runs/${encodeURIComponent(id)}/request`).catch(() => null) : null;
    const replay = h('button', {
      type: 'button',
      text: 'Replay',
      disabled: !replayable,
      title: replayable ? 'Run the stored request again against the current script, with real actions' : 'No stored request to replay (ignored, rejected or purged).',
    });
    replay.addEventListener('click', () => {
      if (!confirm('Replay this request against the current script? Its actions run for real.')) return;
      api<Run>('POST', `/runs/${run.id}/replay`)
        .then(async (res) => {
          toast(`Replayed as run ${res.id}.`);
          await load();
          await showRun(res.id);
        })
        .catch((err: unknown) => {
          if (isMissingRoute(err)) {
            replay.disabled = true;
            replay.title = 'This server has no replay endpoint.';
            toast('Replay is not available on this server.', 'error');
          } else toast(describe(err), 'error');
        });
    });
    showDetail(
      h('dl', { class: 'facts', 'data-testid': 'run-detail' },
        h('dt', { text: 'Run' }), h('dd', {}, h('code', { text: run.id })),
        h('dt', { text: 'Provider' }), h('dd', { text: run.provider }),
        h('dt', { text: 'Event' }), h('dd', { text: run.eventType ?? '—' }),
        h('dt', { text: 'Status' }), h('dd', {}, badge(run.status)),
        h('dt', { text: 'Duration' }), h('dd', { text: `${run.durationMs} ms` }),
        h('dt', { text: 'Emitted' }), h('dd', { text: run.emittedEvent ?? '—' }),
        h('dt', { text: 'Time' }), h('dd', { text: when(run.createdAt) }),
        run.replayOf && [h('dt', { text: 'Replay of' }), h('dd', {}, h('code', { text: run.replayOf }))],
      ),
      run.error && h('p', { class: 'error', text: `${run.error.code}: ${run.error.message}${run.error.line ? ` (line ${run.error.line}, column ${run.error.column ?? '?'})` : ''}` }),
      h('h4', { text: 'Payload' }),
      request === null
        ? h('p', { class: 'muted', text: 'No stored request: the run was ignored or rejected, or its request was purged.' })
        : [
            h('pre', { class: 'mono', 'data-testid': 'run-payload', text: prettyBody(request) }),
            h('details', {}, h('summary', { text: `Headers (${Object.keys(request.headers).length})` }), h('pre', { class: 'mono', text: json(request.headers) })),
          ],
      h('h4', { text: `Console (${run.logs.length})` }),
      run.logs.length ? h('pre', { class: 'mono console', text: run.logs.map((l) => `[${l.level}] ${l.message}`).join('\n') }) : h('p', { class: 'muted', text: 'Nothing logged.' }),
      h('h4', { text: `Actions called (${run.actionsCalled.length})` }),
      run.actionsCalled.length ? h('ul', { class: 'calls' }, run.actionsCalled.map((c) => h('li', {}, h('code', { text: c.id }), ` ${c.ok ? 'ok' : `failed: ${c.error ?? ''}`} · ${c.durationMs} ms`))) : h('p', { class: 'muted', text: 'None.' }),
      ctx.can.inbound && h('div', { class: 'buttons' }, replay),
    );
  }

  async function showDelivery(id: string): Promise<void> {
    history.replaceState(null, '', `#activity/delivery:${id}`);
    const d = await api<Delivery>('GET', `/deliveries/${encodeURIComponent(id)}`);
    // A finished delivery is queued again with a new retry budget; one waiting for its retry is sent now.
    const waiting = d.status === 'pending';
    const redeliver = h('button', {
      type: 'button',
      text: waiting ? 'Send now' : 'Redeliver',
      onclick: () => {
        // Disabled until the panel shows the delivery as it now is: a second click sends nothing twice.
        redeliver.disabled = true;
        api('POST', `/deliveries/${d.id}/redeliver`)
          .then(async () => {
            toast(waiting ? 'Due now.' : 'Queued again.');
            reload();
            await showDelivery(d.id);
          })
          .catch((err: unknown) => {
            redeliver.disabled = false;
            toast(describe(err), 'error');
          });
      },
    });
    showDetail(
      h('dl', { class: 'facts', 'data-testid': 'delivery-detail' },
        h('dt', { text: 'Delivery' }), h('dd', {}, h('code', { text: d.id })),
        h('dt', { text: 'Event' }), h('dd', { text: d.event }),
        h('dt', { text: 'Status' }), h('dd', {}, badge(d.status)),
        h('dt', { text: 'Attempts' }), h('dd', { text: String(d.attemptCount) }),
        h('dt', { text: 'Next attempt' }), h('dd', { text: when(d.nextAttemptAt) }),
        h('dt', { text: 'Created' }), h('dd', { text: when(d.createdAt) }),
      ),
      d.lastError && h('p', { class: 'error', text: `${d.lastError.code}: ${d.lastError.message}` }),
      h('h4', { text: 'Attempts' }),
      d.attempts.length === 0
        ? h('p', { class: 'muted', text: 'No attempt yet.' })
        : h('ol', { class: 'attempts' }, d.attempts.map((a) =>
            h('li', {},
              h('p', {}, badge(a.outcome), ` #${a.number} · ${when(a.startedAt)} · `, a.statusCode === null ? 'no response' : `HTTP ${a.statusCode}`, ` · ${a.durationMs} ms`),
              a.error && h('p', { class: 'error', text: `${a.error.code}: ${a.error.message}` }),
              a.responseExcerpt && h('pre', { class: 'mono', text: a.responseExcerpt + (a.responseTruncated ? '\n…' : '') }),
            ))),
      ctx.can.manageOutgoing && d.status !== 'sending' && h('div', { class: 'buttons' }, redeliver),
    );
  }

  async function init(): Promise<void> {
    webhooks = (await api<Items<Webhook>>('GET', '/webhooks')).items;
    const providers = [...new Set(webhooks.flatMap((w) => (w.direction === 'inbound' ? [w.provider] : [])))].sort();
    clear(provider, h('option', { value: '', text: 'All providers' }), providers.map((p) => h('option', { value: p, text: p })));
    clear(endpoint, h('option', { value: '', text: 'All endpoints' }), webhooks.flatMap((w) => (w.direction === 'outgoing' ? [h('option', { value: w.id, text: w.url })] : [])));
    if (initialised) return;
    initialised = true;
    for (const el of [provider, runStatus, endpoint, deliveryStatus, range]) {
      el.addEventListener('change', () => {
        deliveryPages = 1;
        reload();
      });
    }
    refresh.addEventListener('click', reload);
    loadOlder.addEventListener('click', () => {
      deliveryPages += 1;
      reload();
    });
  }

  return {
    async open(item) {
      await init();
      clear(
        root,
        h('div', { class: 'toolbar' }, h('h2', { text: 'Runs and deliveries' }), refresh),
        h('div', { class: 'filters', role: 'group', 'aria-label': 'Filters' }, field('Time', range), ctx.can.inbound && [field('Provider', provider), field('Run status', runStatus)], field('Endpoint', endpoint), field('Delivery status', deliveryStatus)),
        charts,
        detail,
        h('div', { class: 'stack' }, runsHost, deliveriesHost),
      );
      detail.hidden = true;
      await load();
      // A link to a run or delivery that is gone (pruned, another tenant's) leaves the tab as it is and says so.
      try {
        if (item?.startsWith('run:')) await showRun(item.slice(4));
        else if (item?.startsWith('delivery:')) await showDelivery(item.slice(9));
      } catch (err) {
        history.replaceState(null, '', '#activity');
        showDetail(h('p', { class: 'error', role: 'alert', text: describe(err) }));
      }
    },
  };
}
