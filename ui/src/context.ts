import type { Capabilities, Identity } from './roles.js';

/** What every tab gets: who is signed in and what they may do. */
export interface AppContext {
  identity: Identity;
  can: Capabilities;
  /** Moves to another tab (and optionally opens an item there). */
  go(tab: TabId, item?: string): void;
}

export type TabId = 'webhooks' | 'control' | 'activity';
