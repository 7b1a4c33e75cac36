import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/types.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { storeFactories } from '../helpers/stores.js';

describe.each(storeFactories())('inbound path on $name', (factory) => {
  let store: Store;
  let t: TestEngine;

  beforeAll(async () => {
    store = await factory.create();
    t = await startTestEngine(store, { bodyLimitBytes: 64 * 1024, sandbox: { limits: { timeoutMs: 1500, cpuTimeMs: 1000 } } });
  });
  afterAll(async () => {
    await t?.close();
    await store?.close();
  });

  async function createInbound(provider: string, jsScript: string, extra: Record<string, unknown> = {}) {
    const res = await t.api('POST', '/webhooks', { direction: 'inbound', provider, jsScript, allowedActions: ['crm.tag', 'billing.cancel', 'billing.notify'], ...extra });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { id: string };
  }

  async function runOf(runId: string) {
    const res = await t.api('GET', `/runs/${runId}`);
    expect(res.status).toBe(200);
    return res.body;
  }

  it('records a run whose console lines hold NUL characters (PostgreSQL refuses them) and the runs after it; an escaped NUL in the body stays text', async () => {
    await createInbound('nul', "console.log('a\\u0000b'); result = null;");
    const poisoned = await t.inbound('nul', { text: 'x\u0000y' });
    const after = await t.inbound('nul', { text: 'fine' });
    const run = await waitFor(async () => {
      const res = await t.api('GET', `/runs/${poisoned.body.runId}`);
      return res.status === 200 ? res.body : undefined;
    }, 5000, 'the run with NUL characters');
    expect(run.logs).toEqual([expect.objectContaining({ message: 'a\ufffdb' })]);
    expect(run.status).toBe('ok');
    // The written-out escape in the body is text, not a NUL: kept as received.
    const request = await t.api('GET', `/runs/${poisoned.body.runId}/request`);
    expect(JSON.parse(request.body.body)).toEqual({ text: 'x\u0000y' });
    await waitFor(async () => ((await t.api('GET', `/runs/${after.body.runId}`)).status === 200 ? true : undefined), 5000, 'the next run');
  });

  it('runs the script with its actions, records the run and emits the result event', async () => {
    await createInbound(
      'shop',
      `console.log('got', body.type, headers['x-shop']);
       const r = await actions['billing.cancel'](body.data.id);
       await actions['billing.notify']('u-1');
       result = { event: 'order.cancelled', data: { id: r.cancelled, keys: Object.keys(actions).sort() } };`,
    );
    const before = t.calls.length;
    const res = await t.inbound('shop', { type: 'order.deleted', data: { id: 'sub_9' } }, { 'X-Shop': 'north' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: true, runId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(t.calls.slice(before)).toEqual([
      { id: 'billing.cancel', args: ['sub_9'] },
      { id: 'billing.notify', args: ['u-1'] },
    ]);
    const event = await waitFor(() => t.events.find((e) => e.metadata.runId === res.body.runId), 2000, 'emitted event');
    expect(event).toMatchObject({
      event: 'order.cancelled',
      data: { id: 'sub_9', keys: ['billing.cancel', 'billing.notify', 'crm.tag'] },
      tenantId: null,
      metadata: { provider: 'shop', runId: res.body.runId, tenantId: null },
    });
    const run = await runOf(res.body.runId);
    expect(run).toMatchObject({
      id: res.body.runId,
      provider: 'shop',
      eventType: 'order.deleted',
      status: 'ok',
      emittedEvent: 'order.cancelled',
      actionsCalled: [
        { id: 'billing.cancel', ok: true },
        { id: 'billing.notify', ok: true },
      ],
      logs: [{ level: 'log', message: 'got order.deleted north' }],
      error: null,
    });
    expect(run.durationMs).toBeGreaterThan(0);
  });

  it('answers 404 for unknown and inactive providers, 415, 413 and 400 for bad bodies', async () => {
    const unknown = await t.inbound('nobody', { type: 'x' });
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'provider_not_found' } } });

    const hook = await createInbound('sleepy', 'result = null;');
    await t.api('PATCH', `/webhooks/${hook.id}`, { isActive: false });
    expect((await t.inbound('sleepy', { type: 'x' })).status).toBe(404);

    // Form bodies are accepted since issue 5 (Slack, Twilio); other types are not.
    const text = await fetch(`${t.baseUrl}/tools/webhook/shop`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'a=1' });
    expect(text.status).toBe(415);
    expect(((await text.json()) as any).error.code).toBe('unsupported_media_type');

    const big = await t.inbound('shop', { type: 'x', pad: 'x'.repeat(70 * 1024) });
    expect(big).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large' } } });

    const malformed = await t.inbound('shop', '{"type": "x",');
    expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
  });

  it('answers 200 when the script throws, and records the error with its line', async () => {
    await createInbound('thrower', `const x = 1;\nthrow new Error('bad payload ' + body.n);`);
    const res = await t.inbound('thrower', { n: 7 });
    expect(res).toMatchObject({ status: 200, body: { received: true } });
    expect(JSON.stringify(res.body)).not.toContain('bad payload');
    const run = await runOf(res.body.runId);
    expect(run).toMatchObject({ status: 'error', error: { code: 'script_error', line: 2 } });
    expect(run.error.message).toContain('bad payload 7');
  });

  it('stops a never-settling await at the wall clock while other requests are served', async () => {
    await createInbound('hang', 'await new Promise(() => {});');
    await createInbound('quick', "result = { event: 'quick.done', data: body };");
    const started = Date.now();
    const hanging = t.inbound('hang', { type: 'x' });
    await new Promise((r) => setTimeout(r, 100));
    const quick = await t.inbound('quick', { n: 1 });
    const quickMs = Date.now() - started;
    expect(quick.status).toBe(200);
    expect(quickMs).toBeLessThan(1400);
    const res = await hanging;
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(await runOf(res.body.runId)).toMatchObject({ status: 'timeout', error: { code: 'timeout' } });
  });

  it('stops a busy loop and keeps serving', async () => {
    await createInbound('spin', 'for (;;) {}');
    const spinning = t.inbound('spin', {});
    const quick = await t.inbound('quick', { n: 2 });
    expect(quick.status).toBe(200);
    const res = await spinning;
    expect(res.status).toBe(200);
    const run = await runOf(res.body.runId);
    expect(run.status).toBe('timeout');
  });

  it('records a memory bomb as memory and keeps serving', async () => {
    // Reaching a 64 MB heap takes about 0.4 s of work on a quiet machine and several times that on a
    // loaded one, so this engine's time limits are far above it: only the heap decides.
    await createInbound('bomb', 'const a = []; for (;;) a.push(new Array(1e6).fill(1));');
    const roomy = await startTestEngine(store, { sandbox: { limits: { timeoutMs: 20_000, cpuTimeMs: 15_000 } } });
    try {
      const res = await roomy.inbound('bomb', {});
      expect(res.status).toBe(200);
      const run = await roomy.api('GET', `/runs/${res.body.runId}`);
      expect(run.body).toMatchObject({ status: 'memory', error: { code: 'memory_limit' } });
      expect((await roomy.inbound('quick', { n: 3 })).status).toBe(200);
    } finally {
      await roomy.close();
    }
  });

  it('survives a catastrophic isolate failure that kills the sandbox process', async () => {
    await createInbound('abort', 'new Array(2 ** 31 - 1).fill(0);');
    const res = await t.inbound('abort', {});
    expect(res.status).toBe(200);
    const run = await runOf(res.body.runId);
    expect(['memory', 'crashed', 'error']).toContain(run.status);
    const after = await t.inbound('quick', { n: 4 });
    expect(after.status).toBe(200);
    expect((await runOf(after.body.runId)).status).toBe('ok');
  });

  it('gives a script only enabled ∩ allowed actions, minus broken dependencies', async () => {
    await createInbound('keys', "result = { event: 'keys', data: Object.keys(actions).sort() };", { allowedActions: ['crm.tag', 'billing.notify', 'billing.cancel'] });
    const keysOf = async () => {
      const res = await t.inbound('keys', {});
      return (await waitFor(() => t.events.find((e) => e.metadata.runId === res.body.runId), 2000, 'keys event')).data;
    };
    expect(await keysOf()).toEqual(['billing.cancel', 'billing.notify', 'crm.tag']);
    expect((await t.api('PATCH', '/settings', { enabledWebhookActions: ['crm.tag', 'billing.notify'] })).status).toBe(200);
    expect(await keysOf()).toEqual(['crm.tag']);
    await t.api('PATCH', '/settings', { enabledWebhookActions: ['crm.tag', 'billing.notify', 'billing.cancel'] });
    const hook = (await t.api('GET', '/webhooks')).body.items.find((w: any) => w.provider === 'keys');
    await t.api('PATCH', `/webhooks/${hook.id}`, { allowedActions: ['billing.notify'] });
    expect(await keysOf()).toEqual([]);
  });

  it('shows an action failure to the script as a sanitized error it can catch', async () => {
    await createInbound(
      'fails',
      `try { await actions['billing.notify']('explode'); }
       catch (e) { result = { event: 'caught', data: { message: e.message, code: e.code, hasStack: String(e.stack).includes('/') } }; }`,
    );
    const res = await t.inbound('fails', {});
    const event = await waitFor(() => t.events.find((e) => e.metadata.runId === res.body.runId), 2000, 'caught event');
    expect(event.data).toMatchObject({ code: 'action_failed', hasStack: false });
    const run = await runOf(res.body.runId);
    expect(run.actionsCalled).toEqual([expect.objectContaining({ id: 'billing.notify', ok: false, error: 'action_failed' })]);
  });

  it('records an action whose answer is not JSON as failed, as the script sees it', async () => {
    await createInbound('bigint', `try { await actions['billing.notify']('bigint'); } catch (e) { result = { event: 'caught', data: { code: e.code } }; }`);
    const res = await t.inbound('bigint', {});
    const event = await waitFor(() => t.events.find((e) => e.metadata.runId === res.body.runId), 2000, 'caught event');
    expect(event.data).toEqual({ code: 'action_failed' });
    expect((await runOf(res.body.runId)).actionsCalled).toEqual([expect.objectContaining({ id: 'billing.notify', ok: false, error: 'action_failed' })]);
  });

  it('refuses arguments that break an action schema before the action runs', async () => {
    await createInbound('badargs', `try { await actions['billing.cancel'](42); } catch (e) { result = { event: 'rejected', data: e.code }; }`);
    const before = t.calls.length;
    const res = await t.inbound('badargs', {});
    const event = await waitFor(() => t.events.find((e) => e.metadata.runId === res.body.runId), 2000, 'rejected event');
    expect(event.data).toBe('action_invalid_arguments');
    expect(t.calls.length).toBe(before);
  });

  it('refuses an event outside emitEvents and skips events the webhook does not take', async () => {
    await createInbound('picky', "result = { event: 'other.thing', data: {} };", { emitEvents: ['allowed.thing'], events: ['invoice.paid'] });
    const skipped = await t.inbound('picky', { type: 'invoice.created' });
    expect(skipped).toMatchObject({ status: 200, body: { received: true } });
    expect(await runOf(skipped.body.runId)).toMatchObject({ status: 'ignored', eventType: 'invoice.created' });

    const refused = await t.inbound('picky', { type: 'invoice.paid' });
    expect(await runOf(refused.body.runId)).toMatchObject({ status: 'error', error: { code: 'event_not_allowed' } });
    await new Promise((r) => setTimeout(r, 50));
    expect(t.events.find((e) => e.metadata.runId === refused.body.runId)).toBeUndefined();
  });

  it('verifies a GitHub signature on the raw body', async () => {
    const secret = 'gh-secret-value';
    await createInbound('gh', "result = { event: 'gh.' + headers['x-github-event'], data: null };", { verify: { scheme: 'github', secret } });
    const raw = JSON.stringify({ zen: 'Keep it logically awesome.' });
    const good = `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
    const ok = await t.inbound('gh', raw, { 'x-hub-signature-256': good, 'x-github-event': 'ping' });
    expect(ok.status).toBe(200);
    const bad = await t.inbound('gh', raw, { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}`, 'x-github-event': 'ping' });
    expect(bad).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });
    const missing = await t.inbound('gh', raw, { 'x-github-event': 'ping' });
    expect(missing).toMatchObject({ status: 401, body: { error: { code: 'signature_missing' } } });
    const tampered = await t.inbound('gh', raw.replace('awesome', 'awful'), { 'x-hub-signature-256': good });
    expect(tampered.status).toBe(401);
  });
});
