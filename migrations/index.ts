import type { Knex } from 'knex';
import * as m0001 from './0001_initial.js';
import * as m0002 from './0002_outbound.js';
import * as m0003 from './0003_admin_keys.js';
import * as m0004 from './0004_inbound.js';
import * as m0005 from './0005_run_replays.js';
import * as m0007 from './0007_audit_log.js';
import * as m0008 from './0008_api_key_last_used.js';
import * as m0009 from './0009_outbound_retention.js';
import * as m0010 from './0010_outbound_origin.js';
import * as m0011 from './0011_config_notify.js';
import * as m0012 from './0012_run_requests.js';

/** One schema migration. `name` is what knex records in `knex_migrations`; never rename one. */
export interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/**
 * Every migration, oldest first. Listed by hand rather than globbed from the folder so the same code
 * works from `.ts` under vitest/tsx and from `dist/` after `tsc`. Add new ones at the end.
 */
export const migrations: readonly Migration[] = [
  { name: '0001_initial', up: m0001.up, down: m0001.down },
  { name: '0002_outbound', up: m0002.up, down: m0002.down },
  { name: '0003_admin_keys', up: m0003.up, down: m0003.down },
  { name: '0004_inbound', up: m0004.up, down: m0004.down },
  { name: '0005_run_replays', up: m0005.up, down: m0005.down },
  { name: '0007_audit_log', up: m0007.up, down: m0007.down },
  { name: '0008_api_key_last_used', up: m0008.up, down: m0008.down },
  { name: '0009_outbound_retention', up: m0009.up, down: m0009.down },
  { name: '0010_outbound_origin', up: m0010.up, down: m0010.down },
  { name: '0011_config_notify', up: m0011.up, down: m0011.down },
  { name: '0012_run_requests', up: m0012.up, down: m0012.down },
];
