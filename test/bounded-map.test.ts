import { describe, expect, it } from 'vitest';
import { setBounded } from '../src/bounded-map.js';

describe('setBounded', () => {
  it('keeps the newest entries up to the cap, dropping the oldest first', () => {
    const map = new Map<string, number>();
    for (const [i, key] of ['a', 'b', 'c', 'd'].entries()) setBounded(map, key, i, 3);
    expect([...map]).toEqual([['b', 1], ['c', 2], ['d', 3]]);
  });

  it('a key set again becomes the newest, so the one set least recently goes next', () => {
    const map = new Map<string, number>();
    setBounded(map, 'a', 1, 2);
    setBounded(map, 'b', 2, 2);
    setBounded(map, 'a', 3, 2);
    setBounded(map, 'c', 4, 2);
    expect([...map]).toEqual([['a', 3], ['c', 4]]);
  });
});
