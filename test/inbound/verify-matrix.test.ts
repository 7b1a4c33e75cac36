import { describe, expect, it } from 'vitest';
import type { VerifyConfig } from '../../src/store/types.js';
import { lowerCased, verifyOutcome } from '../helpers/provider-signing.js';
import { matrixBody, SCHEME_ROWS, without } from '../helpers/scheme-matrix.js';

/*
 * Every scheme × {valid, wrong secret, tampered body, stale timestamp, missing header, rotated secret},
 * each asserted with its exact error code. The same rows run over HTTP in test/e2e/inbound-verify-matrix.test.ts.
 */
const NOW_MS = 1_763_900_000_000;
const T = Math.floor(NOW_MS / 1000);

const outcome = (config: VerifyConfig, headers: Record<string, string>, body: Buffer, nowMs = NOW_MS): string =>
  verifyOutcome(config, lowerCased(headers), body, nowMs);

describe.each(SCHEME_ROWS)('$name', (row) => {
  const { previous, current, wrong } = row.secrets;
  const config = row.config([current]);

  it('valid: accepts what the sender signs', () => {
    const { body } = matrixBody();
    expect(outcome(config, row.sign(body, current, T), body)).toBe('ok');
  });

  it('wrong secret: refused as invalid', () => {
    const { body } = matrixBody();
    expect(outcome(config, row.sign(body, wrong, T), body)).toBe(row.invalidCode);
  });

  it(row.signsBody ? 'tampered body: refused as invalid' : 'tampered body: not covered by this scheme (it authenticates the sender only)', () => {
    const { body, tampered } = matrixBody();
    expect(outcome(config, row.sign(body, current, T), tampered)).toBe(row.signsBody ? row.invalidCode : 'ok');
  });

  it.runIf(row.toleranceSec !== null)('stale timestamp: refused past the tolerance, either way, accepted inside it', () => {
    const tolerance = row.toleranceSec!;
    const { body } = matrixBody();
    const at = (t: number) => outcome(config, row.sign(body, current, t), body);
    expect(at(T - tolerance - 1)).toBe('signature_timestamp_invalid');
    expect(at(T + tolerance + 1)).toBe('signature_timestamp_invalid');
    expect(at(T - 7 * 86400)).toBe('signature_timestamp_invalid');
    expect(at(T - tolerance + 1)).toBe('ok');
    expect(at(T + tolerance - 1)).toBe('ok');
  });

  it.runIf(row.toleranceSec === null)('no timestamp: an old signature still verifies (replays are caught by de-duplication)', () => {
    const { body } = matrixBody();
    expect(outcome(config, row.sign(body, current, T - 7 * 86400), body, NOW_MS)).toBe('ok');
  });

  it.each(row.required)('missing header %s: refused as missing', (name) => {
    const { body } = matrixBody();
    const headers = row.sign(body, current, T);
    expect(outcome(config, without(headers, name), body)).toBe(row.missingCode);
    expect(outcome(config, { ...without(headers, name), [name]: '' }, body)).toBe(row.missingCode);
  });

  it('no authentication headers at all: refused as missing', () => {
    const { body } = matrixBody();
    expect(outcome(config, {}, body)).toBe(row.missingCode);
  });

  it('rotated secret: both accepted while both are active, the retired one refused after', () => {
    const { body } = matrixBody();
    const byPrevious = row.sign(body, previous, T);
    const byCurrent = row.sign(body, current, T);
    // Before the rotation only the previous secret is configured.
    expect(outcome(row.config([previous]), byPrevious, body)).toBe('ok');
    expect(outcome(row.config([previous]), byCurrent, body)).toBe(row.invalidCode);
    // During: the new one first, the old one still accepted — whichever order they are listed in.
    for (const active of [[current, previous], [previous, current]]) {
      expect(outcome(row.config(active), byPrevious, body)).toBe('ok');
      expect(outcome(row.config(active), byCurrent, body)).toBe('ok');
      expect(outcome(row.config(active), row.sign(body, wrong, T), body)).toBe(row.invalidCode);
    }
    // After: the retired secret no longer verifies.
    expect(outcome(row.config([current]), byPrevious, body)).toBe(row.invalidCode);
    expect(outcome(row.config([current]), byCurrent, body)).toBe('ok');
  });
});
