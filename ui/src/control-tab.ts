import { api, describe } from './api.js';
import type { AppContext } from './context.js';
import { clear, h, toast } from './dom.js';
import type { Action, Items } from './types.js';

/**
 * Control tab: every registered action by category, with a switch each (`PATCH /settings`). Switching one
 * off shows, on the others, that they went unavailable with it (the server's `available` and reason).
 */
export function controlTab(ctx: AppContext, root: HTMLElement): { open(): Promise<void> } {
  let previouslyAvailable = new Map<string, boolean>();

  async function render(focusId?: string): Promise<void> {
    const actions = (await api<Items<Action>>('GET', '/actions')).items;
    const byCategory = new Map<string, Action[]>();
    for (const a of actions) byCategory.set(a.category || 'Other', [...(byCategory.get(a.category || 'Other') ?? []), a]);
    const enabled = new Set(actions.filter((a) => a.enabled).map((a) => a.id));

    const toggle = async (a: Action): Promise<void> => {
      const next = new Set(enabled);
      if (next.has(a.id)) next.delete(a.id);
      else next.add(a.id);
      try {
        await api('PATCH', '/settings', { enabledWebhookActions: [...next].sort() });
        await render(a.id);
        toast(`${a.label} ${next.has(a.id) ? 'switched on' : 'switched off'}.`);
      } catch (err) {
        toast(describe(err), 'error');
      }
    };

    const card = (a: Action): HTMLElement => {
      const justLost = previouslyAvailable.get(a.id) === true && !a.available && a.enabled;
      const sw = h(
        'button',
        {
          type: 'button',
          role: 'switch',
          class: 'switch',
          'aria-checked': String(a.enabled),
          'aria-label': `${a.label} (${a.id})`,
          dataset: { action: a.id },
          disabled: !ctx.can.governActions,
          onclick: () => void toggle(a),
        },
        h('span', { class: 'knob', 'aria-hidden': 'true' }),
        h('span', { class: 'switch-text', text: a.enabled ? 'On' : 'Off' }),
      );
      return h(
        'li',
        { class: `action ${a.available ? 'available' : 'unavailable'} ${justLost ? 'cascaded' : ''}`, dataset: { id: a.id } },
        h('div', { class: 'action-head' }, h('div', {}, h('strong', { text: a.label }), ' ', h('code', { text: a.id })), sw),
        a.description && h('p', { text: a.description }),
        a.dependsOn.length > 0 && h('p', { class: 'deps' }, 'Depends on: ', a.dependsOn.map((d, i) => [i ? ', ' : '', h('code', { text: d })])),
        !a.available && h('p', { class: 'reason', 'data-testid': 'unavailable-reason', text: `Unavailable: ${a.unavailableReason?.message ?? 'switched off'}${justLost ? ' (just now)' : ''}` }),
      );
    };

    clear(
      root,
      h('div', { class: 'toolbar' }, h('h2', { text: 'Control' })),
      h('p', { class: 'muted', text: ctx.can.governActions ? 'Switch actions on or off for every webhook. An action whose dependency is off cannot run either.' : 'Only the platform admin can switch actions; you see their state.' }),
      actions.length === 0 && h('p', { class: 'empty', text: 'No actions are registered. The host app registers them with @webhookAction.' }),
      [...byCategory.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([category, items]) => h('section', { class: 'category', 'aria-label': category }, h('h3', { text: category }), h('ul', { class: 'actions' }, items.map(card)))),
    );
    previouslyAvailable = new Map(actions.map((a) => [a.id, a.available]));
    if (focusId) (root.querySelector(`button[data-action="${CSS.escape(focusId)}"]`) as HTMLElement | null)?.focus();
  }

  return {
    async open() {
      previouslyAvailable = new Map();
      await render();
    },
  };
}
