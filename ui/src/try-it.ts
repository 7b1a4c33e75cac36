import { api, describe } from './api.js';
import { badge, clear, field, h, json } from './dom.js';
import type { DryRunResult } from './types.js';

export interface TryItOptions {
  /** null for a webhook not saved yet: the dry-run endpoint needs one. */
  webhookId: string | null;
  provider(): string;
  script(): string;
  allowedActions(): string[];
  /** Shows a compile error at its line; true when it was one. */
  onCompileError(err: unknown): boolean;
}

const DEFAULT_SAMPLE = `{
  "type": "customer.subscription.deleted",
  "data": { "object": { "id": "sub_123", "customer": "cus_42" } }
}`;

/** Saved sample payloads, per provider, in this browser only. */
const samples = {
  key: (provider: string) => `hookgate.samples.${provider}`,
  load(provider: string): Record<string, string> {
    try {
      return JSON.parse(localStorage.getItem(this.key(provider)) ?? '{}') as Record<string, string>;
    } catch {
      return {};
    }
  },
  save(provider: string, all: Record<string, string>): void {
    localStorage.setItem(this.key(provider), JSON.stringify(all));
  },
};

/** "Try it": runs the editor's (unsaved) script on a sample payload with stub actions; nothing is emitted. */
export function tryItPanel(host: HTMLElement, options: TryItOptions): void {
  const payload = h('textarea', { name: 'payload', rows: 10, spellcheck: false, class: 'mono', value: DEFAULT_SAMPLE });
  const headers = h('textarea', { name: 'headers', rows: 3, spellcheck: false, class: 'mono', placeholder: '{"x-github-event": "issues"}' });
  const picker = h('select', { name: 'sample', 'aria-label': 'Saved samples' });
  const output = h('div', { class: 'output', 'aria-live': 'polite', 'data-testid': 'dry-run-output' });
  const run = h('button', { class: 'primary', type: 'button', text: 'Run', disabled: options.webhookId === null });

  const refreshSamples = (select?: string): void => {
    const all = samples.load(options.provider());
    clear(picker, h('option', { value: '', text: Object.keys(all).length ? 'Saved samples…' : 'No saved samples' }), Object.keys(all).map((n) => h('option', { value: n, text: n, selected: n === select })));
  };
  refreshSamples();
  picker.addEventListener('change', () => {
    const all = samples.load(options.provider());
    if (picker.value && all[picker.value] !== undefined) payload.value = all[picker.value]!;
  });
  const saveSample = (): void => {
    const name = prompt('Name of this sample:', picker.value || 'sample');
    if (!name) return;
    const all = samples.load(options.provider());
    all[name] = payload.value;
    samples.save(options.provider(), all);
    refreshSamples(name);
  };
  const deleteSample = (): void => {
    if (!picker.value) return;
    const all = samples.load(options.provider());
    delete all[picker.value];
    samples.save(options.provider(), all);
    refreshSamples();
  };

  const doRun = async (): Promise<void> => {
    if (!options.webhookId) return;
    let body: unknown;
    let hdrs: Record<string, string> | undefined;
    try {
      body = JSON.parse(payload.value);
      hdrs = headers.value.trim() ? (JSON.parse(headers.value) as Record<string, string>) : undefined;
    } catch (err) {
      clear(output, h('p', { class: 'error', role: 'alert', text: `The sample is not valid JSON: ${String(err)}` }));
      return;
    }
    run.disabled = true;
    clear(output, h('p', { class: 'muted', text: 'Running…' }));
    try {
      const r = await api<DryRunResult>('POST', `/webhooks/${options.webhookId}/dry-run`, {
        body,
        ...(hdrs ? { headers: hdrs } : {}),
        jsScript: options.script(),
        allowedActions: options.allowedActions(),
      });
      options.onCompileError(null);
      clear(
        output,
        h('p', {}, badge(r.status), ' ', h('span', { 'data-testid': 'dry-run-duration', text: `${r.durationMs} ms` })),
        r.error && h('p', { class: 'error', text: `${r.error.code}: ${r.error.message}${r.error.line ? ` (line ${r.error.line})` : ''}` }),
        h('h4', { text: 'Result' }),
        h('pre', { class: 'mono', 'data-testid': 'dry-run-result', text: json(r.result) || 'null' }),
        h('h4', { text: `Console (${r.logs.length})` }),
        r.logs.length ? h('pre', { class: 'mono console', text: r.logs.map((l) => `[${l.level}] ${l.message}`).join('\n') }) : h('p', { class: 'muted', text: 'Nothing logged.' }),
        h('h4', { text: `Action calls (${r.actionsCalled.length})` }),
        r.actionsCalled.length
          ? h('ul', { class: 'calls', 'data-testid': 'dry-run-calls' }, r.actionsCalled.map((c) => h('li', {}, h('code', { text: c.id }), c.args ? h('code', { class: 'args', text: `(${(c.args ?? []).map((a) => JSON.stringify(a)).join(', ')})` }) : null, c.ok ? '' : ` — ${c.error ?? 'failed'}`)))
          : h('p', { class: 'muted', text: 'No actions called.' }),
      );
    } catch (err) {
      if (options.onCompileError(err)) clear(output, h('p', { class: 'error', text: 'The script does not compile; see the marked line.' }));
      else clear(output, h('p', { class: 'error', role: 'alert', text: describe(err) }));
    } finally {
      run.disabled = options.webhookId === null;
    }
  };
  run.addEventListener('click', () => void doRun());
  // Ctrl/Cmd+Enter anywhere in the panel runs it.
  host.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void doRun();
    }
  });

  clear(
    host,
    h(
      'section',
      { class: 'card try', 'aria-label': 'Try it' },
      h('h3', { text: 'Try it' }),
      options.webhookId === null ? h('p', { class: 'muted', text: 'Save the webhook first; then run the script on sample payloads here without side effects.' }) : h('p', { class: 'muted', text: 'Runs the script in the editor, unsaved, with stub actions. Ctrl+Enter runs.' }),
      h('div', { class: 'row' }, picker, h('button', { type: 'button', text: 'Save sample', onclick: saveSample }), h('button', { type: 'button', text: 'Delete sample', onclick: deleteSample })),
      field('Payload (JSON)', payload),
      field('Headers (JSON, optional)', headers),
      h('div', { class: 'buttons' }, run),
      output,
    ),
  );
}
