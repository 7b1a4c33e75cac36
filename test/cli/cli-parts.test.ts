import { describe, expect, it } from 'vitest';
import { findApiKey } from '../../src/admin/index.js';
import { codeFrame, formatTable, formatTime } from '../../src/cli/format.js';
import { createProgress } from '../../src/cli/progress.js';
import { parseSince } from '../../src/cli/since.js';
import type { AdminTokenRecord } from '../../src/store/types.js';

const NOW = Date.parse('2025-01-31T12:00:00Z');

describe('parseSince', () => {
  it('takes amounts of time ago', () => {
    expect(parseSince('2h', NOW).toISOString()).toBe('2025-01-31T10:00:00.000Z');
    expect(parseSince('30m', NOW).toISOString()).toBe('2025-01-31T11:30:00.000Z');
    expect(parseSince('90s', NOW).toISOString()).toBe('2025-01-31T11:58:30.000Z');
    expect(parseSince('3d', NOW).toISOString()).toBe('2025-01-28T12:00:00.000Z');
    expect(parseSince('1w', NOW).toISOString()).toBe('2025-01-24T12:00:00.000Z');
    expect(parseSince('1.5h', NOW).toISOString()).toBe('2025-01-31T10:30:00.000Z');
  });

  it('takes ISO 8601 times and dates (a date alone is midnight UTC)', () => {
    expect(parseSince('2025-01-30T08:15:00Z', NOW).toISOString()).toBe('2025-01-30T08:15:00.000Z');
    expect(parseSince('2025-01-30T08:15:00+02:00', NOW).toISOString()).toBe('2025-01-30T06:15:00.000Z');
    expect(parseSince('2025-01-30', NOW).toISOString()).toBe('2025-01-30T00:00:00.000Z');
  });

  it('refuses anything else, and times in the future, as usage errors', () => {
    for (const bad of ['yesterday', '2 hours', '-2h', '2025-13-45T99:00:00Z', '', '12']) {
      expect(() => parseSince(bad, NOW), bad).toThrow(expect.objectContaining({ exitCode: 2 }));
    }
    expect(() => parseSince('2025-02-01T00:00:00Z', NOW)).toThrow(/future/);
  });
});

function stream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 100, write: (t: string) => writes.push(t) } };
}

describe('createProgress', () => {
  it('prints a plain line every few seconds and one at the end when not on a terminal', () => {
    let now = 0;
    const out = stream(false);
    const progress = createProgress({ total: 100, label: 'redeliver', stream: out.stream, now: () => now, lineEveryMs: 1000 });
    for (let i = 0; i < 100; i++) {
      now += 50; // 20 items a second: a line every 20 items
      progress.tick();
    }
    progress.done();
    progress.done();
    expect(out.writes.every((w) => w.endsWith('\n') && !w.includes('\r'))).toBe(true);
    expect(out.writes).toHaveLength(6);
    expect(out.writes[0]).toMatch(/^redeliver: 20% 20\/100 20\/s eta 4\.0s\n$/);
    expect(out.writes.at(-1)).toMatch(/^redeliver: 100% 100\/100 20\/s done in 5\.0s\n$/);
  });

  it('redraws one line in place on a terminal, at most every redraw interval', () => {
    let now = 0;
    const out = stream(true);
    const progress = createProgress({ total: 10, label: 'redeliver', stream: out.stream, now: () => now, redrawMs: 100 });
    for (let i = 0; i < 10; i++) {
      now += 30;
      progress.tick();
    }
    progress.done();
    // The first draw, a redraw every ~100 ms (4 of them in 300 ms), and the final one.
    expect(out.writes.length).toBeGreaterThanOrEqual(4);
    expect(out.writes.length).toBeLessThanOrEqual(6);
    expect(out.writes.every((w) => w.startsWith('\r\x1b[2K'))).toBe(true);
    expect(out.writes[0]).toContain('[------------------------] 0% 0/10');
    expect(out.writes.at(-1)).toMatch(/\[#{24}\] 100% 10\/10 .*\n$/);
    expect(out.writes.slice(0, -1).some((w) => w.endsWith('\n'))).toBe(false);
  });

  it('is done at once with nothing to do', () => {
    const out = stream(false);
    const progress = createProgress({ total: 0, label: 'x', stream: out.stream });
    progress.done();
    expect(out.writes).toEqual([expect.stringMatching(/^x: 100% 0\/0 done in/)]);
  });
});

describe('output helpers', () => {
  it('formats tables with padded columns', () => {
    expect(formatTable(['A', 'LONGER'], [['xyz', '1'], ['q', '22']])).toBe('A    LONGER\nxyz  1\nq    22\n');
  });

  it('formats times without milliseconds, and nulls as -', () => {
    expect(formatTime('2025-01-31T12:00:05.123Z')).toBe('2025-01-31 12:00:05Z');
    expect(formatTime(null)).toBe('-');
  });

  it('points at a line and column in a code frame', () => {
    expect(codeFrame('a\nb\nconst x = ;\nd', 3, 11, 1)).toBe('  2 | b\n> 3 | const x = ;\n    |           ^\n  4 | d\n');
  });
});

describe('findApiKey', () => {
  const key = (id: string, prefix: string): AdminTokenRecord => ({ id, prefix, tokenHash: 'h', role: 'admin', tenantId: null, createdAt: '2025-01-01T00:00:00Z' });
  const keys = [key('id-1', 'hg_AAAAAAAA'), key('id-2', 'hg_BBBBBBBB'), key('id-3', 'hg_admin_CCCCC')];

  it('finds a key by id, by listed prefix, or by the whole key', () => {
    expect(findApiKey(keys, 'id-2').id).toBe('id-2');
    expect(findApiKey(keys, 'hg_BBBBBBBB').id).toBe('id-2');
    expect(findApiKey(keys, 'hg_admin_CCCCC').id).toBe('id-3');
    expect(findApiKey(keys, 'hg_AAAAAAAAzzzzzzzzzzzz').id).toBe('id-1');
  });

  it('refuses unknown and ambiguous references', () => {
    expect(() => findApiKey(keys, 'hg_ZZZZZZZZ')).toThrow(expect.objectContaining({ code: 'key_not_found' }));
    expect(() => findApiKey(keys, 'hg_')).toThrow(expect.objectContaining({ code: 'key_not_found' }));
    expect(() => findApiKey([...keys, key('id-4', 'hg_BBBBBBBB')], 'hg_BBBBBBBB')).toThrow(/2 keys match/);
  });
});
