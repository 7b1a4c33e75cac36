import { usageError } from './errors.js';

const UNITS_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/**
 * `--since`: an ISO 8601 time (`2025-01-31T12:00:00Z`, or a date alone = midnight UTC) or an amount of
 * time ago (`90s`, `15m`, `2h`, `3d`, `1w`).
 *
 * @throws CliError (usage) for anything else, or a time in the future.
 * @example
 * parseSince('2h', Date.parse('2025-01-31T12:00:00Z')) // → 2025-01-31T10:00:00.000Z
 */
export function parseSince(text: string, now: number = Date.now()): Date {
  const value = text.trim();
  const relative = /^(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)$/i.exec(value);
  let at: number;
  if (relative) {
    at = now - Number(relative[1]) * (UNITS_MS[relative[2]!.toLowerCase()] ?? Number.NaN);
  } else if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(value)) {
    at = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value.replace(' ', 'T'));
  } else {
    at = Number.NaN;
  }
  if (!Number.isFinite(at)) {
    throw usageError(`--since ${JSON.stringify(text)} is neither an ISO 8601 time (2025-01-31T12:00:00Z) nor a relative time (30m, 2h, 3d, 1w).`);
  }
  if (at > now) throw usageError(`--since ${text} is in the future; nothing can match.`);
  return new Date(at);
}
