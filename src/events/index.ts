export { EventBus, type EmittedEvent, type EventListener } from './event-bus.js';
