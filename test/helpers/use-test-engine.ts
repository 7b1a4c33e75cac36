import { afterAll, beforeAll } from 'vitest';
import type { EngineOptions } from '../../src/index.js';
import type { KnexStore } from '../../src/store/index.js';
import { startTestEngine, type TestEngine } from './engine.js';
import type { StoreFactory } from './stores.js';

// Apart from engine.ts, which the engine child processes of some tests import outside vitest.

/**
 * For the enclosing `describe`: a fresh store from `factory` and a test engine on it, made in `beforeAll`
 * and closed in `afterAll`. The returned `t` and `store` stand for them (use them in tests and hooks only,
 * not while the describe body is collected).
 *
 * @example
 * describe.each(storeFactories())('the thing on $name', (factory) => {
 *   const { t } = useTestEngine(factory);
 *   it('answers', async () => expect((await t.api('GET', '/webhooks')).status).toBe(200));
 * });
 */
export function useTestEngine(factory: StoreFactory, options: Partial<EngineOptions> = {}): { t: TestEngine; store: KnexStore } {
  let engine: TestEngine | undefined;
  let store: KnexStore | undefined;
  beforeAll(async () => {
    store = await factory.create();
    engine = await startTestEngine(store, options);
  });
  afterAll(async () => {
    await engine?.close();
    await store?.close();
  });
  return { t: standIn(() => engine, 'the test engine'), store: standIn(() => store, 'the test store') };
}

/** An object that forwards every property read to what `current()` returns (bound, for methods). */
function standIn<T extends object>(current: () => T | undefined, what: string): T {
  return new Proxy({} as T, {
    get(_target, key) {
      const target = current();
      if (target === undefined) throw new Error(`${what} is used before beforeAll made it`);
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
