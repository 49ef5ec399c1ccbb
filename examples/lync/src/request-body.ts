/**
 * Lync's readers of request bodies, on `@s2sauth/example-support`'s field readers: each either
 * returns a well-typed value or throws a 400 `ApiError` that names the field, so no route ever
 * trusts the shape of its input. What is Lync's own is what it makes of a valid value: names and
 * subjects are trimmed, addresses lowercased (they are Lync user names), address lists
 * deduplicated, date-times normalized to UTC.
 */
import { invalidRequest, readArray, readDateTime, readObject, readString, type TextPattern } from '@s2sauth/example-support';

/** A parsed body that is a plain object; anything else (absent, array, string) is a 400. */
export function bodyObject(body: unknown): Record<string, unknown> {
  return readObject(body, 'The request body', 'send it as JSON (Content-Type: application/json)');
}

/** A trimmed string of 1..max characters without control characters. */
export function requiredText(body: Record<string, unknown>, name: string, max: number): string {
  const value = body[name];
  return readString(typeof value === 'string' ? value.trim() : value, name, { max });
}

/** Like {@link requiredText}, but absent (or null) is `undefined`. */
export function optionalText(body: Record<string, unknown>, name: string, max: number): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  return requiredText(body, name, max);
}

/** Message text: 1..max characters, not only white space, line breaks and tabs allowed. Not trimmed. */
export function messageText(body: Record<string, unknown>, name: string, max: number): string {
  const text = readString(body[name], name, { max, multiline: true });
  if (text.trim() === '') throw invalidRequest(`${name} must not be empty.`);
  return text;
}

/** A Lync-style address: a local part, `@`, and a domain of at least two DNS labels. */
const EMAIL = {
  test: /^[^\s@<>"(),;:\\[\]]{1,64}@[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})+$/i,
  description: 'an e-mail address like bob@contoso.com',
} as const satisfies TextPattern;

/** An e-mail address, returned lowercase. */
export function emailAddress(value: unknown, name: string): string {
  return readString(value, name, { max: 254, pattern: EMAIL }).toLowerCase();
}

/** A list of distinct e-mail addresses (lowercase), at most `max`. Absent is `[]` unless `required`. */
export function emailList(body: Record<string, unknown>, name: string, max: number, required = false): string[] {
  const value = body[name];
  if (value === undefined && !required) return [];
  const list = readArray(value, name, required ? 1 : 0, max);
  return [...new Set(list.map((item, index) => emailAddress(item, `${name}[${index}]`)))];
}

/**
 * ISO 8601 with a time zone, seconds optional. Date.parse accepts many shapes; asking for the ISO
 * one keeps "now" or "1" out.
 */
const ISO_DATE_TIME = {
  test: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/,
  description: 'an ISO 8601 date-time with a time zone, like 2026-05-04T09:00:00Z',
} as const satisfies TextPattern;

/** An ISO 8601 date-time string (with a time zone), returned normalized to UTC `toISOString()`. */
export function dateTime(body: Record<string, unknown>, name: string): string {
  return new Date(readDateTime(body[name], name, ISO_DATE_TIME)).toISOString();
}

/** A route parameter id: 1..64 of `A-Z a-z 0-9 _ -`. */
const RESOURCE_ID = { test: /^[A-Za-z0-9_-]{1,64}$/, description: 'an id of 1 to 64 letters, digits, _ and -' } as const satisfies TextPattern;

/** A route parameter id (`name`, default `id`). */
export function resourceId(value: unknown, name = 'id'): string {
  return readString(value, name, { max: 64, pattern: RESOURCE_ID });
}
