/**
 * The `Idempotency-Key` header of a partner call (draft-ietf-httpapi-idempotency-key-header): its
 * syntax, read and written, and which methods get one by default.
 */

/** RFC 9110 section 9.2.1 safe methods: no `Idempotency-Key` is sent with them unless the caller gives one. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** An idempotency key: 1 to 255 of `A-Z a-z 0-9 - _ . : ~ + / =` (a UUID, base64, a ULID, `outbox-42`). */
export const IDEMPOTENCY_KEY = /^[A-Za-z0-9\-_.:~+/=]{1,255}$/;

/**
 * The key of an `Idempotency-Key` header value (draft-ietf-httpapi-idempotency-key-header): a
 * Structured Fields string (`"8e03978e-…"`, the draft's form) or the same characters unquoted, 1 to
 * 255 of `A-Z a-z 0-9 - _ . : ~ + / =`. `undefined` for anything else (several keys, spaces, quotes
 * that do not match, an empty or longer key).
 */
export function parseIdempotencyKey(value: string): string | undefined {
  const key = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  return IDEMPOTENCY_KEY.test(key) ? key : undefined;
}

/** The `Idempotency-Key` header value for `key`: a Structured Fields string, as the draft writes it. */
export function formatIdempotencyKey(key: string): string {
  return `"${key}"`;
}
