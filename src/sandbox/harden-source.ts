/**
 * In-context code that hardens a fresh context once, so it can be reused by many runs: every object
 * reachable from `globalThis` and from the intrinsics only syntax reaches (AsyncFunction,
 * GeneratorFunction, iterator prototypes, %ThrowTypeError%, …) is frozen, the legacy RegExp statics
 * and the globals that schedule work on their own are deleted, and `globalThis` is frozen last. A script then cannot keep data for the next run, or
 * patch what another run (or the runtime) relies on. Evaluated before any admin code, with no host
 * access; it returns the number of objects it froze.
 */
export const HARDEN_SOURCE = String.raw`"use strict";
(function harden() {
  const { ownKeys, getOwnPropertyDescriptor, getPrototypeOf } = Reflect;
  const { freeze, isFrozen } = Object;

  // RegExp.$1, lastMatch, input, … hold the last match of any regular expression in the context: a
  // run could read the previous run's data through them.
  for (const key of ownKeys(RegExp)) {
    if (key === 'length' || key === 'name' || key === 'prototype') continue;
    if (!delete RegExp[key]) throw new Error('cannot delete RegExp.' + String(key));
  }

  // These schedule work in the isolate outside any call the host made (FinalizationRegistry cleanups,
  // WebAssembly's async compilation, Atomics.waitAsync), i.e. code that would run with no CPU timeout
  // and could stall the next run; Atomics.wait blocks the isolate's thread. Webhook scripts need none.
  for (const name of ['FinalizationRegistry', 'WebAssembly', 'Atomics', 'SharedArrayBuffer']) {
    if (!delete globalThis[name]) throw new Error('cannot delete ' + name);
  }

  // Objects only syntax or a call can reach. Samples are fresh objects; freezing them is harmless and
  // walking them reaches their prototypes.
  const samples = [
    async function () {},
    async () => {},
    function* () {},
    async function* () {},
    (function* () {})(),
    (async function* () {})(),
    [][Symbol.iterator](),
    new Map()[Symbol.iterator](),
    new Set()[Symbol.iterator](),
    ''[Symbol.iterator](),
    'a'.matchAll(/a/g),
    Promise.resolve(),
    getOwnPropertyDescriptor((function () { return arguments; })(), 'callee').get,
  ];
  if (typeof Intl === 'object' && typeof Intl.Segmenter === 'function') {
    const segments = new Intl.Segmenter().segment('a');
    samples.push(segments, segments[Symbol.iterator]());
  }

  const seen = new Set();
  const pending = [globalThis, ...samples];
  while (pending.length > 0) {
    const value = pending.pop();
    if (seen.has(value)) continue;
    seen.add(value);
    for (const key of ownKeys(value)) {
      const descriptor = getOwnPropertyDescriptor(value, key);
      if (descriptor === undefined) continue;
      for (const next of [descriptor.value, descriptor.get, descriptor.set]) {
        if ((typeof next === 'object' && next !== null) || typeof next === 'function') pending.push(next);
      }
    }
    const proto = getPrototypeOf(value);
    if (proto !== null) pending.push(proto);
    if (value !== globalThis) freeze(value);
  }
  freeze(globalThis);

  for (const value of seen) if (!isFrozen(value)) throw new Error('hardening left an object unfrozen');
  return seen.size;
})()`;
