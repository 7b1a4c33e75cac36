/**
 * The event type of an inbound payload: Stripe/Standard Webhooks `type`, then `event`, then `eventType`
 * in the body, then the `X-GitHub-Event` or `X-Webhook-Event` header. null when none is a non-empty string.
 */
export function extractEventType(body: unknown, headers: Record<string, string>): string | null {
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const record = body as Record<string, unknown>;
    for (const field of ['type', 'event', 'eventType']) {
      const value = record[field];
      if (typeof value === 'string' && value !== '') return value;
    }
  }
  for (const header of ['x-github-event', 'x-webhook-event']) {
    const value = headers[header];
    if (value) return value;
  }
  return null;
}

/** `*` matches every event, including payloads with no event type. */
export function eventMatches(events: readonly string[], eventType: string | null): boolean {
  return events.includes('*') || (eventType !== null && events.includes(eventType));
}
