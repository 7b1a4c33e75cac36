import type { Knex } from 'knex';

/** A run made by `POST /admin/api/runs/:id/replay` names the run whose stored request it re-ran. */
const UP = [`alter table runs add column replay_of uuid`];

const DOWN = ['alter table runs drop column if exists replay_of'];

export async function up(knex: Knex): Promise<void> {
  for (const sql of UP) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const sql of DOWN) await knex.raw(sql);
}
