/**
 * The key sets of the registry's trusts (go-spiffe's bundle: each trust owns its keys). Two parts:
 *
 * - {@link TrustKeySets}: one key set per registration of one aggregate (partners, OAuth servers),
 *   kept while the registration's stamp (what its keys were built for) is unchanged, replaced and
 *   closed when it changes; a replacement or a registration changed elsewhere moves the registry's
 *   revision.
 * - {@link KeySources}: how a key set is built from a key source. Pinned certificates make a static
 *   set; a metadata URL makes a remote set whose each load is fetched, checked by the aggregate and
 *   kept as the source's last good document when the store keeps them (issue 9: the keys belong to
 *   the key source, and a restarted server starts from its last good document).
 */
import { type Clock, MetadataError, type ParsedMetadata, parseMetadataDocument, type SigningKey, signingKeyFromCertificate } from '@s2sauth/protocol';
import { isKeyDocumentStore, type KeyDocument, type KeyDocumentSource, type PartnerKeySource, type PartnerStore } from '@s2sauth/store';
import { KEY_MAX_STALENESS_MS, RemoteKeySet, StaticKeySet, type KeySet, type KeySetOptions, type LastGoodKeys } from '@s2sauth/discovery';
import { fetchMetadata, MetadataFetchError, type MetadataFetchOptions } from '@s2sauth/discovery';
import { PartnerRegistryError } from './registry-error.js';

/** A key source that is a metadata document. */
export type MetadataKeySource = Extract<PartnerKeySource, { kind: 'metadata' }>;

/** A registration that owns a key set. */
export interface Trust {
  readonly identity: string;
  /** When the registration was last written; a change made elsewhere shows here first. */
  readonly updatedAt: number;
}

/** What {@link TrustKeySets} needs to know of one aggregate's registrations. */
export interface TrustKeys<Record extends Trust> {
  /**
   * What the record's key set is built for (key source and what its documents are checked
   * against): a change of anything else keeps the key set and its last good keys.
   */
  stampOf(record: Record): string;
  /** The registration named `identity` as it is now, if any. */
  current(identity: string): Record | undefined;
  /** A new key set for `record`, whose stamp is `stamp`. */
  create(record: Record, stamp: string): KeySet;
}

interface KeySetEntry {
  /** The stamp of the registration the keys were built for. */
  readonly stamp: string;
  readonly keys: KeySet;
  /**
   * The registration's `updatedAt` when last seen here: a registration changed by another process
   * moves the revision when `resolve` sees it, even if the store has not said so yet and the key
   * set is kept.
   */
  updatedAt: number;
}

/** The key set of a partner whose pinned certificates have all expired: it knows no key. */
const NO_KEYS: KeySet = Object.freeze({
  getKey: () => Promise.resolve(undefined),
  keyNow: () => undefined,
  version: 0,
  close: () => undefined,
});

/** One key set per registration of one aggregate, by identity (each aggregate is a namespace of its own, as in Lync). */
export class TrustKeySets<Record extends Trust> {
  readonly #trust: TrustKeys<Record>;
  readonly #moved: () => void;
  readonly #entries = new Map<string, KeySetEntry>();

  /** @param moved moves the registry's revision: results verified before are no longer current. */
  constructor(trust: TrustKeys<Record>, moved: () => void) {
    this.#trust = trust;
    this.#moved = moved;
  }

  /**
   * The key set of `record`: the one it has while its stamp is unchanged, else a new one (the old
   * one is closed, and the revision moves: results verified with it must not count as current,
   * its version may equal the new set's).
   */
  keysOf(record: Record): KeySet {
    const stamp = this.#trust.stampOf(record);
    const entry = this.#entries.get(record.identity);
    if (entry !== undefined && entry.stamp === stamp) {
      // Kept, but changed in another process before the store told us: results verified before are not current.
      if (entry.updatedAt !== record.updatedAt) {
        entry.updatedAt = record.updatedAt;
        this.#moved();
      }
      return entry.keys;
    }
    const keys = this.#trust.create(record, stamp);
    this.#entries.set(record.identity, { stamp, keys, updatedAt: record.updatedAt });
    if (entry !== undefined) {
      entry.keys.close();
      this.#moved();
    }
    return keys;
  }

  /**
   * A registration changed (`identity`, or any when `undefined`: a change from another process
   * does not say which): closes the key sets whose registration is gone or has another stamp. A
   * key set whose key source is unchanged is kept, with its last good keys.
   */
  forget(identity: string | undefined): void {
    for (const [name, entry] of [...this.#entries]) {
      if ((identity !== undefined && name !== identity) || this.#isCurrent(name, entry)) continue;
      entry.keys.close();
      this.#entries.delete(name);
    }
  }

  /** Closes every key set. */
  close(): void {
    for (const { keys } of this.#entries.values()) keys.close();
    this.#entries.clear();
  }

  /** Whether `entry` still fits the registration (its stamp is unchanged); if so, notes its `updatedAt`. */
  #isCurrent(identity: string, entry: KeySetEntry): boolean {
    const current = this.#trust.current(identity);
    if (current === undefined || this.#trust.stampOf(current) !== entry.stamp) return false;
    entry.updatedAt = current.updatedAt;
    return true;
  }
}

/** Options of {@link KeySources}, as the registry was given them. */
export interface KeySourcesOptions {
  readonly fetch: MetadataFetchOptions;
  readonly keySets: Omit<KeySetOptions, 'clock'>;
  readonly clock: Clock;
}

/** Builds key sets from key sources, and keeps each metadata source's last good document in the store. */
export class KeySources {
  readonly #store: PartnerStore;
  readonly #fetch: MetadataFetchOptions;
  readonly #keySetOptions: KeySetOptions;
  /** How old a stored last good document may be and still be served (the key sets' bound). */
  readonly #maxStalenessMs: number;
  readonly #clock: Clock;
  #closed = false;

  constructor(store: PartnerStore, options: KeySourcesOptions) {
    this.#store = store;
    this.#fetch = options.fetch;
    this.#keySetOptions = { ...options.keySets, clock: options.clock };
    this.#maxStalenessMs = options.keySets.maxStalenessMs ?? KEY_MAX_STALENESS_MS;
    this.#clock = options.clock;
  }

  /** The registry's time source. */
  get clock(): Clock {
    return this.#clock;
  }

  /** True once the registry is closed: nothing more is written to the store. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Stops writing last good documents (the registry closed). */
  close(): void {
    this.#closed = true;
  }

  /** A static key set of the pinned certificates still valid now; one that knows no key when none is. */
  pinned(certificates: readonly string[]): KeySet {
    const now = this.#clock();
    const keys: SigningKey[] = [];
    for (const pem of certificates) {
      try {
        keys.push(signingKeyFromCertificate(pem, now));
      } catch {
        // Expired (or no longer acceptable) since registration: it cannot verify anything now.
      }
    }
    return keys.length === 0 ? NO_KEYS : new StaticKeySet(keys, { clock: this.#clock });
  }

  /**
   * A key set for a metadata source: each load fetches, parses and `accept`s (throws to refuse)
   * the document, and stores it as the source's last good document when the store keeps them. It
   * starts from that stored document when there is one younger than the maximum staleness that
   * still parses and is accepted now, so a restarted server keeps serving through an outage. A
   * failed load keeps the last good keys up to the staleness bound (protocol.md section 4). Only a
   * document fetched since the registration was created (`registeredAt`) counts: a trust removed
   * and added again never starts from keys fetched for the registration that was removed.
   */
  remote(source: MetadataKeySource, registeredAt: number, accept: (metadata: ParsedMetadata) => void): RemoteKeySet {
    const documentSource = { metadataUrl: source.metadataUrl, allowLoopback: source.allowLoopback === true };
    const load = async (): Promise<ParsedMetadata> => {
      const body = await fetchMetadata(source.metadataUrl, this.#fetchOptions(source));
      const fetchedAt = this.#clock();
      const metadata = parseMetadataDocument(body, { now: fetchedAt });
      accept(metadata);
      this.#storeKeyDocument({ ...documentSource, document: body, fetchedAt });
      return metadata;
    };
    const lastGood = this.#storedKeys(documentSource, registeredAt, accept);
    return new RemoteKeySet(load, lastGood === undefined ? this.#keySetOptions : { ...this.#keySetOptions, lastGood });
  }

  /** Fetches and parses a metadata document for a registration, turning failures into registry errors. */
  async document(source: MetadataKeySource): Promise<ParsedMetadata> {
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

  /** The registry's fetch options; each registration's own `allowLoopback` decides, never the registry's. */
  #fetchOptions(source: MetadataKeySource): MetadataFetchOptions {
    return { ...this.#fetch, allowLoopback: source.allowLoopback === true };
  }

  /**
   * The stored last good document of `source`, parsed and accepted now, if it was fetched for this
   * registration (not before `registeredAt`), is young enough, and was not stamped in the future
   * (by a clock that was ahead then: its age cannot be told, so it is not served).
   */
  #storedKeys(source: KeyDocumentSource, registeredAt: number, accept: (metadata: ParsedMetadata) => void): LastGoodKeys | undefined {
    if (!isKeyDocumentStore(this.#store)) return undefined;
    try {
      const stored = this.#store.getKeyDocument(source);
      const now = this.#clock();
      if (stored === undefined || stored.fetchedAt < registeredAt || stored.fetchedAt > now || now - stored.fetchedAt > this.#maxStalenessMs) {
        return undefined;
      }
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
}
