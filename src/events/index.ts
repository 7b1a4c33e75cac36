export { EventBus, type EmittedEvent, type EventListener, type EventOrigin } from './event-bus.js';
export { EventCatalog, RESERVED_EVENTS, type EventTypeDefinition, type DefineEventOptions } from './event-catalog.js';
