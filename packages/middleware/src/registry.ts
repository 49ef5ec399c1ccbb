/**
 * The partner application registry (protocol.md section 5), with the administrative surface of
 * Lync's `New-`, `Set-`, `Get-` and `Remove-CsPartnerApplication` and `*-CsOAuthServer`
 * (Lync Server 2013 cmdlet reference): a set of trusts, each owning its keys (go-spiffe's
 * `jwtbundle.Set`), kept in a `PartnerStore`.
 *
 * This file composes the registry's aggregates, the partner applications (partners.ts) and the
 * trusted OAuth servers (oauth-server.ts), and keeps what they share: the one revision and the one
 * change feed. Registration input is checked in registration-input.ts, written by the protocols of
 * registration-writes.ts; key sets and last good documents are trust-key-sets.ts.
 *
 * The registry is where the go-spiffe rule "the unverified issuer only selects which pinned trust
 * to use" lives: {@link PartnerRegistry.resolve} maps an `(applicationId, realm)` to exactly one
 * registration and that registration's own keys. It never fetches anything for an issuer that is
 * not registered, so a forged `iss` can route a token only to keys that will not verify it.
 * {@link PartnerRegistry.resolveOAuthServer} does the same for an STS issuer.
 */
import { type Clock, optionNames, refuseUnknownOptions, systemClock } from '@s2sauth/protocol';
import type { PartnerApplication, PartnerStore, RegistryEntryKind } from '@s2sauth/store';
import type { KeySetOptions, MetadataFetchOptions } from '@s2sauth/discovery';
import type { IssuerTrusts } from './issuer-trusts.js';
import { OAuthServers, type OAuthServer, type ResolvedOAuthServer } from './oauth-server.js';
import { Partners, type ResolvedPartner } from './partners.js';
import type { OAuthServerChanges, OAuthServerRegistrationInput, PartnerApplicationChanges, PartnerApplicationInput } from './registration-input.js';
import type { RegistryLedger } from './registration-writes.js';
import { PartnerRegistryError } from './registry-error.js';
import { KeySources } from './trust-key-sets.js';

export type { PartnerApplicationChanges, PartnerApplicationInput } from './registration-input.js';
export { PartnerRegistryError, type PartnerRegistryErrorCode } from './registry-error.js';
export type { ResolvedPartner } from './partners.js';

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

const OPTION_NAMES = optionNames<PartnerRegistryOptions>({ store: true, fetch: true, keySets: true, clock: true });

/** The options, checked (a misconfiguration is a `TypeError` at start-up). */
function checkedOptions(options: PartnerRegistryOptions): Required<PartnerRegistryOptions> {
  if (typeof options !== 'object' || options === null) throw new TypeError('PartnerRegistry: options must be an object');
  refuseUnknownOptions('new PartnerRegistry', options, OPTION_NAMES);
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
  return { store, fetch, keySets, clock };
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
export class PartnerRegistry implements IssuerTrusts {
  readonly #store: PartnerStore;
  readonly #keySources: KeySources;
  readonly #partners: Partners;
  readonly #servers: OAuthServers;
  readonly #listeners = new Set<{ readonly listener: RegistryChangeListener }>();
  readonly #unsubscribe: () => void;
  #revision = 0;
  #closed = false;

  /** @throws TypeError for options that are not what they should be, or an option name it does not know. */
  constructor(options: PartnerRegistryOptions) {
    const { store, fetch, keySets, clock } = checkedOptions(options);
    this.#store = store;
    this.#keySources = new KeySources(store, { fetch, keySets, clock });
    const ledger: RegistryLedger = {
      written: (identity, kind, write, happened) => this.#written(identity, kind, write, happened),
      moved: () => {
        this.#revision++;
      },
      keySources: this.#keySources,
    };
    this.#partners = new Partners(store, ledger);
    this.#servers = new OAuthServers(store, ledger);
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
    return this.#partners.add(input);
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
    return this.#partners.update(identity, changes);
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
    return this.#partners.remove(identity);
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
    return this.#servers.add(input);
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
    return this.#servers.update(identity, changes);
  }

  /** The OAuth server named `identity` (`Get-CsOAuthServer -Identity`). */
  getOAuthServer(identity: string): OAuthServer | undefined {
    this.#checkOpen();
    return this.#servers.get(identity);
  }

  /** Every OAuth server, ordered by identity; none when the store does not keep them. */
  listOAuthServers(): OAuthServer[] {
    this.#checkOpen();
    return this.#servers.list();
  }

  /** Removes an OAuth server (`Remove-CsOAuthServer`); false when there was none. Its key set is closed. */
  removeOAuthServer(identity: string): boolean {
    this.#checkOpen();
    return this.#servers.remove(identity);
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
    return this.#servers.resolve(applicationId, realm);
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
    return this.#partners.resolve(applicationId, realm);
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
    this.#keySources.close();
    this.#unsubscribe();
    this.#partners.close();
    this.#servers.close();
    this.#listeners.clear();
  }

  #checkOpen(): void {
    if (this.#closed) throw new PartnerRegistryError('closed', 'the partner registry is closed');
  }

  /** Runs a store write of `identity`; reports it unless nothing changed or the store already did (see `RegistryLedger.written`). */
  #written<Result>(identity: string, kind: RegistryEntryKind, write: () => Result, happened?: (result: Result) => boolean): Result {
    const revision = this.#revision;
    const result = write();
    // Stores notify synchronously; one that does not must still not leave stale keys behind.
    if ((happened === undefined || happened(result)) && this.#revision === revision) this.#changed(identity, kind);
    return result;
  }

  /**
   * A registration changed: drop what was derived from it, tell subscribers. `kind` undefined (a
   * change from another process) may be about anything.
   */
  #changed(identity: string | undefined, kind: RegistryEntryKind | undefined): void {
    this.#revision++;
    // A change from another process does not say which registration changed: compare them all.
    const which = kind === undefined ? undefined : identity;
    if (kind !== 'oauthServer') this.#partners.forget(which);
    if (kind !== 'partnerApplication') this.#servers.forget(which);
    for (const { listener } of [...this.#listeners]) {
      try {
        listener(identity, kind);
      } catch {
        // One subscriber's failure must not keep the others (verification caches) stale.
      }
    }
  }
}
