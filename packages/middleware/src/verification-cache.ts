/**
 * Verification results by token, so that a token a partner reuses for many calls (Lync and
 * Exchange keep one for its whole lifetime) is verified once, not once per call.
 *
 * The cache is keyed by the SHA-256 of the token: the token text itself is never kept, so a memory
 * dump of the cache yields no usable credential. An entry remembers the registry revision, the
 * partner record's `updatedAt` and the key-set version it was verified under; the verifier uses it
 * only while all three are unchanged and the token has not expired, so a disabled, updated or
 * removed partner, or a changed key set, takes effect on the next request whatever is cached. The
 * verifier also asks the key set for the verifying key again on each hit (a map lookup, no fetch),
 * so a certificate that expired, or keys past their staleness bound, end the entry too. An entry
 * verified through an OAuth server also remembers that server's record, and the outer token's
 * `x5c` certificate's validity, and counts only while both still hold.
 * Only accepts are cached; a rejected token is verified again every time.
 */
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { S2SPrincipal } from './principal.js';

/** The default number of entries (protocol.md does not fix one; 10000 tokens is a few MB). */
export const DEFAULT_CACHE_ENTRIES = 10_000;

/** One cached accept and the state of the world it was decided in. */
export interface CachedVerification {
  /** The principal the token verified to; its `expiresAt` ends the entry. */
  readonly principal: S2SPrincipal;
  /** `PartnerRegistry.revision` when the token was verified. */
  readonly registryRevision: number;
  /** The partner record's `updatedAt` when the token was verified. */
  readonly partnerUpdatedAt: number;
  /**
   * The version of the key set the actor's key came from (the partner's, or the OAuth server's)
   * when the token was verified.
   */
  readonly keySetVersion: number;
  /** For an STS-issued actor: the OAuth server that issued it, as its record was then. */
  readonly oauthServer?: { readonly identity: string; readonly updatedAt: number };
  /** For an outer token over an STS-issued actor: when its `x5c` certificate is valid (ms). */
  readonly outerCertificate?: { readonly notBefore: number; readonly notAfter: number };
  /** The key id the actor token named, looked up again on every hit. */
  readonly keyId: string;
  /**
   * `x5t#S256` of the certificate that verified the signature: a hit counts only while the key
   * set still yields this certificate as valid (not expired, keys not past their staleness).
   */
  readonly keyThumbprint: string;
}

/** Options of {@link VerificationCache}. */
export interface VerificationCacheOptions {
  /** The most entries kept; the least recently used goes first. Default {@link DEFAULT_CACHE_ENTRIES}. */
  readonly maxEntries?: number;
}

/** A bounded, least-recently-used map from a token's SHA-256 to its verification result. */
export class VerificationCache {
  readonly #entries: LRUCache<string, CachedVerification>;

  /** @throws TypeError when `maxEntries` is not a positive integer. */
  constructor(options: VerificationCacheOptions = {}) {
    const { maxEntries = DEFAULT_CACHE_ENTRIES } = options;
    if (!Number.isSafeInteger(maxEntries) || maxEntries <= 0) {
      throw new TypeError('VerificationCache: maxEntries must be a positive integer');
    }
    this.#entries = new LRUCache({ max: maxEntries });
  }

  /** The cache key of a token: base64url SHA-256 of its text. */
  static keyOf(token: string): string {
    // One-shot crypto.hash (Node >= 20.12; engines require 20.19): the same UTF-8 bytes and digest
    // as createHash().update(token, 'utf8').digest(), without a Hash object per request.
    return hash('sha256', token, 'base64url');
  }

  /** The number of entries held (expired ones included until they are next looked at or evicted). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The entry for `key` if there is one whose token has not expired at `now` (ms); an expired
   * entry is dropped. Whether the entry is still current (registry, key set) is the caller's check.
   */
  get(key: string, now: number): CachedVerification | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (now >= entry.principal.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Stores the result for `key`. */
  set(key: string, entry: CachedVerification): void {
    this.#entries.set(key, entry);
  }

  /** Drops the entry for `key`. */
  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops every entry. */
  clear(): void {
    this.#entries.clear();
  }
}
