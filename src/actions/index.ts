export { webhookAction } from './decorator.js';
export { ActionRegistry } from './registry.js';
export { computeAvailability, type AvailabilityInput } from './availability.js';
export type { ActionDefinition, ActionFunction, ActionMetadata, Availability, RegisteredAction, UnavailableReason } from './types.js';
