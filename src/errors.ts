/**
 * The error catalogue. Every error a client can see has a stable `code` listed here; codes are never
 * reused for a different meaning. `test/errors.test.ts` checks each one is documented in docs/errors.md.
 */

export interface ErrorSpec {
  status: number;
  message: string;
}

export const ERRORS = {
  // HTTP input
  invalid_json: { status: 400, message: 'The request body is not valid JSON.' },
  payload_too_large: { status: 413, message: 'The request body is larger than the limit.' },
  unsupported_media_type: { status: 415, message: 'The request body must be application/json (inbound webhooks also take application/x-www-form-urlencoded).' },
  validation_failed: { status: 400, message: 'The request is invalid.' },
  not_found: { status: 404, message: 'Not found.' },
  route_not_found: { status: 404, message: 'No such route.' },
  internal_error: { status: 500, message: 'Internal server error.' },
  // Auth
  auth_missing: { status: 401, message: 'An Authorization: Bearer <token> header is required.' },
  auth_invalid: { status: 401, message: 'The bearer token is not valid.' },
  auth_rate_limited: { status: 429, message: 'Too many different invalid tokens from this address; retry after the Retry-After delay.' },
  forbidden: { status: 403, message: 'This key does not have the role for this operation.' },
  key_not_found: { status: 404, message: 'API key not found.' },
  // Inbound
  provider_not_found: { status: 404, message: 'No active inbound webhook for this provider.' },
  signature_missing: { status: 401, message: 'The signature header is missing.' },
  signature_invalid: { status: 401, message: 'The signature does not match.' },
  signature_timestamp_invalid: { status: 401, message: 'The signature timestamp is missing, malformed or outside the tolerance.' },
  // Receiving our outgoing webhooks (WebhookReceiver)
  webhook_handler_failed: { status: 500, message: 'The handler of this webhook failed; the sender will retry.' },
  credentials_missing: { status: 401, message: 'The credentials (Basic auth or API key header) are missing.' },
  credentials_invalid: { status: 401, message: 'The credentials do not match.' },
  rate_limited: { status: 429, message: 'Too many requests for this provider; retry after the Retry-After delay.' },
  sandbox_busy: { status: 503, message: 'The script sandbox is saturated; retry later.' },
  sandbox_closed: { status: 503, message: 'The script sandbox is closed.' },
  // Webhooks and settings
  webhook_not_found: { status: 404, message: 'Webhook not found.' },
  provider_conflict: { status: 409, message: 'An inbound webhook for this provider already exists.' },
  script_compile_error: { status: 400, message: 'The script does not compile.' },
  unknown_action: { status: 400, message: 'One or more action ids are not registered.' },
  invalid_cursor: { status: 400, message: 'The pagination cursor is not valid.' },
  // Actions registry (developer errors, thrown at registration time)
  action_duplicate: { status: 500, message: 'An action with this id is already registered.' },
  action_unknown_dependency: { status: 500, message: 'An action depends on an id that is not registered.' },
  action_dependency_cycle: { status: 500, message: 'Action dependencies form a cycle.' },
  action_invalid_definition: { status: 500, message: 'The action definition is invalid.' },
  // Action calls from scripts (seen inside the sandbox, never over HTTP)
  action_not_available: { status: 403, message: 'This action is not available to this script.' },
  action_invalid_arguments: { status: 400, message: 'The action arguments do not match its schema.' },
  action_failed: { status: 500, message: 'The action failed.' },
  action_limit_exceeded: { status: 429, message: 'The script called actions more often than allowed.' },
  // Events
  event_not_allowed: { status: 400, message: 'The script emitted an event outside the webhook\'s emitEvents.' },
  event_unknown: { status: 400, message: 'The event type is not in the event catalog.' },
  event_invalid: { status: 400, message: 'The event data does not match its event type\'s schema.' },
  event_reserved: { status: 400, message: 'This event name belongs to the engine (webhook.test, webhook.disabled); only the engine emits it.' },
  run_not_replayable: { status: 409, message: 'This run has no stored payload to replay.' },
  run_request_not_stored: { status: 404, message: 'This run has no stored request (it was ignored, rejected or purged).' },
  // Outgoing webhooks
  url_invalid: { status: 400, message: 'The URL is not a valid absolute http(s) URL without credentials.' },
  url_insecure: { status: 400, message: 'Only https:// URLs are allowed (HOOKGATE_ALLOW_INSECURE_URLS=1 allows http://).' },
  url_blocked: { status: 400, message: 'The URL points to a loopback, private, link-local, metadata or otherwise forbidden address.' },
  url_unresolvable: { status: 400, message: 'The URL\'s host name does not resolve.' },
  webhook_direction_mismatch: { status: 400, message: 'This operation is not available for this webhook\'s direction.' },
  webhook_inactive: { status: 409, message: 'The webhook is inactive; activate it first.' },
  delivery_not_found: { status: 404, message: 'Delivery not found.' },
  delivery_in_progress: { status: 409, message: 'The delivery is being sent right now; try again when the attempt ends.' },
  outbound_unavailable: { status: 503, message: 'Outgoing webhooks need the knex store (PostgreSQL or PGlite).' },
  // Store
  data_dir_locked: { status: 500, message: 'The embedded data directory is in use by another process.' },
  database_unavailable: { status: 503, message: 'The database is unavailable.' },
  config_invalid: { status: 500, message: 'The configuration is invalid.' },
  // Secrets at rest
  secret_key_mismatch: { status: 500, message: 'A stored secret was encrypted with a key that is not configured; set HOOKGATE_SECRET_KEY to that key (older keys after a comma).' },
  secret_corrupt: { status: 500, message: 'A stored secret failed its integrity check: it was altered or damaged, so it is not used.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export interface AppErrorOptions {
  status?: number;
  cause?: unknown;
  details?: unknown;
}

/** An error with a stable code from {@link ERRORS}; the HTTP layer turns it into `{error: {code, message, details}}`. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;

  constructor(code: ErrorCode, message?: string, options: AppErrorOptions = {}) {
    super(message ?? ERRORS[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = options.status ?? ERRORS[code].status;
    this.details = options.details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: unknown } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

/** Normalise anything thrown into an Error (a thrown string or object becomes an Error with its text). */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  try {
    return new Error(JSON.stringify(value));
  } catch {
    return new Error(String(value));
  }
}
