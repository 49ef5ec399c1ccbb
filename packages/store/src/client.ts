/**
 * An STS's clients (service principals, protocol.md section 6) as the store keeps them: the
 * `ClientRecord` shape and its checks, the `ClientStore` interface, and the rule that one credential
 * (certificate or metadata URL) belongs to clients of one realm only.
 */
import type { ChangeListener } from './change-listeners.js';
import { StoreError } from './store-error.js';
import {
  booleanField,
  nonEmptyString,
  optionalBoolean,
  recordObject,
  stringArray,
  timestamp,
  type RecordChange,
} from './record-shape.js';

/**
 * What a client may ask the STS for about one resource (protocol.md section 6: "granted scopes per
 * resource, delegation allowed"). Records handed out by a store are frozen.
 */
export interface ClientGrant {
  /** The target's principal id (a GUID): the resource the grant is about. */
  readonly resource: string;
  /**
   * The scopes the client may request for that resource. An empty list still lets the client get a
   * token for the resource, but one that grants nothing: its `scp` is present and empty
   * (protocol.md section 3.3 step 7: an absent `scp` would mean the whole grant at the resource).
   */
  readonly scopes: readonly string[];
  /** Whether the client may ask for `delegation=true` (an actor with `trustedfordelegation` and `cnf`). */
  readonly delegation: boolean;
}

/**
 * A service principal registered with the STS (protocol.md section 6; ACS's
 * `New-MsolServicePrincipal` with its credentials and SPNs), keyed by `(principal, realm)`.
 * The same record serves both sides of a token request: the client that authenticates (its
 * certificates or metadata URL) and the resource a token is for (its host names). Records handed
 * out by a store are deeply frozen.
 */
export interface ClientRecord {
  /** The principal id (a lowercase GUID). */
  readonly principal: string;
  /** The realm the principal is registered in; `client_id` is `<principal>@<realm>`. */
  readonly realm: string;
  /** A name for people (admin listings, audit), never used in a decision. */
  readonly displayName?: string;
  /** Certificates (PEM or base64 DER) whose keys may sign the client's assertions. */
  readonly certificates: readonly string[];
  /** Where the client publishes its metadata document, as an alternative source of its keys. */
  readonly metadataUrl?: string;
  /** Permits `http://` and loopback metadata URLs (development and tests); absent means no. */
  readonly allowLoopback?: boolean;
  /**
   * How this principal is addressed as a resource (SPNs): `mail.contoso.com`, `*.contoso.com`,
   * `127.0.0.1:4402`. The STS issues a token for `<principal>/<authority>@<realm>` only when the
   * authority matches one of them.
   */
  readonly hostNames: readonly string[];
  /** What the client may ask for, at most one grant per resource. */
  readonly grants: readonly ClientGrant[];
  /** A disabled client is kept, but neither authenticates nor is a resource. */
  readonly enabled: boolean;
  /** When the (principal, realm) was first stored, in ms since the epoch (set by the store). */
  readonly createdAt: number;
  /** When the record was last stored, in ms since the epoch (set by the store). */
  readonly updatedAt: number;
}

/**
 * What {@link ClientStore.putClient} takes: a {@link ClientRecord} whose timestamps may be left
 * out (the store sets them either way), whose lists default to empty and whose `enabled` defaults
 * to true.
 */
export type ClientInput = Omit<ClientRecord, 'certificates' | 'hostNames' | 'grants' | 'enabled' | 'createdAt' | 'updatedAt'> & {
  readonly certificates?: readonly string[];
  readonly hostNames?: readonly string[];
  readonly grants?: readonly ClientGrant[];
  readonly enabled?: boolean;
  readonly createdAt?: number;
  readonly updatedAt?: number;
};

/**
 * The STS's client registry's persistence, implemented by `MemoryStore` and `SqliteStore` beside
 * `PartnerStore` and sharing its `onChange` notifications: a client write notifies with the kind
 * `client` and the identity `<principal>@<realm>`.
 */
export interface ClientStore {
  /** The client registered as `principal` in `realm` (exact match), if any. */
  getClient(principal: string, realm: string): ClientRecord | undefined;
  /** Every client, ordered by principal, then realm. */
  listClients(): ClientRecord[];
  /**
   * Inserts `client`, or replaces the record with the same (principal, realm) (keeping its
   * `createdAt`), and returns the stored, frozen record. Throws a `TypeError` for a structurally
   * impossible record; nothing is written then.
   */
  putClient(client: ClientInput): ClientRecord;
  /**
   * Reads the client registered as `principal` in `realm` and writes what `change` makes of it,
   * as one atomic step (see `PartnerStore.modify`); the record `change` returns must have that
   * principal and realm. The shared-credential check runs in the same step.
   */
  modifyClient(principal: string, realm: string, change: RecordChange<ClientRecord, ClientInput>): ClientRecord | undefined;
  /** Removes the client registered as `principal` in `realm`; false when there was none. */
  removeClient(principal: string, realm: string): boolean;
  /** See `PartnerStore.onChange`. */
  onChange(listener: ChangeListener): () => void;
}

/** The identity a client's change notification carries: its issuer id `<principal>@<realm>`. */
export function clientIdentity(client: { readonly principal: string; readonly realm: string }): string {
  return `${client.principal}@${client.realm}`;
}

/** The order in which stores list clients: by principal, then realm, comparing UTF-16 code units. */
export function byClientKey(a: ClientRecord, b: ClientRecord): number {
  if (a.principal !== b.principal) return a.principal < b.principal ? -1 : 1;
  return a.realm < b.realm ? -1 : a.realm > b.realm ? 1 : 0;
}

/** `fallback` for an absent field (`undefined` only: `null` is a wrong value, not an absent one). */
function orDefault(value: unknown, fallback: unknown): unknown {
  return value === undefined ? fallback : value;
}

function optionalString(value: unknown, field: string, subject: string): string | undefined {
  return value === undefined ? undefined : nonEmptyString(value, field, subject);
}

function grantsOf(value: unknown, subject: string): readonly ClientGrant[] {
  if (!Array.isArray(value)) throw new TypeError(`${subject}: grants must be an array of grants`);
  const seen = new Set<string>();
  const grants: ClientGrant[] = [];
  for (const [index, entry] of (value as unknown[]).entries()) {
    const field = `grants[${index}]`;
    const grant = recordObject(entry, `${subject}: ${field}`);
    const resource = nonEmptyString(grant.resource, `${field}.resource`, subject);
    // Two grants for one resource would leave "which one applies" to iteration order.
    if (seen.has(resource)) throw new TypeError(`${subject}: ${field}.resource repeats an earlier grant's resource`);
    seen.add(resource);
    grants.push(
      Object.freeze({
        resource,
        scopes: stringArray(grant.scopes, `${field}.scopes`, subject),
        delegation: booleanField(grant.delegation, `${field}.delegation`, subject),
      }),
    );
  }
  return Object.freeze(grants);
}

/**
 * Checks the structure of a client given to a store (or read back from one) and returns a deeply
 * frozen copy holding only the known fields, with the defaults of {@link ClientInput} applied and
 * stamped with the given times. Throws a `TypeError` naming the field otherwise; the message never
 * quotes a value (a certificate may be one).
 */
export function clientRecord(input: unknown, createdAt: number, updatedAt: number): ClientRecord {
  const client = recordObject(input, 'client');
  const principal = nonEmptyString(client.principal, 'principal', 'client');
  const realm = nonEmptyString(client.realm, 'realm', `client "${principal}"`);
  const subject = `client "${principal}@${realm}"`;
  const displayName = optionalString(client.displayName, 'displayName', subject);
  const metadataUrl = optionalString(client.metadataUrl, 'metadataUrl', subject);
  const allowLoopback = optionalBoolean(client.allowLoopback, 'allowLoopback', subject);
  const record: ClientRecord = {
    principal,
    realm,
    ...(displayName === undefined ? {} : { displayName }),
    certificates: stringArray(orDefault(client.certificates, []), 'certificates', subject),
    ...(metadataUrl === undefined ? {} : { metadataUrl }),
    ...(allowLoopback === undefined ? {} : { allowLoopback }),
    hostNames: stringArray(orDefault(client.hostNames, []), 'hostNames', subject),
    grants: grantsOf(orDefault(client.grants, []), subject),
    enabled: booleanField(orDefault(client.enabled, true), 'enabled', subject),
    createdAt: timestamp(createdAt, 'createdAt', subject),
    updatedAt: timestamp(updatedAt, 'updatedAt', subject),
  };
  return Object.freeze(record);
}

/** What {@link refuseSharedCredential} compares of the other clients. */
export type ClientCredentials = Pick<ClientRecord, 'principal' | 'realm' | 'certificates' | 'metadataUrl'>;

/** A certificate's text reduced to its base64 DER, so that the PEM and the bare base64 of one certificate compare equal. */
function certificateBody(text: string): string {
  return text.replace(/-----(?:BEGIN|END) [A-Z0-9 ]+-----/g, '').replace(/\s+/g, '');
}

/**
 * Refuses `client` when one of its credentials (a certificate, or its metadata URL, which names
 * its keys) is already a credential of a client registered in another realm. One credential
 * belongs to one realm (tenant): a credential shared across tenants lets whoever holds it act in
 * all of them, which is how Exchange hybrid's shared service principal let an on-premises
 * administrator reach cloud users (CVE-2025-53786); Microsoft's fix is a dedicated application
 * per tenant. The same credential for clients of one realm is allowed. Internal to the stores.
 *
 * @throws StoreError `credential_shared`, naming both clients and the field, never the credential.
 */
export function refuseSharedCredential(client: ClientRecord, others: Iterable<ClientCredentials>): void {
  const certificates = new Map(client.certificates.map((text, index) => [certificateBody(text), index]));
  for (const other of others) {
    if (other.realm === client.realm) continue;
    let field: string | undefined;
    if (client.metadataUrl !== undefined && other.metadataUrl === client.metadataUrl) field = 'metadataUrl';
    for (const text of other.certificates) {
      const index = certificates.get(certificateBody(text));
      if (field === undefined && index !== undefined) field = `certificates[${index}]`;
    }
    if (field !== undefined) {
      throw new StoreError(
        'credential_shared',
        `client "${client.principal}@${client.realm}": its ${field} is already a credential of client "${other.principal}@${other.realm}" in another realm; ` +
          'a credential belongs to one realm (tenant), never to several (CVE-2025-53786): give each realm its own certificate',
      );
    }
  }
}
