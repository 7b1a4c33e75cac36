import { describe, expect, it } from 'vitest';
import { INVALID_TOKENS_PER_MINUTE } from '../../src/admin/auth.js';
import { useTestEngine } from '../helpers/use-test-engine.js';
import { storeFactories } from '../helpers/stores.js';

/** A client sending many different invalid admin tokens (guessing a key or a short HOOKGATE_ADMIN_TOKEN). */
describe.each(storeFactories())('admin token guessing on $name', (factory) => {
  const { t } = useTestEngine(factory);

  const guess = (i: number) => `hg_guess_${i}_${'x'.repeat(40)}`;
  const webhooksWith = (token: string) => fetch(`${t.baseUrl}/admin/api/webhooks`, { headers: { authorization: `Bearer ${token}` } });

  it('is answered 429 past 20 different invalid tokens a minute, without a lookup; keys already at work are not held up', async () => {
    // An admin at work before the flood: the bootstrap token and a stored key.
    expect((await t.api('GET', '/webhooks')).status).toBe(200);
    const created = await t.api('POST', '/keys', { role: 'admin', tenantId: null, name: 'at work' });
    expect((await t.api('GET', '/webhooks', undefined, created.body.key)).status).toBe(200);
    const unused = await t.api('POST', '/keys', { role: 'admin', tenantId: null, name: 'not used yet' });

    const statuses: number[] = [];
    for (let i = 0; i < INVALID_TOKENS_PER_MINUTE; i++) statuses.push((await webhooksWith(guess(i))).status);
    expect(new Set(statuses)).toEqual(new Set([401]));

    const limited = await webhooksWith(guess(INVALID_TOKENS_PER_MINUTE));
    expect(limited.status).toBe(429);
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('auth_rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Even a right guess of a token never seen valid in this process waits (the price of stopping guessing).
    expect((await webhooksWith(unused.body.key)).status).toBe(429);
    // A token already refused is refused again as such (a script with a stale key is not a guesser)...
    expect((await webhooksWith(guess(0))).status).toBe(401);
    // ...and the keys at work before the flood go on working from the same address.
    expect((await t.api('GET', '/webhooks', undefined, created.body.key)).status).toBe(200);
    expect((await t.api('GET', '/webhooks')).status).toBe(200);
  });
});
