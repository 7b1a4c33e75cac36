import { describe, expect, it } from 'vitest';
import { ActionRegistry, computeAvailability, webhookAction } from '../../src/actions/index.js';
import { AppError } from '../../src/errors.js';

const meta = (id: string, dependsOn: string[] = []) => ({ id, label: id, category: 'Test', description: `does ${id}`, dependsOn });

class Billing {
  readonly cancelled: string[] = [];

  @webhookAction({
    id: 'subscription.cancel',
    label: 'Cancel subscription',
    category: 'Billing',
    description: 'Cancel a subscription',
    params: { type: 'array', items: [{ type: 'string', minLength: 1 }], minItems: 1, maxItems: 1 },
  })
  async cancel(subscriptionId: string): Promise<{ cancelled: string }> {
    this.cancelled.push(subscriptionId);
    return { cancelled: subscriptionId };
  }

  @webhookAction({ id: 'subscription.notifyUser', label: 'Notify user', category: 'Billing', description: 'Notify', dependsOn: ['subscription.cancel'] })
  notify(userId: string): string {
    return `notified ${userId} after ${this.cancelled.length}`;
  }
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof AppError ? err.code : `not an AppError: ${String(err)}`;
  }
  return undefined;
}

describe('ActionRegistry', () => {
  it('binds decorated methods to their instance, so `this` works', async () => {
    const registry = new ActionRegistry();
    const billing = new Billing();
    expect(registry.registerInstance(billing).sort()).toEqual(['subscription.cancel', 'subscription.notifyUser']);
    registry.check();
    await expect(registry.invoke('subscription.cancel', ['sub_1'])).resolves.toEqual({ cancelled: 'sub_1' });
    await expect(registry.invoke('subscription.notifyUser', ['u1'])).resolves.toBe('notified u1 after 1');
    expect(billing.cancelled).toEqual(['sub_1']);
    expect(registry.get('subscription.notifyUser')).toMatchObject({ label: 'Notify user', category: 'Billing', dependsOn: ['subscription.cancel'], params: null });
  });

  it('checks arguments against params before the method runs', async () => {
    const registry = new ActionRegistry();
    const billing = new Billing();
    registry.registerInstance(billing);
    const err = await registry.invoke('subscription.cancel', [42]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('action_invalid_arguments');
    expect((err as AppError).message).toContain('/0 must be string');
    await expect(registry.invoke('subscription.cancel', [])).rejects.toMatchObject({ code: 'action_invalid_arguments' });
    expect(billing.cancelled).toEqual([]);
  });

  it('registers plain functions and rejects duplicates and bad definitions', () => {
    const registry = new ActionRegistry();
    registry.register({ ...meta('a'), fn: () => 1 });
    expect(codeOf(() => registry.register({ ...meta('a'), fn: () => 2 }))).toBe('action_duplicate');
    expect(codeOf(() => registry.register({ ...meta('bad id!'), fn: () => 2 }))).toBe('action_invalid_definition');
    expect(codeOf(() => registry.register({ ...meta('b'), label: '', fn: () => 2 }))).toBe('action_invalid_definition');
    expect(codeOf(() => registry.register({ ...meta('c', ['c']), fn: () => 2 }))).toBe('action_invalid_definition');
    expect(codeOf(() => registry.register({ ...meta('d'), params: { type: 'nonsense' }, fn: () => 2 }))).toBe('action_invalid_definition');
    // params describes the argument list: a schema of another type could never match a call.
    expect(() => registry.register({ ...meta('e'), params: { type: 'string' }, fn: () => 2 })).toThrow(/type must be "array"/);
    expect(() => registry.register({ ...meta('f'), params: { type: 'array', items: { type: 'nonsense' } }, fn: () => 2 })).toThrow(/not a valid JSON Schema: .+/);
    expect(codeOf(() => registry.registerInstance({}))).toBe('action_invalid_definition');
    expect(registry.ids()).toEqual(['a']);
  });

  it('reports unknown dependencies and cycles clearly', () => {
    const unknown = new ActionRegistry().register({ ...meta('a', ['ghost']), fn: () => 1 });
    expect(() => unknown.check()).toThrowError(/a → ghost/);

    const cyclic = new ActionRegistry()
      .register({ ...meta('a', ['b']), fn: () => 1 })
      .register({ ...meta('b', ['c']), fn: () => 1 })
      .register({ ...meta('c', ['a']), fn: () => 1 });
    const err = (() => {
      try {
        cyclic.check();
      } catch (e) {
        return e as AppError;
      }
      throw new Error('check() accepted a cycle');
    })();
    expect(err.code).toBe('action_dependency_cycle');
    expect(err.message).toContain('a → b → c → a');
  });

  it('rethrows what the action throws', async () => {
    const registry = new ActionRegistry().register({ ...meta('boom'), fn: () => { throw new Error('kaput'); } });
    await expect(registry.invoke('boom', [])).rejects.toThrow('kaput');
    await expect(registry.invoke('missing', [])).rejects.toMatchObject({ code: 'action_not_available' });
  });
});

describe('computeAvailability', () => {
  const actions = [
    { id: 'a', dependsOn: [] },
    { id: 'b', dependsOn: ['a'] },
    { id: 'c', dependsOn: ['b'] },
    { id: 'd', dependsOn: [] },
  ];

  it('is registered ∩ enabled ∩ allowed', () => {
    const result = computeAvailability({ actions, enabled: ['a', 'b', 'c', 'd'], allowed: ['a', 'b', 'c'] });
    expect(result.available).toEqual(['a', 'b', 'c']);
    expect(result.unavailable).toEqual({ d: { code: 'not_allowed', message: expect.stringContaining('allowedActions') } });
  });

  it('cascades a disabled dependency through every dependent, with the reason', () => {
    const result = computeAvailability({ actions, enabled: ['b', 'c', 'd'], allowed: ['a', 'b', 'c', 'd'] });
    expect(result.available).toEqual(['d']);
    expect(result.unavailable.a).toMatchObject({ code: 'disabled' });
    expect(result.unavailable.b).toMatchObject({ code: 'dependency_unavailable', dependency: 'a' });
    expect(result.unavailable.c).toMatchObject({ code: 'dependency_unavailable', dependency: 'b' });
    expect(result.unavailable.c?.message).toContain('a is switched off');
  });

  it('drops an action whose dependency is enabled but not allowed for the webhook', () => {
    const result = computeAvailability({ actions, enabled: ['a', 'b', 'c', 'd'], allowed: ['b', 'c'] });
    expect(result.available).toEqual([]);
    expect(result.unavailable.b).toMatchObject({ code: 'dependency_unavailable', dependency: 'a' });
  });

  it('ignores enabled or allowed ids that are not registered, and global view has no allowed list', () => {
    const result = computeAvailability({ actions, enabled: ['a', 'ghost'] });
    expect(result.available).toEqual(['a']);
    expect(Object.keys(result.unavailable).sort()).toEqual(['b', 'c', 'd']);
  });

  it('does not loop on a cycle that slipped past check()', () => {
    const result = computeAvailability({ actions: [{ id: 'x', dependsOn: ['y'] }, { id: 'y', dependsOn: ['x'] }], enabled: ['x', 'y'] });
    expect(result.available).toEqual([]);
  });
});
