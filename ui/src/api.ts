/** The admin API client: every call carries the signed-in key as a bearer token. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'hookgate.adminToken';

export const session = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear(): void {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** Called on a 401 anywhere: the key was revoked or is wrong, so the page goes back to sign-in. */
let onUnauthorized: () => void = () => undefined;
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export async function api<T = unknown>(method: string, path: string, body?: unknown, token = session.token): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, 'network_error', `The server could not be reached (${String(err)}).`);
  }
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const error = (data as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
    if (res.status === 401 && token === session.token) onUnauthorized();
    throw new ApiError(res.status, error?.code ?? 'http_error', error?.message ?? `HTTP ${res.status}`, error?.details);
  }
  return data as T;
}

/** Whether an optional endpoint (from a newer server) exists: a 404 `route_not_found` says it does not. */
export function isMissingRoute(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404 && err.code === 'route_not_found';
}

export function describe(err: unknown): string {
  if (err instanceof ApiError) {
    // Validation details: one line per field and problem, without ajv's `if`/`then` bookkeeping or repeats.
    const details = Array.isArray(err.details) ? (err.details as { path?: string; instancePath?: string; message?: string; keyword?: string }[]) : [];
    const lines = [
      ...new Set(
        details
          .filter((d) => d.keyword !== 'if' && !/must match "(then|else)" schema/.test(d.message ?? ''))
          .map((d) => `${(d.path ?? d.instancePath ?? '').replace(/^\//, '') || 'the request'} ${d.message ?? 'is invalid'}`),
      ),
    ];
    if (lines.length === 0) return err.message;
    const summary = err.message.split(':')[0] ?? err.message;
    return `${summary}:\n${lines.map((l) => `• ${l}`).join('\n')}`;
  }
  return String(err);
}
