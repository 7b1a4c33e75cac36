import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/engine.js';
import { useTestEngine } from '../helpers/use-test-engine.js';
import { nowSec, signGithub, signShopify, signSlack, signStripe } from '../helpers/provider-signing.js';
import { storeFactories } from '../helpers/stores.js';

/*
 * Real-shaped provider traffic (test/fixtures/inbound) driven end to end on both stores: each webhook is
 * configured over the admin API, each fixture is signed the way its provider signs it and posted as its
 * exact bytes, then the answer, the actions, the run record, the stored request and the emitted event are
 * checked; the same bytes with a bad signature are refused with the specific code and a rejected run.
 */

const FIXTURES = new URL('../fixtures/inbound/', import.meta.url);

interface Fixture {
  raw: Buffer;
  /** The headers the provider sends besides the signature. */
  headers: Record<string, string>;
}

function fixture(name: string): Fixture {
  return {
    raw: readFileSync(new URL(`${name}.json`, FIXTURES)),
    headers: JSON.parse(readFileSync(new URL(`${name}.headers.json`, FIXTURES), 'utf8')) as Record<string, string>,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const STRIPE_SCRIPT = String.raw`
const sub = body.data.object;
console.log(body.type + ' ' + sub.id + ' for ' + sub.customer + ' (' + sub.cancellation_details.reason + ')');
await actions['billing.cancel'](sub.id);
if (sub.metadata.user_id) await actions['billing.notify'](sub.metadata.user_id, 'subscription_ended');
result = {
  event: 'subscription.cancelled',
  data: {
    subscriptionId: sub.id,
    customerId: sub.customer,
    userId: sub.metadata.user_id,
    seats: sub.quantity,
    canceledAt: new Date(sub.canceled_at * 1000).toISOString(),
    reason: sub.cancellation_details.reason,
    comment: sub.cancellation_details.comment,
    livemode: body.livemode,
  },
};`;

const GITHUB_SCRIPT = String.raw`
// GitHub sends application/x-www-form-urlencoded as payload=<json> when the hook is set up that way.
const push = typeof body.payload === 'string' ? JSON.parse(body.payload) : body;
const branch = push.ref.slice('refs/heads/'.length);
if (branch !== push.repository.default_branch) {
  console.log('ignoring push to ' + branch);
  return;
}
console.log('push ' + headers['x-github-delivery'] + ' to ' + push.repository.full_name + '@' + branch + ': ' + push.commits.length + ' commits by ' + push.pusher.name);
const logins = [...new Set(push.commits.map((c) => c.author.username))];
for (const login of logins) await actions['crm.tag'](login, 'contributor:' + push.repository.name);
result = {
  event: 'repo.pushed',
  data: {
    repo: push.repository.full_name,
    branch,
    head: push.after.slice(0, 7),
    commits: push.commits.map((c) => ({ id: c.id.slice(0, 7), title: c.message.split('\n')[0], author: c.author.name })),
    compare: push.compare,
  },
};`;

// Shopify names the event only in X-Shopify-Topic, which is not an event-type source for `events`: the script branches on it.
const SHOPIFY_SCRIPT = String.raw`
const topic = headers['x-shopify-topic'];
if (topic !== 'orders/create') return;
const order = body;
console.info(topic + ' ' + order.name + ' on ' + headers['x-shopify-shop-domain'] + ': ' + order.total_price + ' ' + order.currency);
await actions['crm.tag'](order.email, 'shopify:customer');
result = {
  event: 'order.created',
  data: {
    shop: headers['x-shopify-shop-domain'],
    orderId: order.admin_graphql_api_id,
    name: order.name,
    total: order.total_price,
    currency: order.currency,
    customer: order.customer.first_name + ' ' + order.customer.last_name,
    shipTo: order.shipping_address.city + ', ' + order.shipping_address.country_code,
    items: order.line_items.map((li) => ({ sku: li.sku, quantity: li.quantity, price: li.price, vendor: li.vendor })),
    note: order.note,
  },
};`;

const SLACK_SCRIPT = String.raw`
if (body.type === 'url_verification') {
  response = { body: { challenge: body.challenge } };
  return;
}
if (body.type !== 'event_callback' || body.event.type !== 'app_mention') return;
const e = body.event;
const text = e.text.replace(/<@[A-Z0-9]+>/g, '').trim();
console.log('app_mention in ' + e.channel + ' by ' + e.user + ': ' + text);
await actions['crm.tag'](e.user, 'slack:' + body.team_id);
result = {
  event: 'slack.mentioned',
  data: { team: body.team_id, channel: e.channel, user: e.user, text, ts: e.ts, eventId: body.event_id },
};`;

/** What GITHUB_SCRIPT emits for github/push.json (the author's name crosses as UTF-8). */
const PUSHED = {
  repo: 'acme-eu/billing-service',
  branch: 'main',
  head: 'b3e9a41',
  commits: [
    { id: '9c0d7e2', title: 'Retry failed invoice webhooks with jitter', author: 'Zoë Ångström' },
    { id: 'b3e9a41', title: 'Merge pull request #214 from acme-eu/cancel-flow', author: 'Rahul Menon' },
  ],
  compare: 'https://github.com/acme-eu/billing-service/compare/6f1c2d0e9a7b...b3e9a41c7d2f',
};

describe.each(storeFactories())('provider fixtures end to end on $name', (factory) => {
  const { t, store } = useTestEngine(factory);

  async function configure(provider: string, body: Record<string, unknown>) {
    const res = await t.api('POST', '/webhooks', { direction: 'inbound', provider, ...body });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { id: string };
  }

  /** Posts the exact bytes with the provider's headers; the answer's body is parsed when it is JSON. */
  async function post(provider: string, raw: Buffer | string, headers: Record<string, string>) {
    const res = await fetch(`${t.baseUrl}/tools/webhook/${provider}`, { method: 'POST', headers, body: raw });
    const text = await res.text();
    const isJson = (res.headers.get('content-type') ?? '').startsWith('application/json');
    return { status: res.status, headers: res.headers, body: isJson ? JSON.parse(text) : text };
  }

  async function runOf(runId: string) {
    const res = await t.api('GET', `/runs/${runId}`);
    expect(res.status).toBe(200);
    return res.body;
  }

  async function storedRequestOf(runId: string) {
    const res = await t.api('GET', `/runs/${runId}/request`);
    expect(res.status).toBe(200);
    return res.body as { contentType: string; headers: Record<string, string>; body: string };
  }

  async function rejectedCodes(provider: string, count: number): Promise<string[]> {
    const runs = await waitFor(async () => {
      const page = await t.api('GET', `/runs?provider=${provider}&status=rejected`);
      return page.body.items.length >= count ? page.body.items : undefined;
    }, 3000, `${count} rejected runs of ${provider}`);
    expect(runs.every((r: any) => r.actionsCalled.length === 0 && r.emittedEvent === null && r.eventType === null)).toBe(true);
    return runs.map((r: any) => r.error.code).sort();
  }

  const eventOf = (runId: string) => waitFor(() => t.events.find((e) => e.metadata.runId === runId), 3000, `the event of run ${runId}`);
  const callsSince = (mark: number) => t.calls.slice(mark);

  it('Stripe customer.subscription.deleted: verified with the SDK-made header, cancels, notifies, emits subscription.cancelled', async () => {
    const secret = 'whsec_fixtureStripe7Qm2VxLr9P';
    await configure('stripe-billing', {
      events: ['customer.subscription.deleted', 'customer.subscription.updated'],
      verify: { scheme: 'stripe', secret },
      allowedActions: ['billing.cancel', 'billing.notify'],
      emitEvents: ['subscription.cancelled'],
      jsScript: STRIPE_SCRIPT,
    });
    const { raw, headers } = fixture('stripe/customer.subscription.deleted');
    const mark = t.calls.length;

    const res = await post('stripe-billing', raw, { ...headers, ...signStripe(raw, secret) });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: true, runId: expect.stringMatching(UUID) });
    const { runId } = res.body;

    expect(callsSince(mark)).toEqual([
      { id: 'billing.cancel', args: ['sub_1OxB2cLzq4XbT2aN5fJ0qWmR'] },
      { id: 'billing.notify', args: ['usr_01J3Z8K4W6', 'subscription_ended'] },
    ]);
    const run = await runOf(runId);
    expect(run).toMatchObject({
      id: runId,
      provider: 'stripe-billing',
      eventType: 'customer.subscription.deleted',
      status: 'ok',
      actionsCalled: [
        { id: 'billing.cancel', ok: true },
        { id: 'billing.notify', ok: true },
      ],
      logs: [{ level: 'log', message: 'customer.subscription.deleted sub_1OxB2cLzq4XbT2aN5fJ0qWmR for cus_PmQ8vN3kR2sYtA (cancellation_requested)' }],
      error: null,
      emittedEvent: 'subscription.cancelled',
      inboxId: expect.stringMatching(UUID),
    });
    expect(await eventOf(runId)).toMatchObject({
      event: 'subscription.cancelled',
      data: {
        subscriptionId: 'sub_1OxB2cLzq4XbT2aN5fJ0qWmR',
        customerId: 'cus_PmQ8vN3kR2sYtA',
        userId: 'usr_01J3Z8K4W6',
        seats: 5,
        canceledAt: '2024-08-05T14:15:00.000Z',
        reason: 'cancellation_requested',
        comment: 'Moving to an annual plan with our reseller — thanks!',
        livemode: false,
      },
      tenantId: null,
      metadata: { provider: 'stripe-billing', runId, tenantId: null },
    });
    // Stored byte for byte (pretty-printed, with its non-ASCII dash), keyed by Stripe's event id.
    const stored = await storedRequestOf(runId);
    expect(stored.body).toBe(raw.toString('utf8'));
    expect(stored.contentType).toBe('application/json; charset=utf-8');
    expect(await store.knex('inbox').where('id', run.inboxId).first()).toMatchObject({ delivery_key: 'evt_1PkR7sLzq4XbT2aNw9hVcE3d', status: 'done' });

    // Stripe retries the same event with a fresh signature: answered, not run again.
    expect((await post('stripe-billing', raw, { ...headers, ...signStripe(raw, secret) })).body).toEqual({ received: true, duplicate: true });
    // The same bytes signed with another endpoint's secret, and a captured header replayed 10 minutes on.
    const wrong = await post('stripe-billing', raw, { ...headers, ...signStripe(raw, 'whsec_someOtherEndpoint') });
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });
    const replayed = await post('stripe-billing', raw, { ...headers, ...signStripe(raw, secret, nowSec() - 600) });
    expect(replayed).toMatchObject({ status: 401, body: { error: { code: 'signature_timestamp_invalid' } } });
    expect(callsSince(mark)).toHaveLength(2);
    expect(await rejectedCodes('stripe-billing', 2)).toEqual(['signature_invalid', 'signature_timestamp_invalid']);
  });

  it('GitHub ping then push: the ping is ignored by the event filter, the push tags each author and emits repo.pushed', async () => {
    const secret = 'gh-hook-secret-Vb7x2Qp9';
    await configure('github-billing', { events: ['push'], verify: { scheme: 'github', secret }, allowedActions: ['crm.tag'], jsScript: GITHUB_SCRIPT });

    // GitHub pings a hook right after it is created.
    const ping = fixture('github/ping');
    const pinged = await post('github-billing', ping.raw, { ...ping.headers, ...signGithub(ping.raw, secret) });
    expect(pinged.status).toBe(200);
    expect(await runOf(pinged.body.runId)).toMatchObject({ status: 'ignored', eventType: 'ping', actionsCalled: [], emittedEvent: null });

    const { raw, headers } = fixture('github/push');
    const mark = t.calls.length;
    const res = await post('github-billing', raw, { ...headers, ...signGithub(raw, secret) });
    expect(res).toMatchObject({ status: 200, body: { received: true, runId: expect.stringMatching(UUID) } });
    const { runId } = res.body;
    expect(callsSince(mark)).toEqual([
      { id: 'crm.tag', args: ['zoe-a', 'contributor:billing-service'] },
      { id: 'crm.tag', args: ['rmenon', 'contributor:billing-service'] },
    ]);
    expect(await runOf(runId)).toMatchObject({
      provider: 'github-billing',
      eventType: 'push',
      status: 'ok',
      actionsCalled: [
        { id: 'crm.tag', ok: true },
        { id: 'crm.tag', ok: true },
      ],
      logs: [{ level: 'log', message: 'push 5f2c7a80-5331-11ef-8b9e-1c4e0a2d7f63 to acme-eu/billing-service@main: 2 commits by zoe-a' }],
      error: null,
      emittedEvent: 'repo.pushed',
    });
    expect(await eventOf(runId)).toMatchObject({ event: 'repo.pushed', data: PUSHED, metadata: { provider: 'github-billing', runId, tenantId: null } });
    const stored = await storedRequestOf(runId);
    expect(stored.body).toBe(raw.toString('utf8'));
    expect(stored.headers['x-github-delivery']).toBe('5f2c7a80-5331-11ef-8b9e-1c4e0a2d7f63');

    // A redelivery (same X-GitHub-Delivery) is a duplicate.
    expect((await post('github-billing', raw, { ...headers, ...signGithub(raw, secret) })).body).toEqual({ received: true, duplicate: true });

    // The same push from a hook set to the form content type: the signature covers the form bytes.
    const form = `payload=${encodeURIComponent(raw.toString('utf8'))}`;
    const formHeaders = { ...headers, 'Content-Type': 'application/x-www-form-urlencoded', 'X-GitHub-Delivery': '7a9d0c10-5331-11ef-8e0f-3b6c1d2e4f58' };
    const viaForm = await post('github-billing', form, { ...formHeaders, ...signGithub(Buffer.from(form), secret) });
    expect(viaForm.status).toBe(200);
    expect(await eventOf(viaForm.body.runId)).toMatchObject({ event: 'repo.pushed', data: PUSHED });
    expect(callsSince(mark)).toHaveLength(4);

    // The same bytes with a bad signature; and with only the legacy SHA-1 header, which is not accepted.
    const wrong = signGithub(raw, 'not-the-hook-secret');
    const bad = await post('github-billing', raw, { ...headers, ...wrong });
    expect(bad).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });
    const sha1Only = await post('github-billing', raw, { ...headers, 'X-Hub-Signature': signGithub(raw, secret)['X-Hub-Signature']! });
    expect(sha1Only).toMatchObject({ status: 401, body: { error: { code: 'signature_missing' } } });
    expect(callsSince(mark)).toHaveLength(4);
    expect(await rejectedCodes('github-billing', 2)).toEqual(['signature_invalid', 'signature_missing']);
  });

  it('GitHub push as a form to an async webhook: stored, answered 202, run by the inbox worker from the stored form bytes', async () => {
    const secret = 'gh-async-secret-4Rt8Lw2n';
    await configure('github-billing-async', { mode: 'async', events: ['push'], verify: { scheme: 'github', secret }, allowedActions: ['crm.tag'], jsScript: GITHUB_SCRIPT });
    const { raw, headers } = fixture('github/push');
    const form = `payload=${encodeURIComponent(raw.toString('utf8'))}`;
    const formHeaders = { ...headers, 'Content-Type': 'application/x-www-form-urlencoded' };
    const mark = t.calls.length;

    const res = await post('github-billing-async', form, { ...formHeaders, ...signGithub(Buffer.from(form), secret) });
    expect(res).toMatchObject({ status: 202, body: { received: true, queued: true, runId: expect.stringMatching(UUID) } });
    const { runId } = res.body;
    expect(await eventOf(runId)).toMatchObject({ event: 'repo.pushed', data: PUSHED, metadata: { provider: 'github-billing-async', runId } });
    expect(callsSince(mark)).toEqual([
      { id: 'crm.tag', args: ['zoe-a', 'contributor:billing-service'] },
      { id: 'crm.tag', args: ['rmenon', 'contributor:billing-service'] },
    ]);
    const run = await waitFor(async () => {
      const r = await t.api('GET', `/runs/${runId}`);
      return r.status === 200 ? r.body : undefined;
    }, 3000, 'the async run');
    expect(run).toMatchObject({ status: 'ok', eventType: 'push', emittedEvent: 'repo.pushed' });
    const stored = await storedRequestOf(runId);
    expect(stored).toMatchObject({ contentType: 'application/x-www-form-urlencoded', body: form });

    // A bad signature is refused before anything is stored or queued.
    const bad = await post('github-billing-async', form, { ...formHeaders, 'X-GitHub-Delivery': 'c0ffee00-5331-11ef-8e0f-3b6c1d2e4f58', ...signGithub(Buffer.from(form), 'nope') });
    expect(bad).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });
    expect(Number((await store.knex('inbox').where({ provider: 'github-billing-async' }).count({ n: '*' }))[0]!.n)).toBe(1);
    expect(await rejectedCodes('github-billing-async', 1)).toEqual(['signature_invalid']);
  });

  it('Shopify orders/create: copies delivered at once run once; tags the customer and emits order.created', async () => {
    const secret = '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';
    await configure('shopify-mugs', { verify: { scheme: 'shopify', secret }, allowedActions: ['crm.tag'], jsScript: SHOPIFY_SCRIPT });
    const { raw, headers } = fixture('shopify/orders-create');
    const signed = { ...headers, ...signShopify(raw, secret) };
    const mark = t.calls.length;

    // Shopify may deliver one webhook more than once, even in parallel: the X-Shopify-Webhook-Id makes it run once.
    const answers = await Promise.all([1, 2, 3].map(() => post('shopify-mugs', raw, signed)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    const ran = answers.filter((a) => a.body.runId);
    expect(ran).toHaveLength(1);
    expect(answers.filter((a) => a.body.duplicate === true)).toHaveLength(2);
    const { runId } = ran[0]!.body;

    expect(callsSince(mark)).toEqual([{ id: 'crm.tag', args: ['juergen.weiss@example.de', 'shopify:customer'] }]);
    expect(await runOf(runId)).toMatchObject({
      provider: 'shopify-mugs',
      status: 'ok',
      actionsCalled: [{ id: 'crm.tag', ok: true }],
      logs: [{ level: 'info', message: 'orders/create #1042 on mugs-and-more.myshopify.com: 94.70 EUR' }],
      error: null,
      emittedEvent: 'order.created',
    });
    expect(await eventOf(runId)).toMatchObject({
      event: 'order.created',
      data: {
        shop: 'mugs-and-more.myshopify.com',
        orderId: 'gid://shopify/Order/5748392017642',
        name: '#1042',
        total: '94.70',
        currency: 'EUR',
        customer: 'Jürgen Weiß',
        shipTo: 'München, DE',
        items: [{ sku: 'MUG-SAL-350', quantity: 2, price: '44.90', vendor: 'Mugs & More' }],
        note: 'Bitte nicht klingeln – Paket beim Nachbarn abgeben.',
      },
      metadata: { provider: 'shopify-mugs', runId, tenantId: null },
    });
    // Stored as sent, with Shopify's \u0026 escapes (re-serialised JSON would differ, and fail the HMAC).
    const stored = await storedRequestOf(runId);
    expect(stored.body).toBe(raw.toString('utf8'));
    expect(stored.body).toContain('Mugs \\u0026 More');
    expect(stored.headers['x-shopify-topic']).toBe('orders/create');

    // The same bytes signed with another app's secret; and the hex form of the right MAC (Shopify sends base64).
    const bad = await post('shopify-mugs', raw, { ...headers, ...signShopify(raw, 'shpss_another_app') });
    expect(bad).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });
    const hex = Buffer.from(signShopify(raw, secret)['X-Shopify-Hmac-Sha256']!, 'base64').toString('hex');
    const hexSigned = await post('shopify-mugs', raw, { ...headers, 'X-Shopify-Hmac-Sha256': hex });
    expect(hexSigned).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });
    expect(callsSince(mark)).toHaveLength(1);
    expect(await rejectedCodes('shopify-mugs', 2)).toEqual(['signature_invalid', 'signature_invalid']);
  });

  it("Slack: answers url_verification's challenge, runs an app_mention once across Slack's retry, refuses stale or forged requests", async () => {
    const secret = '8f742231b10e8888abcd99edc6ab85a5';
    await configure('slack-ops', { verify: { scheme: 'slack', secret }, allowedActions: ['crm.tag'], jsScript: SLACK_SCRIPT });

    // Slack verifies the request URL first, signed like every other request.
    const handshake = fixture('slack/url-verification');
    const answered = await post('slack-ops', handshake.raw, { ...handshake.headers, ...signSlack(handshake.raw, secret) });
    expect(answered.status).toBe(200);
    expect(answered.body).toEqual({ challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' });
    const handshakeRunId = answered.headers.get('x-hookgate-run-id');
    expect(handshakeRunId).toMatch(UUID);
    expect(await runOf(handshakeRunId!)).toMatchObject({ status: 'ok', eventType: 'url_verification', actionsCalled: [], emittedEvent: null });

    const { raw, headers } = fixture('slack/event-callback-app-mention');
    const mark = t.calls.length;
    const res = await post('slack-ops', raw, { ...headers, ...signSlack(raw, secret) });
    expect(res).toMatchObject({ status: 200, body: { received: true, runId: expect.stringMatching(UUID) } });
    const { runId } = res.body;
    const text = 'deploy billing-service to staging :rocket: (see <https://github.com/acme-eu/billing-service/pull/214|#214>)';
    expect(callsSince(mark)).toEqual([{ id: 'crm.tag', args: ['U02KQ7N3H8M', 'slack:T0461M8AT'] }]);
    expect(await runOf(runId)).toMatchObject({
      provider: 'slack-ops',
      eventType: 'event_callback',
      status: 'ok',
      actionsCalled: [{ id: 'crm.tag', ok: true }],
      logs: [{ level: 'log', message: `app_mention in C05R7LS3QKD by U02KQ7N3H8M: ${text}` }],
      error: null,
      emittedEvent: 'slack.mentioned',
    });
    expect(await eventOf(runId)).toMatchObject({
      event: 'slack.mentioned',
      data: { team: 'T0461M8AT', channel: 'C05R7LS3QKD', user: 'U02KQ7N3H8M', text, ts: '1722868869.339289', eventId: 'Ev07FQ3A1B2C' },
      metadata: { provider: 'slack-ops', runId, tenantId: null },
    });
    // The escaped slashes reach the store as sent.
    expect((await storedRequestOf(runId)).body).toBe(raw.toString('utf8'));

    // Slack retries a slow answer with the same event_id, a new timestamp and X-Slack-Retry-Num.
    const retry = await post('slack-ops', raw, { ...headers, 'X-Slack-Retry-Num': '1', 'X-Slack-Retry-Reason': 'http_timeout', ...signSlack(raw, secret) });
    expect(retry.body).toEqual({ received: true, duplicate: true });

    // The same bytes: signed with another app's secret; a captured request replayed six minutes later;
    // a forged url_verification (no challenge is echoed).
    const forged = await post('slack-ops', raw, { ...headers, ...signSlack(raw, 'another-apps-signing-secret') });
    expect(forged).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });
    const stale = await post('slack-ops', raw, { ...headers, ...signSlack(raw, secret, nowSec() - 360) });
    expect(stale).toMatchObject({ status: 401, body: { error: { code: 'signature_timestamp_invalid' } } });
    const fakeHandshake = await post('slack-ops', handshake.raw, { ...handshake.headers, ...signSlack(handshake.raw, 'guess') });
    expect(fakeHandshake).toMatchObject({ status: 401, body: { error: { code: 'signature_invalid' } } });
    expect(JSON.stringify(fakeHandshake.body)).not.toContain('3eZbrw1aBm2r');
    expect(callsSince(mark)).toHaveLength(1);
    expect(await rejectedCodes('slack-ops', 3)).toEqual(['signature_invalid', 'signature_invalid', 'signature_timestamp_invalid']);
  });
});
