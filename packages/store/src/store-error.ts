/** The store's run-time error, `StoreError`, and its codes: an `S2SAuthError` of `@s2sauth/protocol`. */
import { S2SAuthError } from '@s2sauth/protocol';

/**
 * Why a store operation failed, for problems that are not the caller's programming mistake (those
 * are `TypeError`s): a uniqueness conflict, an STS credential shared across realms, a closed store, a database row that no longer makes
 * sense, a database written by a newer version of this package, a file that is not a registry or
 * is missing, or a write to a read-only store.
 */
export type StoreErrorCode =
  | 'conflict'
  | 'credential_shared'
  | 'closed'
  | 'corrupt'
  | 'schema_too_new'
  /** The file is not an s2sauth registry (another application's database, or not a database). */
  | 'not_a_registry'
  /** `SqliteStore.open` with `create: false` or `readOnly`: there is no file at the path. */
  | 'not_found'
  /** A write to a store opened with `readOnly`. */
  | 'read_only';

/**
 * A store operation failed for a reason a caller may want to tell apart (`code`), such as the
 * admin CLI reporting "that application is already registered under another identity". Messages
 * name the record (its identity) but never contain certificates, keys or other record contents.
 */
export class StoreError extends S2SAuthError<StoreErrorCode> {
  constructor(code: StoreErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}
