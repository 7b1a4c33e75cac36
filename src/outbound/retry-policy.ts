import type { AttemptError, AttemptResult } from './http-transport.js';

/** What one attempt's result means for its delivery. */
export type AttemptVerdict =
  | { kind: 'succeeded' }
  /** Worth another attempt; `retryAfterMs` when the receiver said when (429/503 `Retry-After`). */
  | { kind: 'retryable'; error: AttemptError; retryAfterMs: number | null }
  /** Will not get better by retrying (most 4xx, redirects, a URL that is now forbidden). */
  | { kind: 'fatal'; error: AttemptError }
  /** 410 Gone: fail, and disable the endpoint. */
  | { kind: 'gone'; error: AttemptError };

/** Errors of the URL check: the URL itself is the problem, so retrying cannot help. */
const FATAL_ERROR_CODES = new Set(['url_invalid', 'url_insecure', 'url_blocked']);

/** Statuses retried as well as 5xx: 408 Request Timeout, 429 Too Many Requests. */
const RETRYABLE_4XX = new Set([408, 429]);

/** Statuses whose `Retry-After` is honoured (RFC 9110 §10.2.3 names 503 and 3xx; RFC 6585 adds 429). */
const RETRY_AFTER_STATUSES = new Set([429, 503]);

/**
 * Seconds (`120`) or an HTTP date; null when absent or unreadable. Never negative.
 *
 * @example parseRetryAfter('3', Date.now()) // 3000
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | null {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at) || !/[a-z]/i.test(text)) return null;
  return Math.max(0, at - nowMs);
}

/** Classifies one attempt: 2xx succeeds; network errors, timeouts, 5xx, 408 and 429 retry; 410 disables; the rest fail. */
export function classifyAttempt(result: AttemptResult, nowMs: number): AttemptVerdict {
  if (result.error && result.statusCode === null) {
    return FATAL_ERROR_CODES.has(result.error.code) ? { kind: 'fatal', error: result.error } : { kind: 'retryable', error: result.error, retryAfterMs: null };
  }
  const status = result.statusCode ?? 0;
  if (status >= 200 && status < 300) return { kind: 'succeeded' };
  const error: AttemptError = { code: `http_${status}`, message: `The endpoint answered ${status}.` };
  if (status === 410) return { kind: 'gone', error: { code: 'http_410', message: 'The endpoint answered 410 Gone; it is disabled.' } };
  if (status >= 500 || RETRYABLE_4XX.has(status)) {
    const retryAfterMs = RETRY_AFTER_STATUSES.has(status) ? parseRetryAfter(result.retryAfter, nowMs) : null;
    return { kind: 'retryable', error, retryAfterMs };
  }
  if (status >= 300 && status < 400) {
    return { kind: 'fatal', error: { code: 'redirect_not_followed', message: `The endpoint answered ${status}; redirects are not followed.` } };
  }
  return { kind: 'fatal', error };
}

/**
 * Exponential back-off with jitter: `min(base * 2**attempt, max) * (0.5 + random())`, attempt counted
 * from 0 (the first retry waits about `base`).
 */
export function backoffDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  return Math.round(Math.min(baseMs * 2 ** attempt, maxMs) * (0.5 + random()));
}

export interface RetrySettings {
  maxRetries: number;
  retryDelayMs: number;
  /** Cap of a `Retry-After`, and of the back-off before its jitter (so a back-off waits at most 1.5 × this). */
  maxDelayMs: number;
}

/** What happens to a delivery after an attempt. */
export type NextStep =
  | { status: 'succeeded' }
  | { status: 'pending'; delayMs: number; error: AttemptError }
  | { status: 'failed'; error: AttemptError; disableEndpoint: boolean };

/**
 * Decides the next step after the `roundAttempts`-th attempt (1-based) of a delivery: retry while
 * attempts ≤ maxRetries, after the back-off — or after the receiver's `Retry-After` when that is longer
 * (capped at `maxDelayMs`). A `Retry-After` is a lower bound: one of 0 (or a date past) does not make the
 * retries follow each other at once and spend the budget within milliseconds.
 */
export function nextStep(verdict: AttemptVerdict, roundAttempts: number, settings: RetrySettings, random: () => number): NextStep {
  switch (verdict.kind) {
    case 'succeeded':
      return { status: 'succeeded' };
    case 'gone':
      return { status: 'failed', error: verdict.error, disableEndpoint: true };
    case 'fatal':
      return { status: 'failed', error: verdict.error, disableEndpoint: false };
    case 'retryable': {
      if (roundAttempts > settings.maxRetries) {
        return {
          status: 'failed',
          error: { ...verdict.error, message: `${verdict.error.message} Gave up after ${roundAttempts} ${roundAttempts === 1 ? 'attempt' : 'attempts'}.` },
          disableEndpoint: false,
        };
      }
      const backoff = backoffDelayMs(roundAttempts - 1, settings.retryDelayMs, settings.maxDelayMs, random);
      const delayMs = verdict.retryAfterMs !== null ? Math.max(backoff, Math.min(verdict.retryAfterMs, settings.maxDelayMs)) : backoff;
      return { status: 'pending', delayMs, error: verdict.error };
    }
  }
}
