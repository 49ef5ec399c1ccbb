/**
 * Why a store operation failed, for problems that are not the caller's programming mistake (those
 * are `TypeError`s): a uniqueness conflict, an STS credential shared across realms, a closed store, a database row that no longer makes
 * sense, or a database written by a newer version of this package.
 */
export type StoreErrorCode = 'conflict' | 'credential_shared' | 'closed' | 'corrupt' | 'schema_too_new';

/**
 * A store operation failed for a reason a caller may want to tell apart (`code`), such as the
 * admin CLI reporting "that application is already registered under another identity". Messages
 * name the record (its identity) but never contain certificates, keys or other record contents.
 */
export class StoreError extends Error {
  /** Stable machine-readable reason. */
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}
