import { describe, expect, it } from 'vitest';
import { backoffDelayMs, classifyAttempt, nextStep, parseRetryAfter, type AttemptResult } from '../../src/outbound/index.js';

const NOW = Date.parse('2024-05-01T10:00:00Z');
const response = (statusCode: number, retryAfter: string | null = null): AttemptResult => ({
  statusCode,
  retryAfter,
  responseExcerpt: null,
  responseTruncated: false,
  durationMs: 1,
  error: null,
});
const networkError = (code: string): AttemptResult => ({ ...response(0), statusCode: null, error: { code, message: code } });

describe('retry policy', () => {
  it('classifies: 2xx succeeds; 5xx, 408, 429 and network errors retry; 410 is gone; 3xx and other 4xx are fatal', () => {
    for (const s of [200, 201, 204, 299]) expect(classifyAttempt(response(s), NOW).kind, String(s)).toBe('succeeded');
    for (const s of [500, 502, 503, 504, 599, 408, 429]) expect(classifyAttempt(response(s), NOW).kind, String(s)).toBe('retryable');
    for (const s of [400, 401, 403, 404, 405, 409, 413, 422]) expect(classifyAttempt(response(s), NOW).kind, String(s)).toBe('fatal');
    expect(classifyAttempt(response(410), NOW).kind).toBe('gone');
    expect(classifyAttempt(response(302), NOW)).toMatchObject({ kind: 'fatal', error: { code: 'redirect_not_followed' } });
    expect(classifyAttempt(response(307), NOW)).toMatchObject({ kind: 'fatal', error: { code: 'redirect_not_followed' } });
    for (const code of ['timeout', 'connection_refused', 'connection_reset', 'dns_failed', 'tls_error', 'network_error', 'aborted']) {
      expect(classifyAttempt(networkError(code), NOW).kind, code).toBe('retryable');
    }
    for (const code of ['url_blocked', 'url_insecure', 'url_invalid']) expect(classifyAttempt(networkError(code), NOW).kind, code).toBe('fatal');
  });

  it('reads Retry-After as seconds or an HTTP date, on 429 and 503 only', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter('Wed, 01 May 2024 10:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Wed, 01 May 2024 09:00:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('-5', NOW)).toBeNull();
    expect(parseRetryAfter('soon', NOW)).toBeNull();
    expect(parseRetryAfter(null, NOW)).toBeNull();
    expect(classifyAttempt(response(429, '7'), NOW)).toMatchObject({ retryAfterMs: 7000 });
    expect(classifyAttempt(response(503, '2'), NOW)).toMatchObject({ retryAfterMs: 2000 });
    expect(classifyAttempt(response(500, '2'), NOW)).toMatchObject({ retryAfterMs: null });
  });

  it('backs off as min(base * 2**attempt, max) * (0.5 + random())', () => {
    expect(backoffDelayMs(0, 1000, 60_000, () => 0.5)).toBe(1000);
    expect(backoffDelayMs(3, 1000, 60_000, () => 0.5)).toBe(8000);
    expect(backoffDelayMs(3, 1000, 60_000, () => 0)).toBe(4000);
    expect(backoffDelayMs(3, 1000, 60_000, () => 0.999)).toBe(Math.round(8000 * 1.499));
    expect(backoffDelayMs(20, 1000, 60_000, () => 0.5)).toBe(60_000);
  });

  it('retries while attempts <= maxRetries, honours Retry-After (capped), then fails', () => {
    const settings = { maxRetries: 3, retryDelayMs: 100, maxDelayMs: 10_000 };
    const verdict = classifyAttempt(response(503), NOW);
    expect(nextStep(verdict, 1, settings, () => 0.5)).toMatchObject({ status: 'pending', delayMs: 100 });
    expect(nextStep(verdict, 2, settings, () => 0.5)).toMatchObject({ status: 'pending', delayMs: 200 });
    expect(nextStep(verdict, 3, settings, () => 0.5)).toMatchObject({ status: 'pending', delayMs: 400 });
    expect(nextStep(verdict, 4, settings, () => 0.5)).toMatchObject({ status: 'failed', disableEndpoint: false, error: { code: 'http_503' } });
    expect(nextStep(classifyAttempt(response(429, '3'), NOW), 1, settings, () => 0.5)).toMatchObject({ status: 'pending', delayMs: 3000 });
    expect(nextStep(classifyAttempt(response(429, '99999'), NOW), 1, settings, () => 0.5)).toMatchObject({ status: 'pending', delayMs: 10_000 });
    // Retry-After is a lower bound: 0, or shorter than the back-off, waits the back-off.
    expect(nextStep(classifyAttempt(response(429, '0'), NOW), 3, settings, () => 0.5)).toMatchObject({ status: 'pending', delayMs: 400 });
    expect(nextStep(classifyAttempt(response(503, 'Wed, 01 May 2024 09:00:00 GMT'), NOW), 1, settings, () => 0.5)).toMatchObject({ status: 'pending', delayMs: 100 });
    expect(nextStep(classifyAttempt(response(410), NOW), 1, settings, () => 0.5)).toMatchObject({ status: 'failed', disableEndpoint: true });
    expect(nextStep(classifyAttempt(response(400), NOW), 1, settings, () => 0.5)).toMatchObject({ status: 'failed', disableEndpoint: false });
    expect(nextStep(classifyAttempt(response(204), NOW), 4, settings, () => 0.5)).toEqual({ status: 'succeeded' });
  });
});
