import { api, ApiError, describe } from './api.js';
import type { AppContext } from './context.js';
import { clear, field, h, toast, when } from './dom.js';
import { createScriptEditor } from './editor.js';
import { tryItPanel } from './try-it.js';
import { VERIFY_SCHEMES, type Action, type InboundWebhook, type Items, type VerifyScheme } from './types.js';

const STARTER_SCRIPT = `// body: the parsed payload, headers: lower-cased headers, actions: what this webhook may call.
console.log('event', body.type);
if (body.type === 'customer.subscription.deleted') {
  await actions['billing.cancel'](body.data.object.id);
}
result = { event: 'subscription.cancelled', data: { id: body.data?.object?.id } };
`;

const list = (text: string): string[] =>
  text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * Why an action cannot run for this webhook: off globally (the server's reason), or a dependency that is
 * not allowed here (checked transitively, as the engine does).
 */
export function localReasons(actions: Action[], allowed: Set<string>): Map<string, string> {
  const byId = new Map(actions.map((a) => [a.id, a]));
  const reasons = new Map<string, string>();
  const visit = (id: string, seen: Set<string>): string | null => {
    const a = byId.get(id);
    if (!a) return 'not registered';
    if (!a.available) return a.unavailableReason?.message ?? 'switched off globally';
    for (const dep of a.dependsOn) {
      if (seen.has(dep)) continue;
      if (!allowed.has(dep)) return `needs ${dep}, which this webhook does not allow`;
      const inner = visit(dep, new Set([...seen, dep]));
      if (inner) return `needs ${dep} (${inner})`;
    }
    return null;
  };
  for (const a of actions) {
    const reason = visit(a.id, new Set([a.id]));
    if (reason) reasons.set(a.id, reason);
  }
  return reasons;
}

export async function inboundForm(ctx: AppContext, root: HTMLElement, webhook: InboundWebhook | null, back: () => void): Promise<void> {
  const actions = (await api<Items<Action>>('GET', '/actions')).items;
  const readOnly = !ctx.can.inbound;
  const title = webhook ? `Inbound webhook “${webhook.provider}”` : 'New inbound webhook';

  const provider = h('input', { name: 'provider', required: true, pattern: '[a-z0-9][a-z0-9._\\-]*', value: webhook?.provider ?? '', autocomplete: 'off', disabled: readOnly });
  const active = h('input', { type: 'checkbox', name: 'isActive', checked: webhook?.isActive ?? true, disabled: readOnly });
  const events = h('input', { name: 'events', value: (webhook?.events ?? ['*']).join(', '), disabled: readOnly });
  const emitEvents = h('input', { name: 'emitEvents', value: webhook?.emitEvents?.join(', ') ?? '', disabled: readOnly });
  const scheme = h('select', { name: 'scheme', disabled: readOnly }, VERIFY_SCHEMES.map((s) => h('option', { value: s, text: s, selected: (webhook?.verify.scheme ?? 'none') === s })));
  const secret = h('input', {
    type: 'password',
    name: 'secret',
    autocomplete: 'off',
    disabled: readOnly,
    placeholder: webhook?.verify.hasSecret ? 'unchanged (a secret is set)' : '',
  });
  const header = h('input', { name: 'header', value: webhook?.verify.header ?? '', placeholder: 'default for the scheme', disabled: readOnly });
  const tolerance = h('input', { type: 'number', name: 'toleranceSec', min: 1, max: 86400, value: webhook?.verify.toleranceSec ?? '', disabled: readOnly });
  const username = h('input', { name: 'username', value: webhook?.verify.username ?? '', autocomplete: 'off', disabled: readOnly });
  const usernameField = field('User name', username);
  const verifyFields = h(
    'div',
    { class: 'grid' },
    field('Secret', secret, 'The signing secret (the password for basic, the key for api-key).'),
    field('Header', header, 'Only for hmac-sha256, api-key or a non-standard header.'),
    field('Tolerance (s)', tolerance),
    usernameField,
  );
  const syncScheme = (): void => {
    verifyFields.hidden = scheme.value === 'none';
    usernameField.hidden = scheme.value !== 'basic';
  };
  scheme.addEventListener('change', syncScheme);
  syncScheme();

  // Allowed actions: checkboxes that explain, live, why a checked action would still not run.
  const allowed = new Set(webhook?.allowedActions ?? []);
  const actionList = h('ul', { class: 'checks', 'aria-label': 'Allowed actions' });
  const renderActions = (): void => {
    const reasons = localReasons(actions, allowed);
    clear(
      actionList,
      actions.map((a) => {
        const box = h('input', {
          type: 'checkbox',
          value: a.id,
          checked: allowed.has(a.id),
          disabled: readOnly,
          onchange: (e: Event) => {
            if ((e.target as HTMLInputElement).checked) allowed.add(a.id);
            else allowed.delete(a.id);
            renderActions();
            (actionList.querySelector(`input[value="${CSS.escape(a.id)}"]`) as HTMLInputElement | null)?.focus();
          },
        });
        const reason = reasons.get(a.id);
        return h(
          'li',
          { class: reason ? 'unavailable' : '' },
          h('label', {}, box, ' ', h('strong', { text: a.label }), ' ', h('code', { text: a.id })),
          reason && h('small', { class: 'reason', text: `Unavailable: ${reason}` }),
        );
      }),
    );
    if (actions.length === 0) actionList.append(h('li', { class: 'muted', text: 'No actions are registered.' }));
  };
  renderActions();

  const editorHost = h('div', { class: 'editor' });
  // Earlier saved versions (`GET /webhooks/:id/versions`): one is loaded into the editor, saved only on Save.
  const versionsRow = h('div', { class: 'row', hidden: true });
  const compileError = h('p', { class: 'error', role: 'alert', hidden: true, 'data-testid': 'compile-error' });
  const formError = h('p', { class: 'error', role: 'alert', hidden: true });
  const save = h('button', { class: 'primary', type: 'submit', text: webhook ? 'Save changes' : 'Create webhook' });
  const del = webhook && !readOnly ? h('button', { type: 'button', class: 'danger', text: 'Delete' }) : null;
  const form = h(
    'form',
    { class: 'card', 'aria-label': title, novalidate: true },
    h('div', { class: 'grid' }, field('Provider', provider, 'The URL is /tools/webhook/<provider>.'), field('Events', events, 'Comma-separated; * for all.')),
    h('label', { class: 'inline' }, active, ' Active'),
    h('fieldset', {}, h('legend', { text: 'Verification' }), field('Scheme', scheme), verifyFields),
    h('fieldset', {}, h('legend', { text: 'Allowed actions' }), actionList),
    field('Events the script may emit', emitEvents, 'Comma-separated; empty = any.'),
    h('fieldset', {}, h('legend', { text: 'Script' }), versionsRow, editorHost, compileError),
    formError,
    readOnly ? null : h('div', { class: 'buttons' }, save, del),
  );
  const tryHost = h('div');
  clear(root, h('div', { class: 'toolbar' }, h('button', { type: 'button', text: '← All webhooks', onclick: back }), h('h2', { text: title })), h('div', { class: 'split' }, form, tryHost));
  const editor = createScriptEditor(editorHost, webhook?.jsScript ?? STARTER_SCRIPT, { readOnly, label: 'Script editor' });

  if (webhook && ctx.can.inbound) {
    api<Items<{ version: number; jsScript: string; createdAt: string }>>('GET', `/webhooks/${webhook.id}/versions`)
      .then(({ items }) => {
        if (items.length < 2) return;
        const pick = h(
          'select',
          { 'aria-label': 'Load a saved version' },
          h('option', { value: '', text: `Saved versions (${items.length})…` }),
          items.map((v, i) => h('option', { value: String(i), text: `v${v.version} · ${when(v.createdAt)}` })),
        );
        pick.addEventListener('change', () => {
          const v = items[Number(pick.value)];
          if (!pick.value || !v) return;
          editor.view.dispatch({ changes: { from: 0, to: editor.view.state.doc.length, insert: v.jsScript } });
          toast(`Loaded v${v.version} into the editor; Save to make it current.`);
        });
        clear(versionsRow, pick);
        versionsRow.hidden = false;
      })
      .catch(() => undefined); // an older server without versions: no history picker
  }

  const showCompileError = (err: unknown): boolean => {
    if (err instanceof ApiError && err.code === 'script_compile_error') {
      const d = (err.details ?? {}) as { message?: string; line?: number; column?: number };
      compileError.textContent = `Line ${d.line ?? '?'}, column ${d.column ?? '?'}: ${d.message ?? err.message}`;
      compileError.hidden = false;
      editor.showError({ message: d.message ?? err.message, line: d.line, column: d.column });
      return true;
    }
    return false;
  };
  const clearErrors = (): void => {
    compileError.hidden = true;
    formError.hidden = true;
    editor.showError(null);
  };

  if (ctx.can.inbound) {
    tryItPanel(tryHost, {
      webhookId: webhook?.id ?? null,
      provider: () => provider.value || webhook?.provider || 'sample',
      script: () => editor.value(),
      allowedActions: () => [...allowed],
      onCompileError: (err) => {
        clearErrors();
        return showCompileError(err);
      },
    });
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      clearErrors();
      const body: Record<string, unknown> = {
        provider: provider.value.trim(),
        isActive: active.checked,
        events: list(events.value).length ? list(events.value) : ['*'],
        emitEvents: list(emitEvents.value).length ? list(emitEvents.value) : null,
        allowedActions: [...allowed].sort(),
        jsScript: editor.value(),
      };
      // Fields this form does not edit (hmac prefix, encoding…) are kept as stored when the scheme stays.
      const { hasSecret: _hasSecret, scheme: storedScheme, header: _h, toleranceSec: _t, username: _u, ...kept } = webhook?.verify ?? { hasSecret: false, scheme: 'none' };
      const verify: Record<string, unknown> = { ...(storedScheme === scheme.value ? kept : {}), scheme: scheme.value as VerifyScheme };
      if (scheme.value !== 'none') {
        if (scheme.value === 'basic' && username.value.trim()) verify.username = username.value.trim();
        if (secret.value) verify.secret = secret.value;
        if (header.value.trim()) verify.header = header.value.trim();
        if (tolerance.value) verify.toleranceSec = Number(tolerance.value);
      }
      const verifyChanged =
        !webhook ||
        secret.value !== '' ||
        webhook.verify.scheme !== scheme.value ||
        (webhook.verify.header ?? '') !== header.value.trim() ||
        String(webhook.verify.toleranceSec ?? '') !== tolerance.value ||
        (webhook.verify.username ?? '') !== username.value.trim();
      if (verifyChanged) {
        if (scheme.value !== 'none' && !verify.secret) {
          formError.textContent = webhook ? 'Enter the secret again to change the verification.' : 'This scheme needs a secret.';
          formError.hidden = false;
          secret.focus();
          return;
        }
        body.verify = verify;
      }
      save.disabled = true;
      try {
        const saved = webhook
          ? await api<InboundWebhook>('PATCH', `/webhooks/${webhook.id}`, body)
          : await api<InboundWebhook>('POST', '/webhooks', { direction: 'inbound', ...body });
        toast(webhook ? 'Saved.' : `Created ${saved.provider}.`);
        history.replaceState(null, '', `#webhooks/${saved.id}`);
        await inboundForm(ctx, root, saved, back);
      } catch (err) {
        if (!showCompileError(err)) {
          formError.textContent = describe(err);
          formError.hidden = false;
        }
      } finally {
        save.disabled = false;
      }
    })();
  });
  del?.addEventListener('click', () => {
    if (!webhook || !confirm(`Delete the inbound webhook “${webhook.provider}”? Requests to it will get 404.`)) return;
    api('DELETE', `/webhooks/${webhook.id}`)
      .then(() => {
        toast('Deleted.');
        back();
      })
      .catch((err: unknown) => toast(describe(err), 'error'));
  });
}
