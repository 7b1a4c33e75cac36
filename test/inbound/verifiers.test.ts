import { createHmac, randomBytes } from 'node:crypto';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { extractEventType } from '../../src/inbound/index.js';
import type { VerifyConfig } from '../../src/store/types.js';
import { verifyOutcome } from '../helpers/provider-signing.js';

const NOW = 1_763_900_000_000;
const raw = Buffer.from(JSON.stringify({ id: 'evt_1', type: 'invoice.paid' }));

const codeOf = (config: VerifyConfig, headers: Record<string, string>, body = raw, nowMs = NOW): string => verifyOutcome(config, headers, body, nowMs);

describe('stripe', () => {
  const secret = 'whsec_test_stripe_secret';
  const t = Math.floor(NOW / 1000);
  // Computed independently of the verifier: Stripe signs `${t}.${payload}` with HMAC-SHA256, hex.
  const sign = (ts: number, body: Buffer, key = secret) => createHmac('sha256', key).update(`${ts}.${body.toString()}`).digest('hex');
  const config: VerifyConfig = { scheme: 'stripe', secret };

  it('accepts a valid signature, also among several v1 entries (rotation)', () => {
    expect(codeOf(config, { 'stripe-signature': `t=${t},v1=${sign(t, raw)}` })).toBe('ok');
    expect(codeOf(config, { 'stripe-signature': `t=${t},v1=${sign(t, raw, 'old')},v1=${sign(t, raw)},v0=abc` })).toBe('ok');
  });
  it('rejects tampering, a wrong secret, stale timestamps and missing parts', () => {
    expect(codeOf(config, { 'stripe-signature': `t=${t},v1=${sign(t, raw)}` }, Buffer.from('{"id":"evt_2"}'))).toBe('signature_invalid');
    expect(codeOf(config, { 'stripe-signature': `t=${t},v1=${sign(t, raw, 'nope')}` })).toBe('signature_invalid');
    expect(codeOf(config, { 'stripe-signature': `t=${t - 301},v1=${sign(t - 301, raw)}` })).toBe('signature_timestamp_invalid');
    expect(codeOf({ ...config, toleranceSec: 600 }, { 'stripe-signature': `t=${t - 301},v1=${sign(t - 301, raw)}` })).toBe('ok');
    expect(codeOf(config, { 'stripe-signature': `v1=${sign(t, raw)}` })).toBe('signature_timestamp_invalid');
    expect(codeOf(config, { 'stripe-signature': `t=${t}` })).toBe('signature_invalid');
    expect(codeOf(config, {})).toBe('signature_missing');
    expect(codeOf({ scheme: 'stripe' }, { 'stripe-signature': `t=${t},v1=${sign(t, raw)}` })).toBe('signature_invalid');
  });
});

describe('github', () => {
  const secret = "It's a Secret to Everybody";
  it("matches GitHub's documented test vector", () => {
    // From GitHub's "Validating webhook deliveries" docs: payload "Hello, World!" with this secret.
    const body = Buffer.from('Hello, World!');
    const header = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    expect(codeOf({ scheme: 'github', secret }, { 'x-hub-signature-256': header }, body)).toBe('ok');
    expect(codeOf({ scheme: 'github', secret: 'other' }, { 'x-hub-signature-256': header }, body)).toBe('signature_invalid');
    expect(codeOf({ scheme: 'github', secret }, { 'x-hub-signature-256': 'sha1=abcd' }, body)).toBe('signature_invalid');
  });
});

describe('standard-webhooks', () => {
  it('accepts what the official standardwebhooks package signs', () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const id = 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W';
    const date = new Date(NOW);
    const signature = new StandardWebhook(secret).sign(id, date, raw.toString());
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(NOW / 1000)), 'webhook-signature': `v1,AAAA ${signature}` };
    expect(codeOf({ scheme: 'standard-webhooks', secret }, headers)).toBe('ok');
    expect(codeOf({ scheme: 'standard-webhooks', secret }, { ...headers, 'webhook-id': 'msg_other' })).toBe('signature_invalid');
    expect(codeOf({ scheme: 'standard-webhooks', secret }, headers, raw, NOW + 10 * 60_000)).toBe('signature_timestamp_invalid');
    expect(codeOf({ scheme: 'standard-webhooks', secret }, { ...headers, 'webhook-signature': '' })).toBe('signature_missing');
  });
});

describe('hmac-sha256', () => {
  it('checks sha256=<hex> in the configured header, with or without the prefix', () => {
    const secret = 'shared';
    const hex = createHmac('sha256', secret).update(raw).digest('hex');
    expect(codeOf({ scheme: 'hmac-sha256', secret }, { 'x-webhook-signature': `sha256=${hex}` })).toBe('ok');
    expect(codeOf({ scheme: 'hmac-sha256', secret, header: 'X-Sig' }, { 'x-sig': hex })).toBe('ok');
    expect(codeOf({ scheme: 'hmac-sha256', secret, header: 'X-Sig' }, { 'x-sig': hex.slice(2) })).toBe('signature_invalid');
    expect(codeOf({ scheme: 'hmac-sha256', secret }, { 'x-webhook-signature': 'sha256=zz' })).toBe('signature_invalid');
  });
});

describe('extractEventType', () => {
  it('reads type, event, eventType, then the GitHub and X-Webhook-Event headers', () => {
    expect(extractEventType({ type: 'a', event: 'b' }, {})).toBe('a');
    expect(extractEventType({ event: 'b', eventType: 'c' }, {})).toBe('b');
    expect(extractEventType({ eventType: 'c' }, { 'x-github-event': 'push' })).toBe('c');
    expect(extractEventType({ type: 5 }, { 'x-github-event': 'push' })).toBe('push');
    expect(extractEventType([1, 2], { 'x-webhook-event': 'w' })).toBe('w');
    expect(extractEventType('text', {})).toBeNull();
  });
});
