import { api, describe } from './api.js';
import type { AppContext } from './context.js';
import { badge, clear, h, toast, when } from './dom.js';
import { inboundForm } from './inbound-form.js';
import { outgoingForm } from './outgoing-form.js';
import type { Delivery, Items, Run, Webhook } from './types.js';

/** Webhooks tab: the list, and the create/edit forms for both directions. */
export function webhooksTab(ctx: AppContext, root: HTMLElement): { open(id?: string): Promise<void> } {
  async function showList(): Promise<void> {
    clear(root, h('p', { class: 'muted', text: 'Loading webhooks…' }));
    const [webhooks, runs, deliveries] = await Promise.all([
      api<Items<Webhook>>('GET', '/webhooks'),
      ctx.can.inbound ? api<Items<Run>>('GET', '/runs?limit=200') : { items: [] as Run[] },
      api<Items<Delivery>>('GET', '/deliveries?limit=200').catch(() => ({ items: [] as Delivery[] })),
    ]);
    // Newest first from the API: the first seen per provider / endpoint is the last outcome.
    const lastRun = new Map<string, Run>();
    for (const r of runs.items) if (!lastRun.has(r.provider)) lastRun.set(r.provider, r);
    const lastDelivery = new Map<string, Delivery>();
    for (const d of deliveries.items) if (!lastDelivery.has(d.webhookId)) lastDelivery.set(d.webhookId, d);
    // An endpoint with none among the newest 200 of all may still have older ones: asked for by itself
    // (the first 50 such endpoints; past that the list says only what the newest deliveries show).
    const unseen = webhooks.items.filter((w) => w.direction === 'outgoing' && !lastDelivery.has(w.id)).slice(0, 50);
    await Promise.all(
      unseen.map(async (w) => {
        const own = await api<Items<Delivery>>('GET', `/deliveries?webhookId=${encodeURIComponent(w.id)}&limit=1`).catch(() => ({ items: [] as Delivery[] }));
        if (own.items[0]) lastDelivery.set(w.id, own.items[0]);
      }),
    );

    const toolbar = h(
      'div',
      { class: 'toolbar' },
      h('h2', { text: 'Webhooks' }),
      ctx.can.inbound && h('button', { class: 'primary', type: 'button', text: 'New inbound webhook', onclick: () => void edit('new-inbound') }),
      ctx.can.manageOutgoing && h('button', { type: 'button', text: 'New outgoing webhook', onclick: () => void edit('new-outgoing') }),
    );
    const rows = webhooks.items.map((w) => {
      const last =
        w.direction === 'inbound'
          ? lastRun.get(w.provider)
            ? h('span', {}, badge(lastRun.get(w.provider)!.status), ' ', h('small', { text: when(lastRun.get(w.provider)!.createdAt) }))
            : h('span', { class: 'muted', text: 'no runs yet' })
          : lastDelivery.get(w.id)
            ? h('span', {}, badge(lastDelivery.get(w.id)!.status), ' ', h('small', { text: when(lastDelivery.get(w.id)!.createdAt) }))
            : h('span', { class: 'muted', text: 'no deliveries yet' });
      return h(
        'tr',
        { dataset: { id: w.id } },
        h('td', { 'data-label': 'Direction' }, h('span', { class: `dir dir-${w.direction}`, text: w.direction === 'inbound' ? '⇣ inbound' : '⇡ outgoing' })),
        h('td', { 'data-label': 'Provider / URL', class: 'wrap' }, w.direction === 'inbound' ? h('code', { text: w.provider }) : h('span', { text: w.url })),
        h('td', { 'data-label': 'Events', class: 'wrap', text: w.events.join(', ') }),
        h('td', { 'data-label': 'Status' }, badge(w.isActive ? 'active' : 'inactive')),
        h('td', { 'data-label': 'Last outcome' }, last),
        // The accessible name starts with the visible word, so "click Edit" finds it by voice.
        h('td', {}, (() => {
          const verb = (w.direction === 'inbound' ? ctx.can.inbound : ctx.can.manageOutgoing) ? 'Edit' : 'View';
          return h('button', { type: 'button', text: verb, 'aria-label': `${verb} ${w.direction === 'inbound' ? w.provider : w.url}`, onclick: () => void edit(w.id) });
        })()),
      );
    });
    clear(
      root,
      toolbar,
      webhooks.items.length === 0
        ? h('p', { class: 'empty', text: 'No webhooks yet. Create an inbound webhook to run a script on a provider’s events, or an outgoing one to deliver events to a URL.' })
        : h(
            'table',
            { class: 'list', 'aria-label': 'Webhooks' },
            h('thead', {}, h('tr', {}, ...['Direction', 'Provider / URL', 'Events', 'Status', 'Last outcome', ''].map((t) => h('th', { scope: 'col', text: t })))),
            h('tbody', {}, rows),
          ),
    );
  }

  async function edit(id: string): Promise<void> {
    const back = (): void => {
      history.replaceState(null, '', '#webhooks');
      void showList().catch((err: unknown) => toast(describe(err), 'error'));
    };
    history.replaceState(null, '', `#webhooks/${id}`);
    if (id === 'new-inbound') return inboundForm(ctx, root, null, back);
    if (id === 'new-outgoing') return outgoingForm(ctx, root, null, back);
    const webhook = await api<Webhook>('GET', `/webhooks/${encodeURIComponent(id)}`);
    return webhook.direction === 'inbound' ? inboundForm(ctx, root, webhook, back) : outgoingForm(ctx, root, webhook, back);
  }

  return {
    async open(id) {
      if (id) await edit(id);
      else await showList();
    },
  };
}
