import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { AppError } from '../errors.js';

/** One event type the host app declared: its name, a JSON Schema of its `data`, and a description. */
export interface EventTypeDefinition {
  name: string;
  description: string | null;
  schema: Record<string, unknown>;
}

export interface DefineEventOptions {
  description?: string;
}

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

const EVENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

/**
 * The engine's own operational events: receivers trust them as the engine's (an endpoint disabled, a test
 * ping), so nothing else may emit them — not the admin API, `engine.emit()` or a script, and not under the
 * same name in other letter case either (a receiver may compare names case-insensitively). The catalog may
 * still define them, to describe them to subscribers.
 */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set(['webhook.test', 'webhook.disabled']);

/**
 * A reserved name in any letter case, also by the Unicode letters whose case mapping gives an ASCII one
 * (`ı` upper-cases to `I`, `ſ` to `S`, the Kelvin sign lower-cases to `k`) or that NFKC folds to one (full-width forms).
 */
function isReserved(name: string): boolean {
  const folded = name.normalize('NFKC');
  return RESERVED_EVENTS.has(folded.toLowerCase()) || RESERVED_EVENTS.has(folded.toUpperCase().toLowerCase());
}

/**
 * The event catalog: the event types a host app emits, each with a JSON Schema of its `data`.
 *
 * Policy: while the catalog is empty every event name is accepted (an app that never declares events
 * keeps working). Once one type is defined the catalog is strict: `POST /admin/api/events`,
 * `engine.emit()` and script results must name a defined type (`event_unknown`) and carry data that
 * matches its schema (`event_invalid`). The engine's own operational events (`webhook.test`,
 * `webhook.disabled`) are refused on every such path (`event_reserved`); the engine emits them itself.
 *
 * @example
 * engine.events.define('org-created', { type: 'object', required: ['orgId'], properties: { orgId: { type: 'string' } } });
 */
export class EventCatalog {
  readonly #ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
  readonly #types = new Map<string, { definition: EventTypeDefinition; validate: ValidateFunction }>();

  /** Declares an event type. Throws `validation_failed` on a bad name, a duplicate or a schema ajv refuses. */
  define(name: string, schema: Record<string, unknown> = {}, options: DefineEventOptions = {}): this {
    if (!EVENT_NAME.test(name) || name.length > 200) throw new AppError('validation_failed', `Event type name "${name}" is not valid.`);
    if (this.#types.has(name)) throw new AppError('validation_failed', `Event type "${name}" is already defined.`);
    let validate: ValidateFunction;
    try {
      validate = this.#ajv.compile(schema);
    } catch (cause) {
      throw new AppError('validation_failed', `The schema of event type "${name}" is invalid: ${(cause as Error).message}`, { cause });
    }
    const definition = Object.freeze({ name, description: options.description ?? null, schema: structuredClone(schema) });
    this.#types.set(name, { definition, validate });
    return this;
  }

  has(name: string): boolean {
    return this.#types.has(name);
  }

  get size(): number {
    return this.#types.size;
  }

  /** Every defined type, by name. */
  list(): EventTypeDefinition[] {
    return [...this.#types.values()].map((t) => t.definition).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Checks an event against the catalog (nothing but the reserved names to check while it is empty).
   * @throws AppError `event_reserved` (an operational event of the engine), `event_unknown` (not defined),
   * `event_invalid` (data does not match; details = ajv errors).
   */
  check(name: string, data: unknown): void {
    if (typeof name !== 'string' || name.length === 0) throw new AppError('validation_failed', 'An event needs a name (a non-empty string).');
    if (isReserved(name)) {
      throw new AppError('event_reserved', `The event "${name}" belongs to the engine: only the engine emits it.`, { details: { event: name, reserved: [...RESERVED_EVENTS] } });
    }
    if (this.#types.size === 0) return;
    const type = this.#types.get(name);
    if (!type) {
      throw new AppError('event_unknown', `The event type "${name}" is not in the event catalog.`, { details: { event: name, known: [...this.#types.keys()].sort() } });
    }
    if (type.validate(data)) return;
    const details = (type.validate.errors ?? []).map((e) => ({
      path: e.keyword === 'required' ? `${e.instancePath}/${String(e.params.missingProperty)}` : e.instancePath || '/',
      message: e.message ?? 'is invalid',
      keyword: e.keyword,
      params: e.params,
    }));
    const summary = details.slice(0, 5).map((d) => `data${d.path === '/' ? '' : d.path} ${d.message}`).join('; ');
    throw new AppError('event_invalid', `The data of event "${name}" does not match its schema: ${summary}`, { details: { event: name, errors: details } });
  }
}
