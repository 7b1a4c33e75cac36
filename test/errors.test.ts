import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AppError, ERRORS, coerceError } from '../src/errors.js';

describe('error catalogue', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

  it('documents every code with its status', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(doc, code).toMatch(new RegExp(`\\| \`${code}\` \\| ${spec.status} \\|`));
    }
  });

  it('serialises to the contract shape and keeps the cause', () => {
    const cause = new Error('db said no');
    const err = new AppError('provider_conflict', undefined, { cause, details: { provider: 'x' } });
    expect(err.toJSON()).toEqual({ code: 'provider_conflict', message: ERRORS.provider_conflict.message, details: { provider: 'x' } });
    expect(err.status).toBe(409);
    expect(err.cause).toBe(cause);
    expect(coerceError('text').message).toBe('text');
    expect(coerceError({ a: 1 }).message).toBe('{"a":1}');
  });
});
