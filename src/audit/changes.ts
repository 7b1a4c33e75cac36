import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { AdminTokenRecord, AuditChanges, AuditFieldChange, Settings, Webhook } from '../store/types.js';

/** What a secret reads as in the audit log. */
export const REDACTED = '[redacted]';

/**
 * A field is a secret when the last segment of its path names one: the outgoing `secret`, an inbound
 * webhook's `verify.secret` and `verify.secrets`, and anything later called a password or token. Matching
 * by name rather than listing fields means a secret added to a schema later is redacted by default.
 */
const SECRET_NAME = /secret|password|token/i;

function isSecretPath(path: string): boolean {
  return SECRET_NAME.test(path.slice(path.lastIndexOf('.') + 1));
}

/** How a script appears in the audit log: enough to tell versions apart and fetch the text, never the text. */
export interface ScriptRef {
  /** The webhook's script version: its text is in `GET /admin/api/webhooks/:id/versions`. */
  version: number | null;
  sha256: string;
  lines: number;
  bytes: number;
}

function splitLines(text: string): string[] {
  return text === '' ? [] : text.replace(/\r\n?/g, '\n').replace(/\n$/, '').split('\n');
}

/** The reference that stands for a script's text. */
export function scriptRef(jsScript: string, version: number | null): ScriptRef {
  return {
    version,
    sha256: createHash('sha256').update(jsScript, 'utf8').digest('hex'),
    lines: splitLines(jsScript).length,
    bytes: Buffer.byteLength(jsScript, 'utf8'),
  };
}

/**
 * Lines of `after` not in `before` and the other way round, counted as multisets (linear time on any
 * script size; a moved line counts as unchanged). A real line diff of two versions is one request away:
 * both texts are kept in the script versions.
 */
export function lineDelta(before: string, after: string): { linesAdded: number; linesRemoved: number } {
  const counts = new Map<string, number>();
  for (const line of splitLines(before)) counts.set(line, (counts.get(line) ?? 0) + 1);
  let linesAdded = 0;
  for (const line of splitLines(after)) {
    const left = counts.get(line) ?? 0;
    if (left > 0) counts.set(line, left - 1);
    else linesAdded += 1;
  }
  let linesRemoved = 0;
  for (const left of counts.values()) linesRemoved += left;
  return { linesAdded, linesRemoved };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0;
}

/** Leaf fields by dotted path; arrays, empty objects and scalars are leaves. */
function flatten(value: Record<string, unknown>, prefix = '', out: Map<string, unknown> = new Map()): Map<string, unknown> {
  for (const [key, field] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isPlainObject(field)) flatten(field, path, out);
    else if (field !== undefined) out.set(path, field);
  }
  return out;
}

function shown(path: string, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (!isSecretPath(path)) return value;
  return Array.isArray(value) ? value.map(() => REDACTED) : REDACTED;
}

/**
 * Field-level changes between two states of an object (null = it did not exist: created, or deleted).
 * Only fields whose values differ are listed; values are compared before redaction, so a replaced secret
 * is listed as `{before: "[redacted]", after: "[redacted]"}`.
 */
export function fieldChanges(before: Record<string, unknown> | null, after: Record<string, unknown> | null): AuditChanges {
  const was = before ? flatten(before) : new Map<string, unknown>();
  const is = after ? flatten(after) : new Map<string, unknown>();
  const changes: AuditChanges = {};
  for (const path of [...new Set([...was.keys(), ...is.keys()])].sort()) {
    const a = was.get(path) ?? null;
    const b = is.get(path) ?? null;
    if (before && after && isDeepStrictEqual(a, b)) continue;
    const change: AuditFieldChange = {};
    if (before) change.before = shown(path, a);
    if (after) change.after = shown(path, b);
    changes[path] = change;
  }
  return changes;
}

/** The fields of a webhook worth auditing (the id is the entry's target, the direction its target type, the script a reference). */
function auditedFields(webhook: Webhook): Record<string, unknown> {
  const { id: _id, direction: _direction, createdAt: _createdAt, updatedAt: _updatedAt, jsScript: _jsScript, scriptVersion: _scriptVersion, ...rest } =
    webhook as unknown as Record<string, unknown>;
  return rest;
}

/**
 * What changed between two states of a webhook: null `before` = created, null `after` = deleted. Secrets
 * are redacted and the script stands as a {@link ScriptRef}; `{}` when nothing changed.
 *
 * @example
 * webhookChanges(old, updated) // {"maxRetries": {"before": 3, "after": 5}}
 */
export function webhookChanges(before: Webhook | null, after: Webhook | null): AuditChanges {
  const changes = fieldChanges(before ? auditedFields(before) : null, after ? auditedFields(after) : null);
  const oldScript = before?.direction === 'inbound' ? before : null;
  const newScript = after?.direction === 'inbound' ? after : null;
  if (oldScript && newScript) {
    if (oldScript.jsScript !== newScript.jsScript) {
      changes.jsScript = {
        before: scriptRef(oldScript.jsScript, oldScript.scriptVersion),
        after: scriptRef(newScript.jsScript, newScript.scriptVersion),
        ...lineDelta(oldScript.jsScript, newScript.jsScript),
      };
    }
  } else if (oldScript) {
    changes.jsScript = { before: scriptRef(oldScript.jsScript, oldScript.scriptVersion) };
  } else if (newScript) {
    changes.jsScript = { after: scriptRef(newScript.jsScript, newScript.scriptVersion) };
  }
  return sortKeys(changes);
}

/** Global settings before (null on a fresh store) and after a save. */
export function settingsChanges(before: Settings | null, after: Settings): AuditChanges {
  return fieldChanges({ ...before }, { ...after });
}

/** A key as the audit log shows it: never its hash, nor its prefix (only key managers see prefixes). */
function keyFields(record: AdminTokenRecord): Record<string, unknown> {
  return { name: record.name ?? null, role: record.role, tenantId: record.tenantId ?? null, ...(record.revokedAt ? { revokedAt: record.revokedAt } : {}) };
}

/** A key created (null `before`) or revoked. */
export function keyChanges(before: AdminTokenRecord | null, after: AdminTokenRecord): AuditChanges {
  return fieldChanges(before ? keyFields(before) : null, keyFields(after));
}

function sortKeys(changes: AuditChanges): AuditChanges {
  return Object.fromEntries(Object.entries(changes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
