import 'reflect-metadata';
import type { ActionMetadata } from './types.js';

const ACTIONS_KEY = Symbol.for('hookgate:webhookActions');

interface DecoratedMethod {
  propertyKey: string | symbol;
  metadata: ActionMetadata;
}

/**
 * Marks a service method as a webhook action. Register an instance with `registry.registerInstance(service)`;
 * the method is bound to that instance, so `this` works inside it.
 *
 * @example
 * class Billing {
 *   @webhookAction({ id: 'subscription.cancel', label: 'Cancel subscription', category: 'Billing',
 *     description: 'Cancels a subscription', params: { type: 'array', items: [{ type: 'string' }], minItems: 1 } })
 *   async cancel(subscriptionId: string) { … }
 * }
 */
export function webhookAction(metadata: ActionMetadata): MethodDecorator {
  return (target, propertyKey) => {
    const existing: DecoratedMethod[] = Reflect.getOwnMetadata(ACTIONS_KEY, target) ?? [];
    Reflect.defineMetadata(ACTIONS_KEY, [...existing, { propertyKey, metadata }], target);
  };
}

/** Decorated methods of an instance's class chain (subclass entries first). */
export function getDecoratedActions(instance: object): DecoratedMethod[] {
  const found: DecoratedMethod[] = [];
  for (let proto = Object.getPrototypeOf(instance); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    const own: DecoratedMethod[] | undefined = Reflect.getOwnMetadata(ACTIONS_KEY, proto);
    if (own) found.push(...own);
  }
  return found;
}
