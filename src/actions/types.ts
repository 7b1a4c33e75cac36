/** What a developer declares about an action, in `@webhookAction({...})` or `registry.register({...})`. */
export interface ActionMetadata {
  /** Stable id scripts call it by, e.g. `subscription.cancel`. */
  id: string;
  label: string;
  category: string;
  description: string;
  /** Ids of actions that must also be available for this one to be. */
  dependsOn?: string[];
  /**
   * JSON Schema of the argument list (an array schema, e.g. `{type: 'array', items: [{type: 'string'}]}`),
   * checked with ajv before the function runs.
   */
  params?: Record<string, unknown>;
}

export type ActionFunction = (...args: any[]) => unknown;

export interface ActionDefinition extends ActionMetadata {
  fn: ActionFunction;
}

/** A registered action as the registry keeps it. */
export interface RegisteredAction {
  id: string;
  label: string;
  category: string;
  description: string;
  dependsOn: string[];
  params: Record<string, unknown> | null;
}

/** Why an action is not available to a run. */
export type UnavailableReason =
  | { code: 'disabled'; message: string }
  | { code: 'not_allowed'; message: string }
  | { code: 'dependency_unavailable'; message: string; dependency: string };

export interface Availability {
  /** Ids a run may call, sorted. */
  available: string[];
  /** Every registered id that is not available, with the reason. */
  unavailable: Record<string, UnavailableReason>;
}
