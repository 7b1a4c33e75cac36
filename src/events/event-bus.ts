import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.js';

/** An event as the engine emits it: from a script's `result`, from the host app, or over HTTP. */
export interface EmittedEvent {
  event: string;
  data: unknown;
  tenantId: string | null;
  metadata: Record<string, unknown>;
  /**
   * The request (and run) that emitted it, for the log lines of its deliveries. Kept with the queued
   * message, never sent to receivers (`metadata` is what they see).
   */
  origin?: EventOrigin;
}

/** Where an event came from: the request id and, for a script's event, the run id. */
export interface EventOrigin {
  requestId: string;
  runId?: string;
}

export type EventListener = (event: EmittedEvent) => void | Promise<void>;

/**
 * In-process event bus. Listeners run after the emitter returns; a listener that throws or rejects is
 * logged and never reaches the emitter (an inbound request must not fail because a subscriber did).
 */
export class EventBus {
  readonly #emitter = new EventEmitter();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
    this.#emitter.setMaxListeners(0);
  }

  emit(event: EmittedEvent): void {
    const listeners = this.#emitter.listeners('event') as EventListener[];
    // Most engines have no host listener: then nothing is copied.
    if (listeners.length === 0) return;
    const frozen = Object.freeze({ ...event, metadata: Object.freeze({ ...event.metadata }) });
    for (const listener of listeners) {
      queueMicrotask(() => {
        Promise.resolve()
          .then(() => listener(frozen))
          .catch((err: unknown) => this.#logger.error('event listener failed', { event: event.event, err: String(err) }));
      });
    }
  }

  /** Subscribes; returns the function that unsubscribes. */
  subscribe(listener: EventListener): () => void {
    this.#emitter.on('event', listener);
    return () => this.#emitter.off('event', listener);
  }
}
