import { describe, expect, it } from 'vitest';
import { jsonWithoutNul } from '../../src/store/rows.js';

describe('jsonWithoutNul (PostgreSQL refuses NUL in text and jsonb)', () => {
  it('replaces NUL characters with U+FFFD and leaves a written-out backslash-u0000 alone', () => {
    const value = ['a\u0000b', 'x\\u0000y', '\\\u0000', { k: '\u0000\u0000' }];
    expect(JSON.parse(jsonWithoutNul(value))).toEqual(['a\ufffdb', 'x\\u0000y', '\\\ufffd', { k: '\ufffd\ufffd' }]);
    expect(jsonWithoutNul({ plain: 'text' })).toBe('{"plain":"text"}');
  });
});
