/**
 * The partner applications aggregate of the registry (protocol.md section 5, Lync's
 * `*-CsPartnerApplication`): registrations in a `PartnerStore`, each owning the key set built from
 * its key source (pinned certificates or a metadata URL; a partner that trusts through an OAuth
 * server has none of its own).
 *
 * Adding a partner by metadata URL fetches and checks the document first (like
 * `New-CsPartnerApplication -MetadataUrl`, which needs the URL reachable at creation) and stores
 * nothing when it cannot be fetched, is not a valid document, or contradicts the registration.
 */
import { formatIssuerId, isPrincipalId, isRealm, type ParsedMetadata, parseIssuerId } from '@s2sauth/protocol';
import { StoreError, type PartnerApplication, type PartnerStore } from '@s2sauth/store';
import type { KeySet } from '@s2sauth/discovery';
import {
  changedPartner,
  validatePartner,
  type PartnerApplicationChanges,
  type PartnerApplicationInput,
  type Registration,
} from './registration-input.js';
import { addRegistration, changeRegistration, type RegistrationRules, type RegistryLedger, type WriteSteps } from './registration-writes.js';
import { invalid, PartnerRegistryError } from './registry-error.js';
import { TrustKeySets, type MetadataKeySource } from './trust-key-sets.js';

/** A registered partner and its keys, as the verifier uses them. */
export interface ResolvedPartner {
  readonly partner: PartnerApplication;
  /** The partner's own key set; the only place its token's key may come from. */
  readonly keys: KeySet;
}

/** A partner registration with its application and realm settled. */
type CompleteRegistration = Registration & { applicationId: string; realm: string };

/** What a fetched metadata document says that contradicts `(applicationId, realm)`, or `undefined`. */
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
 * Identifies what a partner's key set was built for: the registration (its `createdAt`: a partner
 * removed and added again is a new registration, whose keys an administrator meant to start
 * afresh), its key source (metadata URL and `allowLoopback`, or the pinned certificates) and the
 * `(applicationId, realm)` its documents are checked against. A change of anything else (scopes,
 * trust level, enabled, ...) keeps the key set and its last good keys; a change of these starts a
 * new one (protocol.md section 5).
 */
function stampOf(partner: PartnerApplication): string {
  const memo = stamps.get(partner);
  if (memo !== undefined) return memo;
  const stamp = JSON.stringify([partner.createdAt, partner.applicationId, partner.realm, partner.keySource]);
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
 * The partners' side of the write protocols (registration-writes.ts): a metadata source whose URL,
 * loopback permission, application or realm changed needs its document fetched and checked again.
 */
function partnerRules(store: PartnerStore): RegistrationRules<PartnerApplication, Registration> {
  return {
    noun: { one: 'a partner', name: 'partner', basis: 'key source, application or realm' },
    get: (identity) => store.get(identity),
    needsRefetch: (existing, merged) =>
      merged.keySource.kind === 'metadata' &&
      (existing.keySource.kind !== 'metadata' ||
        existing.keySource.metadataUrl !== merged.keySource.metadataUrl ||
        (existing.keySource.allowLoopback === true) !== (merged.keySource.allowLoopback === true) ||
        existing.applicationId !== merged.applicationId ||
        existing.realm !== merged.realm),
    basisOf: (partner) => JSON.stringify([partner.keySource, partner.applicationId, partner.realm]),
    // The store refuses a second registration of one (applicationId, realm) in the write itself.
    settle: () => undefined,
  };
}

/** The partner applications of one registry, and their key sets. */
export class Partners {
  readonly #store: PartnerStore;
  readonly #ledger: RegistryLedger;
  readonly #keySets: TrustKeySets<PartnerApplication>;
  readonly #rules: RegistrationRules<PartnerApplication, Registration>;
  readonly #steps: WriteSteps<PartnerApplication, Registration, CompleteRegistration, CompleteRegistration, PartnerApplication>;

  constructor(store: PartnerStore, ledger: RegistryLedger) {
    this.#store = store;
    this.#ledger = ledger;
    this.#keySets = new TrustKeySets(
      { stampOf, current: (identity) => store.get(identity), create: (partner) => this.#createKeySet(partner) },
      () => ledger.moved(),
    );
    this.#rules = partnerRules(store);
    this.#steps = {
      fetch: (registration, refetch) => this.#completeWithMetadata(registration, refetch),
      build: (registration, complete) => ({
        ...registration,
        applicationId: registration.applicationId ?? complete.applicationId,
        realm: registration.realm ?? complete.realm,
      }),
      write: (identity, _complete, make) => this.#put(identity, make),
    };
  }

  /** Registers a partner (see `PartnerRegistry.add`). */
  add(input: PartnerApplicationInput): Promise<PartnerApplication> {
    return addRegistration(this.#rules, input, (checked) => validatePartner(checked, this.#ledger.keySources.clock), this.#steps);
  }

  /** Changes a partner (see `PartnerRegistry.update`). */
  update(identity: string, changes: PartnerApplicationChanges): Promise<PartnerApplication> {
    const clock = this.#ledger.keySources.clock;
    return changeRegistration(this.#rules, identity, changes, (record, change) => changedPartner(record, change, clock), this.#steps);
  }

  /** Removes a partner; false when there was none. */
  remove(identity: string): boolean {
    return this.#ledger.written(identity, 'partnerApplication', () => this.#store.remove(identity), (removed) => removed);
  }

  /** The partner with its own keys that `(applicationId, realm)` names (see `PartnerRegistry.resolve`). */
  resolve(applicationId: string, realm: string): ResolvedPartner | undefined {
    const partner = this.#store.findByApplication(applicationId, realm);
    if (partner === undefined || partner.keySource.kind === 'oauthServer') return undefined;
    return { partner, keys: this.#keySets.keysOf(partner) };
  }

  /** A partner changed (`identity`, or any): drops key sets that no longer fit. */
  forget(identity: string | undefined): void {
    this.#keySets.forget(identity);
  }

  /** Closes every key set. */
  close(): void {
    this.#keySets.close();
  }

  /**
   * For a metadata source, fetches and checks the document when `fetch` is set, filling in the
   * application id and realm it names; every registration comes out with both.
   */
  async #completeWithMetadata(registration: Registration, fetch: boolean): Promise<CompleteRegistration> {
    let { applicationId, realm } = registration;
    const source = registration.keySource;
    if (source.kind === 'metadata' && fetch) {
      const metadata = await this.#ledger.keySources.document(source);
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

  /**
   * Writes the partner `identity` as `make` makes it of the current record, in one store write
   * (see `PartnerStore.modify`), and drops what was derived from the old one.
   */
  #put(identity: string, make: (current: PartnerApplication | undefined) => CompleteRegistration): PartnerApplication {
    return this.#ledger.written(identity, 'partnerApplication', () => {
      let registration: CompleteRegistration | undefined;
      try {
        return this.#store.modify(identity, (current) => {
          registration = make(current);
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
    });
  }

  #createKeySet(partner: PartnerApplication): KeySet {
    const source = partner.keySource;
    if (source.kind === 'certificate') return this.#ledger.keySources.pinned(source.certificates);
    // resolve() never gets here with an oauthServer source; the cast documents that.
    return this.#ledger.keySources.remote(source as MetadataKeySource, partner.createdAt, (metadata) => {
      const problem = contradiction(metadata, partner.applicationId, partner.realm);
      // A failed load keeps the last good keys up to the staleness bound (protocol.md section 4).
      if (problem !== undefined) throw new PartnerRegistryError('metadata_contradicts', `metadataUrl: ${problem}`, 'metadataUrl');
    });
  }
}
