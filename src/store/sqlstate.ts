/**
 * PostgreSQL SQLSTATEs the store and its callers act on (https://www.postgresql.org/docs/current/errcodes-appendix.html).
 * A retryable error is one where running the same transaction again may succeed.
 */
export const SQLSTATE = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  invalidTextRepresentation: '22P02',
  /** Among others: "cached plan must not change result type" for a prepared statement. */
  featureNotSupported: '0A000',
  /** A prepared statement the server does not know. */
  invalidStatementName: '26000',
} as const;

const RETRYABLE_SQLSTATES: ReadonlyMap<string, string> = new Map([
  ['40001', 'serialization_failure'],
  ['40P01', 'deadlock_detected'],
  ['55P03', 'lock_not_available'],
  ['53300', 'too_many_connections'],
  ['57P01', 'admin_shutdown'],
  ['57P02', 'crash_shutdown'],
  ['57P03', 'cannot_connect_now'],
]);

/** Class 08 (connection exception): every code in it is worth a retry. */
const RETRYABLE_CLASSES = ['08'];

/** Socket errors from the driver before PostgreSQL could answer. */
const RETRYABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);

/** The SQLSTATE (or Node error code) of an error, following `cause` links. */
export function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$|^E[A-Z_]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True when the error is transient: a serialization failure, a deadlock, a lost or refused connection. */
export function isRetryableDbError(err: unknown): boolean {
  const code = errorCode(err);
  if (code === undefined) return false;
  return RETRYABLE_SQLSTATES.has(code) || RETRYABLE_CLASSES.includes(code.slice(0, 2)) || RETRYABLE_NODE_CODES.has(code);
}

/** SQLSTATEs of a server that is not serving this session: shutting down, crashed, starting up, full. */
const CONNECTION_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * True when the database could not be reached or dropped the connection — class 08, the server shutting
 * down or starting up, a refused or reset socket, `pg`'s "Connection terminated…" and "not queryable" (no
 * code), knex's pool timeout, or our own `database_unavailable` — not an error of the statement itself.
 */
export function isConnectionError(err: unknown): boolean {
  const code = errorCode(err);
  if (code !== undefined) return CONNECTION_SQLSTATES.has(code) || RETRYABLE_CLASSES.includes(code.slice(0, 2)) || RETRYABLE_NODE_CODES.has(code);
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { name, message, code: ownCode } = e as { name?: unknown; message?: unknown; code?: unknown };
    if (ownCode === 'database_unavailable' || name === 'KnexTimeoutError') return true;
    // knex puts the SQL in front of the driver's message ("select … - Connection terminated unexpectedly").
    if (typeof message === 'string' && /\bConnection terminated\b|is not queryable/.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * True when the statement refused the data itself — SQLSTATE class 22 (data exception: a bad value, an
 * invalid text representation) or 23 (integrity constraint violation): the same rows can never succeed.
 */
export function isDataError(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && (code.startsWith('22') || code.startsWith('23'));
}

/** True when the error is a unique violation, optionally of one named constraint or index. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  if (errorCode(err) !== SQLSTATE.uniqueViolation) return false;
  return constraint === undefined || (err as { constraint?: unknown }).constraint === constraint;
}
