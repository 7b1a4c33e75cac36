import { describe, expect, it } from 'vitest';
import { ScriptMirror } from '../../src/sandbox/protocol.js';

describe('ScriptMirror (a run carries its script only the first time a child sees it)', () => {
  it('sends a source once per key, again when it changes, and the child resolves every run to the right one', () => {
    const parent = new ScriptMirror(3);
    const child = new ScriptMirror(3);
    const cross = (key: string, script: string) => child.resolve(key, parent.toSend(key, script));

    expect(parent.toSend('a', 'result = 1')).toBe('result = 1');
    expect(child.resolve('a', 'result = 1')).toBe('result = 1');
    expect(parent.toSend('a', 'result = 1')).toBeUndefined();
    expect(child.resolve('a', undefined)).toBe('result = 1');
    // Same key, other source (a caller of the sandbox may reuse a key): it crosses again.
    expect(parent.toSend('a', 'result = 2')).toBe('result = 2');
    expect(child.resolve('a', 'result = 2')).toBe('result = 2');
    expect(cross('a', 'result = 2')).toBe('result = 2');
  });

  it('stays in step past its capacity: an evicted script is sent again, never assumed', () => {
    const parent = new ScriptMirror(3);
    const child = new ScriptMirror(3);
    const sent: string[] = [];
    const cross = (key: string) => {
      const script = `result = "${key}"`;
      const carried = parent.toSend(key, script);
      if (carried !== undefined) sent.push(key);
      return child.resolve(key, carried);
    };
    const order = ['a', 'b', 'c', 'a', 'd', 'a', 'b', 'e', 'c', 'a', 'd', 'd', 'b'];
    for (const key of order) expect(cross(key)).toBe(`result = "${key}"`);
    // a, b, c fill it; a is held; d evicts a (first in); a comes back and evicts b; b evicts c; ...
    expect(sent).toEqual(['a', 'b', 'c', 'd', 'a', 'b', 'e', 'c', 'a', 'd', 'b']);
  });

  it('a child that never got a key resolves nothing (the worker answers that run as crashed)', () => {
    expect(new ScriptMirror().resolve('unknown', undefined)).toBeUndefined();
  });
});
