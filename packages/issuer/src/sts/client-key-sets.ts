/**
 * The STS's per-client key cache: the signing keys of STS clients registered by metadata URL,
 * cached per client, for the `clientKeys` option of `stsRouter`. Unauthenticated requests reach it
 * (with a well-formed assertion naming a key the client's pinned certificates do not have), so each
 * client gets one `RemoteKeySet` of `@s2sauth/discovery` (docs/protocol.md section 4): keys kept
 * between requests, refreshed in the background, and refetched for an unknown key id at most once
 * per 30 s, instead of one outbound fetch per request.
 */
import { fetchMetadata, RemoteKeySet, type MetadataFetchOptions } from '@s2sauth/discovery';
import { optionNames, parseMetadataDocument, refuseUnknownOptions, systemClock, type Clock, type SigningKey } from '@s2sauth/protocol';
import type { ClientRecord } from '@s2sauth/store';

/** Options of {@link ClientKeySets}. */
export interface ClientKeySetsOptions {
  /** Time source of the key sets and of certificate validity. Default the system clock. */
  readonly clock?: Clock;
  /** Fetches a metadata document; default `fetchMetadata` of `@s2sauth/discovery` (https, SSRF checks, 5 s, 256 KiB). */
  readonly fetchMetadata?: (url: string, options: MetadataFetchOptions) => Promise<Buffer>;
}

const OPTION_NAMES = optionNames<ClientKeySetsOptions>({ clock: true, fetchMetadata: true });

/** One client's key set and the registration it was built from. */
interface Entry {
  /** Metadata URL and loopback permission: a registration that changes them gets a new set. */
  readonly source: string;
  readonly set: RemoteKeySet;
}

/**
 * Per-client cached metadata keys for `stsRouter({ clientKeys })`:
 * `clientKeys: (client, keyId) => clientKeySets.keys(client, keyId)`.
 */
export class ClientKeySets {
  readonly #clock: Clock;
  readonly #fetch: (url: string, options: MetadataFetchOptions) => Promise<Buffer>;
  // Only registered, enabled clients with a metadata URL get here, so the map is as large as the registry.
  readonly #sets = new Map<string, Entry>();

  /**
   * @param options - Clock and fetcher; see {@link ClientKeySetsOptions}.
   * @throws TypeError for an unknown option name, or a clock or fetcher that is not a function.
   */
  constructor(options: ClientKeySetsOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('new ClientKeySets: options must be an object.');
    refuseUnknownOptions('new ClientKeySets', options, OPTION_NAMES);
    const { clock = systemClock, fetchMetadata: fetch = fetchMetadata } = options;
    if (typeof clock !== 'function') throw new TypeError('new ClientKeySets: options.clock must be a function returning milliseconds.');
    if (typeof fetch !== 'function') throw new TypeError('new ClientKeySets: options.fetchMetadata must be a function.');
    this.#clock = clock;
    this.#fetch = fetch;
  }

  /**
   * The client's metadata key named `keyId`, as a list of zero or one key (the shape
   * `stsRouter`'s `clientKeys` takes); `[]` for a client without a metadata URL.
   * @throws KeysUnavailableError when the client's metadata cannot be loaded and no good keys are left.
   */
  async keys(client: ClientRecord, keyId: string): Promise<readonly SigningKey[]> {
    const url = client.metadataUrl;
    if (url === undefined) return [];
    const allowLoopback = client.allowLoopback === true;
    const name = `${client.principal}@${client.realm}`;
    const source = JSON.stringify([url, allowLoopback]);
    let entry = this.#sets.get(name);
    if (entry === undefined || entry.source !== source) {
      entry?.set.close();
      const set = new RemoteKeySet(
        async () => parseMetadataDocument(await this.#fetch(url, { allowLoopback }), { now: this.#clock() }),
        { clock: this.#clock },
      );
      entry = { source, set };
      this.#sets.set(name, entry);
    }
    const key = await entry.set.getKey(keyId);
    return key === undefined ? [] : [key];
  }

  /** Stops every background refresh and forgets every key. */
  close(): void {
    for (const { set } of this.#sets.values()) set.close();
    this.#sets.clear();
  }
}
