import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { KEY_CACHE_MS } from '../../src/admin/auth.js';
import { WebhookSender } from '../../src/index.js';
import type { AttemptOutcome, ClaimedDelivery } from '../../src/outbound/index.js';
import type { KnexStore } from '../../src/store/index.js';
import { ADMIN_TOKEN, startTestEngine, waitFor, type TestEngine } from '../helpers/engine.js';
import { startReceiver, type Receiver, type ReceivedRequest, type Responder } from '../helpers/receiver.js';
import { SCHEME_ROWS } from '../helpers/scheme-matrix.js';
import { storeFactories } from '../helpers/stores.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** The real wall clock, whatever `vi.setSystemTime` made `Date` say. */
const realNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

/**
 * The wall clock jumps (an NTP step, a VM resumed from a snapshot, an operator's `date -s`). Only `Date` is
 * faked — timers, `performance.now()` and the database keep real time — and `vi.setSystemTime` moves it for
 * the whole process, engine included. What must hold: signature timestamps are checked against the current
 * wall clock (stale and far-future refused, within the tolerance accepted), intervals that should not
 * depend on the wall clock (rate limits, the API-key cache) do not, and outgoing retries are neither lost
 * nor stuck. The outbound queue schedules on the process clock (documented in the README), so a retry is
 * due early after a jump forward and late by at most the jump after a jump back.
 */
describe('wall-clock jumps', () => {
  let store: KnexStore;
  let t: TestEngine;
  let receiver: Receiver;
  const routes = new Map<string, Responder>();
  const attempts: Array<{ delivery: ClaimedDelivery; outcome: AttemptOutcome }> = [];

  beforeAll(async () => {
    // Before the engine exists, so every clock it takes (`Date.now`) is the faked one.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    store = await storeFactories().find((f) => f.name === 'postgres')!.create();
    receiver = await startReceiver((req, res) => (routes.get(req.path) ?? (() => 404))(req, res));
    t = await startTestEngine(store, {
      allowInsecureUrls: true,
      allowPrivateNetworks: true,
      outbound: {
        // No jitter: a retry is due exactly retryDelayMs after the attempt.
        random: () => 0.5,
        worker: { pollMs: 100, leaseMarginMs: 1000, stopTimeoutMs: 500 },
        onAttempt: (delivery, outcome) => attempts.push({ delivery, outcome }),
      },
    });
  }, 60_000);

  afterEach(() => {
    vi.setSystemTime(realNow());
  });

  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await store?.close();
    vi.useRealTimers();
  });

  describe.each(SCHEME_ROWS.filter((row) => row.toleranceSec !== null))('inbound $name signatures', (row) => {
    const tolerance = row.toleranceSec as number;
    const provider = `clock-${row.name}`;
    const secret = row.secrets.current;

    beforeAll(async () => {
      const res = await t.api('POST', '/webhooks', { direction: 'inbound', provider, verify: row.config([secret]), jsScript: 'result = null;' });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    });

    /** The status of one request signed at unix time `at` (a fresh body: Stripe's event id is its delivery id). */
    const sendSignedAt = async (at: number) => {
      const body = Buffer.from(JSON.stringify({ id: unique('evt'), type: 'clock.check' }));
      const res = await fetch(`${t.baseUrl}/tools/webhook/${provider}`, { method: 'POST', headers: { 'content-type': 'application/json', ...row.sign(body, secret, at) }, body });
      const answer = (await res.json()) as { error?: { code: string } };
      return answer.error ? `${res.status} ${answer.error.code}` : String(res.status);
    };

    it.each([
      ['no jump', 0],
      ['forward 10 minutes', 10 * MINUTE],
      ['back 10 minutes', -10 * MINUTE],
      ['forward a day', 24 * HOUR],
    ])('%s: judged by the server clock of the moment', async (_label, jumpMs) => {
      vi.setSystemTime(realNow() + jumpMs);
      const server = Math.floor(Date.now() / 1000);
      // A sender whose clock is right: accepted only when the server's is within the tolerance of it.
      expect(await sendSignedAt(Math.floor(realNow() / 1000))).toBe(Math.abs(jumpMs) < tolerance * 1000 ? '200' : '401 signature_timestamp_invalid');
      // Relative to the server clock: inside the tolerance either way is accepted, outside refused.
      expect(await sendSignedAt(server - tolerance + 5)).toBe('200');
      expect(await sendSignedAt(server + tolerance - 5)).toBe('200');
      expect(await sendSignedAt(server - tolerance - 5)).toBe('401 signature_timestamp_invalid');
      expect(await sendSignedAt(server + tolerance + 5)).toBe('401 signature_timestamp_invalid');
    });
  });

  it("a receiver's Standard Webhooks check (5 minutes) follows its clock: stale and far-future refused, like the official library", () => {
    const secret = WebhookSender.generateSecret();
    const body = JSON.stringify({ id: 'msg_1', event: 'clock.check' });
    const signedAt = new Date(Math.floor(realNow() / 1000) * 1000);
    const headers = WebhookSender.sign({ body, secrets: secret, webhookId: 'msg_1', timestamp: signedAt });
    const official = new Webhook(secret);
    const at = (offsetSec: number) => {
      vi.setSystemTime(signedAt.getTime() + offsetSec * 1000);
      let officialOk = true;
      try {
        official.verify(body, headers);
      } catch {
        officialOk = false;
      }
      const ours = WebhookSender.verifyStandard(body, secret, headers);
      expect(ours, `verifyStandard ${offsetSec} s`).toBe(officialOk);
      return ours;
    };
    expect(at(0)).toBe(true);
    expect(at(299)).toBe(true); // received late, within 5 minutes
    expect(at(-299)).toBe(true); // the receiver's clock is behind the sender's, within 5 minutes
    expect(at(301)).toBe(false); // stale: a replay, or a clock that jumped forward
    expect(at(-301)).toBe(false); // from the future: the receiver's clock jumped back
    expect(at(HOUR / 1000)).toBe(false);
  });

  it('a rate limit is not drained by a jump back nor refilled by a jump forward (monotonic clock)', async () => {
    const provider = unique('clock-rate');
    const created = await t.api('POST', '/webhooks', { direction: 'inbound', provider, jsScript: 'result = null;', rateLimit: { perSecond: 0.2, burst: 2 } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const send = async () => {
      const res = await t.inbound(provider, { type: 'x' });
      return res.status === 429 ? `429 ${res.body.error.code}` : String(res.status);
    };
    expect(await send()).toBe('200');
    vi.setSystemTime(realNow() - HOUR);
    // One token is left: a negative refill would have drained it and asked the sender to wait for hours.
    expect(await send()).toBe('200');
    const limited = await fetch(`${t.baseUrl}/tools/webhook/${provider}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(5); // one token per 5 s
    vi.setSystemTime(realNow() + 24 * HOUR);
    expect(await send()).toBe('429 rate_limited');
  });

  it('a key revoked in another process is refused after the key cache period, even if the clock went back', async () => {
    const other = await startTestEngine(store);
    try {
      const created = await t.api('POST', '/keys', { role: 'admin', name: 'clock' });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const key: string = created.body.key;
      expect((await other.api('GET', '/webhooks', undefined, key)).status).toBe(200); // cached by the other process
      expect((await t.api('DELETE', `/keys/${created.body.id}`, undefined, ADMIN_TOKEN)).status).toBe(204);
      vi.setSystemTime(realNow() - HOUR);
      await sleep(KEY_CACHE_MS + 300);
      expect((await other.api('GET', '/webhooks', undefined, key)).status).toBe(401);
    } finally {
      await other.close();
    }
  }, 30_000);

  describe('outgoing retries (scheduled on the process clock)', () => {
    /** An endpoint that answers 503 to its first request and 204 after; `retryDelayMs` 2 s, no jitter. */
    const flakyEndpoint = async () => {
      const path = `/${unique('flaky')}`;
      let calls = 0;
      routes.set(path, () => (++calls === 1 ? 503 : 204));
      const event = unique('evt');
      const res = await t.api('POST', '/webhooks', { direction: 'outgoing', url: `${receiver.url}${path}`, events: [event], retryDelayMs: 2000, maxRetries: 3, timeoutMs: 2000 });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return { id: res.body.id as string, event, requests: () => receiver.requests.filter((r: ReceivedRequest) => r.path === path) };
    };
    const deliveryOf = async (webhookId: string) => ((await t.api('GET', `/deliveries?webhookId=${webhookId}`)).body.items as any[])[0];

    it('a jump forward makes the pending retry due at once: sent once more, delivered, nothing lost or doubled', async () => {
      const endpoint = await flakyEndpoint();
      await t.engine.emit(endpoint.event, { n: 1 });
      const first = await waitFor(() => attempts.find((a) => a.delivery.webhookId === endpoint.id), 5000, 'the first attempt');
      expect(first.outcome.step).toMatchObject({ status: 'pending', delayMs: 2000 });
      const jumpedAt = realNow();
      vi.setSystemTime(realNow() + HOUR);
      await waitFor(async () => ((await deliveryOf(endpoint.id))?.status === 'succeeded' ? true : undefined), 5000, 'the retry');
      expect(realNow() - jumpedAt).toBeLessThan(1500);
      expect(endpoint.requests()).toHaveLength(2);
      expect((await deliveryOf(endpoint.id)).attempts.map((a: any) => a.outcome)).toEqual(['retry', 'succeeded']);
    });

    it('a jump back postpones the pending retry by at most the jump, while new deliveries go out at once', async () => {
      const endpoint = await flakyEndpoint();
      await t.engine.emit(endpoint.event, { n: 1 });
      await waitFor(() => attempts.find((a) => a.delivery.webhookId === endpoint.id), 5000, 'the first attempt');
      vi.setSystemTime(realNow() - 10 * MINUTE);

      // The queue is not stuck: an event emitted now is delivered at once to another endpoint.
      const fresh = { path: `/${unique('fresh')}`, event: unique('evt') };
      routes.set(fresh.path, () => 204);
      expect((await t.api('POST', '/webhooks', { direction: 'outgoing', url: `${receiver.url}${fresh.path}`, events: [fresh.event] })).status).toBe(201);
      await t.engine.emit(fresh.event, { n: 2 });
      await waitFor(() => (receiver.requests.some((r) => r.path === fresh.path) ? true : undefined), 3000, 'the new delivery');

      // The retry was due 2 s after the first attempt on the old timeline: now 10 minutes ahead of the clock.
      await sleep(2500);
      expect(endpoint.requests()).toHaveLength(1);
      expect(await deliveryOf(endpoint.id)).toMatchObject({ status: 'pending' });

      // The clock is put right (stepped forward again): the retry goes out at once and succeeds.
      vi.setSystemTime(realNow());
      await waitFor(async () => ((await deliveryOf(endpoint.id))?.status === 'succeeded' ? true : undefined), 5000, 'the retry');
      expect(endpoint.requests()).toHaveLength(2);
    }, 20_000);
  });
});
