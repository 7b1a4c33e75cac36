import { Ajv, type ValidateFunction } from 'ajv';
import { AppError } from '../errors.js';
import { getDecoratedActions } from './decorator.js';
import type { ActionDefinition, ActionFunction, ActionMetadata, RegisteredAction } from './types.js';

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

interface Entry {
  action: RegisteredAction;
  fn: ActionFunction;
  validateArgs: ValidateFunction | null;
}

/**
 * Registered webhook actions. Registration fails fast on bad or duplicate definitions; `check()` reports
 * unknown `dependsOn` ids and cycles across the whole set (call it once everything is registered —
 * the engine does so on start).
 */
export class ActionRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #ajv = new Ajv({ allErrors: true, strict: false });
  #sorted: RegisteredAction[] | null = null;
  #version = 0;

  /** Registers a plain function as an action. */
  register(definition: ActionDefinition): this {
    const { fn, ...metadata } = definition;
    if (typeof fn !== 'function') {
      throw new AppError('action_invalid_definition', `Action ${String(metadata.id)} needs a function`);
    }
    this.#add(metadata, fn);
    return this;
  }

  /** Registers every `@webhookAction` method of `instance`, bound to it. Returns the ids registered. */
  registerInstance(instance: object): string[] {
    const decorated = getDecoratedActions(instance);
    if (decorated.length === 0) {
      throw new AppError('action_invalid_definition', `${instance.constructor?.name ?? 'object'} has no @webhookAction methods`);
    }
    return decorated.map(({ propertyKey, metadata }) => {
      const method = (instance as Record<string | symbol, unknown>)[propertyKey];
      if (typeof method !== 'function') {
        throw new AppError('action_invalid_definition', `Action ${metadata.id}: ${String(propertyKey)} is not a method`);
      }
      this.#add(metadata, method.bind(instance) as ActionFunction);
      return metadata.id;
    });
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  get(id: string): RegisteredAction | undefined {
    return this.#entries.get(id)?.action;
  }

  /** All actions, sorted by category then id. The array is shared and frozen: it is read on every run. */
  list(): readonly RegisteredAction[] {
    this.#sorted ??= Object.freeze(
      [...this.#entries.values()].map((e) => e.action).sort((a, b) => a.category.localeCompare(b.category) || a.id.localeCompare(b.id)),
    ) as RegisteredAction[];
    return this.#sorted;
  }

  /** Increases with every registration, so derived caches know when to recompute. */
  get version(): number {
    return this.#version;
  }

  ids(): string[] {
    return [...this.#entries.keys()];
  }

  /** Throws AppError listing every unknown dependency, or the first cycle found. */
  check(): void {
    const unknown: Array<{ action: string; dependsOn: string }> = [];
    for (const { action } of this.#entries.values()) {
      for (const dep of action.dependsOn) if (!this.#entries.has(dep)) unknown.push({ action: action.id, dependsOn: dep });
    }
    if (unknown.length > 0) {
      const text = unknown.map((u) => `${u.action} → ${u.dependsOn}`).join(', ');
      throw new AppError('action_unknown_dependency', `Unknown dependsOn ids: ${text}`, { details: unknown });
    }
    const cycle = this.#findCycle();
    if (cycle) {
      throw new AppError('action_dependency_cycle', `Action dependencies form a cycle: ${cycle.join(' → ')}`, { details: { cycle } });
    }
  }

  /**
   * Validates `args` against the action's `params` schema and calls it. Throws AppError
   * `action_invalid_arguments` (with ajv details) or rethrows what the action threw.
   */
  async invoke(id: string, args: unknown[]): Promise<unknown> {
    const entry = this.#entries.get(id);
    if (!entry) throw new AppError('action_not_available', `Action ${id} is not registered`);
    if (entry.validateArgs && !entry.validateArgs(args)) {
      const details = (entry.validateArgs.errors ?? []).map((e) => ({ path: e.instancePath, message: e.message }));
      const text = details.map((d) => `${d.path || 'arguments'} ${d.message}`).join('; ');
      throw new AppError('action_invalid_arguments', `Invalid arguments for ${id}: ${text}`, { details });
    }
    return await entry.fn(...args);
  }

  #add(metadata: ActionMetadata, fn: ActionFunction): void {
    const action = normalise(metadata);
    if (this.#entries.has(action.id)) {
      throw new AppError('action_duplicate', `Action ${action.id} is already registered`);
    }
    let validateArgs: ValidateFunction | null = null;
    if (action.params) {
      try {
        validateArgs = this.#ajv.compile(action.params);
      } catch (cause) {
        throw new AppError('action_invalid_definition', `Action ${action.id}: params is not a valid JSON Schema: ${(cause as Error).message}`, { cause });
      }
    }
    this.#entries.set(action.id, { action, fn, validateArgs });
    this.#sorted = null;
    this.#version++;
  }

  #findCycle(): string[] | null {
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const walk = (id: string): string[] | null => {
      if (state.get(id) === 'done') return null;
      if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
      state.set(id, 'visiting');
      stack.push(id);
      for (const dep of this.#entries.get(id)?.action.dependsOn ?? []) {
        const found = walk(dep);
        if (found) return found;
      }
      stack.pop();
      state.set(id, 'done');
      return null;
    };
    for (const id of this.#entries.keys()) {
      const found = walk(id);
      if (found) return found;
    }
    return null;
  }
}

function normalise(metadata: ActionMetadata): RegisteredAction {
  const { id, label, category, description, dependsOn = [], params } = metadata;
  const problems: string[] = [];
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) problems.push(`id must match ${ID_PATTERN}`);
  for (const [name, value] of Object.entries({ label, category, description })) {
    if (typeof value !== 'string' || value.trim() === '') problems.push(`${name} must be a non-empty string`);
  }
  if (!Array.isArray(dependsOn) || dependsOn.some((d) => typeof d !== 'string')) problems.push('dependsOn must be an array of ids');
  else if (dependsOn.includes(id)) problems.push('an action cannot depend on itself');
  if (params !== undefined && (typeof params !== 'object' || params === null)) problems.push('params must be a JSON Schema object');
  // It describes the argument list, which is always an array: any other type could never match.
  else if (params !== undefined && 'type' in params && params.type !== 'array') problems.push('params describes the argument list: its type must be "array"');
  if (problems.length > 0) {
    throw new AppError('action_invalid_definition', `Action ${String(id)}: ${problems.join('; ')}`, { details: problems });
  }
  return Object.freeze({ id, label, category, description, dependsOn: Object.freeze([...new Set(dependsOn)]) as string[], params: params ?? null });
}
