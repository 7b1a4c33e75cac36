import { AppError } from '../errors.js';
import type { Page } from './types.js';

/** Position after which the next page of runs starts: the last row's (created_at, id). */
export interface RunCursor {
  /** created_at in UTC with PostgreSQL's microseconds, `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
  createdAt: string;
  id: string;
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** SQL that renders a timestamptz column for a cursor without losing the microseconds a JS Date would drop. */
export function cursorTimestampSql(column: string): string {
  return `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/** {@link cursorTimestampSql} of `created_at`. */
export const CURSOR_TIMESTAMP_SQL = cursorTimestampSql('created_at');

/** An opaque, URL-safe cursor. */
export function encodeRunCursor(cursor: RunCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt, cursor.id])).toString('base64url');
}

/** @throws AppError `invalid_cursor` for anything `encodeRunCursor` did not make. */
export function decodeRunCursor(value: string): RunCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (
    Array.isArray(parsed) &&
    parsed.length === 2 &&
    typeof parsed[0] === 'string' &&
    TIMESTAMP.test(parsed[0]) &&
    !Number.isNaN(Date.parse(parsed[0])) &&
    typeof parsed[1] === 'string' &&
    UUID.test(parsed[1])
  ) {
    return { createdAt: parsed[0], id: parsed[1] };
  }
  throw new AppError('invalid_cursor', undefined, { details: { cursor: value } });
}

/**
 * The page a keyset query read: it asks for `limit + 1` rows (each with its `cursor_ts`), so an extra row
 * means there is a next page, which starts after the last row shown.
 */
export function pageOf<Row extends { id: string; cursor_ts: string }, Item>(rows: Row[], limit: number, toItem: (row: Row) => Item): Page<Item> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items: items.map(toItem),
    nextCursor: rows.length > limit && last ? encodeRunCursor({ createdAt: last.cursor_ts, id: last.id }) : null,
  };
}
