import { createHmac, randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { AppError } from '../../src/errors.js';
import { verifySignature } from '../../src/inbound/index.js';
import type { VerifyConfig } from '../../src/store/types.js';

/*
 * How each provider signs a delivery, written from the providers' documentation (and, for Stripe and
 * Standard Webhooks, with their official libraries) — never with hookgate's own verifier helpers, so a
 * verifier bug cannot cancel out in the tests.
 */

// The SDK's webhook helpers are offline: the key is never used to call Stripe.
const stripe = new Stripe('sk_test_fixtures_unused');

export const nowSec = (): number => Math.floor(Date.now() / 1000);

const hmac = (key: string | Buffer, data: string | Buffer) => createHmac('sha256', key).update(data);

/** `Stripe-Signature: t=…,v1=…` as Stripe sends it, made by the official SDK. */
export function signStripe(body: Buffer, secret: string, t = nowSec()): Record<string, string> {
  return { 'Stripe-Signature': stripe.webhooks.generateTestHeaderString({ payload: body.toString('utf8'), secret, timestamp: t }) };
}

/** GitHub sends the SHA-256 signature and, for old receivers, the SHA-1 one. */
export function signGithub(body: Buffer, secret: string): Record<string, string> {
  return {
    'X-Hub-Signature': `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`,
    'X-Hub-Signature-256': `sha256=${hmac(secret, body).digest('hex')}`,
  };
}

/** Shopify: base64 HMAC-SHA256 of the body, keyed by the app's client secret. */
export function signShopify(body: Buffer, secret: string): Record<string, string> {
  return { 'X-Shopify-Hmac-Sha256': hmac(secret, body).digest('base64') };
}

/** Slack: `v0=` hex HMAC of `v0:<timestamp>:<body>`, keyed by the signing secret. */
export function signSlack(body: Buffer, secret: string, t = nowSec()): Record<string, string> {
  const base = Buffer.concat([Buffer.from(`v0:${t}:`), body]);
  return { 'X-Slack-Request-Timestamp': String(t), 'X-Slack-Signature': `v0=${hmac(secret, base).digest('hex')}` };
}

/** Standard Webhooks, signed by the official `standardwebhooks` package; a new message id per call. */
export function signStandardWebhooks(body: Buffer, secret: string, t = nowSec(), id = `msg_${randomBytes(12).toString('hex')}`): Record<string, string> {
  const signature = new StandardWebhook(secret).sign(id, new Date(t * 1000), body.toString('utf8'));
  return { 'webhook-id': id, 'webhook-timestamp': String(t), 'webhook-signature': signature };
}

/** A `whsec_…` Standard Webhooks secret (24 random bytes, base64). */
export function standardWebhooksSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** What hookgate itself sends: `X-Webhook-Signature: sha256=<hex>` of the body, keyed by the secret string. */
export function signHmacSha256(body: Buffer, secret: string): Record<string, string> {
  return { 'X-Webhook-Signature': `sha256=${hmac(secret, body).digest('hex')}` };
}

/** A generic timestamped HMAC: `prefix` + base64 HMAC of `<timestamp>.<body>`, timestamp in its own header. */
export function signHmacSha256Timestamped(
  body: Buffer,
  secret: string,
  t = nowSec(),
  names = { signature: 'X-Signature', timestamp: 'X-Timestamp', prefix: 'v1=' },
): Record<string, string> {
  const mac = hmac(secret, Buffer.concat([Buffer.from(`${t}.`), body])).digest('base64');
  return { [names.signature]: `${names.prefix}${mac}`, [names.timestamp]: String(t) };
}

export function basicAuth(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}` };
}

/** Lower-cases header names, as Node hands them to the engine. */
export function lowerCased(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

/** What hookgate's verifier says of a request: `ok`, or the code of the AppError it throws. */
export function verifyOutcome(config: VerifyConfig, headers: Record<string, string>, body: Buffer, nowMs: number): string {
  try {
    verifySignature(config, { rawBody: body, headers, nowMs });
    return 'ok';
  } catch (err) {
    return err instanceof AppError ? err.code : `unexpected: ${String(err)}`;
  }
}
