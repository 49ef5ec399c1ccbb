/**
 * Partner applications (protocol.md section 5) as the store keeps them: the `PartnerApplication`
 * shape, its key sources and trust levels, its checks, and the `PartnerStore` interface.
 */
import type { ChangeListener } from './change-listeners.js';
import {
  booleanField,
  nonEmptyString,
  oneOf,
  optionalBoolean,
  recordObject,
  stringArray,
  timestamp,
  type RecordChange,
} from './record-shape.js';

/**
 * How far a partner application is trusted (protocol.md section 5): `full` accepts app-only calls
 * and calls for any user of the realm; `application` accepts app-only calls and user calls only
 * with an STS-issued actor carrying `trustedfordelegation`; `user` accepts only the latter.
 */
export type TrustLevel = 'full' | 'application' | 'user';

/** Every {@link TrustLevel}, in decreasing order of trust. */
export const TRUST_LEVELS: readonly TrustLevel[] = Object.freeze(['full', 'application', 'user']);

/**
 * Where a partner application's signing keys come from (protocol.md section 5, one key source per
 * partner): its metadata document (`allowLoopback` permits `http://` and loopback targets, for
 * development and tests), certificates pinned at registration (PEM or base64 DER, as given), or
 * the trusted OAuth server that issues its actor tokens.
 */
export type PartnerKeySource =
  | { readonly kind: 'metadata'; readonly metadataUrl: string; readonly allowLoopback?: boolean }
  | { readonly kind: 'certificate'; readonly certificates: readonly string[] }
  | { readonly kind: 'oauthServer' };

/** Every `PartnerKeySource` kind. */
export const PARTNER_KEY_SOURCE_KINDS: readonly PartnerKeySource['kind'][] = Object.freeze([
  'metadata',
  'certificate',
  'oauthServer',
]);

/**
 * A registered partner application (protocol.md section 5; Lync's `New-CsPartnerApplication`).
 * Records handed out by a store are deeply frozen.
 */
export interface PartnerApplication {
  /** The registration's name, e.g. `microsoft.exchange`; unique within the store. */
  readonly identity: string;
  /** The partner's principal id (a GUID); unique together with `realm`. */
  readonly applicationId: string;
  /** The realm the partner's tokens are issued in. */
  readonly realm: string;
  readonly keySource: PartnerKeySource;
  readonly trustLevel: TrustLevel;
  /** Scopes granted to the partner; a token's `scp` can narrow them, never widen them. */
  readonly scopes: readonly string[];
  /** A disabled partner is kept but none of its tokens are accepted. */
  readonly enabled: boolean;
  /** Whether an unsigned outer (user context) token is accepted from this partner; default false. */
  readonly acceptUnsignedUserContext: boolean;
  /** When the identity was first stored, in ms since the epoch (set by the store). */
  readonly createdAt: number;
  /** When the record was last stored, in ms since the epoch (set by the store). */
  readonly updatedAt: number;
}

/**
 * What {@link PartnerStore.put} takes: a {@link PartnerApplication} whose timestamps may be left
 * out (the store sets them either way) and whose `acceptUnsignedUserContext` defaults to false.
 */
export type PartnerApplicationInput = Omit<
  PartnerApplication,
  'createdAt' | 'updatedAt' | 'acceptUnsignedUserContext'
> & {
  readonly acceptUnsignedUserContext?: boolean;
  readonly createdAt?: number;
  readonly updatedAt?: number;
};

/**
 * The partner application registry's persistence. Implemented by `MemoryStore` and `SqliteStore`.
 * All methods throw a `StoreError` with code `closed` after {@link PartnerStore.close}.
 */
export interface PartnerStore {
  /** The partner registered under `identity` (exact match), if any. */
  get(identity: string): PartnerApplication | undefined;
  /** The partner registered for `applicationId` in `realm` (exact match), if any. */
  findByApplication(applicationId: string, realm: string): PartnerApplication | undefined;
  /** Every partner, ordered by identity. */
  list(): PartnerApplication[];
  /**
   * Inserts `app`, or replaces the record with the same identity (keeping its `createdAt`), and
   * returns the stored, frozen record. Throws a `TypeError` for a structurally impossible record
   * and a `StoreError` with code `conflict` when another identity holds the same
   * (applicationId, realm); nothing is written then. Use {@link PartnerStore.modify} to change a
   * record that was read: `put` replaces whatever is there.
   */
  put(app: PartnerApplicationInput): PartnerApplication;
  /**
   * Reads the partner registered under `identity` and writes what `change` makes of it, as one
   * atomic step: no other write (through this store, another connection or another process
   * sharing the file) comes between the read and the write, so a change computed from the current
   * record is never lost to a concurrent one. `change` gets the current record (`undefined` when
   * there is none) and returns the record to store under `identity` (created or replaced as by
   * {@link PartnerStore.put}), or `undefined` to store nothing; whatever it throws is rethrown and
   * nothing is written. It must be synchronous and may read the store, never write it. Returns the
   * stored record, or the current one (maybe `undefined`) when nothing was stored. Every write
   * moves `updatedAt`, by one millisecond past the previous value when the clock has not moved.
   */
  modify(identity: string, change: RecordChange<PartnerApplication, PartnerApplicationInput>): PartnerApplication | undefined;
  /** Removes the partner registered under `identity`; false when there was none. */
  remove(identity: string): boolean;
  /**
   * Subscribes to registry changes (partner applications and OAuth servers). A write through this
   * store object notifies synchronously, right after it succeeded, with the record's identity and
   * kind; a write from elsewhere (another process sharing the database) notifies within about a
   * second with `undefined`. Returns the function that unsubscribes.
   */
  onChange(listener: ChangeListener): () => void;
  /** Releases the store; later calls throw. Calling it again does nothing. */
  close(): void;
}

function keySourceOf(value: unknown, subject: string): PartnerKeySource {
  const source = recordObject(value, `${subject}: keySource`);
  const kind = oneOf(source.kind, PARTNER_KEY_SOURCE_KINDS, 'keySource.kind', subject);
  switch (kind) {
    case 'metadata': {
      const metadataUrl = nonEmptyString(source.metadataUrl, 'keySource.metadataUrl', subject);
      const allowLoopback = optionalBoolean(source.allowLoopback, 'keySource.allowLoopback', subject);
      return Object.freeze(
        allowLoopback === undefined ? { kind, metadataUrl } : { kind, metadataUrl, allowLoopback },
      );
    }
    case 'certificate':
      return Object.freeze({
        kind,
        certificates: stringArray(source.certificates, 'keySource.certificates', subject, true),
      });
    case 'oauthServer':
      return Object.freeze({ kind });
  }
}

/**
 * Checks the structure of a partner application given to a store (or read back from one) and
 * returns a deeply frozen copy holding only the known fields, stamped with the given times.
 * Throws a `TypeError` naming the field otherwise.
 */
export function partnerApplicationRecord(
  input: unknown,
  createdAt: number,
  updatedAt: number,
): PartnerApplication {
  const app = recordObject(input, 'partner application');
  const identity = nonEmptyString(app.identity, 'identity', 'partner application');
  const subject = `partner application "${identity}"`;
  return Object.freeze({
    identity,
    applicationId: nonEmptyString(app.applicationId, 'applicationId', subject),
    realm: nonEmptyString(app.realm, 'realm', subject),
    keySource: keySourceOf(app.keySource, subject),
    trustLevel: oneOf(app.trustLevel, TRUST_LEVELS, 'trustLevel', subject),
    scopes: stringArray(app.scopes, 'scopes', subject),
    enabled: booleanField(app.enabled, 'enabled', subject),
    acceptUnsignedUserContext:
      optionalBoolean(app.acceptUnsignedUserContext, 'acceptUnsignedUserContext', subject) ?? false,
    createdAt: timestamp(createdAt, 'createdAt', subject),
    updatedAt: timestamp(updatedAt, 'updatedAt', subject),
  });
}
