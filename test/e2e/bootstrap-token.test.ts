import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/index.js';
import { createSilentLogger } from '../../src/logger.js';
import type { KnexStore } from '../../src/store/index.js';
import { storeFactories } from '../helpers/stores.js';

describe('the generated admin token', () => {
  let store: KnexStore;
  beforeAll(async () => {
    store = await storeFactories()[0]!.create();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('is made once per store, shown once, kept only as a hash, and accepted', async () => {
    const shown: string[] = [];
    const start = async () => {
      const engine = createEngine({ store, logger: createSilentLogger(), onAdminTokenGenerated: (t) => shown.push(t) });
      const server = await engine.listen(0);
      return { engine, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/admin/api/settings` };
    };
    const first = await start();
    expect(shown).toHaveLength(1);
    const token = shown[0]!;
    expect(token).toMatch(/^hg_admin_[A-Za-z0-9_-]{43}$/);
    const rows = await store.knex('admin_tokens').select('*');
    expect(JSON.stringify(rows)).not.toContain(token);
    expect((await fetch(first.url, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(first.url, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
    await first.engine.close();

    const second = await start();
    expect(shown).toHaveLength(1);
    expect((await fetch(second.url, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    await second.engine.close();
  });
});
