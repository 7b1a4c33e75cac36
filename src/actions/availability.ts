import type { Availability, RegisteredAction, UnavailableReason } from './types.js';

export interface AvailabilityInput {
  actions: ReadonlyArray<Pick<RegisteredAction, 'id' | 'dependsOn'>>;
  /** Globally enabled ids (`settings.enabledWebhookActions`). */
  enabled: Iterable<string>;
  /** The webhook's `allowedActions`; undefined = only the global switches apply (the admin "Control" view). */
  allowed?: Iterable<string>;
}

/**
 * The one place that decides which actions a script gets: registered ∩ globally enabled ∩ allowed for the
 * webhook, minus every action whose `dependsOn` is (transitively) unavailable. Reasons name the first cause.
 */
export function computeAvailability(input: AvailabilityInput): Availability {
  const enabled = new Set(input.enabled);
  const allowed = input.allowed === undefined ? undefined : new Set(input.allowed);
  const byId = new Map(input.actions.map((a) => [a.id, a]));
  const unavailable: Record<string, UnavailableReason> = {};
  const resolved = new Map<string, boolean>();

  const visit = (id: string, path: Set<string>): boolean => {
    const known = resolved.get(id);
    if (known !== undefined) return known;
    const action = byId.get(id);
    let ok = true;
    if (!action) {
      ok = false; // an unknown dependency is reported by registry.check(); here it just makes dependents unavailable
    } else if (!enabled.has(id)) {
      unavailable[id] = { code: 'disabled', message: `${id} is switched off in the global settings` };
      ok = false;
    } else if (allowed && !allowed.has(id)) {
      unavailable[id] = { code: 'not_allowed', message: `${id} is not in this webhook's allowedActions` };
      ok = false;
    } else {
      path.add(id);
      for (const dep of action.dependsOn) {
        // A cycle cannot pass registry.check(); treat it as unavailable rather than recursing forever.
        const depOk = !path.has(dep) && visit(dep, path);
        if (!depOk) {
          const why = unavailable[dep]?.message ?? (byId.has(dep) ? 'it is in a dependency cycle' : 'it is not registered');
          unavailable[id] = { code: 'dependency_unavailable', dependency: dep, message: `${id} depends on ${dep}, which is unavailable: ${why}` };
          ok = false;
          break;
        }
      }
      path.delete(id);
    }
    resolved.set(id, ok);
    return ok;
  };

  for (const action of input.actions) visit(action.id, new Set());
  const available = input.actions.filter((a) => resolved.get(a.id)).map((a) => a.id).sort();
  return { available, unavailable };
}
