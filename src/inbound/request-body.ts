import { AppError } from '../errors.js';

export type BodyKind = 'json' | 'form';

/** The body kind of a content type: JSON (`application/json`, `application/*+json`) or form; null = refused (415). */
export function bodyKindOf(contentType: string | undefined): BodyKind | null {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type === undefined) return null;
  if (type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type)) return 'json';
  if (type === 'application/x-www-form-urlencoded') return 'form';
  return null;
}

/**
 * Parses a raw body into what the script sees as `body`. JSON as is; a form (Slack slash commands, Twilio)
 * into an object of strings, a repeated field into an array of its values in order.
 */
export function parseBody(kind: BodyKind, text: string): unknown {
  if (kind === 'form') {
    const out: Record<string, string | string[]> = Object.create(null);
    for (const [key, value] of new URLSearchParams(text)) {
      const prior = out[key];
      out[key] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
    }
    return { ...out };
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new AppError('invalid_json', undefined, { cause });
  }
}
