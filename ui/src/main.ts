import { ApiError, describe, session, setUnauthorizedHandler } from './api.js';
import { activityTab } from './activity-tab.js';
import type { AppContext, TabId } from './context.js';
import { controlTab } from './control-tab.js';
import { clear, field, h, toast } from './dom.js';
import { capabilitiesOf, signIn, type Identity } from './roles.js';
import { webhooksTab } from './webhooks-tab.js';

const TABS: [TabId, string][] = [
  ['webhooks', 'Webhooks'],
  ['control', 'Control'],
  ['activity', 'Runs & deliveries'],
];

const app = document.getElementById('app')!;

function signInPage(message?: string): void {
  if (onHashChange) window.removeEventListener('hashchange', onHashChange);
  onHashChange = null;
  const token = h('input', { type: 'password', name: 'token', required: true, autocomplete: 'current-password', spellcheck: false });
  const error = h('p', { class: 'error', role: 'alert', hidden: !message, text: message ?? '' });
  const submit = h('button', { class: 'primary', type: 'submit', text: 'Sign in' });
  const form = h(
    'form',
    { class: 'card signin', 'aria-label': 'Sign in' },
    h('h1', { text: 'hookgate admin' }),
    h('p', { class: 'muted', text: 'Sign in with an admin or tenant API key. It is kept in this tab only (sessionStorage) and sent as a bearer token.' }),
    field('API key', token),
    error,
    h('div', { class: 'buttons' }, submit),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit.disabled = true;
    signIn(token.value.trim())
      .then((identity) => {
        session.set(token.value.trim());
        shell(identity);
      })
      .catch((err: unknown) => {
        error.textContent = err instanceof ApiError && err.status === 401 ? 'That key is not valid.' : describe(err);
        error.hidden = false;
        submit.disabled = false;
        token.focus();
      });
  });
  clear(app, h('main', { id: 'main', class: 'center' }, form), h('div', { id: 'toasts', class: 'toasts' }));
  token.focus();
}

function shell(identity: Identity): void {
  const main = h('main', { id: 'main', tabindex: -1 });
  const buttons = new Map<TabId, HTMLButtonElement>();
  const ctx: AppContext = { identity, can: capabilitiesOf(identity), go: (tab, item) => void show(tab, item) };
  const tabs = { webhooks: webhooksTab(ctx, main), control: controlTab(ctx, main), activity: activityTab(ctx, main) };

  const tablist = h('nav', { class: 'tabs', role: 'tablist', 'aria-label': 'Sections' });
  for (const [id, label] of TABS) {
    const b = h('button', { type: 'button', role: 'tab', id: `tab-${id}`, 'aria-controls': 'main', text: label, onclick: () => void show(id) });
    buttons.set(id, b);
    tablist.append(b);
  }
  // Arrow keys move between tabs (WAI-ARIA tabs pattern).
  tablist.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const ids = TABS.map(([id]) => id);
    const current = ids.findIndex((id) => buttons.get(id) === document.activeElement);
    const next = ids[(current + (e.key === 'ArrowRight' ? 1 : ids.length - 1)) % ids.length]!;
    buttons.get(next)!.focus();
    void show(next);
  });

  async function show(tab: TabId, item?: string): Promise<void> {
    for (const [id, b] of buttons) {
      b.setAttribute('aria-selected', String(id === tab));
      b.tabIndex = id === tab ? 0 : -1;
    }
    main.setAttribute('aria-labelledby', `tab-${tab}`);
    if (!item) history.replaceState(null, '', `#${tab}`);
    try {
      await tabs[tab].open(item);
    } catch (err) {
      clear(main, h('p', { class: 'error', role: 'alert', text: describe(err) }));
    }
  }

  const signOut = (): void => {
    session.clear();
    signInPage();
  };
  clear(
    app,
    h(
      'header',
      { class: 'top' },
      h('span', { class: 'brand', text: 'hookgate' }),
      tablist,
      h('span', { class: 'who', 'data-testid': 'identity', text: `${identity.label} · ${identity.role}${identity.tenantId ? ` · ${identity.tenantId}` : ''}` }),
      h('button', { type: 'button', class: 'link', text: 'Sign out', onclick: signOut }),
    ),
    main,
    h('div', { id: 'toasts', class: 'toasts' }),
  );
  // The address is the state: a link pasted or typed into this tab, or Back and Forward, show what it names
  // (the app itself moves with replaceState, which fires no hashchange).
  const route = (): void => {
    const [, tab, item] = /^#(webhooks|control|activity)(?:\/(.+))?$/.exec(location.hash) ?? [];
    void show((tab as TabId | undefined) ?? 'webhooks', item ? decodeURIComponent(item) : undefined);
  };
  if (onHashChange) window.removeEventListener('hashchange', onHashChange);
  onHashChange = route;
  window.addEventListener('hashchange', route);
  route();
}

/** The signed-in shell's router, replaced when another shell is built (sign out, sign in again). */
let onHashChange: (() => void) | null = null;

setUnauthorizedHandler(() => {
  session.clear();
  signInPage('Your key was refused (signed out or revoked). Sign in again.');
});
window.addEventListener('unhandledrejection', (e) => {
  // Shown to the admin and still logged: an unexpected failure is a bug to see, not to hide.
  console.error(e.reason);
  toast(describe(e.reason), 'error');
});

const saved = session.token;
if (saved) {
  signIn(saved).then(shell, () => {
    session.clear();
    signInPage();
  });
} else signInPage();
