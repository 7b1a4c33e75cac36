import { describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/use-test-engine.js';
import { storeFactories } from '../helpers/stores.js';

const SCRIPT = "result = { event: 'x.done', data: body };";

describe.each(storeFactories())('admin API on $name', (factory) => {
  const { t } = useTestEngine(factory);

  it('requires the bearer token on every route (401 with a stable code)', async () => {
    const hook = (await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'authcheck', jsScript: SCRIPT })).body;
    const routes: Array<[string, string, unknown?]> = [
      ['GET', '/webhooks'],
      ['POST', '/webhooks', { direction: 'inbound', provider: 'sneaky', jsScript: SCRIPT }],
      ['GET', `/webhooks/${hook.id}`],
      ['PATCH', `/webhooks/${hook.id}`, { isActive: false }],
      ['DELETE', `/webhooks/${hook.id}`],
      ['POST', `/webhooks/${hook.id}/dry-run`, { body: {} }],
      ['GET', '/actions'],
      ['GET', '/settings'],
      ['PATCH', '/settings', { enabledWebhookActions: [] }],
      ['GET', '/runs'],
      ['GET', '/nonexistent'],
    ];
    for (const [method, path, body] of routes) {
      const missing = await t.api(method, path, body, null);
      expect(missing, `${method} ${path}`).toMatchObject({ status: 401, body: { error: { code: 'auth_missing' } } });
      const wrong = await t.api(method, path, body, 'not-the-token-at-all');
      expect(wrong, `${method} ${path}`).toMatchObject({ status: 401, body: { error: { code: 'auth_invalid' } } });
    }
    // Nothing changed behind the 401s.
    expect((await t.api('GET', `/webhooks/${hook.id}`)).body.isActive).toBe(true);
    expect((await t.api('GET', '/webhooks')).body.items.some((w: any) => w.provider === 'sneaky')).toBe(false);
  });

  it('creates an inbound webhook with the contract defaults and never returns the verify secret', async () => {
    const res = await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'defaults', jsScript: SCRIPT });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.any(String),
      direction: 'inbound',
      provider: 'defaults',
      jsScript: SCRIPT,
      allowedActions: [],
      events: ['*'],
      emitEvents: null,
      verify: { scheme: 'none', hasSecret: false },
      isActive: true,
      tenantId: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const signed = await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'signed', jsScript: SCRIPT, verify: { scheme: 'stripe', secret: 'whsec_topsecret' } });
    expect(signed.status).toBe(201);
    expect(JSON.stringify(signed.body)).not.toContain('topsecret');
    expect(signed.body.verify).toEqual({ scheme: 'stripe', hasSecret: true });
    const read = await t.api('GET', `/webhooks/${signed.body.id}`);
    expect(JSON.stringify(read.body)).not.toContain('topsecret');
    expect(JSON.stringify((await t.api('GET', '/webhooks')).body)).not.toContain('topsecret');
  });

  it('validates input with ajv details and stores nothing on failure', async () => {
    const cases: Array<[unknown, number, string, string?]> = [
      [{ direction: 'inbound', provider: 'Bad Name', jsScript: SCRIPT }, 400, 'validation_failed', '/provider'],
      [{ direction: 'inbound', provider: 'extra', jsScript: SCRIPT, colour: 'blue' }, 400, 'validation_failed', '/colour'],
      [{ direction: 'inbound', jsScript: SCRIPT }, 400, 'validation_failed'],
      [{ direction: 'inbound', provider: 'nosecret', jsScript: SCRIPT, verify: { scheme: 'github' } }, 400, 'validation_failed'],
      [{ direction: 'inbound', provider: 'ghost', jsScript: SCRIPT, allowedActions: ['ghost.action'] }, 400, 'unknown_action'],
    ];
    for (const [body, status, code, path] of cases) {
      const res = await t.api('POST', '/webhooks', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.error.code).toBe(code);
      if (path) expect(res.body.error.details.map((d: any) => d.path)).toContain(path);
    }
    const names = (await t.api('GET', '/webhooks')).body.items.map((w: any) => w.provider);
    for (const p of ['extra', 'nosecret', 'ghost']) expect(names).not.toContain(p);
  });

  it('reports a compile error with its line and column; top-level await and return compile', async () => {
    const res = await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'broken', jsScript: 'const a = 1;\nconst b = ;\n' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'script_compile_error', details: { line: 2, column: expect.any(Number) } });
    expect(res.body.error.details.column).toBeGreaterThanOrEqual(10);
    expect(res.body.error.details.column).toBeLessThanOrEqual(12);
    const ok = await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'awaits', jsScript: 'await actions; if (!body) return;\nresult = null;' });
    expect(ok.status).toBe(201);
  });

  it('answers 409 on a provider clash, on create and on rename', async () => {
    await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'taken', jsScript: SCRIPT });
    const clash = await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'taken', jsScript: SCRIPT });
    expect(clash).toMatchObject({ status: 409, body: { error: { code: 'provider_conflict' } } });
    const other = (await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'other', jsScript: SCRIPT })).body;
    const rename = await t.api('PATCH', `/webhooks/${other.id}`, { provider: 'taken' });
    expect(rename.status).toBe(409);
  });

  it('patches partially, deletes with 204, and each change reaches the very next inbound request', async () => {
    const hook = (await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'live', jsScript: "result = { event: 'v1', data: null };" })).body;
    const emitted = async () => {
      const res = await t.inbound('live', { type: 'ping' });
      if (res.status !== 200) return res.status;
      return (await t.api('GET', `/runs/${res.body.runId}`)).body.emittedEvent;
    };
    expect(await emitted()).toBe('v1');

    const patched = await t.api('PATCH', `/webhooks/${hook.id}`, { jsScript: "result = { event: 'v2', data: null };" });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ provider: 'live', events: ['*'], scriptVersion: 2 });
    expect(await emitted()).toBe('v2');

    await t.api('PATCH', `/webhooks/${hook.id}`, { events: ['invoice.paid'] });
    const filtered = await t.inbound('live', { type: 'ping' });
    expect((await t.api('GET', `/runs/${filtered.body.runId}`)).body.status).toBe('ignored');
    await t.api('PATCH', `/webhooks/${hook.id}`, { events: ['*'] });

    await t.api('PATCH', `/webhooks/${hook.id}`, { isActive: false });
    expect(await emitted()).toBe(404);
    await t.api('PATCH', `/webhooks/${hook.id}`, { isActive: true });
    expect(await emitted()).toBe('v2');

    expect((await t.api('DELETE', `/webhooks/${hook.id}`)).status).toBe(204);
    expect(await emitted()).toBe(404);
    expect((await t.api('GET', `/webhooks/${hook.id}`)).status).toBe(404);
    expect((await t.api('DELETE', `/webhooks/${hook.id}`)).status).toBe(404);
    expect((await t.api('PATCH', '/webhooks/not-a-uuid', { isActive: false })).body.error.code).toBe('webhook_not_found');
  });

  it('lists actions with their availability and why, and validates settings', async () => {
    await t.api('PATCH', '/settings', { enabledWebhookActions: ['crm.tag', 'billing.notify'] });
    const { items } = (await t.api('GET', '/actions')).body;
    const byId = Object.fromEntries(items.map((a: any) => [a.id, a]));
    expect(byId['crm.tag']).toMatchObject({ enabled: true, available: true, unavailableReason: null, label: 'Tag', category: 'CRM', dependsOn: [] });
    expect(byId['billing.cancel']).toMatchObject({ enabled: false, available: false, unavailableReason: { code: 'disabled' }, params: expect.any(Object) });
    expect(byId['billing.notify']).toMatchObject({
      enabled: true,
      available: false,
      dependsOn: ['billing.cancel'],
      unavailableReason: { code: 'dependency_unavailable', dependency: 'billing.cancel' },
    });

    const bad = await t.api('PATCH', '/settings', { enabledWebhookActions: ['crm.tag', 'no.such'] });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'unknown_action' } } });
    expect((await t.api('GET', '/settings')).body).toEqual({ enabledWebhookActions: ['billing.notify', 'crm.tag'] });
    expect((await t.api('PATCH', '/settings', { enabledWebhookActions: 'crm.tag' })).status).toBe(400);
    await t.api('PATCH', '/settings', { enabledWebhookActions: ['crm.tag', 'billing.notify', 'billing.cancel'] });
  });

  it('lists runs newest first with filters and a cursor, capping limit', async () => {
    await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'pager', jsScript: 'if (body.fail) throw new Error("no"); result = null;' });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await t.inbound('pager', { i, fail: i % 2 === 1 })).body.runId);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const qs: string = `?provider=pager&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = await t.api('GET', `/runs${qs}`);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((r: any) => r.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const failed = await t.api('GET', '/runs?provider=pager&status=error');
    expect(failed.body.items.map((r: any) => r.id)).toEqual([ids[3], ids[1]]);
    expect((await t.api('GET', '/runs?limit=100000')).status).toBe(200);
    expect((await t.api('GET', '/runs?status=bogus')).body.error.code).toBe('validation_failed');
    expect((await t.api('GET', '/runs?cursor=garbage')).body.error.code).toBe('invalid_cursor');
  });

  it('dry-runs a script with stub actions and changes nothing', async () => {
    const hook = (await t.api('POST', '/webhooks', { direction: 'inbound', provider: 'dry', jsScript: SCRIPT, allowedActions: ['billing.cancel'] })).body;
    const before = t.calls.length;
    const eventsBefore = t.events.length;
    const res = await t.api('POST', `/webhooks/${hook.id}/dry-run`, {
      body: { id: 'sub_1' },
      jsScript: "console.log('trying'); const r = await actions['billing.cancel'](body.id); result = { event: 'tried', data: r };",
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'ok',
      result: { event: 'tried', data: null },
      logs: [{ level: 'log', message: 'trying' }],
      actionsCalled: [{ id: 'billing.cancel', ok: true, args: ['sub_1'] }],
      durationMs: expect.any(Number),
    });
    expect(t.calls.length).toBe(before);
    await new Promise((r) => setTimeout(r, 50));
    expect(t.events.length).toBe(eventsBefore);
    expect((await t.api('GET', `/webhooks/${hook.id}`)).body.jsScript).toBe(SCRIPT);
  });

  it('maps malformed JSON to 400, a non-JSON content type to 415 and an oversize body to 413', async () => {
    const post = (body: string, type: string) =>
      fetch(`${t.baseUrl}/admin/api/webhooks`, { method: 'POST', headers: { authorization: 'Bearer test-admin-token-0123456789abcdef', 'content-type': type }, body });
    const malformed = await post('{"direction":', 'application/json');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as any).error.code).toBe('invalid_json');
    const text = await post('provider=x', 'text/plain');
    expect(text.status).toBe(415);
    expect(((await text.json()) as any).error.code).toBe('unsupported_media_type');
    const huge = await post(JSON.stringify({ direction: 'inbound', provider: 'huge', jsScript: 'x'.repeat(1.2 * 1024 * 1024) }), 'application/json');
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as any).error.code).toBe('payload_too_large');
  });
});
