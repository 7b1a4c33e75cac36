import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { javascript } from '@codemirror/lang-javascript';
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { lintGutter, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { EditorState } from '@codemirror/state';
import { EditorView, drawSelection, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from '@codemirror/view';

/** The script editor: CodeMirror 6 with JavaScript highlighting, line numbers and compile errors at their line. */
export interface ScriptEditor {
  readonly view: EditorView;
  value(): string;
  /** Marks a compile or run error at its (1-based) line and column; null clears. */
  showError(error: { message: string; line?: number; column?: number } | null): void;
}

export function createScriptEditor(parent: HTMLElement, doc: string, options: { readOnly?: boolean; label?: string } = {}): ScriptEditor {
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        highlightActiveLine(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        javascript(),
        lintGutter(),
        // Tab indents; Escape then Tab leaves the editor (CodeMirror's accessible tab handling).
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorState.readOnly.of(options.readOnly ?? false),
        // The page's CSP allows CodeMirror's <style> element only with the response's nonce.
        EditorView.cspNonce.of(document.querySelector<HTMLMetaElement>('meta[name="csp-nonce"]')?.content ?? ''),
        EditorView.contentAttributes.of({ 'aria-label': options.label ?? 'Script', 'data-testid': 'script-editor' }),
      ],
    }),
  });
  return {
    view,
    value: () => view.state.doc.toString(),
    showError(error) {
      if (!error) {
        view.dispatch(setDiagnostics(view.state, []));
        return;
      }
      const doc = view.state.doc;
      const lineNo = Math.min(Math.max(error.line ?? 1, 1), doc.lines);
      const line = doc.line(lineNo);
      const from = Math.min(line.from + Math.max((error.column ?? 1) - 1, 0), line.to);
      const diagnostic: Diagnostic = { from, to: Math.max(from, line.to), severity: 'error', message: error.message };
      view.dispatch(setDiagnostics(view.state, [diagnostic]), { selection: { anchor: from }, scrollIntoView: true });
    },
  };
}
