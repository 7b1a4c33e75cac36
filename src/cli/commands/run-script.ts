import { readFileSync } from 'node:fs';
import type { DryRunResult, DryRunTarget } from '../../admin/index.js';
import { createSandbox, checkScriptSyntax } from '../../sandbox/index.js';
import type { Settings } from '../../store/types.js';
import { createCliContext, withStore } from '../context.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { codeFrame, formatDuration, inlineJson } from '../format.js';
import type { CommandResult } from '../program.js';

export interface RunScriptOptions {
  file: string;
  payload: string;
  headers?: string;
  provider?: string;
  actions?: string;
  json?: boolean;
}

/** `hookgate run-script`: a local dry run of a script in the real sandbox, with stub actions that record their calls. */
export async function runScript(options: RunScriptOptions, verbose: boolean): Promise<CommandResult> {
  const context = createCliContext(verbose);
  const script = readInput(options.file, 'script');
  const body = parseJson(readInput(options.payload, 'payload'), options.payload);
  const headers = options.headers === undefined ? {} : parseHeaders(parseJson(readInput(options.headers, 'headers'), options.headers), options.headers);
  const requested = options.actions === undefined ? undefined : parseIds(options.actions);

  const check = checkScriptSyntax(script);
  if (!check.ok) {
    const error = { code: 'compile_error', message: check.message, line: check.line, column: check.column };
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ status: 'error', result: null, emit: null, logs: [], actionsCalled: [], durationMs: 0, error })}\n`);
    } else {
      process.stderr.write(`${options.file}:${check.line}:${check.column}: compile error: ${check.message}\n${codeFrame(script, check.line, check.column)}`);
    }
    return EXIT.failed;
  }

  // Loaded only now: a bad input file or a compile error is reported without starting the engine's code.
  const [{ dryRunScript }, { appEventCatalog, dryRunRegistry }] = await Promise.all([import('../../admin/index.js'), import('../app.js')]);
  const registry = dryRunRegistry(requested);
  let target: DryRunTarget = { provider: options.provider ?? 'local', jsScript: script, allowedActions: requested ?? registry.ids(), emitEvents: null };
  // Locally every action is switched on; with --provider the stored switches apply, as on the server.
  let settings: Settings = { enabledWebhookActions: registry.ids() };
  if (options.provider !== undefined) {
    const provider = options.provider;
    ({ target, settings } = await withStore(context, async (store) => {
      const webhook = await store.findByProvider(provider);
      if (!webhook) throw new CliError(`No inbound webhook for provider ${provider}. Leave out --provider to run the script on its own.`, { code: 'provider_not_found' });
      const stored = await store.getSettings();
      return {
        target: { provider, jsScript: script, allowedActions: requested ?? webhook.allowedActions, emitEvents: webhook.emitEvents ?? null },
        settings: stored ? { enabledWebhookActions: [...stored.enabledWebhookActions, ...(requested ?? []).filter((id) => !registry.has(id))] } : settings,
      };
    }));
  }

  const limits = { timeoutMs: context.config.scriptTimeoutMs, memoryMb: context.config.scriptMemoryMb };
  const sandbox = createSandbox({ processes: 1, isolatesPerProcess: 1, limits, logger: context.logger.child({ component: 'sandbox' }) });
  let outcome: DryRunResult;
  try {
    outcome = await dryRunScript({ registry, sandbox, settings, limits, events: appEventCatalog() }, target, { body, headers });
  } finally {
    await sandbox.close();
  }

  if (options.json) process.stdout.write(`${JSON.stringify(outcome)}\n`);
  else process.stdout.write(describeOutcome(outcome, options.file, target));
  return outcome.status === 'ok' ? EXIT.ok : EXIT.failed;
}

function describeOutcome(outcome: DryRunResult, file: string, target: DryRunTarget): string {
  const lines: string[] = [];
  lines.push(`status:    ${outcome.status}`);
  lines.push(`duration:  ${formatDuration(outcome.durationMs)}`);
  lines.push(`result:    ${inlineJson(outcome.result)}`);
  if (outcome.emit) lines.push(`emits:     ${outcome.emit.event} ${inlineJson(outcome.emit.data)}`);
  lines.push(`actions:   ${target.allowedActions.length === 0 ? '(none available)' : target.allowedActions.join(', ')}`);
  lines.push(`calls:     ${outcome.actionsCalled.length === 0 ? '(none)' : ''}`.trimEnd());
  for (const call of outcome.actionsCalled) {
    const args = (call.args ?? []).map((a) => inlineJson(a, 200)).join(', ');
    lines.push(`  ${call.id}(${args})${call.ok ? '' : ` refused: ${call.error ?? 'error'}`}`);
  }
  lines.push(`console:   ${outcome.logs.length === 0 ? '(nothing)' : ''}`.trimEnd());
  for (const log of outcome.logs) lines.push(`  [${log.level} +${Math.round(log.atMs)}ms] ${log.message}`);
  if (outcome.error) {
    const at = outcome.error.line !== undefined ? ` (${file}:${outcome.error.line}${outcome.error.column !== undefined ? `:${outcome.error.column}` : ''})` : '';
    lines.push(`error:     ${outcome.error.code}: ${outcome.error.message}${at}`);
  }
  return `${lines.join('\n')}\n`;
}

function readInput(file: string, what: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw usageError(`Cannot read the ${what} file ${file}: ${(err as Error).message}`, err);
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw usageError(`${file} is not valid JSON: ${(err as Error).message}`, err);
  }
}

function parseHeaders(value: unknown, file: string): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw usageError(`${file} must hold a JSON object of header names to string values, e.g. {"x-github-event": "issues"}.`);
  }
  return value as Record<string, string>;
}

function parseIds(text: string): string[] {
  const ids = text.split(',').map((s) => s.trim()).filter(Boolean);
  return [...new Set(ids)];
}
