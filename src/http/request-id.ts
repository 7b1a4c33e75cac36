/** The header that carries a request id in and out (inbound webhooks and the admin API). */
export const REQUEST_ID_HEADER = 'X-Request-Id';

// Bounded and free of spaces, quotes and control characters: safe to echo in a header and to log as is.
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The caller's `X-Request-Id` when it is sane (1–128 characters of `[A-Za-z0-9._:-]`), else null: the
 * caller then gets an id of ours. Also used on stored request headers, so a request run later by the inbox
 * worker logs the id it was answered with.
 *
 * @example
 * const requestId = requestIdOf(req.headers['x-request-id']) ?? runId;
 */
export function requestIdOf(header: string | string[] | undefined): string | null {
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : null;
}
