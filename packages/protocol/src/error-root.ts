/**
 * The root of every s2sauth run-time error (after jose's `JOSEError`): each error class of every
 * s2sauth package extends {@link S2SAuthError} and has a stable `code`. `TypeError` stays for
 * misconfiguration found at start-up (a missing, mistyped or unknown option) and is not part of
 * this tree.
 *
 * Catch any s2sauth error with `instanceof S2SAuthError` and switch on `code`; codes are unique
 * within a class, so test the class first where two packages share a word (`not_found` is both a
 * store's and a registry's):
 *
 * ```ts
 * try { await registry.add(input); } catch (error) {
 *   if (!(error instanceof S2SAuthError)) throw error;
 *   switch (error.code) { case 'exists': ...; case 'metadata_unavailable': ...; }
 * }
 * ```
 *
 * The codes of each package are one exported union: `ProtocolErrorCode` here, `StoreErrorCode`,
 * `IssuerErrorCode` and `MiddlewareErrorCode` in their packages (this package cannot import them).
 */
import type { FailureCode } from './errors.js';
import type { MetadataErrorCode } from './metadata-error.js';

/**
 * Base class of every s2sauth run-time error. `code` is stable (for programs, metrics and the
 * audit log); `message` is for a person and never contains a token, a key or a password.
 *
 * @typeParam Code the codes of the subclass.
 */
export abstract class S2SAuthError<Code extends string = string> extends Error {
  /** Stable machine-readable reason; its values are listed by each subclass's code union. */
  readonly code: Code;

  protected constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Every code of `@s2sauth/protocol`'s errors: a `BearerError`'s `FailureCode` or a `MetadataError`'s. */
export type ProtocolErrorCode = FailureCode | MetadataErrorCode;
