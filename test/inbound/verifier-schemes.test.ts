import { createHmac, randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import type { VerifyConfig } from '../../src/store/types.js';
import { verifyOutcome } from '../helpers/provider-signing.js';

/*
 * The issue-5 schemes and secret rotation. Expected signatures are computed here with node:crypto or taken
 * from the providers' documentation and official SDKs, never with the verifiers' own helpers.
 */
const NOW = 1_763_900_000_000;
const T = Math.floor(NOW / 1000);
const raw = Buffer.from(JSON.stringify({ id: 'evt_1', type: 'invoice.paid' }));

const codeOf = (config: VerifyConfig, headers: Record<string, string>, body = raw, nowMs = NOW): string => verifyOutcome(config, headers, body, nowMs);

describe('stripe, against the official SDK', () => {
  const stripe = new Stripe('sk_test_unused');
  const secret = 'whsec_sdk_check_secret';
  const payload = raw.toString();

  it('accepts what stripe.webhooks.generateTestHeaderString signs, with either of two active secrets', () => {
    const header = stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: T });
    expect(codeOf({ scheme: 'stripe', secret }, { 'stripe-signature': header })).toBe('ok');
    // Rotation: the new secret is configured first, the old one still accepted.
    expect(codeOf({ scheme: 'stripe', secret: 'whsec_new', secrets: [secret] }, { 'stripe-signature': header })).toBe('ok');
    expect(codeOf({ scheme: 'stripe', secrets: ['whsec_new', 'whsec_other'] }, { 'stripe-signature': header })).toBe('signature_invalid');
  });

  it('agrees with the SDK on tampering and stale timestamps', () => {
    const stale = stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: T - 400 });
    expect(codeOf({ scheme: 'stripe', secret }, { 'stripe-signature': stale })).toBe('signature_timestamp_invalid');
    expect(() => stripe.webhooks.constructEvent(payload, stale, secret, 300)).toThrow();
    const fresh = stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: T });
    const tampered = Buffer.from(payload.replace('evt_1', 'evt_2'));
    expect(codeOf({ scheme: 'stripe', secret }, { 'stripe-signature': fresh }, tampered)).toBe('signature_invalid');
  });
});

describe('standard-webhooks, against the official package', () => {
  it('accepts either active secret and refuses a third', () => {
    const oldSecret = `whsec_${randomBytes(24).toString('base64')}`;
    const newSecret = `whsec_${randomBytes(24).toString('base64')}`;
    const id = 'msg_rotation';
    const signature = new StandardWebhook(oldSecret).sign(id, new Date(NOW), raw.toString());
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(T), 'webhook-signature': signature };
    expect(codeOf({ scheme: 'standard-webhooks', secret: newSecret, secrets: [oldSecret] }, headers)).toBe('ok');
    expect(codeOf({ scheme: 'standard-webhooks', secret: newSecret }, headers)).toBe('signature_invalid');
  });
});

describe('github with rotation', () => {
  it('accepts a signature made with any active secret', () => {
    const sig = `sha256=${createHmac('sha256', 'old-secret').update(raw).digest('hex')}`;
    expect(codeOf({ scheme: 'github', secret: 'new-secret', secrets: ['old-secret'] }, { 'x-hub-signature-256': sig })).toBe('ok');
    expect(codeOf({ scheme: 'github', secret: 'new-secret' }, { 'x-hub-signature-256': sig })).toBe('signature_invalid');
  });
});

describe('shopify', () => {
  const secret = 'shpss_client_secret';
  const sig = createHmac('sha256', secret).update(raw).digest('base64');
  it('checks the base64 X-Shopify-Hmac-Sha256 of the body', () => {
    expect(codeOf({ scheme: 'shopify', secret }, { 'x-shopify-hmac-sha256': sig })).toBe('ok');
    expect(codeOf({ scheme: 'shopify', secret: 'other', secrets: [secret] }, { 'x-shopify-hmac-sha256': sig })).toBe('ok');
    expect(codeOf({ scheme: 'shopify', secret }, { 'x-shopify-hmac-sha256': sig }, Buffer.from('{}'))).toBe('signature_invalid');
    // The hex form of the same MAC is not what Shopify sends.
    expect(codeOf({ scheme: 'shopify', secret }, { 'x-shopify-hmac-sha256': createHmac('sha256', secret).update(raw).digest('hex') })).toBe('signature_invalid');
    expect(codeOf({ scheme: 'shopify', secret }, {})).toBe('signature_missing');
  });
});

describe('slack', () => {
  // The worked example of Slack's "Verifying requests from Slack" documentation.
  const secret = '8f742231b10e8888abcd99yyyzzz85a5';
  const body = Buffer.from(
    'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
  );
  const headers = { 'x-slack-request-timestamp': '1531420618', 'x-slack-signature': 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503' };
  const then = 1531420618_000;

  it("matches Slack's documented example", () => {
    expect(codeOf({ scheme: 'slack', secret }, headers, body, then)).toBe('ok');
    expect(codeOf({ scheme: 'slack', secret: 'rotated', secrets: [secret] }, headers, body, then + 60_000)).toBe('ok');
  });
  it('refuses a stale timestamp, a missing header and a changed body', () => {
    expect(codeOf({ scheme: 'slack', secret }, headers, body, then + 301_000)).toBe('signature_timestamp_invalid');
    expect(codeOf({ scheme: 'slack', secret }, { 'x-slack-signature': headers['x-slack-signature'] }, body, then)).toBe('signature_missing');
    expect(codeOf({ scheme: 'slack', secret }, headers, Buffer.from(body.toString().replace('foobar', 'foobaz')), then)).toBe('signature_invalid');
    expect(codeOf({ scheme: 'slack', secret }, { ...headers, 'x-slack-signature': 'v1=abcd' }, body, then)).toBe('signature_invalid');
  });
});

describe('hmac-sha256 options', () => {
  const secret = 'generic';
  const hex = createHmac('sha256', secret).update(raw).digest('hex');
  const b64 = createHmac('sha256', secret).update(raw).digest('base64');

  it('takes a configured prefix and base64 encoding', () => {
    expect(codeOf({ scheme: 'hmac-sha256', secret, header: 'X-Sig', prefix: 'hmac ', encoding: 'base64' }, { 'x-sig': `hmac ${b64}` })).toBe('ok');
    expect(codeOf({ scheme: 'hmac-sha256', secret, header: 'X-Sig', prefix: 'hmac ', encoding: 'base64' }, { 'x-sig': b64 })).toBe('signature_invalid');
    expect(codeOf({ scheme: 'hmac-sha256', secret, header: 'X-Sig', encoding: 'base64' }, { 'x-sig': b64 })).toBe('ok');
  });
  it('accepts one of several space-separated signatures (a sender mid-rotation)', () => {
    const other = createHmac('sha256', 'someone-else').update(raw).digest('hex');
    expect(codeOf({ scheme: 'hmac-sha256', secret }, { 'x-webhook-signature': `sha256=${other} sha256=${hex}` })).toBe('ok');
  });
  it('signs `${timestamp}.${body}` when a timestamp header is configured, within the tolerance', () => {
    const ts = String(T);
    const signed = createHmac('sha256', secret).update(`${ts}.${raw.toString()}`).digest('hex');
    const config: VerifyConfig = { scheme: 'hmac-sha256', secret, timestampHeader: 'X-Ts' };
    expect(codeOf(config, { 'x-webhook-signature': signed, 'x-ts': ts })).toBe('ok');
    expect(codeOf(config, { 'x-webhook-signature': hex, 'x-ts': ts })).toBe('signature_invalid');
    expect(codeOf(config, { 'x-webhook-signature': signed })).toBe('signature_missing');
    expect(codeOf(config, { 'x-webhook-signature': signed, 'x-ts': ts }, raw, NOW + 600_000)).toBe('signature_timestamp_invalid');
  });
});

describe('basic and api-key', () => {
  const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

  it('basic: user name and any active password', () => {
    const config: VerifyConfig = { scheme: 'basic', username: 'twilio', secret: 'pw-new', secrets: ['pw-old'] };
    expect(codeOf(config, { authorization: basic('twilio', 'pw-new') })).toBe('ok');
    expect(codeOf(config, { authorization: basic('twilio', 'pw-old') })).toBe('ok');
    expect(codeOf(config, { authorization: basic('mallory', 'pw-new') })).toBe('credentials_invalid');
    expect(codeOf(config, { authorization: basic('twilio', 'pw') })).toBe('credentials_invalid');
    expect(codeOf(config, { authorization: 'Bearer pw-new' })).toBe('credentials_missing');
    expect(codeOf(config, {})).toBe('credentials_missing');
    // Without a configured user name any user is accepted with a right password.
    expect(codeOf({ scheme: 'basic', secret: 'pw' }, { authorization: basic('anyone', 'pw') })).toBe('ok');
  });

  it('api-key: the configured header (default X-Api-Key), Bearer stripped from Authorization', () => {
    expect(codeOf({ scheme: 'api-key', secret: 'k1' }, { 'x-api-key': 'k1' })).toBe('ok');
    expect(codeOf({ scheme: 'api-key', secret: 'k1', secrets: ['k0'] }, { 'x-api-key': 'k0' })).toBe('ok');
    expect(codeOf({ scheme: 'api-key', secret: 'k1' }, { 'x-api-key': 'k2' })).toBe('credentials_invalid');
    expect(codeOf({ scheme: 'api-key', secret: 'k1' }, {})).toBe('credentials_missing');
    expect(codeOf({ scheme: 'api-key', secret: 'k1', header: 'Authorization' }, { authorization: 'Bearer k1' })).toBe('ok');
  });

  it('fails closed when no secret is configured', () => {
    expect(codeOf({ scheme: 'api-key' }, { 'x-api-key': '' })).toBe('signature_invalid');
    expect(codeOf({ scheme: 'slack', secrets: [] }, {})).toBe('signature_invalid');
  });
});
