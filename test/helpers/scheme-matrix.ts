import { randomBytes } from 'node:crypto';
import type { VerifyConfig } from '../../src/store/types.js';
import {
  basicAuth,
  signGithub,
  signHmacSha256,
  signHmacSha256Timestamped,
  signShopify,
  signSlack,
  signStandardWebhooks,
  signStripe,
  standardWebhooksSecret,
} from './provider-signing.js';

/**
 * One row per verification scheme (and per notable option set), shared by the unit matrix
 * (test/inbound/verify-matrix.test.ts) and the HTTP one (test/e2e/inbound-verify-matrix.test.ts). Each row
 * says how its sender signs and which error code each failure must give.
 */
export interface SchemeRow {
  /** Label in test names; also the provider name in the HTTP matrix. */
  name: string;
  /** The webhook's `verify` with the given active secrets (first = `secret`, the rest = `secrets`). */
  config(active: string[]): VerifyConfig;
  /** Three unrelated secrets: the one in use before a rotation, the one after, and an attacker's guess. */
  secrets: { previous: string; current: string; wrong: string };
  /** The authentication headers the sender adds to `body` at unix time `t` with `secret`. */
  sign(body: Buffer, secret: string, t: number): Record<string, string>;
  /** Headers (as signed) whose absence alone must give `missingCode`. */
  required: string[];
  missingCode: 'signature_missing' | 'credentials_missing';
  invalidCode: 'signature_invalid' | 'credentials_invalid';
  /** The scheme signs a timestamp with this tolerance (s); null = no timestamp, a replay is caught by de-duplication only. */
  toleranceSec: number | null;
  /** False for schemes that authenticate the sender but not the body (basic, api-key). */
  signsBody: boolean;
}

const secretsOf = (prefix: string) => ({ previous: `${prefix}-previous-secret`, current: `${prefix}-current-secret`, wrong: `${prefix}-wrong-secret` });
const split = (active: string[]) => ({ secret: active[0], ...(active.length > 1 ? { secrets: active.slice(1) } : {}) });

export const SCHEME_ROWS: SchemeRow[] = [
  {
    name: 'stripe',
    config: (active) => ({ scheme: 'stripe', ...split(active) }),
    secrets: { previous: 'whsec_previous_2b7c1f', current: 'whsec_current_9d04ae', wrong: 'whsec_wrong_55e0b1' },
    sign: (body, secret, t) => signStripe(body, secret, t),
    required: ['Stripe-Signature'],
    missingCode: 'signature_missing',
    invalidCode: 'signature_invalid',
    toleranceSec: 300,
    signsBody: true,
  },
  {
    name: 'github',
    config: (active) => ({ scheme: 'github', ...split(active) }),
    secrets: secretsOf('github'),
    sign: (body, secret) => signGithub(body, secret),
    required: ['X-Hub-Signature-256'],
    missingCode: 'signature_missing',
    invalidCode: 'signature_invalid',
    toleranceSec: null,
    signsBody: true,
  },
  {
    name: 'standard-webhooks',
    config: (active) => ({ scheme: 'standard-webhooks', ...split(active) }),
    secrets: { previous: standardWebhooksSecret(), current: standardWebhooksSecret(), wrong: standardWebhooksSecret() },
    sign: (body, secret, t) => signStandardWebhooks(body, secret, t),
    required: ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
    missingCode: 'signature_missing',
    invalidCode: 'signature_invalid',
    toleranceSec: 300,
    signsBody: true,
  },
  {
    name: 'shopify',
    config: (active) => ({ scheme: 'shopify', ...split(active) }),
    secrets: secretsOf('shpss'),
    sign: (body, secret) => signShopify(body, secret),
    required: ['X-Shopify-Hmac-Sha256'],
    missingCode: 'signature_missing',
    invalidCode: 'signature_invalid',
    toleranceSec: null,
    signsBody: true,
  },
  {
    name: 'slack',
    config: (active) => ({ scheme: 'slack', ...split(active) }),
    secrets: secretsOf('slack'),
    sign: (body, secret, t) => signSlack(body, secret, t),
    required: ['X-Slack-Signature', 'X-Slack-Request-Timestamp'],
    missingCode: 'signature_missing',
    invalidCode: 'signature_invalid',
    toleranceSec: 300,
    signsBody: true,
  },
  {
    name: 'hmac-sha256',
    config: (active) => ({ scheme: 'hmac-sha256', ...split(active) }),
    secrets: secretsOf('hmac'),
    sign: (body, secret) => signHmacSha256(body, secret),
    required: ['X-Webhook-Signature'],
    missingCode: 'signature_missing',
    invalidCode: 'signature_invalid',
    toleranceSec: null,
    signsBody: true,
  },
  {
    name: 'hmac-sha256-timestamped',
    config: (active) => ({
      scheme: 'hmac-sha256',
      header: 'X-Signature',
      prefix: 'v1=',
      encoding: 'base64',
      timestampHeader: 'X-Timestamp',
      toleranceSec: 120,
      ...split(active),
    }),
    secrets: secretsOf('hmac-ts'),
    sign: (body, secret, t) => signHmacSha256Timestamped(body, secret, t),
    required: ['X-Signature', 'X-Timestamp'],
    missingCode: 'signature_missing',
    invalidCode: 'signature_invalid',
    toleranceSec: 120,
    signsBody: true,
  },
  {
    name: 'basic',
    config: (active) => ({ scheme: 'basic', username: 'twilio', ...split(active) }),
    secrets: secretsOf('basic'),
    sign: (_body, secret) => basicAuth('twilio', secret),
    required: ['Authorization'],
    missingCode: 'credentials_missing',
    invalidCode: 'credentials_invalid',
    toleranceSec: null,
    signsBody: false,
  },
  {
    name: 'api-key',
    config: (active) => ({ scheme: 'api-key', ...split(active) }),
    secrets: secretsOf('apikey'),
    sign: (_body, secret) => ({ 'X-Api-Key': secret }),
    required: ['X-Api-Key'],
    missingCode: 'credentials_missing',
    invalidCode: 'credentials_invalid',
    toleranceSec: null,
    signsBody: false,
  },
  {
    name: 'api-key-bearer',
    config: (active) => ({ scheme: 'api-key', header: 'Authorization', ...split(active) }),
    secrets: secretsOf('bearer'),
    sign: (_body, secret) => ({ Authorization: `Bearer ${secret}` }),
    required: ['Authorization'],
    missingCode: 'credentials_missing',
    invalidCode: 'credentials_invalid',
    toleranceSec: null,
    signsBody: false,
  },
];

/**
 * A JSON body unique to one request (so Stripe's event-id de-duplication never turns a case into a
 * duplicate), and a tampered copy of it: same length, one value changed, still valid JSON.
 */
export function matrixBody(): { body: Buffer; tampered: Buffer } {
  const id = `evt_${randomBytes(8).toString('hex')}`;
  const text = JSON.stringify({ id, type: 'invoice.paid', data: { object: { amount_paid: 2900, currency: 'eur' } } });
  return { body: Buffer.from(text), tampered: Buffer.from(text.replace('"amount_paid":2900', '"amount_paid":9900')) };
}

/** `headers` without `name` (any case). */
export function without(headers: Record<string, string>, name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([key]) => key.toLowerCase() !== name.toLowerCase()));
}
