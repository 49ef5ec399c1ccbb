/**
 * `@s2sauth/discovery`: key discovery, shared by the receiving side (the middleware's registry) and
 * the STS (the issuer's per-client key sets): fetching a metadata document under the protocol's
 * rules (`metadata-fetch`), and keeping a partner's key set fresh (`key-set`).
 * @packageDocumentation
 */

// Fetching a metadata document: https only, checked address, no redirects, bounded time and size.
export {
  fetchMetadata,
  METADATA_FETCH_TIMEOUT_MS,
  MetadataFetchError,
  type MetadataFetchErrorCode,
  type MetadataFetchOptions,
} from './metadata-fetch.js';
// A partner's signing keys: from its metadata document, kept fresh (`RemoteKeySet`), or pinned (`StaticKeySet`).
export {
  KEY_MAX_STALENESS_MS,
  KEY_REFRESH_INTERVAL_MS,
  RemoteKeySet,
  StaticKeySet,
  UNKNOWN_KEY_COOLDOWN_MS,
  type KeySet,
  type KeySetOptions,
  type LastGoodKeys,
  type RemoteKeySetOptions,
  type StaticKeySetOptions,
} from './key-set.js';
