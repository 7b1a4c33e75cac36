import { api, describe, isMissingRoute } from './api.js';
import type { AppContext } from './context.js';
import { badge, clear, field, h, toast } from './dom.js';
import type { Attempt, OutgoingWebhook } from './types.js';

/** The event catalogue (`GET /admin/api/event-types`), when the server has it; null = free text. */
async function eventCatalog(): Promise<string[] | null> {
  try {
    const res = await api<{ items: (string | { name?: string; event?: string; type?: string })[] }>('GET', '/event-types');
    const names = res.items.map((e) => (typeof e === 'string' ? e : (e.name ?? e.event ?? e.type ?? ''))).filter(Boolean);
    return names.length > 0 ? names : null;
  } catch (err) {
    if (isMissingRoute(err) || (err as { status?: number }).status === 404) return null;
    throw err;
  }
}

/** The secret, shown once (create and rotate), with a copy button. */
function secretOnce(secret: string): HTMLElement {
  const value = h('input', { readonly: true, value: secret, class: 'mono', 'aria-label': 'Signing secret', 'data-testid': 'secret-once' });
  const copy = h('button', {
    type: 'button',
    text: 'Copy',
    onclick: () => {
      const done = (): void => toast('Secret copied.');
      if (navigator.clipboard?.writeText) navigator.clipboard.writeText(secret).then(done, () => { value.select(); document.execCommand('copy'); done(); });
      else { value.select(); document.execCommand('copy'); done(); }
    },
  });
  return h('div', { class: 'secret-once', role: 'status' }, h('strong', { text: 'Signing secret — shown only this once. Store it now:' }), h('div', { class: 'row' }, value, copy));
}

function attemptSummary(a: Attempt | null): HTMLElement {
  if (!a) return h('p', { class: 'muted', text: 'No attempt was made.' });
  return h(
    'div',
    { class: 'attempt', 'data-testid': 'ping-result' },
    h('p', {}, badge(a.outcome), ' ', a.statusCode !== null ? `HTTP ${a.statusCode}` : 'no response', ` in ${a.durationMs} ms`),
    a.error && h('p', { class: 'error', text: `${a.error.code}: ${a.error.message}` }),
    a.responseExcerpt && h('pre', { class: 'mono', text: a.responseExcerpt + (a.responseTruncated ? '\n…' : '') }),
  );
}

export async function outgoingForm(ctx: AppContext, root: HTMLElement, webhook: OutgoingWebhook | null, back: () => void, revealed?: string): Promise<void> {
  const readOnly = !ctx.can.manageOutgoing;
  const catalog = await eventCatalog();
  const title = webhook ? 'Outgoing webhook' : 'New outgoing webhook';

  const url = h('input', { type: 'url', name: 'url', required: true, value: webhook?.url ?? '', placeholder: 'https://example.com/hooks', disabled: readOnly });
  const active = h('input', { type: 'checkbox', name: 'isActive', checked: webhook?.isActive ?? true, disabled: readOnly });
  const maxRetries = h('input', { type: 'number', name: 'maxRetries', min: 0, max: 20, value: webhook?.maxRetries ?? 3, disabled: readOnly });
  const retryDelayMs = h('input', { type: 'number', name: 'retryDelayMs', min: 10, value: webhook?.retryDelayMs ?? 1000, disabled: readOnly });
  const timeoutMs = h('input', { type: 'number', name: 'timeoutMs', min: 100, max: 120000, value: webhook?.timeoutMs ?? 30000, disabled: readOnly });
  const current = new Set(webhook?.events ?? ['*']);
  const freeEvents = h('input', { name: 'events', value: [...current].filter((e) => !catalog?.includes(e)).join(', '), disabled: readOnly });
  const catalogBoxes = (catalog ?? []).map((e) => h('label', { class: 'inline' }, h('input', { type: 'checkbox', value: e, checked: current.has(e), disabled: readOnly }), ' ', h('code', { text: e })));
  const events = catalog
    ? h('fieldset', {}, h('legend', { text: 'Events' }), h('div', { class: 'checks-inline' }, catalogBoxes), field('Other events', freeEvents, 'Comma-separated; * for all.'))
    : field('Events', freeEvents, 'Comma-separated; * for all.');

  const formError = h('p', { class: 'error', role: 'alert', hidden: true });
  const extra = h('div');
  const form = h(
    'form',
    { class: 'card', 'aria-label': title, novalidate: true },
    revealed ? secretOnce(revealed) : null,
    field('URL', url),
    events,
    h('label', { class: 'inline' }, active, ' Active'),
    h('div', { class: 'grid' }, field('Max retries', maxRetries), field('First retry delay (ms)', retryDelayMs), field('Timeout (ms)', timeoutMs)),
    webhook && h('p', { class: 'muted' }, 'Secret: ', h('code', { text: `${webhook.secretPrefix}…` })),
    formError,
    readOnly
      ? null
      : h(
          'div',
          { class: 'buttons' },
          h('button', { class: 'primary', type: 'submit', text: webhook ? 'Save changes' : 'Create webhook' }),
          webhook && h('button', { type: 'button', text: 'Send test ping', onclick: () => void ping() }),
          webhook && h('button', { type: 'button', text: 'Rotate secret', onclick: () => void rotate() }),
          webhook && h('button', { type: 'button', class: 'danger', text: 'Delete', onclick: () => void remove() }),
        ),
    extra,
  );
  clear(root, h('div', { class: 'toolbar' }, h('button', { type: 'button', text: '← All webhooks', onclick: back }), h('h2', { text: title })), form);
  if (revealed) (form.querySelector('[data-testid="secret-once"]') as HTMLInputElement | null)?.focus();

  const selectedEvents = (): string[] => {
    const picked = catalogBoxes.map((l) => l.querySelector('input')!).filter((i) => i.checked).map((i) => i.value);
    const free = freeEvents.value.split(/[\s,]+/).filter(Boolean);
    const all = [...new Set([...picked, ...free])];
    return all.length ? all : ['*'];
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      formError.hidden = true;
      const body = { url: url.value.trim(), events: selectedEvents(), isActive: active.checked, maxRetries: Number(maxRetries.value), retryDelayMs: Number(retryDelayMs.value), timeoutMs: Number(timeoutMs.value) };
      try {
        if (webhook) {
          const saved = await api<OutgoingWebhook>('PATCH', `/webhooks/${webhook.id}`, body);
          toast('Saved.');
          await outgoingForm(ctx, root, saved, back);
        } else {
          const created = await api<OutgoingWebhook>('POST', '/webhooks', { direction: 'outgoing', ...body });
          history.replaceState(null, '', `#webhooks/${created.id}`);
          await outgoingForm(ctx, root, created, back, created.secret);
        }
      } catch (err) {
        formError.textContent = describe(err);
        formError.hidden = false;
      }
    })();
  });

  async function ping(): Promise<void> {
    if (!webhook) return;
    clear(extra, h('p', { class: 'muted', text: 'Sending a webhook.test ping…' }));
    try {
      const res = await api<{ attempt: Attempt | null }>('POST', `/webhooks/${webhook.id}/test`);
      clear(extra, h('h3', { text: 'Test ping' }), attemptSummary(res.attempt));
    } catch (err) {
      clear(extra, h('p', { class: 'error', role: 'alert', text: describe(err) }));
    }
  }
  async function rotate(): Promise<void> {
    if (!webhook || !confirm('Rotate the signing secret? The old one keeps signing for 24 hours alongside the new one.')) return;
    try {
      const res = await api<OutgoingWebhook>('POST', `/webhooks/${webhook.id}/rotate-secret`);
      await outgoingForm(ctx, root, res, back, res.secret);
    } catch (err) {
      toast(describe(err), 'error');
    }
  }
  async function remove(): Promise<void> {
    if (!webhook || !confirm(`Delete the outgoing webhook to ${webhook.url}?`)) return;
    try {
      await api('DELETE', `/webhooks/${webhook.id}`);
      toast('Deleted.');
      back();
    } catch (err) {
      toast(describe(err), 'error');
    }
  }
}
