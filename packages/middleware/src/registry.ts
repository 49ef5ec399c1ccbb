/**
 * The partner application registry (protocol.md section 5), with the administrative surface of
 * Lync's `New-`, `Set-`, `Get-` and `Remove-CsPartnerApplication` (reference-microsoft-s2s.md
 * section 8.1): validated registrations in a `PartnerStore`, and one key set per partner for the
 * verifier.
 *
 * The registry is where the go-spiffe rule "the unverified issuer only selects which pinned trust
 * to use" lives: {@link PartnerRegistry.resolve} maps an `(applicationId, realm)` to exactly one
 * registration and that registration's own keys. It never fetches anything for an issuer that is
 * not registered, so a forged `iss` can route a token only to keys that will not verify it.
 *
 * The same registry holds the trusted OAuth servers (STSes, oauth-server.ts) through which
 * partners registered with `useOAuthServer` are trusted: {@link PartnerRegistry.resolveOAuthServer}
 * does for an STS issuer what `resolve` does for a partner, with one key set per server.
 *
 * Adding a partner by metadata URL fetches and checks the document first (like
 * `New-CsPartnerApplication -MetadataUrl`, which needs the URL reachable at creation) and stores
 * nothing when it cannot be fetched, is not a valid document, or contradicts the registration.
 */
import {
  type Clock,
  formatIssuerId,
  isLoopbackHost,
  isPrincipalId,
  isRealm,
  isScopeToken,
  MetadataError,
  type ParsedMetadata,
  parseIssuerId,
  parseMetadataDocument,
  type SigningKey,
  signingKeyFromCertificate,
  systemClock,
  WellKnownPrincipal,
} from '@s2sauth/protocol';
import { S2SAuthError } from '@s2sauth/protocol';
import {
  isKeyDocumentStore,
  StoreError,
  TRUST_LEVELS,
  type KeyDocument,
  type KeyDocumentSource,
  type OAuthServerRecord,
  type OAuthServerStore,
  type PartnerApplication,
  type PartnerKeySource,
  type PartnerStore,
  type RegistryEntryKind,
  type TrustLevel,
} from '@s2sauth/store';
import { KEY_MAX_STALENESS_MS, RemoteKeySet, StaticKeySet, type KeySet, type KeySetOptions, type LastGoodKeys } from './key-set.js';
import { fetchMetadata, MetadataFetchError, type MetadataFetchOptions } from './metadata-fetch.js';
import {
  ANY_REALM,
  authorizationUriOf,
  checkStsMetadata,
  selectOAuthServer,
  type OAuthServer,
  type OAuthServerChanges,
  type OAuthServerRegistrationInput,
  type ResolvedOAuthServer,
} from './oauth-server.js';

/**
 * A partner application as an administrator registers it (`New-CsPartnerApplication`). Exactly one
 * key source: `metadataUrl`, `certificate` or `useOAuthServer: true`.
 */
export interface PartnerApplicationInput {
  /** The registration's name, e.g. `microsoft.exchange`: 1 to 64 of `a-z 0-9 . _ -`. */
  readonly identity: string;
  /**
   * The partner's principal id (lowercase GUID). Required with `certificate` and `useOAuthServer`;
   * with `metadataUrl` it defaults to the document's `serviceName` (or the principal of its `issuer`).
   */
  readonly applicationId?: string;
  /**
   * The partner's realm (lowercase DNS name or GUID). Required with `certificate` and
   * `useOAuthServer`; with `metadataUrl` it defaults to the document's `realm` (or the realm of its `issuer`).
   */
  readonly realm?: string;
  /** The partner's `/metadata/json/1` URL: `https:`, or `http:` to a loopback host with `allowLoopback`. */
  readonly metadataUrl?: string;
  /** The partner's signing certificate(s), PEM or standard base64 DER (at most 20). */
  readonly certificate?: string | readonly string[];
  /**
   * The partner's actor tokens are issued by a trusted OAuth server (STS) registered for its realm
   * (or for `*`); such a partner is never resolved for self-issued tokens.
   */
  readonly useOAuthServer?: boolean;
  /** With `metadataUrl`: allow a loopback host, and plain `http:` to it (development only). Default false. */
  readonly allowLoopback?: boolean;
  /** Default `full`, as in Lync (protocol.md section 5 for what each level allows). */
  readonly trustLevel?: TrustLevel;
  /** Scopes granted to the partner: RFC 6749 scope tokens (no spaces), each once. Default none. */
  readonly scopes?: readonly string[];
  /** Default true. */
  readonly enabled?: boolean;
  /** Accept unsigned (`alg` `none`) outer tokens from this partner, as Microsoft servers send them. Default false. */
  readonly acceptUnsignedUserContext?: boolean;
}

/** Changes to a registration (`Set-CsPartnerApplication`); a key source given here replaces the old one. */
export type PartnerApplicationChanges = Partial<Omit<PartnerApplicationInput, 'identity'>>;

/** Why the registry refused an administrative operation. */
export type PartnerRegistryErrorCode =
  /** A field of the registration is not valid (`field` names it). */
  | 'invalid'
  /** A partner with this identity is already registered. */
  | 'exists'
  /** No partner (or OAuth server) with this identity is registered. */
  | 'not_found'
  /**
   * Another registration holds this (applicationId, realm) (or, for an OAuth server, this realm),
   * or the registration changed meanwhile.
   */
  | 'conflict'
  /** The metadata document could not be fetched. */
  | 'metadata_unavailable'
  /** The metadata document is not a valid signing-key document. */
  | 'metadata_invalid'
  /** The metadata document contradicts the registration (issuer, serviceName or realm). */
  | 'metadata_contradicts'
  /** The store does not keep OAuth servers (it does not implement `OAuthServerStore`). */
  | 'unsupported'
  /** The registry was closed. */
  | 'closed';

/**
 * An administrative operation was refused. The message is for a person: it names the field or the
 * problem, never a certificate or document content.
 */
export class PartnerRegistryError extends S2SAuthError<PartnerRegistryErrorCode> {
  /** The input field at fault, when one is. */
  readonly field: string | undefined;

  constructor(code: PartnerRegistryErrorCode, message: string, field?: string, options?: ErrorOptions) {
    super(code, message, options);
    this.field = field;
  }
}

/** A registered partner and its keys, as the verifier uses them. */
export interface ResolvedPartner {
  readonly partner: PartnerApplication;
  /** The partner's own key set; the only place its token's key may come from. */
  readonly keys: KeySet;
}

/**
 * Subscriber of {@link PartnerRegistry.onChange}: `identity` names the changed partner application
 * or (with `kind` `oauthServer`) OAuth server; both are `undefined` when the change came from
 * another process and anything may have changed.
 */
export type RegistryChangeListener = (identity: string | undefined, kind: RegistryEntryKind | undefined) => void;

/** Options of {@link PartnerRegistry}. */
export interface PartnerRegistryOptions {
  /**
   * Where registrations are kept; the registry subscribes to its changes (and does not close it).
   * OAuth servers need a store that is also an `OAuthServerStore` (`MemoryStore` and
   * `SqliteStore` are); with any other store, no OAuth server is ever trusted. When the store is
   * also a `KeyDocumentStore` (both are), the last good metadata document of each key source is
   * kept there with its fetch time, and a key set created later (after a restart) starts from it
   * while it is younger than the maximum staleness.
   */
  readonly store: PartnerStore;
  /**
   * How metadata documents are fetched; default {@link fetchMetadata}'s defaults. `allowLoopback`
   * here is ignored: each registration's own `allowLoopback` decides.
   */
  readonly fetch?: MetadataFetchOptions;
  /** Refresh, cooldown and staleness of partners' remote key sets; the clock is the registry's. */
  readonly keySets?: Omit<KeySetOptions, 'clock'>;
  /** Time source for certificate validity and key sets; default the system clock. */
  readonly clock?: Clock;
}

/** Lync-style identities: `microsoft.exchange`, `contoso-crm_2`. */
const IDENTITY = /^[a-z0-9._-]{1,64}$/;
/** As many certificates as a metadata document may list (protocol.md section 4). */
const MAX_CERTIFICATES = 20;

const OAUTH_SERVER_FIELDS: ReadonlySet<string> = new Set(['identity', 'metadataUrl', 'realm', 'allowLoopback', 'enabled']);

/** The fields of an input that make up its key source. */
const SOURCE_FIELDS = ['metadataUrl', 'certificate', 'useOAuthServer', 'allowLoopback'] as const;

const INPUT_FIELDS: ReadonlySet<string> = new Set([
  'identity',
  'applicationId',
  'realm',
  'metadataUrl',
  'certificate',
  'useOAuthServer',
  'allowLoopback',
  'trustLevel',
  'scopes',
  'enabled',
  'acceptUnsignedUserContext',
]);

function invalid(field: string, message: string): PartnerRegistryError {
  return new PartnerRegistryError('invalid', `${field}: ${message}`, field);
}

function optionalBoolean(value: unknown, field: string): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw invalid(field, 'must be true or false');
  return value;
}

function checkIdentity(value: unknown): string {
  if (typeof value !== 'string' || !IDENTITY.test(value)) {
    throw invalid('identity', 'must be 1 to 64 lowercase letters, digits, dots, dashes or underscores, like microsoft.exchange');
  }
  return value;
}

function checkApplicationId(value: unknown): string {
  if (typeof value !== 'string' || !isPrincipalId(value)) {
    throw invalid('applicationId', 'must be a principal id, a lowercase GUID like 00000002-0000-0ff1-ce00-000000000000');
  }
  return value;
}

function checkRealm(value: unknown): string {
  if (typeof value !== 'string' || !isRealm(value)) {
    throw invalid('realm', 'must be a lowercase DNS name (like contoso.com) or a lowercase GUID');
  }
  return value;
}

function checkTrustLevel(value: unknown): TrustLevel {
  if (!TRUST_LEVELS.includes(value as TrustLevel)) throw invalid('trustLevel', `must be one of ${TRUST_LEVELS.join(', ')}`);
  return value as TrustLevel;
}

function checkScopes(value: unknown): string[] {
  if (!Array.isArray(value)) throw invalid('scopes', 'must be an array of scope names');
  const seen = new Set<string>();
  for (const scope of value as unknown[]) {
    if (typeof scope !== 'string' || !isScopeToken(scope)) {
      throw invalid('scopes', 'each scope must be one whole word of visible ASCII characters, without spaces, quotes or backslashes');
    }
    if (seen.has(scope)) throw invalid('scopes', `the scope ${scope} is listed twice`);
    seen.add(scope);
  }
  return [...seen];
}

function checkMetadataUrl(value: unknown, allowLoopback: boolean): string {
  if (typeof value !== 'string') throw invalid('metadataUrl', 'must be a URL');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid('metadataUrl', 'is not a valid absolute URL');
  }
  if (url.username !== '' || url.password !== '') throw invalid('metadataUrl', 'must not contain credentials');
  if (url.protocol === 'https:') {
    if (isLoopbackHost(url.hostname) && !allowLoopback) {
      throw invalid('metadataUrl', 'names a loopback host; set allowLoopback for local development');
    }
    return value;
  }
  if (url.protocol === 'http:' && allowLoopback && isLoopbackHost(url.hostname)) return value;
  throw invalid('metadataUrl', 'must be an https URL (plain http only to a loopback host, with allowLoopback)');
}

/** The certificates as PEM, each checked as a signing certificate valid at `now`. */
function checkCertificates(value: unknown, now: number): string[] {
  const list: unknown[] = typeof value === 'string' ? [value] : Array.isArray(value) ? (value as unknown[]) : [];
  if (list.length === 0) throw invalid('certificate', 'must be a PEM or base64 DER certificate, or a non-empty list of them');
  if (list.length > MAX_CERTIFICATES) throw invalid('certificate', `at most ${MAX_CERTIFICATES} certificates`);
  const pems = new Map<string, string>();
  list.forEach((entry, index) => {
    if (typeof entry !== 'string') throw invalid('certificate', `entry ${index} is not a string`);
    let key: SigningKey;
    try {
      key = signingKeyFromCertificate(entry, now);
    } catch (error) {
      if (error instanceof MetadataError) throw invalid('certificate', `entry ${index}: ${error.message}`);
      throw error;
    }
    pems.set(key.x5t, key.certificate.toString());
  });
  return [...pems.values()];
}

/** What a metadata document says that contradicts `(applicationId, realm)`, or `undefined`. */
function contradiction(metadata: ParsedMetadata, applicationId: string, realm: string): string | undefined {
  const issuer = formatIssuerId({ principal: applicationId, realm });
  if (metadata.issuer !== undefined && metadata.issuer !== issuer) {
    return `the document's issuer is not ${issuer}`;
  }
  if (metadata.serviceName !== undefined && metadata.serviceName !== applicationId) {
    return `the document's serviceName is not ${applicationId}`;
  }
  if (metadata.realm !== undefined && metadata.realm !== realm) return `the document's realm is not ${realm}`;
  return undefined;
}

/**
 * Identifies what a partner's key set was built for: its key source (metadata URL and
 * `allowLoopback`, or the pinned certificates) and the `(applicationId, realm)` its documents are
 * checked against. A change of anything else (scopes, trust level, enabled, ...) keeps the key set
 * and its last good keys; a change of these starts a new one (protocol.md section 5).
 */
function stampOf(partner: PartnerApplication): string {
  const memo = stamps.get(partner);
  if (memo !== undefined) return memo;
  const stamp = JSON.stringify([partner.applicationId, partner.realm, partner.keySource]);
  if (isFrozenRecord(partner)) stamps.set(partner, stamp);
  return stamp;
}

/**
 * `stampOf` per record object: `resolve` runs on every verification-cache hit, and the stores
 * return the same frozen record until it changes (a change is a new object). Only records that
 * cannot change are memoized, so a store handing out mutable objects gets a fresh stamp each time.
 */
const stamps = new WeakMap<PartnerApplication, string>();

/** True when nothing `stampOf` reads can change: the record, its key source and its certificate list are frozen. */
function isFrozenRecord(partner: PartnerApplication): boolean {
  if (!Object.isFrozen(partner) || !Object.isFrozen(partner.keySource)) return false;
  const certificates: unknown = (partner.keySource as { readonly certificates?: unknown }).certificates;
  return certificates === undefined || Object.isFrozen(certificates);
}

/**
 * Whether the registration `merged` made of `existing` needs its metadata document fetched and
 * checked again: a metadata source whose URL, loopback permission, application or realm changed.
 */
function needsRefetch(existing: PartnerApplication, merged: Registration): boolean {
  return (
    merged.keySource.kind === 'metadata' &&
    (existing.keySource.kind !== 'metadata' ||
      existing.keySource.metadataUrl !== merged.keySource.metadataUrl ||
      (existing.keySource.allowLoopback === true) !== (merged.keySource.allowLoopback === true) ||
      existing.applicationId !== merged.applicationId ||
      existing.realm !== merged.realm)
  );
}

/** What a fetched metadata document is checked against: the key source, application and realm. */
function basisOf(partner: PartnerApplication): string {
  return JSON.stringify([partner.keySource, partner.applicationId, partner.realm]);
}

/** Whether an OAuth server's document must be fetched and checked again for `merged`. */
function serverNeedsRefetch(existing: OAuthServerRecord, merged: ServerRegistration): boolean {
  return merged.metadataUrl !== existing.metadataUrl || merged.realm !== existing.realm || merged.allowLoopback !== (existing.allowLoopback === true);
}

/** What an OAuth server's fetched document is checked against. */
function serverBasisOf(server: OAuthServerRecord): string {
  return JSON.stringify([server.metadataUrl, server.realm, server.allowLoopback === true]);
}

/**
 * Identifies what an OAuth server's key set (and the token endpoint read from its document) was
 * built for: its key source and the issuer and realm its documents are checked against. Enabling
 * or disabling keeps the key set; a change of these starts a new one.
 */
function serverStampOf(server: OAuthServerRecord): string {
  return JSON.stringify([server.metadataUrl, server.allowLoopback === true, server.issuer, server.realm]);
}

function hasOAuthServers(store: PartnerStore): store is PartnerStore & OAuthServerStore {
  const candidate = store as Partial<OAuthServerStore>;
  return (
    typeof candidate.getOAuthServer === 'function' &&
    typeof candidate.listOAuthServers === 'function' &&
    typeof candidate.putOAuthServer === 'function' &&
    typeof candidate.modifyOAuthServer === 'function' &&
    typeof candidate.removeOAuthServer === 'function'
  );
}

/** The key set of a partner whose pinned certificates have all expired: it knows no key. */
const NO_KEYS: KeySet = Object.freeze({
  getKey: () => Promise.resolve(undefined),
  keyNow: () => undefined,
  version: 0,
  close: () => undefined,
});

interface KeySetEntry {
  /** `stampOf` (`serverStampOf`) the registration the keys were built for. */
  readonly stamp: string;
  readonly keys: KeySet;
  /**
   * The registration's `updatedAt` when last seen here: a registration changed by another process
   * moves the revision when `resolve` sees it, even if the store has not said so yet and the key
   * set is kept.
   */
  updatedAt: number;
}

/** A validated OAuth server registration with its realm settled, before the issuer is added. */
interface ServerRegistration {
  readonly identity: string;
  readonly metadataUrl: string;
  readonly realm: string;
  readonly allowLoopback: boolean;
  readonly enabled: boolean;
}

/** The validated registration, before the store stamps it. */
interface Registration {
  readonly identity: string;
  readonly applicationId: string | undefined;
  readonly realm: string | undefined;
  readonly keySource: PartnerKeySource;
  readonly trustLevel: TrustLevel;
  readonly scopes: readonly string[];
  readonly enabled: boolean;
  readonly acceptUnsignedUserContext: boolean;
}

/**
 * The partner applications this server trusts, and their keys.
 *
 * @example
 * ```ts
 * const registry = new PartnerRegistry({ store: SqliteStore.open('.data/s2sauth.sqlite') });
 * await registry.add({ identity: 'microsoft.exchange', metadataUrl: 'https://mail.contoso.com/autodiscover/metadata/json/1' });
 * ```
 */
export class PartnerRegistry {
  readonly #store: PartnerStore;
  readonly #fetch: MetadataFetchOptions;
  readonly #keySetOptions: KeySetOptions;
  /** How old a stored last good document may be and still be served (the key sets' bound). */
  readonly #maxStalenessMs: number;
  readonly #clock: Clock;
  readonly #keySets = new Map<string, KeySetEntry>();
  /** OAuth servers' key sets by server identity (a namespace of its own, as in Lync). */
  readonly #serverKeySets = new Map<string, KeySetEntry>();
  /** The token endpoint each OAuth server's document advertised when last read, by identity. */
  readonly #authorizationUris = new Map<string, { readonly stamp: string; readonly uri: string | undefined }>();
  readonly #listeners = new Set<{ readonly listener: RegistryChangeListener }>();
  readonly #unsubscribe: () => void;
  #revision = 0;
  #closed = false;

  /** @throws TypeError for options that are not what they should be. */
  constructor(options: PartnerRegistryOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('PartnerRegistry: options must be an object');
    const { store, fetch = {}, keySets = {}, clock = systemClock } = options;
    if (
      typeof store !== 'object' ||
      store === null ||
      typeof store.findByApplication !== 'function' ||
      typeof store.modify !== 'function' ||
      typeof store.onChange !== 'function'
    ) {
      throw new TypeError('PartnerRegistry: options.store must be a PartnerStore');
    }
    if (typeof fetch !== 'object' || fetch === null) throw new TypeError('PartnerRegistry: options.fetch must be an object');
    if (typeof keySets !== 'object' || keySets === null) throw new TypeError('PartnerRegistry: options.keySets must be an object');
    if (typeof clock !== 'function') throw new TypeError('PartnerRegistry: options.clock must be a function returning milliseconds');
    this.#store = store;
    this.#fetch = fetch;
    this.#keySetOptions = { ...keySets, clock };
    this.#maxStalenessMs = keySets.maxStalenessMs ?? KEY_MAX_STALENESS_MS;
    this.#clock = clock;
    // Also fires for changes made by other processes sharing the store (with identity undefined).
    this.#unsubscribe = store.onChange((identity, kind) => {
      // An STS sharing the store writes its client registrations too; they are not trust of ours.
      if (kind === 'client') return;
      this.#changed(identity, kind);
    });
  }

  /**
   * A number that changes whenever any registration changes (in this process at once, in another
   * process sharing the store when the store reports it, or when `resolve` notices first),
   * whenever a partner's or OAuth server's key set is replaced, and when the token endpoint an
   * OAuth server advertises becomes known or changes. A verification result (and a challenge) is
   * current only while it is unchanged.
   */
  get revision(): number {
    return this.#revision;
  }

  /**
   * Registers a partner application (`New-CsPartnerApplication`). With `metadataUrl` the document
   * is fetched and checked first, and `applicationId` and `realm` default to what it says.
   *
   * @throws PartnerRegistryError `invalid` (naming the field), `exists`, `conflict`,
   *   `metadata_unavailable`, `metadata_invalid`, `metadata_contradicts`; nothing is stored then.
   */
  async add(input: PartnerApplicationInput): Promise<PartnerApplication> {
    this.#checkOpen();
    if (typeof input !== 'object' || input === null) throw invalid('input', 'must be an object');
    const registration = this.#validate(input);
    if (this.#store.get(registration.identity) !== undefined) throw this.#exists(registration.identity);
    const complete = await this.#completeWithMetadata(registration, true);
    // The fetch was asynchronous: check again, in the write itself, so that of two concurrent
    // adds of one identity the second is refused rather than replacing the first.
    return this.#put(registration.identity, (current) => {
      if (current !== undefined) throw this.#exists(registration.identity);
      return complete;
    });
  }

  /**
   * Changes a registration (`Set-CsPartnerApplication`). A key source given in `changes` replaces
   * the old one; a metadata document is fetched and checked again when the URL, the application,
   * the realm or `allowLoopback` change (never for enabling, disabling or scopes). The changes are
   * applied to the record as it is when written, in one store write (`PartnerStore.modify`): a
   * change of other fields made meanwhile (by another process too) is kept, not overwritten.
   *
   * @throws PartnerRegistryError as {@link PartnerRegistry.add}, and `not_found`; `conflict` also
   *   when a document was fetched and the key source, application or realm changed meanwhile.
   */
  async update(identity: string, changes: PartnerApplicationChanges): Promise<PartnerApplication> {
    this.#checkOpen();
    if (typeof changes !== 'object' || changes === null) throw invalid('changes', 'must be an object');
    if (Object.hasOwn(changes, 'identity')) throw invalid('identity', 'cannot be changed; remove and add the partner instead');
    const existing = this.#store.get(identity);
    if (existing === undefined) throw this.#notFound(identity);
    const first = this.#changedRegistration(existing, changes);
    const refetch = needsRefetch(existing, first);
    const complete = await this.#completeWithMetadata(first, refetch);
    // The changes are applied again, in the write itself, to the record as it is then: a change
    // made meanwhile by someone else (another command, another process) to other fields is kept,
    // not overwritten. Refused only when the key source, application or realm changed meanwhile
    // and this change fetched a document for the old ones, or now would need one.
    return this.#put(identity, (current) => {
      if (current === undefined) throw this.#notFound(identity);
      if (refetch && basisOf(current) !== basisOf(existing)) throw this.#changedMeanwhile(identity);
      const again = this.#changedRegistration(current, changes);
      if (!refetch && needsRefetch(current, again)) throw this.#changedMeanwhile(identity);
      return { ...again, applicationId: again.applicationId ?? complete.applicationId, realm: again.realm ?? complete.realm };
    });
  }

  #changedMeanwhile(identity: string): PartnerRegistryError {
    return new PartnerRegistryError('conflict', `partner "${identity}" had its key source, application or realm changed meanwhile; try again`);
  }

  /** `changes` applied to `existing`, checked; a key source left alone is kept verbatim. */
  #changedRegistration(existing: PartnerApplication, changes: PartnerApplicationChanges): Registration {
    const touchesSource = SOURCE_FIELDS.some((name) => Object.hasOwn(changes, name));
    // A change that leaves the key source alone keeps it verbatim: disabling a partner must work
    // even when its pinned certificate has expired or its metadata endpoint is down.
    return this.#validate(this.#mergedInput(existing, changes), touchesSource ? undefined : existing.keySource);
  }

  /** The registration named `identity` (`Get-CsPartnerApplication -Identity`). */
  get(identity: string): PartnerApplication | undefined {
    this.#checkOpen();
    return this.#store.get(identity);
  }

  /** Every registration, ordered by identity. */
  list(): PartnerApplication[] {
    this.#checkOpen();
    return this.#store.list();
  }

  /**
   * The registration for `applicationId` in `realm`, whatever its key source and state; for
   * diagnostics. Verification uses {@link PartnerRegistry.resolve}.
   */
  find(applicationId: string, realm: string): PartnerApplication | undefined {
    this.#checkOpen();
    return this.#store.findByApplication(applicationId, realm);
  }

  /** Removes a registration (`Remove-CsPartnerApplication`); false when there was none. Its key set is closed. */
  remove(identity: string): boolean {
    this.#checkOpen();
    const revision = this.#revision;
    const removed = this.#store.remove(identity);
    // Stores notify synchronously; one that does not must still not leave stale keys behind.
    if (removed && this.#revision === revision) this.#changed(identity, 'partnerApplication');
    return removed;
  }

  /** Enables a partner (`Set-CsPartnerApplication -Enabled $true`). */
  enable(identity: string): Promise<PartnerApplication> {
    return this.update(identity, { enabled: true });
  }

  /** Disables a partner: none of its tokens are accepted from the next request on, cached or not. */
  disable(identity: string): Promise<PartnerApplication> {
    return this.update(identity, { enabled: false });
  }

  /**
   * Registers a trusted OAuth server, an STS (`New-CsOAuthServer`). Its metadata document is
   * fetched first, with the same safe fetch as partners' documents, and must state the issuer
   * `00000001-0000-0000-c000-000000000000@<realm>` (any STS realm when `realm` is `*`); that issuer
   * is stored. At most one server per realm, and one for `*`.
   *
   * @throws PartnerRegistryError `invalid` (naming the field), `exists`, `conflict` (another
   *   server holds the realm), `metadata_unavailable`, `metadata_invalid`, `metadata_contradicts`,
   *   `unsupported`; nothing is stored then.
   */
  async addOAuthServer(input: OAuthServerRegistrationInput): Promise<OAuthServer> {
    this.#checkOpen();
    const servers = this.#requireServerStore();
    if (typeof input !== 'object' || input === null) throw invalid('input', 'must be an object');
    const checked = this.#validateServer(input);
    if (servers.getOAuthServer(checked.identity) !== undefined) throw this.#serverExists(checked.identity);
    if (checked.realm !== undefined) this.#checkRealmFree(servers, checked.realm, checked.identity);
    const fetched = await this.#loadServerMetadata(checked.metadataUrl, checked.allowLoopback, checked.realm);
    const realm = checked.realm ?? fetched.realm;
    // The fetch was asynchronous: check again, in the write itself (two concurrent adds of one
    // identity, or for one realm, cannot both succeed).
    return this.#putServer(
      servers,
      checked.identity,
      (current) => {
        if (current !== undefined) throw this.#serverExists(checked.identity);
        this.#checkRealmFree(servers, realm, checked.identity);
        return { ...checked, realm, issuer: fetched.issuer };
      },
      fetched.authorizationUri,
    );
  }

  /**
   * Changes an OAuth server (`Set-CsOAuthServer`). The document is fetched and checked again when
   * the URL, the realm or `allowLoopback` change (never for enabling or disabling). As with
   * {@link PartnerRegistry.update}, the changes are applied to the record as it is when written.
   *
   * @throws PartnerRegistryError as {@link PartnerRegistry.addOAuthServer}, and `not_found`;
   *   `conflict` also when a document was fetched and the URL or realm changed meanwhile.
   */
  async updateOAuthServer(identity: string, changes: OAuthServerChanges): Promise<OAuthServer> {
    this.#checkOpen();
    const servers = this.#requireServerStore();
    if (typeof changes !== 'object' || changes === null) throw invalid('changes', 'must be an object');
    if (Object.hasOwn(changes, 'identity')) throw invalid('identity', 'cannot be changed; remove and add the OAuth server instead');
    const existing = servers.getOAuthServer(identity);
    if (existing === undefined) throw this.#serverNotFound(identity);
    const first = this.#changedServer(existing, changes);
    const refetch = serverNeedsRefetch(existing, first);
    if (first.realm !== existing.realm) this.#checkRealmFree(servers, first.realm, identity);
    let fetched: { issuer: string; authorizationUri: string | undefined } | undefined;
    if (refetch) fetched = await this.#loadServerMetadata(first.metadataUrl, first.allowLoopback, first.realm);
    // As for partners: the changes are applied again, in the write, to the record as it is then.
    return this.#putServer(
      servers,
      identity,
      (current) => {
        if (current === undefined) throw this.#serverNotFound(identity);
        const changedMeanwhile = (): PartnerRegistryError =>
          new PartnerRegistryError('conflict', `OAuth server "${identity}" had its metadata URL or realm changed meanwhile; try again`);
        if (refetch && serverBasisOf(current) !== serverBasisOf(existing)) throw changedMeanwhile();
        const again = this.#changedServer(current, changes);
        if (!refetch && serverNeedsRefetch(current, again)) throw changedMeanwhile();
        if (again.realm !== current.realm) this.#checkRealmFree(servers, again.realm, identity);
        return { ...again, issuer: fetched?.issuer ?? current.issuer };
      },
      fetched === undefined ? this.#authorizationUris.get(identity)?.uri : fetched.authorizationUri,
    );
  }

  /** `changes` applied to the OAuth server `existing`, checked. */
  #changedServer(existing: OAuthServerRecord, changes: OAuthServerChanges): ServerRegistration {
    const merged = this.#validateServer({
      identity: existing.identity,
      metadataUrl: existing.metadataUrl,
      realm: existing.realm,
      allowLoopback: existing.allowLoopback === true,
      enabled: existing.enabled,
      ...changes,
    });
    return { ...merged, realm: merged.realm ?? existing.realm };
  }

  /** The OAuth server named `identity` (`Get-CsOAuthServer -Identity`). */
  getOAuthServer(identity: string): OAuthServer | undefined {
    this.#checkOpen();
    const server = this.#serverStore()?.getOAuthServer(identity);
    return server === undefined ? undefined : this.#serverView(server);
  }

  /** Every OAuth server, ordered by identity; none when the store does not keep them. */
  listOAuthServers(): OAuthServer[] {
    this.#checkOpen();
    return (this.#serverStore()?.listOAuthServers() ?? []).map((server) => this.#serverView(server));
  }

  /** Removes an OAuth server (`Remove-CsOAuthServer`); false when there was none. Its key set is closed. */
  removeOAuthServer(identity: string): boolean {
    this.#checkOpen();
    const servers = this.#serverStore();
    if (servers === undefined) return false;
    const revision = this.#revision;
    const removed = servers.removeOAuthServer(identity);
    if (removed) {
      this.#authorizationUris.delete(identity);
      // Stores notify synchronously; one that does not must still not leave stale keys behind.
      if (this.#revision === revision) this.#changed(identity, 'oauthServer');
    }
    return removed;
  }

  /** Enables an OAuth server. */
  enableOAuthServer(identity: string): Promise<OAuthServer> {
    return this.updateOAuthServer(identity, { enabled: true });
  }

  /** Disables an OAuth server: none of its tokens are accepted from the next request on, cached or not. */
  disableOAuthServer(identity: string): Promise<OAuthServer> {
    return this.updateOAuthServer(identity, { enabled: false });
  }

  /**
   * The one OAuth server an actor token's `iss` (`applicationId@realm`) selects, with that
   * server's own keys, or `undefined` when `applicationId` is not the STS principal or no server is
   * registered for `realm` or `*` (see `selectOAuthServer` in oauth-server.ts). Looks up the store
   * only: nothing is fetched here. Disabled servers are resolved too (the verifier refuses them
   * before it asks for a key). Key sets are created, replaced and closed as in
   * {@link PartnerRegistry.resolve}.
   *
   * @throws PartnerRegistryError `conflict` when two registrations would answer for `realm`.
   */
  resolveOAuthServer(applicationId: string, realm: string): ResolvedOAuthServer | undefined {
    this.#checkOpen();
    if (applicationId !== WellKnownPrincipal.sts) return undefined;
    const servers = this.#serverStore();
    if (servers === undefined) return undefined;
    const server = selectOAuthServer(servers.listOAuthServers(), realm);
    if (server === 'ambiguous') {
      throw new PartnerRegistryError('conflict', `several OAuth servers are registered for realm ${realm}`, 'realm');
    }
    if (server === undefined) return undefined;
    const stamp = serverStampOf(server);
    const entry = this.#serverKeySets.get(server.identity);
    if (entry !== undefined && entry.stamp === stamp) {
      this.#noticeUpdate(entry, server.updatedAt);
      return { server, keys: entry.keys };
    }
    const keys = this.#createServerKeySet(server, stamp);
    this.#serverKeySets.set(server.identity, { stamp, keys, updatedAt: server.updatedAt });
    if (entry !== undefined) {
      entry.keys.close();
      this.#revision++;
    }
    return { server, keys };
  }

  /**
   * The one registration a self-issued actor token's `iss` names, with that partner's own keys,
   * or `undefined` when no partner with its own keys is registered for `(applicationId, realm)`
   * (partners that trust through an OAuth server included). Looks up the store only: nothing is
   * fetched here, and nothing at all for an unregistered issuer. The key set is created on first
   * use, loads lazily when asked for a key, and is closed and replaced when the registration
   * changes or is removed. Disabled partners are resolved too (the verifier decides, before it
   * asks for a key).
   */
  resolve(applicationId: string, realm: string): ResolvedPartner | undefined {
    this.#checkOpen();
    const partner = this.#store.findByApplication(applicationId, realm);
    if (partner === undefined || partner.keySource.kind === 'oauthServer') return undefined;
    const stamp = stampOf(partner);
    const entry = this.#keySets.get(partner.identity);
    if (entry !== undefined && entry.stamp === stamp) {
      this.#noticeUpdate(entry, partner.updatedAt);
      return { partner, keys: entry.keys };
    }
    const keys = this.#createKeySet(partner);
    this.#keySets.set(partner.identity, { stamp, keys, updatedAt: partner.updatedAt });
    if (entry !== undefined) {
      // The registration changed in another process before the store told us: results verified
      // with the old key set must not count as current (its version may equal the new set's).
      entry.keys.close();
      this.#revision++;
    }
    return { partner, keys };
  }

  /**
   * Subscribes to registration changes: `identity` is the changed partner (`kind`
   * `partnerApplication`) or OAuth server (`kind` `oauthServer`), or both are `undefined` when the
   * change came from another process and anything may have changed. Returns the unsubscribe function.
   */
  onChange(listener: RegistryChangeListener): () => void {
    this.#checkOpen();
    if (typeof listener !== 'function') throw new TypeError('PartnerRegistry.onChange: listener must be a function');
    const entry = { listener };
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /** Stops listening to the store and closes every key set. The store stays open (it is the caller's). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    for (const { keys } of [...this.#keySets.values(), ...this.#serverKeySets.values()]) keys.close();
    this.#keySets.clear();
    this.#serverKeySets.clear();
    this.#authorizationUris.clear();
    this.#listeners.clear();
  }

  #checkOpen(): void {
    if (this.#closed) throw new PartnerRegistryError('closed', 'the partner registry is closed');
  }

  #exists(identity: string): PartnerRegistryError {
    return new PartnerRegistryError('exists', `identity: a partner named "${identity}" is already registered`, 'identity');
  }

  #notFound(identity: string): PartnerRegistryError {
    return new PartnerRegistryError('not_found', `no partner named "${identity}" is registered`, 'identity');
  }

  /**
   * A registration changed: drop what was derived from it, tell subscribers. `kind` undefined (a
   * change from another process) may be about anything.
   */
  #changed(identity: string | undefined, kind: RegistryEntryKind | undefined): void {
    this.#revision++;
    // A change from another process does not say which registration changed: compare them all.
    // A key set whose key source is unchanged is kept, with its last good keys.
    const concerns = (name: string): boolean => identity === undefined || kind === undefined || name === identity;
    if (kind !== 'oauthServer') {
      for (const [name, entry] of [...this.#keySets]) {
        if (!concerns(name) || this.#isCurrent(name, entry)) continue;
        entry.keys.close();
        this.#keySets.delete(name);
      }
    }
    if (kind !== 'partnerApplication') {
      for (const [name, entry] of [...this.#serverKeySets]) {
        if (!concerns(name) || this.#isCurrentServer(name, entry)) continue;
        entry.keys.close();
        this.#serverKeySets.delete(name);
      }
    }
    for (const { listener } of [...this.#listeners]) {
      try {
        listener(identity, kind);
      } catch {
        // One subscriber's failure must not keep the others (verification caches) stale.
      }
    }
  }

  /** A registration whose key set is kept changed (another process's write seen first here): results verified before are not current. */
  #noticeUpdate(entry: KeySetEntry, updatedAt: number): void {
    if (entry.updatedAt === updatedAt) return;
    entry.updatedAt = updatedAt;
    this.#revision++;
  }

  /** Whether `entry` still fits the registration (its key source is unchanged); if so, notes its `updatedAt`. */
  #isCurrent(identity: string, entry: KeySetEntry): boolean {
    const current = this.#store.get(identity);
    if (current === undefined || stampOf(current) !== entry.stamp) return false;
    entry.updatedAt = current.updatedAt;
    return true;
  }

  /** As {@link PartnerRegistry.#isCurrent}, for an OAuth server. */
  #isCurrentServer(identity: string, entry: KeySetEntry): boolean {
    const current = this.#serverStore()?.getOAuthServer(identity);
    if (current === undefined || serverStampOf(current) !== entry.stamp) return false;
    entry.updatedAt = current.updatedAt;
    return true;
  }

  #serverStore(): (PartnerStore & OAuthServerStore) | undefined {
    return hasOAuthServers(this.#store) ? this.#store : undefined;
  }

  #requireServerStore(): PartnerStore & OAuthServerStore {
    const servers = this.#serverStore();
    if (servers === undefined) {
      throw new PartnerRegistryError('unsupported', 'the registry\'s store does not keep OAuth servers (it is not an OAuthServerStore)');
    }
    return servers;
  }

  #serverExists(identity: string): PartnerRegistryError {
    return new PartnerRegistryError('exists', `identity: an OAuth server named "${identity}" is already registered`, 'identity');
  }

  #serverNotFound(identity: string): PartnerRegistryError {
    return new PartnerRegistryError('not_found', `no OAuth server named "${identity}" is registered`, 'identity');
  }

  /** Refuses a second server for one realm: an STS issuer must select exactly one registration. */
  #checkRealmFree(servers: OAuthServerStore, realm: string, identity: string): void {
    const holder = servers.listOAuthServers().find((server) => server.realm === realm && server.identity !== identity);
    if (holder !== undefined) {
      throw new PartnerRegistryError('conflict', `realm: OAuth server "${holder.identity}" is already registered for realm ${realm}`, 'realm');
    }
  }

  #validateServer(input: OAuthServerRegistrationInput): {
    identity: string;
    metadataUrl: string;
    realm: string | undefined;
    allowLoopback: boolean;
    enabled: boolean;
  } {
    for (const name of Object.keys(input)) {
      if (!OAUTH_SERVER_FIELDS.has(name)) throw invalid(name, 'is not a field of an OAuth server');
    }
    const identity = checkIdentity(input.identity);
    const allowLoopback = optionalBoolean(input.allowLoopback, 'allowLoopback') ?? false;
    const metadataUrl = checkMetadataUrl(input.metadataUrl, allowLoopback);
    const realm = input.realm === undefined || input.realm === ANY_REALM ? input.realm : checkRealm(input.realm);
    return { identity, metadataUrl, realm, allowLoopback, enabled: optionalBoolean(input.enabled, 'enabled') ?? true };
  }

  /** Fetches and checks an STS metadata document for a registration with `realm`. */
  async #loadServerMetadata(
    metadataUrl: string,
    allowLoopback: boolean,
    realm: string | undefined,
  ): Promise<{ issuer: string; realm: string; authorizationUri: string | undefined }> {
    const metadata = await this.#loadMetadata({ kind: 'metadata', metadataUrl, ...(allowLoopback ? { allowLoopback } : {}) });
    const checked = checkStsMetadata(metadata, realm);
    if ('problem' in checked) {
      throw new PartnerRegistryError(
        checked.invalid ? 'metadata_invalid' : 'metadata_contradicts',
        `metadataUrl: ${checked.problem}${checked.invalid ? '' : ', which contradicts the registration'}`,
        'metadataUrl',
      );
    }
    return { ...checked, authorizationUri: authorizationUriOf(metadata, allowLoopback) };
  }

  /**
   * Writes the OAuth server `identity` as `build` makes it of the current record, in one store
   * write (see `OAuthServerStore.modifyOAuthServer`), and drops what was derived from the old one.
   */
  #putServer(
    servers: OAuthServerStore,
    identity: string,
    build: (current: OAuthServerRecord | undefined) => ServerRegistration & { issuer: string },
    authorizationUri: string | undefined,
  ): OAuthServer {
    const revision = this.#revision;
    const stored = servers.modifyOAuthServer(identity, (current) => {
      const registration = build(current);
      return {
        identity: registration.identity,
        metadataUrl: registration.metadataUrl,
        issuer: registration.issuer,
        realm: registration.realm,
        ...(registration.allowLoopback ? { allowLoopback: true } : {}),
        enabled: registration.enabled,
      };
    }) as OAuthServerRecord;
    if (this.#revision === revision) this.#changed(stored.identity, 'oauthServer');
    this.#authorizationUris.set(stored.identity, { stamp: serverStampOf(stored), uri: authorizationUri });
    return this.#serverView(stored);
  }

  #serverView(server: OAuthServerRecord): OAuthServer {
    const known = this.#authorizationUris.get(server.identity);
    const uri = known !== undefined && known.stamp === serverStampOf(server) ? known.uri : undefined;
    return uri === undefined ? server : Object.freeze({ ...server, authorizationUri: uri });
  }

  #createServerKeySet(server: OAuthServerRecord, stamp: string): KeySet {
    const allowLoopback = server.allowLoopback === true;
    const source = { kind: 'metadata', metadataUrl: server.metadataUrl, ...(allowLoopback ? { allowLoopback } : {}) } as const;
    return this.#remoteKeySet(source, (metadata) => {
      // The document must go on stating the issuer it was registered with; a failed load keeps
      // the last good keys up to the staleness bound (protocol.md section 4).
      const checked = checkStsMetadata(metadata, server.realm);
      if ('problem' in checked || checked.issuer !== server.issuer) {
        throw new PartnerRegistryError('metadata_contradicts', 'metadataUrl: the document no longer states the registered issuer', 'metadataUrl');
      }
      const uri = authorizationUriOf(metadata, allowLoopback);
      const known = this.#authorizationUris.get(server.identity);
      if (!this.#closed && (known === undefined || known.stamp !== stamp || known.uri !== uri)) {
        this.#authorizationUris.set(server.identity, { stamp, uri });
        // Challenges advertise the endpoint; a cached challenge must not outlive what it says.
        this.#revision++;
      }
    });
  }

  /**
   * A key set for a metadata source: each load fetches, parses and `accept`s (throws to refuse)
   * the document, and stores it as the source's last good document when the store keeps them. It
   * starts from that stored document when there is one younger than the maximum staleness that
   * still parses and is accepted now, so a restarted server keeps serving through an outage.
   */
  #remoteKeySet(source: Extract<PartnerKeySource, { kind: 'metadata' }>, accept: (metadata: ParsedMetadata) => void): RemoteKeySet {
    const documentSource = { metadataUrl: source.metadataUrl, allowLoopback: source.allowLoopback === true };
    const load = async (): Promise<ParsedMetadata> => {
      const body = await fetchMetadata(source.metadataUrl, this.#fetchOptions(source));
      const fetchedAt = this.#clock();
      const metadata = parseMetadataDocument(body, { now: fetchedAt });
      accept(metadata);
      this.#storeKeyDocument({ ...documentSource, document: body, fetchedAt });
      return metadata;
    };
    const lastGood = this.#storedKeys(documentSource, accept);
    return new RemoteKeySet(load, lastGood === undefined ? this.#keySetOptions : { ...this.#keySetOptions, lastGood });
  }

  /** The stored last good document of `source`, parsed and accepted now, if it is young enough. */
  #storedKeys(source: KeyDocumentSource, accept: (metadata: ParsedMetadata) => void): LastGoodKeys | undefined {
    if (!isKeyDocumentStore(this.#store)) return undefined;
    try {
      const stored = this.#store.getKeyDocument(source);
      const now = this.#clock();
      if (stored === undefined || now - stored.fetchedAt > this.#maxStalenessMs) return undefined;
      // Checked as a fresh fetch would be: certificates expired by now are left out (none left
      // refuses the document), and the document must still agree with the registration.
      const metadata = parseMetadataDocument(stored.document, { now });
      accept(metadata);
      return { metadata, loadedAt: stored.fetchedAt };
    } catch {
      // Unreadable, no longer valid or contradicting: start without, as before a first fetch.
      return undefined;
    }
  }

  /**
   * Keeps `document` as its source's last good one and forgets documents too old to be served.
   * Best effort: a store that cannot write (read-only, full) costs only the keys' survival of a
   * restart, never the fetch that just succeeded.
   */
  #storeKeyDocument(document: KeyDocument): void {
    if (this.#closed || !isKeyDocumentStore(this.#store)) return;
    try {
      this.#store.putKeyDocument(document);
      this.#store.removeKeyDocumentsFetchedBefore(document.fetchedAt - this.#maxStalenessMs);
    } catch {
      // See above: the keys just loaded are served all the same.
    }
  }

  /** The input `changes` turn `existing` into. */
  #mergedInput(existing: PartnerApplication, changes: PartnerApplicationChanges): PartnerApplicationInput {
    const base: Record<string, unknown> = {
      identity: existing.identity,
      applicationId: existing.applicationId,
      realm: existing.realm,
      trustLevel: existing.trustLevel,
      scopes: existing.scopes,
      enabled: existing.enabled,
      acceptUnsignedUserContext: existing.acceptUnsignedUserContext,
    };
    const source = existing.keySource;
    const replacesSource = changes.metadataUrl !== undefined || changes.certificate !== undefined || changes.useOAuthServer === true;
    if (source.kind === 'metadata') {
      // allowLoopback belongs to the URL: kept when only the URL changes, dropped with the source.
      if (!replacesSource) base['metadataUrl'] = source.metadataUrl;
      if (!replacesSource || changes.metadataUrl !== undefined) base['allowLoopback'] = source.allowLoopback ?? false;
    } else if (!replacesSource) {
      if (source.kind === 'certificate') base['certificate'] = source.certificates;
      else base['useOAuthServer'] = true;
    }
    return { ...base, ...changes } as PartnerApplicationInput;
  }

  /**
   * Checks every field of `input`; `applicationId`/`realm` may stay open for a metadata source.
   * With `keptSource` the key source fields are not looked at and `keptSource` is used as is.
   */
  #validate(input: PartnerApplicationInput, keptSource?: PartnerKeySource): Registration {
    for (const name of Object.keys(input)) {
      if (!INPUT_FIELDS.has(name)) throw invalid(name, 'is not a field of a partner application');
    }
    const identity = checkIdentity(input.identity);
    const keySource = keptSource ?? this.#validateKeySource(input);
    const needsIds = keySource.kind !== 'metadata';
    if (needsIds && input.applicationId === undefined) throw invalid('applicationId', 'is required with a certificate or an OAuth server');
    if (needsIds && input.realm === undefined) throw invalid('realm', 'is required with a certificate or an OAuth server');
    return {
      identity,
      applicationId: input.applicationId === undefined ? undefined : checkApplicationId(input.applicationId),
      realm: input.realm === undefined ? undefined : checkRealm(input.realm),
      keySource,
      trustLevel: input.trustLevel === undefined ? 'full' : checkTrustLevel(input.trustLevel),
      scopes: input.scopes === undefined ? [] : checkScopes(input.scopes),
      enabled: optionalBoolean(input.enabled, 'enabled') ?? true,
      acceptUnsignedUserContext: optionalBoolean(input.acceptUnsignedUserContext, 'acceptUnsignedUserContext') ?? false,
    };
  }

  #validateKeySource(input: PartnerApplicationInput): PartnerKeySource {
    const allowLoopback = optionalBoolean(input.allowLoopback, 'allowLoopback') ?? false;
    const useOAuthServer = optionalBoolean(input.useOAuthServer, 'useOAuthServer') ?? false;
    const sources = [input.metadataUrl !== undefined, input.certificate !== undefined, useOAuthServer].filter(Boolean).length;
    if (sources !== 1) {
      throw invalid('keySource', 'give exactly one of metadataUrl, certificate or useOAuthServer');
    }
    if (input.allowLoopback !== undefined && input.metadataUrl === undefined) {
      throw invalid('allowLoopback', 'applies only to a metadataUrl');
    }
    if (input.metadataUrl !== undefined) {
      const metadataUrl = checkMetadataUrl(input.metadataUrl, allowLoopback);
      return allowLoopback ? { kind: 'metadata', metadataUrl, allowLoopback } : { kind: 'metadata', metadataUrl };
    }
    if (input.certificate !== undefined) {
      return { kind: 'certificate', certificates: checkCertificates(input.certificate, this.#clock()) };
    }
    return { kind: 'oauthServer' };
  }

  /**
   * For a metadata source, fetches and checks the document when `fetch` is set, filling in the
   * application id and realm it names; every registration comes out with both.
   */
  async #completeWithMetadata(registration: Registration, fetch: boolean): Promise<Registration & { applicationId: string; realm: string }> {
    let { applicationId, realm } = registration;
    const source = registration.keySource;
    if (source.kind === 'metadata' && fetch) {
      const metadata = await this.#loadMetadata(source);
      const issuer = metadata.issuer === undefined ? undefined : parseIssuerId(metadata.issuer);
      if (metadata.issuer !== undefined && issuer === undefined) {
        throw new PartnerRegistryError('metadata_invalid', 'metadataUrl: the document\'s issuer is not "<principal>@<realm>"', 'metadataUrl');
      }
      const documentApplicationId = applicationId ?? metadata.serviceName ?? issuer?.principal;
      const documentRealm = realm ?? metadata.realm ?? issuer?.realm;
      if (documentApplicationId === undefined || documentRealm === undefined) {
        throw new PartnerRegistryError(
          'metadata_invalid',
          'metadataUrl: the document does not name its application and realm; give applicationId and realm',
          'metadataUrl',
        );
      }
      if (applicationId === undefined && !isPrincipalId(documentApplicationId)) {
        throw new PartnerRegistryError('metadata_invalid', 'metadataUrl: the document\'s serviceName is not a principal id', 'metadataUrl');
      }
      if (realm === undefined && !isRealm(documentRealm)) {
        throw new PartnerRegistryError('metadata_invalid', 'metadataUrl: the document\'s realm is not a valid realm', 'metadataUrl');
      }
      const problem = contradiction(metadata, documentApplicationId, documentRealm);
      if (problem !== undefined) {
        throw new PartnerRegistryError('metadata_contradicts', `metadataUrl: ${problem}, which contradicts the registration`, 'metadataUrl');
      }
      applicationId = documentApplicationId;
      realm = documentRealm;
    }
    if (applicationId === undefined || realm === undefined) {
      // Only reachable for a metadata source that was not refetched, which always has both.
      throw invalid('applicationId', 'and realm are required');
    }
    return { ...registration, applicationId, realm };
  }

  /** Fetches and parses a metadata document, turning failures into registry errors. */
  async #loadMetadata(source: Extract<PartnerKeySource, { kind: 'metadata' }>): Promise<ParsedMetadata> {
    let body: Buffer;
    try {
      body = await fetchMetadata(source.metadataUrl, this.#fetchOptions(source));
    } catch (error) {
      if (error instanceof MetadataFetchError) {
        throw new PartnerRegistryError('metadata_unavailable', `metadataUrl: the document could not be fetched: ${error.message}`, 'metadataUrl', {
          cause: error,
        });
      }
      throw error;
    }
    try {
      return parseMetadataDocument(body, { now: this.#clock() });
    } catch (error) {
      if (error instanceof MetadataError) {
        throw new PartnerRegistryError('metadata_invalid', `metadataUrl: ${error.message}`, 'metadataUrl', { cause: error });
      }
      throw error;
    }
  }

  #fetchOptions(source: Extract<PartnerKeySource, { kind: 'metadata' }>): MetadataFetchOptions {
    return { ...this.#fetch, allowLoopback: source.allowLoopback === true };
  }

  /**
   * Writes the partner `identity` as `build` makes it of the current record, in one store write
   * (see `PartnerStore.modify`), and drops what was derived from the old one.
   */
  #put(identity: string, build: (current: PartnerApplication | undefined) => Registration & { applicationId: string; realm: string }): PartnerApplication {
    const revision = this.#revision;
    let registration: (Registration & { applicationId: string; realm: string }) | undefined;
    let stored: PartnerApplication;
    try {
      stored = this.#store.modify(identity, (current) => {
        registration = build(current);
        return {
          identity: registration.identity,
          applicationId: registration.applicationId,
          realm: registration.realm,
          keySource: registration.keySource,
          trustLevel: registration.trustLevel,
          scopes: registration.scopes,
          enabled: registration.enabled,
          acceptUnsignedUserContext: registration.acceptUnsignedUserContext,
        };
      }) as PartnerApplication;
    } catch (error) {
      if (error instanceof StoreError && error.code === 'conflict' && registration !== undefined) {
        throw new PartnerRegistryError(
          'conflict',
          `applicationId: application ${registration.applicationId} in realm ${registration.realm} is already registered under another identity`,
          'applicationId',
          { cause: error },
        );
      }
      throw error;
    }
    // Stores notify synchronously; one that does not must still not leave stale keys behind.
    if (this.#revision === revision) this.#changed(stored.identity, 'partnerApplication');
    return stored;
  }

  #createKeySet(partner: PartnerApplication): KeySet {
    const source = partner.keySource;
    if (source.kind === 'certificate') {
      const now = this.#clock();
      const keys: SigningKey[] = [];
      for (const pem of source.certificates) {
        try {
          keys.push(signingKeyFromCertificate(pem, now));
        } catch {
          // Expired (or no longer acceptable) since registration: it cannot verify anything now.
        }
      }
      return keys.length === 0 ? NO_KEYS : new StaticKeySet(keys, { clock: this.#clock });
    }
    // resolve() never gets here with an oauthServer source; the cast documents that.
    const metadataSource = source as Extract<PartnerKeySource, { kind: 'metadata' }>;
    return this.#remoteKeySet(metadataSource, (metadata) => {
      const problem = contradiction(metadata, partner.applicationId, partner.realm);
      // A failed load keeps the last good keys up to the staleness bound (protocol.md section 4).
      if (problem !== undefined) throw new PartnerRegistryError('metadata_contradicts', `metadataUrl: ${problem}`, 'metadataUrl');
    });
  }
}
