/**
 * Structural checks shared by the record types. They keep impossible values out of the stores
 * (a missing identity, a trust level nobody knows) and nothing more: protocol rules such as "the
 * application id is a GUID" belong to the middleware's registry, which can explain them better.
 * Every check throws a `TypeError` whose message starts with `subject` (e.g. `partner application
 * "x"`) and names the field; no check ever echoes a value, which might be a certificate.
 */

/** A non-null, non-array object whose own fields can be read. */
export function recordObject(value: unknown, subject: string): Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${subject} must be an object`);
  }
  return value as Readonly<Record<string, unknown>>;
}

/** A string with at least one character. */
export function nonEmptyString(value: unknown, field: string, subject: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${subject}: ${field} must be a non-empty string`);
  }
  return value;
}

/** A boolean (and not a truthy stand-in such as 1 or "true"). */
export function booleanField(value: unknown, field: string, subject: string): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${subject}: ${field} must be a boolean`);
  return value;
}

/** A boolean, or `undefined` when absent. */
export function optionalBoolean(value: unknown, field: string, subject: string): boolean | undefined {
  return value === undefined ? undefined : booleanField(value, field, subject);
}

/** An array of non-empty strings, copied and frozen; `nonEmpty` also requires one entry at least. */
export function stringArray(value: unknown, field: string, subject: string, nonEmpty = false): readonly string[] {
  if (!Array.isArray(value) || (nonEmpty && value.length === 0)) {
    const what = nonEmpty ? 'a non-empty array' : 'an array';
    throw new TypeError(`${subject}: ${field} must be ${what} of non-empty strings`);
  }
  const copy: string[] = [];
  for (const [index, entry] of value.entries()) {
    copy.push(nonEmptyString(entry, `${field}[${index}]`, subject));
  }
  return Object.freeze(copy);
}

/** A time in milliseconds since the epoch (see `Clock` in `@s2sauth/protocol`). */
export function timestamp(value: unknown, field: string, subject: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`${subject}: ${field} must be a finite number of milliseconds`);
  }
  return value;
}

/** One of a fixed set of string values. */
export function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string, subject: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new TypeError(`${subject}: ${field} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/**
 * The order in which stores list records: by identity, comparing UTF-16 code units. Both stores
 * sort in JavaScript so that they agree even where SQLite's byte order would differ.
 */
export function byIdentity(a: { readonly identity: string }, b: { readonly identity: string }): number {
  return a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0;
}

/** The change function of a store's `modify*` methods: what to store given the current record, or `undefined` to store nothing. */
export type RecordChange<Current, Input> = (current: Current | undefined) => Input | undefined;

/**
 * The timestamps of a record written at `now` over `current`: `createdAt` kept, `updatedAt` now, or
 * one millisecond after the previous `updatedAt` when the clock has not moved past it (two writes
 * within one millisecond, or a clock set back), so that every write of a record moves its
 * `updatedAt` and comparing `updatedAt` tells any two versions of a record apart.
 */
export function nextTimes(
  current: { readonly createdAt: number; readonly updatedAt: number } | undefined,
  now: number,
): { readonly createdAt: number; readonly updatedAt: number } {
  if (current === undefined) return { createdAt: now, updatedAt: now };
  return { createdAt: current.createdAt, updatedAt: Math.max(now, current.updatedAt + 1) };
}
