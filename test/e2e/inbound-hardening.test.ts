import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REJECTED_RUNS_PER_MINUTE } from '../../src/inbound/inbound-handler.js';
import type { KnexStore } from '../../src/store/index.js';
import { startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { storeFactories } from '../helpers/stores.js';

/** Issue 5 over real HTTP on both stores: rejected runs, idempotency, async inbox, form bodies, limits, back-pressure. */
describe.each(storeFactories())('inbound hardening on $name', (factory) => {
  let store: KnexStore;
  let t: TestEngine;

  beforeAll(async () => {
    store = await factory.create();
    t = await startTestEngine(store, {
      sandbox: { isolatesPerProcess: 1, maxQueue: 1, limits: { timeoutMs: 1500, cpuTimeMs: 1000 } },
      inbox: { pollMs: 100 },
    });
  });
  afterAll(async () => {
    await t?.close();
    await store?.close();
  });

  async function createInbound(provider: string, jsScript: string, extra: Record<string, unknown> = {}) {
    const res = await t.api('POST', '/webhooks', { direction: 'inbound', provider, jsScript, allowedActions: ['crm.tag'], ...extra });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { id: string; verify: Record<string, unknown> };
  }
  const github = (body: unknown, secret: string, delivery?: string) => {
    const raw = JSON.stringify(body);
    const headers: Record<string, string> = { 'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}` };
    if (delivery) headers['x-github-delivery'] = delivery;
    return { raw, headers };
  };

  it('records a failed verification as a rejected run without echoing the secret; reads redact every secret', async () => {
    const created = await createInbound('gh-rejects', 'result = null;', { verify: { scheme: 'github', secret: 'gh-secret-value', secrets: ['gh-old-value'] } });
    expect(created.verify).toEqual({ scheme: 'github', hasSecret: true });
    const read = await t.api('GET', `/webhooks/${created.id}`);
    expect(JSON.stringify(read.body)).not.toMatch(/gh-secret-value|gh-old-value/);

    const bad = github({ action: 'x' }, 'wrong');
    const res = await t.inbound('gh-rejects', bad.raw, bad.headers);
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });
    const missing = await t.inbound('gh-rejects', { action: 'x' });
    expect(missing).toMatchObject({ status: 401, body: { error: { code: 'signature_missing' } } });

    const runs = await waitFor(async () => {
      const page = await t.api('GET', '/runs?provider=gh-rejects&status=rejected');
      return page.body.items.length === 2 ? page.body.items : undefined;
    }, 3000, 'two rejected runs');
    expect(runs.map((r: any) => r.error.code).sort()).toEqual(['signature_invalid', 'signature_missing']);
    expect(JSON.stringify(runs)).not.toMatch(/gh-secret-value|gh-old-value/);

    // The old secret still works during the rotation.
    const old = github({ action: 'x' }, 'gh-old-value');
    expect((await t.inbound('gh-rejects', old.raw, old.headers)).status).toBe(200);
  });

  it('runs a delivery id once: a repeat answers 200 duplicate, and the run links to its stored payload', async () => {
    await createInbound('gh-once', "await actions['crm.tag'](body.n);", { verify: { scheme: 'github', secret: 's1' } });
    const first = github({ n: 'once-1' }, 's1', 'delivery-1');
    const a = await t.inbound('gh-once', first.raw, first.headers);
    expect(a).toMatchObject({ status: 200, body: { received: true, runId: expect.any(String) } });
    const b = await t.inbound('gh-once', first.raw, first.headers);
    expect(b).toEqual({ status: 200, body: { received: true, duplicate: true } });
    expect(t.calls.filter((c) => c.args[0] === 'once-1')).toHaveLength(1);

    // Another delivery id runs again; a request without one is never a duplicate.
    const second = github({ n: 'once-1' }, 's1', 'delivery-2');
    expect((await t.inbound('gh-once', second.raw, second.headers)).body.duplicate).toBeUndefined();
    expect(t.calls.filter((c) => c.args[0] === 'once-1')).toHaveLength(2);

    const run = await waitFor(async () => {
      const res = await t.api('GET', `/runs/${a.body.runId}`);
      return res.status === 200 ? res.body : undefined;
    });
    expect(run.inboxId).toMatch(/^[0-9a-f-]{36}$/);
    const row = await store.knex('inbox').where('id', run.inboxId).first();
    expect(row).toMatchObject({ provider: 'gh-once', delivery_key: 'delivery-1', status: 'done', body: first.raw, run_id: a.body.runId });
    expect(row.headers['x-hub-signature-256']).toBe(first.headers['x-hub-signature-256']);
  });

  it('forgets a delivery id after the retention window', async () => {
    await createInbound('retained', "await actions['crm.tag'](body.n);", { idempotency: { jsonPath: 'meta.id', retentionSec: 60 } });
    const payload = { n: 'ret-1', meta: { id: 'm-1' } };
    expect((await t.inbound('retained', payload)).body.runId).toBeDefined();
    expect((await t.inbound('retained', payload)).body.duplicate).toBe(true);
    await store.knex('inbox').where({ provider: 'retained' }).update({ received_at: store.knex.raw(`now() - interval '2 minutes'`) });
    expect((await t.inbound('retained', payload)).body.runId).toBeDefined();
    expect(t.calls.filter((c) => c.args[0] === 'ret-1')).toHaveLength(2);
  });

  it('async mode: stores, answers 202 at once, and the worker runs it with the same run id', async () => {
    await createInbound('later', "await actions['crm.tag'](body.n); result = { event: 'later.done', data: body.n };", { mode: 'async' });
    const res = await t.inbound('later', { n: 'async-1' }, { 'webhook-id': 'msg_async_1' });
    expect(res).toMatchObject({ status: 202, body: { received: true, queued: true, runId: expect.any(String) } });
    const event = await waitFor(() => t.events.find((e) => e.metadata.runId === res.body.runId), 5000, 'the async run');
    expect(event.data).toBe('async-1');
    const run = await waitFor(async () => {
      const r = await t.api('GET', `/runs/${res.body.runId}`);
      return r.status === 200 ? r.body : undefined;
    });
    expect(run).toMatchObject({ status: 'ok', provider: 'later', inboxId: expect.any(String) });
    await waitFor(async () => ((await store.knex('inbox').where('id', run.inboxId).first()).status === 'done' ? true : undefined));
    expect((await t.inbound('later', { n: 'async-1' }, { 'webhook-id': 'msg_async_1' })).body).toEqual({ received: true, duplicate: true });
  });

  it('parses form bodies (Slack, Twilio) and refuses other types with 415', async () => {
    await createInbound('form', "result = { event: 'form.got', data: body };");
    const res = await fetch(`${t.baseUrl}/tools/webhook/form`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: 'command=%2Fdeploy&text=prod+now&tag=a&tag=b',
    });
    const body = (await res.json()) as any;
    expect(res.status).toBe(200);
    const event = await waitFor(() => t.events.find((e) => e.metadata.runId === body.runId));
    expect(event.data).toEqual({ command: '/deploy', text: 'prod now', tag: ['a', 'b'] });
    const xml = await fetch(`${t.baseUrl}/tools/webhook/form`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<a/>' });
    expect(xml.status).toBe(415);
  });

  it("lets a sync script answer itself: Slack's url_verification challenge", async () => {
    const secret = 'slack-signing-secret';
    await createInbound('slack', "if (body.type === 'url_verification') response = { body: { challenge: body.challenge } };\nelse if (body.command) response = { status: 200, body: 'Deploying ' + body.text };", {
      verify: { scheme: 'slack', secret },
    });
    const signed = (raw: string, type: string) => {
      const ts = String(Math.floor(Date.now() / 1000));
      return { 'content-type': type, 'x-slack-request-timestamp': ts, 'x-slack-signature': `v0=${createHmac('sha256', secret).update(`v0:${ts}:${raw}`).digest('hex')}` };
    };
    const raw = JSON.stringify({ token: 't', challenge: 'ch4llenge', type: 'url_verification' });
    const res = await fetch(`${t.baseUrl}/tools/webhook/slack`, { method: 'POST', headers: signed(raw, 'application/json'), body: raw });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ challenge: 'ch4llenge' });
    expect(res.headers.get('x-hookgate-run-id')).toMatch(/^[0-9a-f-]{36}$/);

    const form = 'command=%2Fdeploy&text=prod';
    const cmd = await fetch(`${t.baseUrl}/tools/webhook/slack`, { method: 'POST', headers: signed(form, 'application/x-www-form-urlencoded'), body: form });
    expect(cmd.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await cmd.text()).toBe('Deploying prod');
    // An invalid response (not 2xx) is ignored: the default answer is sent.
    await createInbound('bad-answer', 'response = { status: 500, body: 1 };');
    expect((await t.inbound('bad-answer', {})).body).toEqual({ received: true, runId: expect.any(String) });
  });

  it('applies a per-webhook body limit and rate limit (429 with Retry-After)', async () => {
    await createInbound('small', 'result = null;', { bodyLimitBytes: 100, rateLimit: { perSecond: 0.5, burst: 2 } });
    expect((await t.inbound('small', { pad: 'x'.repeat(200) })).status).toBe(413);
    expect((await t.inbound('small', { pad: 'x' })).status).toBe(200);
    const limited = await fetch(`${t.baseUrl}/tools/webhook/small`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await limited.json()) as any).error.code).toBe('rate_limited');
  });

  it('an unsigned flood neither uses up the real sender\'s rate limit nor fills the runs table', async () => {
    await createInbound('gh-flood', 'result = null;', { verify: { scheme: 'github', secret: 'flood-secret' }, rateLimit: { perSecond: 0.5, burst: 2 } });
    const forged = github({ action: 'x' }, 'not-the-secret');
    const statuses: number[] = [];
    for (let i = 0; i < REJECTED_RUNS_PER_MINUTE + 10; i++) statuses.push((await t.inbound('gh-flood', forged.raw, forged.headers)).status);
    // Every forged request is refused for what it is (401), none for the budget (429)...
    expect(new Set(statuses)).toEqual(new Set([401]));
    // ...so the signed sender still has its whole burst.
    const signed = github({ action: 'x' }, 'flood-secret');
    expect((await t.inbound('gh-flood', signed.raw, signed.headers)).status).toBe(200);
    expect((await t.inbound('gh-flood', signed.raw, signed.headers)).status).toBe(200);
    expect((await t.inbound('gh-flood', signed.raw, signed.headers)).status).toBe(429);
    // Rejected runs are recorded up to the per-minute cap; the rest are only counted.
    let rejected = 0;
    let cursor: string | undefined;
    do {
      const page = (await t.api('GET', `/runs?provider=gh-flood&status=rejected&limit=100${cursor ? `&cursor=${cursor}` : ''}`)).body;
      rejected += page.items.length;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(rejected).toBe(REJECTED_RUNS_PER_MINUTE);
  });

  it('answers 503 with Retry-After when the sandbox is saturated, and the retry is not taken for a duplicate', async () => {
    await createInbound('busy-hang', 'await new Promise(() => {});');
    await createInbound('busy', "await actions['crm.tag'](body.n);", { idempotency: { header: 'X-Delivery' } });
    // One isolate and a queue of one: a hanging run holds the isolate, a second waits in the queue.
    const hanging = [t.inbound('busy-hang', {}), t.inbound('busy-hang', {})];
    await new Promise((r) => setTimeout(r, 200));
    const refused = await fetch(`${t.baseUrl}/tools/webhook/busy`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-delivery': 'd-busy' }, body: '{"n":"busy-1"}' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as any).error.code).toBe('sandbox_busy');
    await Promise.all(hanging);
    const retried = await t.inbound('busy', { n: 'busy-1' }, { 'x-delivery': 'd-busy' });
    expect(retried.status).toBe(200);
    expect(retried.body.duplicate).toBeUndefined();
    expect(t.calls.filter((c) => c.args[0] === 'busy-1')).toHaveLength(1);
  });
});
