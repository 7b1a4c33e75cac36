import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { bodyKindOf, deliveryIdOf, inboundProviderOf, parseBody, RateLimiter, toScriptResponse } from '../../src/inbound/index.js';
import type { VerifyConfig } from '../../src/store/types.js';

const none: VerifyConfig = { scheme: 'none' };

describe('deliveryIdOf', () => {
  it("uses the providers' own delivery ids by default", () => {
    expect(deliveryIdOf({ idempotency: null, verify: none }, {}, { 'webhook-id': 'msg_1', 'x-github-delivery': 'g' })).toBe('msg_1');
    expect(deliveryIdOf({ idempotency: null, verify: none }, {}, { 'x-github-delivery': 'g-1' })).toBe('g-1');
    expect(deliveryIdOf({ idempotency: null, verify: none }, {}, { 'x-shopify-webhook-id': 's-1' })).toBe('s-1');
    // A body `id` means Stripe's event id only on a Stripe-verified webhook; elsewhere it may be anything.
    expect(deliveryIdOf({ idempotency: null, verify: { scheme: 'stripe', secret: 'x' } }, { id: 'evt_1' }, {})).toBe('evt_1');
    expect(deliveryIdOf({ idempotency: null, verify: none }, { id: 'evt_1' }, {})).toBeNull();
    expect(deliveryIdOf({ idempotency: null, verify: { scheme: 'slack', secret: 'x' } }, { event_id: 'Ev1' }, {})).toBe('Ev1');
  });
  it('prefers a configured header or JSON path, and can be switched off', () => {
    expect(deliveryIdOf({ idempotency: { header: 'X-Request-Key' }, verify: none }, {}, { 'x-request-key': 'k', 'webhook-id': 'w' })).toBe('k');
    expect(deliveryIdOf({ idempotency: { header: 'X-Request-Key' }, verify: none }, {}, { 'webhook-id': 'w' })).toBeNull();
    expect(deliveryIdOf({ idempotency: { jsonPath: 'meta.id' }, verify: none }, { meta: { id: 42 } }, {})).toBe('42');
    expect(deliveryIdOf({ idempotency: { jsonPath: 'meta.id' }, verify: none }, { meta: [1] }, {})).toBeNull();
    expect(deliveryIdOf({ idempotency: { enabled: false }, verify: none }, {}, { 'webhook-id': 'w' })).toBeNull();
  });
});

describe('RateLimiter', () => {
  it('allows a burst, then one request per 1/perSecond, and says how long to wait', () => {
    let now = 0;
    const limiter = new RateLimiter(() => now);
    const config = { perSecond: 2, burst: 3 };
    expect([1, 2, 3].map(() => limiter.take('p', config))).toEqual([0, 0, 0]);
    expect(limiter.take('p', config)).toBe(1);
    expect(limiter.take('other', config)).toBe(0);
    now += 500;
    expect(limiter.take('p', config)).toBe(0);
    expect(limiter.take('p', config)).toBeGreaterThanOrEqual(1);
    now += 10_000;
    expect([1, 2, 3, 4].map(() => limiter.take('p', config))).toEqual([0, 0, 0, 1]);
  });
});

describe('bodies and script responses', () => {
  it('takes JSON and form content types only', () => {
    expect(bodyKindOf('application/json; charset=utf-8')).toBe('json');
    expect(bodyKindOf('application/vnd.api+json')).toBe('json');
    expect(bodyKindOf('Application/X-WWW-Form-Urlencoded')).toBe('form');
    expect(bodyKindOf('text/plain')).toBeNull();
    expect(bodyKindOf(undefined)).toBeNull();
  });
  it('parses forms into strings and arrays, and refuses bad JSON', () => {
    expect(parseBody('form', 'a=1&b=x+y&a=2&c=%F0%9F%99%82')).toEqual({ a: ['1', '2'], b: 'x y', c: '🙂' });
    expect(() => parseBody('json', '{')).toThrow(AppError);
  });
  it('keeps only a 2xx response', () => {
    expect(toScriptResponse({ body: 'ok' })).toEqual({ status: 200, body: 'ok' });
    expect(toScriptResponse({ status: 204 })).toEqual({ status: 204, body: null });
    expect(toScriptResponse({ status: 302, body: 'x' })).toBeNull();
    expect(toScriptResponse({ status: 200.5 })).toBeNull();
    expect(toScriptResponse('text')).toBeNull();
    expect(toScriptResponse(null)).toBeNull();
  });
});

describe('inboundProviderOf (which requests the server answers without Express)', () => {
  it('names the provider of a POST to /tools/webhook/<provider>, with a trailing slash or a query string', () => {
    expect(inboundProviderOf('POST', '/tools/webhook/stripe')).toBe('stripe');
    expect(inboundProviderOf('POST', '/tools/webhook/stripe/')).toBe('stripe');
    expect(inboundProviderOf('POST', '/tools/webhook/stripe?attempt=2')).toBe('stripe');
    expect(inboundProviderOf('POST', '/tools/webhook/stripe/?a=/b')).toBe('stripe');
    expect(inboundProviderOf('POST', '/tools/webhook/acme%20eu')).toBe('acme eu');
  });

  it('gives null for everything else, which Express then answers as before', () => {
    expect(inboundProviderOf('GET', '/tools/webhook/stripe')).toBeNull();
    expect(inboundProviderOf('PUT', '/tools/webhook/stripe')).toBeNull();
    expect(inboundProviderOf(undefined, '/tools/webhook/stripe')).toBeNull();
    expect(inboundProviderOf('POST', undefined)).toBeNull();
    expect(inboundProviderOf('POST', '/tools/webhook/')).toBeNull();
    expect(inboundProviderOf('POST', '/tools/webhook//')).toBeNull();
    expect(inboundProviderOf('POST', '/tools/webhook/stripe/extra')).toBeNull();
    expect(inboundProviderOf('POST', '/tools/webhook/stripe//')).toBeNull();
    expect(inboundProviderOf('POST', '/tools/webhooks/stripe')).toBeNull();
    expect(inboundProviderOf('POST', '/admin/api/runs')).toBeNull();
    // Spellings Express's route also takes go to Express: other letter case, a name that does not decode.
    expect(inboundProviderOf('POST', '/TOOLS/webhook/stripe')).toBeNull();
    expect(inboundProviderOf('POST', '/tools/webhook/%E0%A4%A')).toBeNull();
    // Express drops a fragment and takes the path of an absolute-form URL: it names these providers itself.
    expect(inboundProviderOf('POST', '/tools/webhook/stripe#frag')).toBeNull();
    expect(inboundProviderOf('POST', 'http://example.com/tools/webhook/stripe')).toBeNull();
  });
});
