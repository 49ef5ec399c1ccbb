/**
 * Reading a JSON request body field by field. Every rule a field breaks becomes a 400 naming the
 * field, so a caller can fix its request from the answer alone; members the server does not know
 * can be refused instead of silently dropped.
 */
import { invalidRequest } from './api-error.js';

/** Control characters (C0, DEL, C1): never part of a name, an address or a subject. */
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

/** A pattern a string must match, and what to call it in the error ("an address like ..."). */
export interface TextPattern {
  readonly test: RegExp;
  readonly description: string;
}

/** Options of {@link readString}. */
export interface StringRule {
  /** Longest accepted length in UTF-16 code units. */
  readonly max: number;
  /** Whether `""` is acceptable. Default false. */
  readonly allowEmpty?: boolean;
  /** Whether line breaks and tabs are acceptable (message text). Default false. */
  readonly multiline?: boolean;
  /** A pattern the value must match. */
  readonly pattern?: TextPattern;
}

/** `value` as a plain object, or a 400 saying what was expected (`what`: "The request body", "messages[2]"). */
export function readObject(value: unknown, what: string, shape: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidRequest(`${what} must be a JSON object: ${shape}.`);
  }
  return value as Record<string, unknown>;
}

/** Refuses members other than `allowed`; `where` names the object in the error. */
export function refuseUnknownMembers(object: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const name of Object.keys(object)) {
    if (!allowed.includes(name)) {
      throw invalidRequest(`${where} has an unknown member "${name.slice(0, 64)}"; the members are ${allowed.join(', ')}.`);
    }
  }
}

/** A string member checked against `rule`, returned as it is. */
export function readString(value: unknown, name: string, rule: StringRule): string {
  if (typeof value !== 'string') throw invalidRequest(`${name} must be a string.`);
  if (value === '' && rule.allowEmpty !== true) throw invalidRequest(`${name} must not be empty.`);
  if (value.length > rule.max) throw invalidRequest(`${name} must be at most ${rule.max} characters.`);
  const forbidden = rule.multiline === true ? value.replace(/[\t\r\n]/g, '') : value;
  if (CONTROL.test(forbidden)) throw invalidRequest(`${name} must not contain control characters.`);
  if (rule.pattern !== undefined && !rule.pattern.test.test(value)) throw invalidRequest(`${name} must be ${rule.pattern.description}.`);
  return value;
}

/** An optional string member: absent or `null` is `undefined`. */
export function readOptionalString(value: unknown, name: string, rule: StringRule): string | undefined {
  return value === undefined || value === null ? undefined : readString(value, name, rule);
}

/** An array member with between `min` and `max` elements. */
export function readArray(value: unknown, name: string, min: number, max: number): unknown[] {
  if (!Array.isArray(value)) throw invalidRequest(`${name} must be an array.`);
  if (value.length < min || value.length > max) throw invalidRequest(`${name} must have ${min} to ${max} elements.`);
  return value;
}

/** An e-mail address (a pragmatic check: one `@`, no spaces, a dot-free local part allowed). */
export const ADDRESS = { test: /^[^\s@<>()",;:]+@[^\s@<>()",;:]+$/, description: 'an address like alice@contoso.com' } as const satisfies TextPattern;

/** An RFC 3339 date-time, e.g. `2024-05-01T10:00:00Z`. */
export const DATE_TIME = {
  test: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/,
  description: 'an RFC 3339 date-time like 2024-05-01T10:00:00Z',
} as const satisfies TextPattern;

/**
 * A date-time string in `format` (default {@link DATE_TIME}) that is also a real instant (no
 * 25:00, no February 30th), returned as it was sent.
 */
export function readDateTime(value: unknown, name: string, format: TextPattern = DATE_TIME): string {
  const text = readString(value, name, { max: 40, pattern: format });
  if (!Number.isFinite(Date.parse(text))) throw invalidRequest(`${name} must be ${format.description}.`);
  return text;
}
