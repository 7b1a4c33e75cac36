import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunRecorder } from '../../src/inbound/index.js';
import { createSilentLogger } from '../../src/logger.js';
import { uuidv7, type KnexStore } from '../../src/store/index.js';
import type { RunRecord } from '../../src/store/types.js';
import { storeFactories } from '../helpers/stores.js';

function run(createdAt = new Date().toISOString()): RunRecord {
  return { id: uuidv7(), webhookId: null, provider: 'recorder', eventType: null, status: 'ok', durationMs: 1, scriptVersion: 1, actionsCalled: [], logs: [], error: null, emittedEvent: null, createdAt, inboxId: null };
}

/** A record the database refuses as data is dropped on its own; it never holds back the records around it. */
describe.each(storeFactories())('run recorder and a record the database refuses, on $name', (factory) => {
  let store: KnexStore;

  beforeAll(async () => {
    store = await factory.create();
  });
  afterAll(async () => {
    await store.close();
  });

  it('writes the others of its batch and every later one; flush reports them written', async () => {
    const recorder = new RunRecorder({ store, logger: createSilentLogger(), flushMs: 60_000 });
    const before = run();
    const refused = run('not a timestamp');
    const after = run();
    for (const r of [before, refused, after]) recorder.record(r);
    expect(await recorder.flush()).toBe(true);
    expect(await store.getRun(before.id)).toMatchObject({ id: before.id });
    expect(await store.getRun(after.id)).toMatchObject({ id: after.id });
    expect(await store.getRun(refused.id)).toBeNull();

    // Alone in its batch too, and the next batch goes through.
    recorder.record(run('still not a timestamp'));
    expect(await recorder.flush()).toBe(true);
    const next = run();
    recorder.record(next);
    expect(await recorder.flush()).toBe(true);
    expect(await store.getRun(next.id)).toMatchObject({ id: next.id });
    expect(recorder.pending).toBe(0);
  });
});
