import { describe, expect, it } from 'vitest';
import type { InboundWebhook, OutgoingWebhook } from '../store/types.js';
import { fieldChanges, lineDelta, REDACTED, scriptRef, webhookChanges } from './changes.js';

const outgoing: OutgoingWebhook = {
  id: '0190f5e2-7c1a-7d3e-9a41-3b0c5f6e8d21',
  direction: 'outgoing',
  isActive: true,
  tenantId: 'acme',
  events: ['*'],
  url: 'https://example.com/hook',
  secret: 'whsec_c2VjcmV0LXZhbHVlLW5ldmVyLWxvZ2dlZA==',
  maxRetries: 3,
  retryDelayMs: 1000,
  timeoutMs: 30000,
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:00.000Z',
};

const inbound: InboundWebhook = {
  id: '0190f5e2-7c1a-7d3e-9a41-3b0c5f6e8d22',
  direction: 'inbound',
  isActive: true,
  tenantId: null,
  events: ['*'],
  provider: 'stripe',
  jsScript: 'a\nb\n',
  scriptVersion: 4,
  allowedActions: [],
  emitEvents: null,
  verify: { scheme: 'basic', username: 'ops', secrets: ['pw-one', 'pw-two'] },
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:00.000Z',
};

describe('audit changes', () => {
  it('lists only the fields that differ, nested ones by dotted path', () => {
    expect(fieldChanges({ a: 1, b: { c: 2, d: 3 }, e: [1, 2] }, { a: 1, b: { c: 2, d: 4 }, e: [1, 2] })).toEqual({ 'b.d': { before: 3, after: 4 } });
    expect(fieldChanges({ a: 1, n: null }, { a: 1, n: { x: 1 } })).toEqual({ 'n.x': { before: null, after: 1 } });
    expect(fieldChanges({ a: 1 }, { a: 1 })).toEqual({});
  });

  it('redacts every field named like a secret, password or token, compared on the real values', () => {
    const changes = fieldChanges(
      { secret: 's1', nested: { apiToken: 't1', password: 'p', secrets: ['x', 'y'] } },
      { secret: 's2', nested: { apiToken: 't1', password: 'q', secrets: ['x', 'z', 'w'] } },
    );
    expect(changes).toEqual({
      secret: { before: REDACTED, after: REDACTED },
      'nested.password': { before: REDACTED, after: REDACTED },
      'nested.secrets': { before: [REDACTED, REDACTED], after: [REDACTED, REDACTED, REDACTED] },
    });
  });

  it('shows a created webhook as `after` values and a deleted one as `before`, secrets redacted', () => {
    const created = webhookChanges(null, outgoing);
    expect(created.secret).toEqual({ after: REDACTED });
    expect(created.url).toEqual({ after: 'https://example.com/hook' });
    for (const field of ['id', 'direction', 'createdAt', 'updatedAt']) expect(created).not.toHaveProperty([field]);
    const deleted = webhookChanges(inbound, null);
    expect(deleted['verify.secrets']).toEqual({ before: [REDACTED, REDACTED] });
    expect(deleted['verify.username']).toEqual({ before: 'ops' });
    expect(deleted.jsScript).toEqual({ before: scriptRef('a\nb\n', 4) });
    expect(JSON.stringify([created, deleted])).not.toMatch(/pw-one|pw-two|c2VjcmV0/);
  });

  it('references a changed script by version, hash and line counts', () => {
    const changes = webhookChanges(inbound, { ...inbound, jsScript: 'a\nc\nd', scriptVersion: 5, updatedAt: '2025-01-02T00:00:00.000Z' });
    expect(changes).toEqual({
      jsScript: { before: scriptRef('a\nb\n', 4), after: scriptRef('a\nc\nd', 5), linesAdded: 2, linesRemoved: 1 },
    });
    expect(scriptRef('a\nb\n', 4)).toMatchObject({ version: 4, lines: 2, bytes: 4, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(scriptRef('', 1).lines).toBe(0);
    expect(lineDelta('x\nx\ny', 'x\ny\ny')).toEqual({ linesAdded: 1, linesRemoved: 1 });
  });
});
