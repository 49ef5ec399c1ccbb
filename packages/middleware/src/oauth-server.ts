/**
 * The OAuth servers aggregate of the registry: trusted STSes, protocol.md section 5, with the
 * administrative surface of Lync's `New-`, `Set-`, `Get-` and `Remove-CsOAuthServer`
 * (Lync Server 2013 cmdlet reference). The registrations live in the same store as partner
 * applications and are managed through `PartnerRegistry` (`addOAuthServer`, `updateOAuthServer`,
 * ...), so one registry, one revision and one change feed cover every trust a verifier has.
 *
 * This file holds what an OAuth server is, its rules (what its metadata document must say, which
 * registered server an actor token's `iss` selects, at most one server per realm, which of its
 * endpoints is the token endpoint a challenge advertises), and {@link OAuthServers}, the
 * registrations with their key sets and the token endpoints last read from their documents.
 *
 * Selecting a server by `iss` follows the same rule as for partners (go-spiffe: the unverified
 * issuer only picks one pinned trust): an STS issuer id `00000001-0000-0000-c000-000000000000@R`
 * selects the server registered for realm `R` if there is one, else the server registered for
 * `*`, and never more than one. The token's key then comes from that server's key set only.
 */
import {
  isSecureUrl,
  type MetadataEndpoint,
  type ParsedMetadata,
  parseIssuerId,
  stsIssuerId,
  WellKnownPrincipal,
} from '@s2sauth/protocol';
import type { OAuthServerRecord, OAuthServerStore, PartnerStore } from '@s2sauth/store';
import type { KeySet } from '@s2sauth/discovery';
import {
  ANY_REALM,
  changedServer,
  validateServer,
  type OAuthServerChanges,
  type OAuthServerRegistrationInput,
  type ServerRegistration,
} from './registration-input.js';
import { addRegistration, changeRegistration, type RegistrationRules, type RegistryLedger, type WriteSteps } from './registration-writes.js';
import { PartnerRegistryError } from './registry-error.js';
import { TrustKeySets } from './trust-key-sets.js';

export { ANY_REALM, type OAuthServerChanges, type OAuthServerRegistrationInput } from './registration-input.js';

/** A registered OAuth server as the registry reports it. */
export interface OAuthServer extends OAuthServerRecord {
  /**
   * The STS token endpoint (the document's endpoint with protocol `OAuth2` and usage `issuance`),
   * when this process has read the server's document (at registration, or when its keys loaded).
   */
  readonly authorizationUri?: string;
}

/** A registered OAuth server and its keys, as the verifier uses them. */
export interface ResolvedOAuthServer {
  readonly server: OAuthServerRecord;
  /** The server's own key set; the only place an STS-issued actor token's key may come from. */
  readonly keys: KeySet;
}

/**
 * What is wrong with an STS metadata document for a registration with `realm` (a realm, `*`, or
 * `undefined` for "the document's"), or the issuer id it states when nothing is: the document
 * must state an `issuer` of the STS principal, in `realm` unless that is `*`, and its `realm` and
 * `serviceName`, when present, must agree with that issuer.
 */
export function checkStsMetadata(
  metadata: ParsedMetadata,
  realm: string | undefined,
): { readonly issuer: string; readonly realm: string } | { readonly problem: string; readonly invalid: boolean } {
  if (metadata.issuer === undefined) return { problem: 'the document states no issuer', invalid: true };
  const issuer = parseIssuerId(metadata.issuer);
  if (issuer === undefined) return { problem: 'the document\'s issuer is not "<principal>@<realm>"', invalid: true };
  if (issuer.principal !== WellKnownPrincipal.sts) {
    return { problem: `the document's issuer is not an STS issuer (${WellKnownPrincipal.sts}@<realm>)`, invalid: false };
  }
  if (realm !== undefined && realm !== ANY_REALM && issuer.realm !== realm) {
    return { problem: `the document's issuer is not ${stsIssuerId(realm)}`, invalid: false };
  }
  if (metadata.realm !== undefined && metadata.realm !== issuer.realm) {
    return { problem: 'the document\'s realm is not the realm of its issuer', invalid: false };
  }
  if (metadata.serviceName !== undefined && metadata.serviceName !== WellKnownPrincipal.sts) {
    return { problem: `the document's serviceName is not ${WellKnownPrincipal.sts}`, invalid: false };
  }
  return { issuer: metadata.issuer, realm: issuer.realm };
}

function isIssuanceEndpoint(endpoint: MetadataEndpoint): boolean {
  // Member values are read case-insensitively, as the keys' `usage` (protocol.md section 4).
  return endpoint.protocol.toLowerCase() === 'oauth2' && endpoint.usage.toLowerCase() === 'issuance';
}

/**
 * The token endpoint a document advertises: the first endpoint with protocol `OAuth2` and usage
 * `issuance` whose location is an `https:` URL (or `http:` to a loopback host when
 * `allowLoopback`), normalized; `undefined` when there is none. What is returned goes into
 * challenges unescaped, so anything that is not a plain absolute URL is ignored.
 */
export function authorizationUriOf(metadata: ParsedMetadata, allowLoopback: boolean): string | undefined {
  for (const endpoint of metadata.endpoints) {
    if (!isIssuanceEndpoint(endpoint)) continue;
    let url: URL;
    try {
      url = new URL(endpoint.location);
    } catch {
      continue;
    }
    if (url.username !== '' || url.password !== '' || url.hash !== '') continue;
    if (isSecureUrl(url, allowLoopback)) return url.href;
  }
  return undefined;
}

/**
 * The one server an STS issuer in `realm` selects among `servers`: the server registered for
 * `realm`, else the one registered for `*`; `undefined` when there is none, `'ambiguous'` when two
 * registrations would answer (the registry refuses to create that; another writer to the store might).
 * Disabled servers are selected too: a disabled server refuses its tokens, it does not hand them
 * to another server.
 */
export function selectOAuthServer<Server extends OAuthServerRecord>(servers: readonly Server[], realm: string): Server | 'ambiguous' | undefined {
  const exact = servers.filter((server) => server.realm === realm);
  const candidates = exact.length > 0 ? exact : servers.filter((server) => server.realm === ANY_REALM);
  if (candidates.length > 1) return 'ambiguous';
  return candidates[0];
}

/** What an OAuth server's document said when fetched for a registration. */
interface ServerMetadata {
  /** The STS issuer id the document states. */
  readonly issuer: string;
  /** The realm of that issuer. */
  readonly realm: string;
  /** The token endpoint it advertises, if any. */
  readonly authorizationUri: string | undefined;
}

/** An OAuth server record as the registry writes it. */
type ServerWrite = ServerRegistration & { readonly issuer: string };

/**
 * Identifies what an OAuth server's key set (and the token endpoint read from its document) was
 * built for: the registration (its `createdAt`: removed and added again is a new one), its key
 * source and the issuer and realm its documents are checked against. Enabling or disabling keeps
 * the key set; a change of these starts a new one.
 */
function serverStampOf(server: OAuthServerRecord): string {
  return JSON.stringify([server.createdAt, server.metadataUrl, server.allowLoopback === true, server.issuer, server.realm]);
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

/** Refuses a second server for one realm: an STS issuer must select exactly one registration. */
function checkRealmFree(servers: OAuthServerStore, realm: string, identity: string): void {
  const holder = servers.listOAuthServers().find((server) => server.realm === realm && server.identity !== identity);
  if (holder !== undefined) {
    throw new PartnerRegistryError('conflict', `realm: OAuth server "${holder.identity}" is already registered for realm ${realm}`, 'realm');
  }
}

/**
 * The OAuth servers' side of the write protocols (registration-writes.ts): the document is fetched
 * and checked again when the URL, the realm or `allowLoopback` change, and a realm is held by one
 * server only.
 */
function serverRules(servers: OAuthServerStore): RegistrationRules<OAuthServerRecord, ServerRegistration<string | undefined>> {
  return {
    noun: { one: 'an OAuth server', name: 'OAuth server', basis: 'metadata URL or realm' },
    get: (identity) => servers.getOAuthServer(identity),
    needsRefetch: (existing, merged) =>
      merged.metadataUrl !== existing.metadataUrl || merged.realm !== existing.realm || merged.allowLoopback !== (existing.allowLoopback === true),
    basisOf: (server) => JSON.stringify([server.metadataUrl, server.realm, server.allowLoopback === true]),
    settle: (checked, existing) => {
      if (checked.realm !== undefined && checked.realm !== existing?.realm) checkRealmFree(servers, checked.realm, checked.identity);
    },
  };
}

/** The trusted OAuth servers of one registry, their key sets and the token endpoints their documents advertise. */
export class OAuthServers {
  /** The store, when it keeps OAuth servers; without, no OAuth server is ever trusted. */
  readonly #servers: (PartnerStore & OAuthServerStore) | undefined;
  readonly #ledger: RegistryLedger;
  readonly #keySets: TrustKeySets<OAuthServerRecord>;
  /** The token endpoint each OAuth server's document advertised when last read, by identity. */
  readonly #authorizationUris = new Map<string, { readonly stamp: string; readonly uri: string | undefined }>();

  constructor(store: PartnerStore, ledger: RegistryLedger) {
    this.#servers = hasOAuthServers(store) ? store : undefined;
    this.#ledger = ledger;
    this.#keySets = new TrustKeySets(
      {
        stampOf: serverStampOf,
        current: (identity) => this.#servers?.getOAuthServer(identity),
        create: (server, stamp) => this.#createKeySet(server, stamp),
      },
      () => ledger.moved(),
    );
  }

  /** Registers an OAuth server (see `PartnerRegistry.addOAuthServer`). */
  add(input: OAuthServerRegistrationInput): Promise<OAuthServer> {
    const servers = this.#required();
    return addRegistration(serverRules(servers), input, validateServer, {
      fetch: (checked) => this.#loadMetadata(checked),
      build: (checked, fetched): ServerWrite => {
        const realm = checked.realm ?? fetched.realm;
        checkRealmFree(servers, realm, checked.identity);
        return { ...checked, realm, issuer: fetched.issuer };
      },
      write: (identity, fetched, make) => this.#put(servers, identity, make, fetched.authorizationUri),
    });
  }

  /** Changes an OAuth server (see `PartnerRegistry.updateOAuthServer`). */
  update(identity: string, changes: OAuthServerChanges): Promise<OAuthServer> {
    const servers = this.#required();
    const steps: WriteSteps<OAuthServerRecord, ServerRegistration<string | undefined>, ServerMetadata | undefined, ServerWrite, OAuthServer, OAuthServerRecord> = {
      fetch: (first, refetch) => (refetch ? this.#loadMetadata(first) : undefined),
      build: (again, fetched, current) => ({ ...again, realm: again.realm ?? current.realm, issuer: fetched?.issuer ?? current.issuer }),
      write: (name, fetched, make) =>
        this.#put(servers, name, make, fetched === undefined ? this.#authorizationUris.get(name)?.uri : fetched.authorizationUri),
    };
    return changeRegistration(serverRules(servers), identity, changes, changedServer, steps);
  }

  /** The OAuth server named `identity`, with the token endpoint when known. */
  get(identity: string): OAuthServer | undefined {
    const server = this.#servers?.getOAuthServer(identity);
    return server === undefined ? undefined : this.#view(server);
  }

  /** Every OAuth server, ordered by identity; none when the store does not keep them. */
  list(): OAuthServer[] {
    return (this.#servers?.listOAuthServers() ?? []).map((server) => this.#view(server));
  }

  /** Removes an OAuth server; false when there was none. */
  remove(identity: string): boolean {
    const servers = this.#servers;
    if (servers === undefined) return false;
    const remove = (): boolean => {
      const removed = servers.removeOAuthServer(identity);
      if (removed) this.#authorizationUris.delete(identity);
      return removed;
    };
    return this.#ledger.written(identity, 'oauthServer', remove, (removed) => removed);
  }

  /** The one OAuth server an actor token's `iss` selects, with its keys (see `PartnerRegistry.resolveOAuthServer`). */
  resolve(applicationId: string, realm: string): ResolvedOAuthServer | undefined {
    if (applicationId !== WellKnownPrincipal.sts || this.#servers === undefined) return undefined;
    const server = selectOAuthServer(this.#servers.listOAuthServers(), realm);
    if (server === 'ambiguous') {
      throw new PartnerRegistryError('conflict', `several OAuth servers are registered for realm ${realm}`, 'realm');
    }
    if (server === undefined) return undefined;
    return { server, keys: this.#keySets.keysOf(server) };
  }

  /** An OAuth server changed (`identity`, or any): drops key sets that no longer fit. */
  forget(identity: string | undefined): void {
    this.#keySets.forget(identity);
  }

  /** Closes every key set and forgets the token endpoints. */
  close(): void {
    this.#keySets.close();
    this.#authorizationUris.clear();
  }

  #required(): PartnerStore & OAuthServerStore {
    if (this.#servers === undefined) {
      throw new PartnerRegistryError('unsupported', 'the registry\'s store does not keep OAuth servers (it is not an OAuthServerStore)');
    }
    return this.#servers;
  }

  /** Fetches and checks an STS metadata document for a registration with `realm`. */
  async #loadMetadata(registration: ServerRegistration<string | undefined>): Promise<ServerMetadata> {
    const { metadataUrl, allowLoopback, realm } = registration;
    const metadata = await this.#ledger.keySources.document({ kind: 'metadata', metadataUrl, ...(allowLoopback ? { allowLoopback } : {}) });
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
   * Writes the OAuth server `identity` as `make` makes it of the current record, in one store
   * write (see `OAuthServerStore.modifyOAuthServer`), and drops what was derived from the old one.
   */
  #put(
    servers: OAuthServerStore,
    identity: string,
    make: (current: OAuthServerRecord | undefined) => ServerWrite,
    authorizationUri: string | undefined,
  ): OAuthServer {
    const write = (): OAuthServerRecord =>
      servers.modifyOAuthServer(identity, (current) => {
        const registration = make(current);
        return {
          identity: registration.identity,
          metadataUrl: registration.metadataUrl,
          issuer: registration.issuer,
          realm: registration.realm,
          ...(registration.allowLoopback ? { allowLoopback: true } : {}),
          enabled: registration.enabled,
        };
      }) as OAuthServerRecord;
    const stored = this.#ledger.written(identity, 'oauthServer', write);
    this.#authorizationUris.set(stored.identity, { stamp: serverStampOf(stored), uri: authorizationUri });
    return this.#view(stored);
  }

  #view(server: OAuthServerRecord): OAuthServer {
    const known = this.#authorizationUris.get(server.identity);
    const uri = known !== undefined && known.stamp === serverStampOf(server) ? known.uri : undefined;
    return uri === undefined ? server : Object.freeze({ ...server, authorizationUri: uri });
  }

  #createKeySet(server: OAuthServerRecord, stamp: string): KeySet {
    const allowLoopback = server.allowLoopback === true;
    const source = { kind: 'metadata', metadataUrl: server.metadataUrl, ...(allowLoopback ? { allowLoopback } : {}) } as const;
    return this.#ledger.keySources.remote(source, server.createdAt, (metadata) => {
      // The document must go on stating the issuer it was registered with; a failed load keeps
      // the last good keys up to the staleness bound (protocol.md section 4).
      const checked = checkStsMetadata(metadata, server.realm);
      if ('problem' in checked || checked.issuer !== server.issuer) {
        throw new PartnerRegistryError('metadata_contradicts', 'metadataUrl: the document no longer states the registered issuer', 'metadataUrl');
      }
      const uri = authorizationUriOf(metadata, allowLoopback);
      const known = this.#authorizationUris.get(server.identity);
      if (!this.#ledger.keySources.closed && (known === undefined || known.stamp !== stamp || known.uri !== uri)) {
        this.#authorizationUris.set(server.identity, { stamp, uri });
        // Challenges advertise the endpoint; a cached challenge must not outlive what it says.
        this.#ledger.moved();
      }
    });
  }
}
