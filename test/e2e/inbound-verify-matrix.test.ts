import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/engine.js';
import { useTestEngine } from '../helpers/use-test-engine.js';
import { nowSec } from '../helpers/provider-signing.js';
import { matrixBody, SCHEME_ROWS, without } from '../helpers/scheme-matrix.js';
import { storeFactories } from '../helpers/stores.js';

/**
 * The scheme matrix of test/inbound/verify-matrix.test.ts over real HTTP, on both stores: each failure is a
 * 401 with its exact code and a `rejected` run, and a secret is rotated through the admin API without a
 * request being refused.
 */
describe.each(storeFactories())('verification matrix over HTTP on $name', (factory) => {
  const { t } = useTestEngine(factory);

  async function send(provider: string, body: Buffer, headers: Record<string, string>) {
    const res = await fetch(`${t.baseUrl}/tools/webhook/${provider}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    return { status: res.status, body: (await res.json()) as any };
  }

  it.each(SCHEME_ROWS)('$name', async (row) => {
    const { previous, current, wrong } = row.secrets;
    const provider = `matrix-${row.name}`;
    const created = await t.api('POST', '/webhooks', {
      direction: 'inbound',
      provider,
      verify: row.config([previous]),
      allowedActions: ['crm.tag'],
      jsScript: "await actions['crm.tag'](body.id);\nresult = { event: 'invoice.verified', data: { id: body.id, amount: body.data.object.amount_paid } };",
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const setSecrets = async (active: string[]) => expect((await t.api('PATCH', `/webhooks/${created.body.id}`, { verify: row.config(active) })).status).toBe(200);

    const accepted: string[] = [];
    const refused: string[] = [];
    const expectAccepted = async (body: Buffer, headers: Record<string, string>) => {
      const res = await send(provider, body, headers);
      expect(res, 'accepted').toEqual({ status: 200, body: { received: true, runId: expect.any(String) } });
      accepted.push(res.body.runId);
    };
    const expectRefused = async (code: string, body: Buffer, headers: Record<string, string>) => {
      const res = await send(provider, body, headers);
      expect(res, `refused with ${code}`).toMatchObject({ status: 401, body: { error: { code } } });
      refused.push(code);
    };

    // valid
    const valid = matrixBody();
    await expectAccepted(valid.body, row.sign(valid.body, previous, nowSec()));
    const event = await waitFor(() => t.events.find((e) => e.metadata.provider === provider), 3000, 'the emitted event');
    expect(event).toMatchObject({ event: 'invoice.verified', data: { id: JSON.parse(valid.body.toString()).id, amount: 2900 } });

    // wrong secret
    const w = matrixBody();
    await expectRefused(row.invalidCode, w.body, row.sign(w.body, wrong, nowSec()));

    // tampered body (the same signature on a body with one value changed)
    const tb = matrixBody();
    if (row.signsBody) await expectRefused(row.invalidCode, tb.tampered, row.sign(tb.body, previous, nowSec()));
    else await expectAccepted(tb.tampered, row.sign(tb.body, previous, nowSec()));

    // stale (and future) timestamp
    if (row.toleranceSec !== null) {
      const s = matrixBody();
      await expectRefused('signature_timestamp_invalid', s.body, row.sign(s.body, previous, nowSec() - row.toleranceSec - 5));
      await expectRefused('signature_timestamp_invalid', s.body, row.sign(s.body, previous, nowSec() + row.toleranceSec + 60));
    }

    // missing headers, one at a time
    for (const name of row.required) {
      const m = matrixBody();
      await expectRefused(row.missingCode, m.body, without(row.sign(m.body, previous, nowSec()), name));
    }

    // rotated secret: add the new one while the old one still works, then retire the old one
    await setSecrets([current, previous]);
    for (const secret of [previous, current]) {
      const r = matrixBody();
      await expectAccepted(r.body, row.sign(r.body, secret, nowSec()));
    }
    await setSecrets([current]);
    const retired = matrixBody();
    await expectRefused(row.invalidCode, retired.body, row.sign(retired.body, previous, nowSec()));
    const fresh = matrixBody();
    await expectAccepted(fresh.body, row.sign(fresh.body, current, nowSec()));

    // Every refusal left a rejected run naming its check, and no secret anywhere.
    const rejected = await waitFor(async () => {
      const page = await t.api('GET', `/runs?provider=${provider}&status=rejected&limit=200`);
      return page.body.items.length === refused.length ? page.body.items : undefined;
    }, 3000, 'the rejected runs');
    expect(rejected.map((r: any) => r.error.code).sort()).toEqual([...refused].sort());
    expect(rejected.every((r: any) => r.actionsCalled.length === 0 && r.emittedEvent === null)).toBe(true);
    const all = await t.api('GET', `/runs?provider=${provider}&limit=200`);
    expect(JSON.stringify(all.body)).not.toContain(previous);
    expect(JSON.stringify(all.body)).not.toContain(current);
    const ok = all.body.items.filter((r: any) => r.status === 'ok').map((r: any) => r.id);
    expect(ok.sort()).toEqual([...accepted].sort());
    expect(all.body.items).toHaveLength(accepted.length + refused.length);
    // The stored request (kept for replay) has its body as sent and no credentials.
    const stored = await t.api('GET', `/runs/${accepted[0]}/request`);
    expect(stored.status).toBe(200);
    expect(stored.body.body).toBe(valid.body.toString());
    expect(stored.body.headers.authorization).toBeUndefined();
    expect(stored.body.headers['x-api-key']).toBeUndefined();
    expect(JSON.stringify(stored.body)).not.toContain(previous);
  });
});
