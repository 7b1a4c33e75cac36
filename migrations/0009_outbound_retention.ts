import type { Knex } from 'knex';

/**
 * What the delivery log's retention prune looks up: finished deliveries by completion time (partial, so
 * the open ones the queue works on never carry it), and messages by age (to find those no delivery
 * references any more, also after their webhook was deleted).
 */
const UP = [
  `create index outbound_deliveries_finished_idx on outbound_deliveries (completed_at) where status in ('succeeded', 'failed')`,
  `create index outbound_messages_created_idx on outbound_messages (created_at)`,
];

const DOWN = ['drop index if exists outbound_messages_created_idx', 'drop index if exists outbound_deliveries_finished_idx'];

export async function up(knex: Knex): Promise<void> {
  for (const sql of UP) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const sql of DOWN) await knex.raw(sql);
}
