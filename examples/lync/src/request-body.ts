/**
 * Reading request bodies field by field: each reader either returns a well-typed value or throws a
 * 400 {@link ApiError} that names the field, so no route ever trusts the shape of its input.
 */
import { invalidInput } from './api-error.js';

/** A parsed body that is a plain object; anything else (absent, array, string) is a 400. */
export function bodyObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidInput('The request body must be a JSON object (Content-Type: application/json).');
  }
  return body as Record<string, unknown>;
}

// eslint-style control characters: a display name or subject never needs them.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A trimmed string of 1..max characters without control characters. */
export function requiredText(body: Record<string, unknown>, name: string, max: number): string {
  const value = body[name];
  if (typeof value !== 'string' || value.trim() === '') throw invalidInput(`"${name}" is required: a non-empty string.`);
  const text = value.trim();
  if (text.length > max) throw invalidInput(`"${name}" is at most ${max} characters.`);
  if (CONTROL.test(text)) throw invalidInput(`"${name}" must not contain control characters.`);
  return text;
}

/** Like {@link requiredText}, but absent (or null) is `undefined`. */
export function optionalText(body: Record<string, unknown>, name: string, max: number): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  return requiredText(body, name, max);
}

/** Message text: 1..max characters, line breaks and tabs allowed. */
export function messageText(body: Record<string, unknown>, name: string, max: number): string {
  const value = body[name];
  if (typeof value !== 'string' || value.trim() === '') throw invalidInput(`"${name}" is required: a non-empty string.`);
  if (value.length > max) throw invalidInput(`"${name}" is at most ${max} characters.`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(value)) throw invalidInput(`"${name}" must not contain control characters.`);
  return value;
}

const EMAIL = /^[^\s@<>"(),;:\\[\]]{1,64}@[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})+$/i;

/** An e-mail address, returned lowercase. */
export function emailAddress(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length > 254 || !EMAIL.test(value)) {
    throw invalidInput(`"${name}" must be an e-mail address like bob@contoso.com.`);
  }
  return value.toLowerCase();
}

/** A list of distinct e-mail addresses (lowercase), at most `max`. Absent is `[]` unless `required`. */
export function emailList(body: Record<string, unknown>, name: string, max: number, required = false): string[] {
  const value = body[name];
  if (value === undefined && !required) return [];
  if (!Array.isArray(value) || (required && value.length === 0)) {
    throw invalidInput(`"${name}" must be ${required ? 'a non-empty' : 'an'} array of e-mail addresses.`);
  }
  if (value.length > max) throw invalidInput(`"${name}" has at most ${max} addresses.`);
  return [...new Set(value.map((item: unknown, index) => emailAddress(item, `${name}[${index}]`)))];
}

/** An ISO 8601 date-time string (with a time zone), returned normalized to UTC `toISOString()`. */
export function dateTime(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  // Date.parse accepts many shapes; ask for the ISO one so "now" or "1" do not slip through.
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    throw invalidInput(`"${name}" must be an ISO 8601 date-time with a time zone, like 2026-05-04T09:00:00Z.`);
  }
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw invalidInput(`"${name}" is not a valid date-time.`);
  return new Date(ms).toISOString();
}

/** A route parameter id: 1..64 of `A-Z a-z 0-9 _ -`. */
export function resourceId(value: unknown, name = 'id'): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(value)) throw invalidInput(`"${name}" is not a valid id.`);
  return value;
}
