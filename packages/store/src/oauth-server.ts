/**
 * Trusted OAuth servers (STSs, protocol.md section 5) as the store keeps them: the
 * `OAuthServerRecord` shape and its checks, and the `OAuthServerStore` interface.
 */
import type { ChangeListener } from './change-listeners.js';
import { booleanField, nonEmptyString, optionalBoolean, recordObject, timestamp, type RecordChange } from './record-shape.js';

/**
 * A trusted OAuth server, i.e. an STS (protocol.md section 5; Lync's `New-CsOAuthServer`).
 * Records handed out by a store are frozen.
 */
export interface OAuthServerRecord {
  /** The registration's name, e.g. `microsoft.sts`; unique among OAuth servers. */
  readonly identity: string;
  /** Where the server's metadata document (and so its signing keys) is published. */
  readonly metadataUrl: string;
  /** The server's issuer id (`<principal>@<realm>`), as its metadata states it. */
  readonly issuer: string;
  /** The realm the server is trusted for, or `*` for any realm. */
  readonly realm: string;
  /** Permits `http://` and loopback metadata URLs (development and tests); absent means no. */
  readonly allowLoopback?: boolean;
  /** A disabled OAuth server is kept but none of its tokens are accepted. */
  readonly enabled: boolean;
  /** When the identity was first stored, in ms since the epoch (set by the store). */
  readonly createdAt: number;
  /** When the record was last stored, in ms since the epoch (set by the store). */
  readonly updatedAt: number;
}

/** What {@link OAuthServerStore.putOAuthServer} takes: the timestamps may be left out. */
export type OAuthServerInput = Omit<OAuthServerRecord, 'createdAt' | 'updatedAt'> & {
  readonly createdAt?: number;
  readonly updatedAt?: number;
};

/**
 * The OAuth server registry's persistence, implemented by `MemoryStore` and `SqliteStore` beside
 * `PartnerStore` (hence the method names) and sharing its `onChange` notifications, which carry
 * the kind `oauthServer` for these records.
 */
export interface OAuthServerStore {
  /** The OAuth server registered under `identity` (exact match), if any. */
  getOAuthServer(identity: string): OAuthServerRecord | undefined;
  /** Every OAuth server, ordered by identity. */
  listOAuthServers(): OAuthServerRecord[];
  /**
   * Inserts `server`, or replaces the record with the same identity (keeping its `createdAt`), and
   * returns the stored, frozen record. Throws a `TypeError` for a structurally impossible record.
   */
  putOAuthServer(server: OAuthServerInput): OAuthServerRecord;
  /**
   * Reads the OAuth server registered under `identity` and writes what `change` makes of it, as
   * one atomic step (see `PartnerStore.modify`).
   */
  modifyOAuthServer(identity: string, change: RecordChange<OAuthServerRecord, OAuthServerInput>): OAuthServerRecord | undefined;
  /** Removes the OAuth server registered under `identity`; false when there was none. */
  removeOAuthServer(identity: string): boolean;
  /** See `PartnerStore.onChange`. */
  onChange(listener: ChangeListener): () => void;
}

/**
 * Checks the structure of an OAuth server record given to a store (or read back from one) and
 * returns a frozen copy holding only the known fields, stamped with the given times. Throws a
 * `TypeError` naming the field otherwise.
 */
export function oauthServerRecord(input: unknown, createdAt: number, updatedAt: number): OAuthServerRecord {
  const server = recordObject(input, 'OAuth server');
  const identity = nonEmptyString(server.identity, 'identity', 'OAuth server');
  const subject = `OAuth server "${identity}"`;
  const allowLoopback = optionalBoolean(server.allowLoopback, 'allowLoopback', subject);
  const record: OAuthServerRecord = {
    identity,
    metadataUrl: nonEmptyString(server.metadataUrl, 'metadataUrl', subject),
    issuer: nonEmptyString(server.issuer, 'issuer', subject),
    realm: nonEmptyString(server.realm, 'realm', subject),
    ...(allowLoopback === undefined ? {} : { allowLoopback }),
    enabled: booleanField(server.enabled, 'enabled', subject),
    createdAt: timestamp(createdAt, 'createdAt', subject),
    updatedAt: timestamp(updatedAt, 'updatedAt', subject),
  };
  return Object.freeze(record);
}
