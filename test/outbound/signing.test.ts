import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { WebhookSender } from '../../src/outbound/index.js';
import { deliveryHeaders } from '../../src/outbound/attempt-delivery.js';

/** Independent of the code under test: the contract's formulas written out with node:crypto. */
const hexHmac = (key: string, body: string) => createHmac('sha256', key).update(body).digest('hex');
const standardSig = (secret: string, id: string, ts: string, body: string) =>
  createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`${id}.${ts}.${body}`).digest('base64');

describe('WebhookSender', () => {
  const body = JSON.stringify({ id: 'm1', event: 'invoice.paid', version: '1', timestamp: '2024-05-01T10:00:00.000Z', data: { amount: 42, note: 'ü✓' }, metadata: {} });
  const timestamp = new Date('2024-05-01T10:00:07.654Z');

  it('generates whsec_ secrets of 32 random bytes and shows only their prefix', () => {
    const a = WebhookSender.generateSecret();
    const b = WebhookSender.generateSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(32);
    expect(a).not.toBe(b);
    expect(WebhookSender.secretPrefix(a)).toBe(a.slice(0, 10));
  });

  it('signs X-Webhook-Signature as hex HMAC-SHA256 of the raw body keyed with the secret string', () => {
    const secret = WebhookSender.generateSecret();
    const headers = WebhookSender.sign({ body, secrets: secret, webhookId: 'del_1', timestamp });
    expect(headers['X-Webhook-Signature']).toBe(`sha256=${hexHmac(secret, body)}`);
    expect(WebhookSender.verify(body, secret, headers['X-Webhook-Signature'])).toBe(true);
    expect(WebhookSender.verify(Buffer.from(body), secret, headers['X-Webhook-Signature'])).toBe(true);
  });

  it('signs the Standard Webhooks headers so the official package verifies them', () => {
    const secret = WebhookSender.generateSecret();
    const headers = WebhookSender.sign({ body, secrets: secret, webhookId: 'del_1', timestamp });
    expect(headers['webhook-id']).toBe('del_1');
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(timestamp.getTime() / 1000)));
    expect(headers['webhook-signature']).toBe(`v1,${standardSig(secret, 'del_1', headers['webhook-timestamp'], body)}`);
    // The official library checks the timestamp against its own clock: sign "now" for it.
    const fresh = WebhookSender.sign({ body, secrets: secret, webhookId: 'del_1', timestamp: new Date() });
    expect(new Webhook(secret).verify(body, fresh)).toEqual(JSON.parse(body));
    expect(() => new Webhook(WebhookSender.generateSecret()).verify(body, fresh)).toThrow();
    expect(WebhookSender.verifyStandard(body, secret, fresh)).toBe(true);
    expect(WebhookSender.verifyStandard(body, secret, headers, { nowMs: timestamp.getTime() })).toBe(true);
    expect(WebhookSender.verifyStandard(body, secret, headers)).toBe(false); // stale timestamp
    expect(new Webhook(secret).sign('del_1', timestamp, body)).toBe(headers['webhook-signature']);
  });

  it('during a rotation signs with every live secret, and either one verifies', () => {
    const current = WebhookSender.generateSecret();
    const old = WebhookSender.generateSecret();
    const headers = WebhookSender.sign({ body, secrets: [current, old], webhookId: 'del_2', timestamp: new Date() });
    expect(headers['X-Webhook-Signature'].split(' ')).toEqual([`sha256=${hexHmac(current, body)}`, `sha256=${hexHmac(old, body)}`]);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const secret of [current, old]) {
      expect(WebhookSender.verify(body, secret, headers['X-Webhook-Signature'])).toBe(true);
      expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    }
    expect(WebhookSender.verify(body, WebhookSender.generateSecret(), headers['X-Webhook-Signature'])).toBe(false);
  });

  it('signs every request with its own secret, past the number of keys it keeps ready', () => {
    const secrets = Array.from({ length: 1100 }, () => WebhookSender.generateSecret());
    for (const secret of [...secrets, secrets[0] as string, secrets[1099] as string]) {
      const headers = WebhookSender.sign({ body, secrets: secret, webhookId: 'del_3', timestamp });
      expect(headers['X-Webhook-Signature']).toBe(`sha256=${hexHmac(secret, body)}`);
      expect(headers['webhook-signature']).toBe(`v1,${standardSig(secret, 'del_3', headers['webhook-timestamp'], body)}`);
    }
  });

  it('rejects tampered bodies, malformed and empty headers', () => {
    const secret = WebhookSender.generateSecret();
    const sig = WebhookSender.sign({ body, secrets: secret, webhookId: 'x', timestamp })['X-Webhook-Signature'];
    expect(WebhookSender.verify(`${body} `, secret, sig)).toBe(false);
    expect(WebhookSender.verify(body, secret, sig.replace('sha256=', 'sha1='))).toBe(false);
    expect(WebhookSender.verify(body, secret, sig.slice(0, -2))).toBe(false);
    expect(WebhookSender.verify(body, secret, '')).toBe(false);
    expect(WebhookSender.verify(body, '', sig)).toBe(false);
    expect(() => WebhookSender.sign({ body, secrets: [], webhookId: 'x', timestamp })).toThrow(TypeError);
  });

  it('builds the contract headers of one attempt: the same instant in both timestamps', () => {
    const secret = WebhookSender.generateSecret();
    const headers = deliveryHeaders({ id: 'del_3', event: 'invoice.paid', payload: body }, [secret], 'att-1', timestamp.getTime());
    expect(headers).toMatchObject({
      'X-Webhook-Event': 'invoice.paid',
      'X-Webhook-Delivery': 'att-1',
      'X-Webhook-Timestamp': '2024-05-01T10:00:07.000Z',
      'webhook-id': 'del_3',
      'webhook-timestamp': String(Date.parse('2024-05-01T10:00:07Z') / 1000),
      'X-Webhook-Signature': `sha256=${hexHmac(secret, body)}`,
    });
  });
});
