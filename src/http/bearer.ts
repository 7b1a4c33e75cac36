/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 7235), or null. */
export function bearerToken(header: string | undefined): string | null {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1] ?? null;
}
