import { api, describe, isMissingRoute } from './api.js';
import type { AppContext } from './context.js';
import { badge, clear, field, h, toast, when } from './dom.js';
import type { Attempt, EndpointHealth, OutgoingWebhook } from './types.js';

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

/** Why the engine switched the endpoint off, or that it keeps failing; null when all is well (or unknown). */
function healthNotice(isActive: boolean, health: EndpointHealth | null | undefined): HTMLElement | null {
  if (!health) return null;
  if (!isActive && health.disabledAt) {
    const why = health.disabledReason === 'gone'
      ? 'the endpoint answered 410 Gone'
      : `it kept failing${health.failingSince ? ` since ${when(health.failingSince)}` : ''} (${health.consecutiveFailures} failures in a row)`;
    return h('p', { class: 'notice', role: 'status', 'data-testid': 'health-notice', text: `Disabled by hookgate ${when(health.disabledAt)}: ${why}. Tick Active and save to send to it again.` });
  }
  if (isActive && health.consecutiveFailures > 0) {
    return h('p', { class: 'notice', role: 'status', 'data-testid': 'health-notice', text: `Failing: ${health.consecutiveFailures} failed ${health.consecutiveFailures === 1 ? 'delivery' : 'deliveries'} in a row${health.failingSince ? ` since ${when(health.failingSince)}` : ''}.` });
  }
  return null;
}

/** Runs `work` with `button` disabled, so a double click does not do it twice. */
async function busy(button: HTMLButtonElement | null, work: () => Promise<void>): Promise<void> {
  if (button?.disabled) return;
  if (button) button.disabled = true;
  try {
    await work();
  } finally {
    if (button) button.disabled = false;
  }
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
  // A new webhook with a catalogue starts with nothing chosen (the admin picks, or types *); without one, * is written out.
  const current = new Set(webhook?.events ?? (catalog ? [] : ['*']));
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
    webhook ? healthNotice(webhook.isActive, webhook.health) : null,
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
          webhook && h('button', { type: 'button', text: 'Send test ping', onclick: (e: Event) => void busy(e.currentTarget as HTMLButtonElement, ping) }),
          webhook && h('button', { type: 'button', text: 'Rotate secret', onclick: (e: Event) => void busy(e.currentTarget as HTMLButtonElement, rotate) }),
          webhook && h('button', { type: 'button', class: 'danger', text: 'Delete', onclick: (e: Event) => void busy(e.currentTarget as HTMLButtonElement, remove) }),
        ),
    extra,
  );
  clear(root, h('div', { class: 'toolbar' }, h('button', { type: 'button', text: '← All webhooks', onclick: back }), h('h2', { text: title })), form);
  if (revealed) (form.querySelector('[data-testid="secret-once"]') as HTMLInputElement | null)?.focus();

  /** The events chosen, or a message saying why the choice cannot be saved. */
  const selectedEvents = (): string[] | string => {
    const picked = catalogBoxes.map((l) => l.querySelector('input')!).filter((i) => i.checked).map((i) => i.value);
    const free = freeEvents.value.split(/[\s,]+/).filter(Boolean);
    const all = [...new Set([...picked, ...free])];
    if (all.length === 0) return 'Choose at least one event, or * for every event.';
    if (all.includes('*') && all.length > 1) return '* already takes every event: remove it, or the other events.';
    return all;
  };
  const sameEvents = (a: string[], b: string[]): boolean => a.length === b.length && a.every((e) => b.includes(e));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const submit = form.querySelector<HTMLButtonElement>('button[type="submit"]');
    void busy(submit, async () => {
      formError.hidden = true;
      const events = selectedEvents();
      if (typeof events === 'string') {
        formError.textContent = events;
        formError.hidden = false;
        return;
      }
      // An empty number is left out (the server's default, or unchanged), not sent as 0.
      const num = (input: HTMLInputElement): number | undefined => (input.value.trim() === '' ? undefined : Number(input.value));
      const fields: Record<string, unknown> = { url: url.value.trim(), events, isActive: active.checked, maxRetries: num(maxRetries), retryDelayMs: num(retryDelayMs), timeoutMs: num(timeoutMs) };
      const body = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
      try {
        if (webhook) {
          // Only what the admin changed: a field this form showed before the engine (or a colleague) changed
          // it — an endpoint the engine disabled meanwhile — is left as it now is.
          const was: Record<string, unknown> = { url: webhook.url, isActive: webhook.isActive, maxRetries: webhook.maxRetries, retryDelayMs: webhook.retryDelayMs, timeoutMs: webhook.timeoutMs };
          const changes = Object.fromEntries(Object.entries(body).filter(([k, v]) => (k === 'events' ? !sameEvents(v as string[], webhook.events) : v !== was[k])));
          if (Object.keys(changes).length === 0) {
            toast('Nothing to save.');
            return;
          }
          await api<OutgoingWebhook>('PATCH', `/webhooks/${webhook.id}`, changes);
          toast('Saved.');
          // Read back whole, with its health.
          await outgoingForm(ctx, root, await api<OutgoingWebhook>('GET', `/webhooks/${webhook.id}`), back);
        } else {
          const created = await api<OutgoingWebhook>('POST', '/webhooks', { direction: 'outgoing', ...body });
          history.replaceState(null, '', `#webhooks/${created.id}`);
          await outgoingForm(ctx, root, created, back, created.secret);
        }
      } catch (err) {
        formError.textContent = describe(err);
        formError.hidden = false;
      }
    });
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
