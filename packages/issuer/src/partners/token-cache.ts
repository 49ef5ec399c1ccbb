/**
 * Outbound tokens by what they are for, so a server calling a partner signs once per token
 * lifetime instead of once per call (docs/architecture.md "Scale": cache per application,
 * target and user, renew before `exp`).
 *
 * An entry is the mint in progress until it settles, so calls that arrive while a token is being
 * minted wait for that one token instead of minting their own. A token is handed out only while
 * it has more than the renewal margin left: a token that expires on its way to the partner, or
 * inside the partner's clock skew, would be refused. A failed mint is forgotten at once, so the
 * next call tries again.
 */
import { LRUCache } from 'lru-cache';
import { systemClock, type Clock } from '@s2sauth/protocol';
import { DEFAULT_NAME_IDENTIFIER_ISSUER, type IssuedToken, type UserContext } from '../identity/token-issuer.js';

/**
 * Default renewal margin in seconds: a token is renewed when less than this is left (five minutes,
 * the verifiers' clock skew and SharePoint's `AccessTokenLifetimeTolerance`, reference section 9).
 */
export const DEFAULT_RENEW_BEFORE_SECONDS = 300;

/** Default bound on cached tokens; the least recently used goes first. */
export const DEFAULT_MAX_CACHED_TOKENS = 1000;

/** Options of {@link TokenCache}. */
export interface TokenCacheOptions {
  /** The most tokens kept. Default {@link DEFAULT_MAX_CACHED_TOKENS}. */
  readonly maxEntries?: number;
  /**
   * Renew a token when less than this many seconds are left before its `exp`. Default 300. Never
   * more than half the token's lifetime is used, so a short-lived token is still reused.
   */
  readonly renewBeforeSeconds?: number;
  /** Time source; give it the token issuer's clock. Default the system clock. */
  readonly clock?: Clock;
}

/** A token from {@link TokenCache.get}. */
export interface CachedToken {
  readonly token: IssuedToken;
  /**
   * `true` when the token was minted for this call (or for a call it waited on) and has not been
   * handed out before; `false` when it was already in the cache. A partner that refuses a cached
   * token may have forgotten state since it was first accepted; one that refuses a new one will
   * refuse its replacement too.
   */
  readonly fresh: boolean;
}

interface Entry {
  readonly pending: Promise<IssuedToken>;
  /** Set once `pending` has settled successfully. */
  token?: IssuedToken;
}

/**
 * The cache key of a token: its audience, the identity of the user it carries (every user claim the
 * issuer writes, `nii` with its default filled in) and its scopes as a set. `undefined` scopes (no
 * `scp`, the partner's grant applies) and an empty list (`scp` `""`, nothing granted) are different
 * tokens and different keys.
 */
export function tokenCacheKey(audience: string, user: UserContext | undefined, scopes: readonly string[] | undefined): string {
  const identity =
    user === undefined
      ? null
      : [user.nameid, user.nii ?? DEFAULT_NAME_IDENTIFIER_ISSUER, user.smtp ?? null, user.sip ?? null, user.upn ?? null];
  // JSON keeps the fields apart whatever they contain: no separator can be forged by a value.
  return JSON.stringify([audience, identity, scopes === undefined ? null : normalizeScopes(scopes)]);
}

/** Scopes as a set: duplicates removed, sorted, so the order a caller lists them in does not matter. */
export function normalizeScopes(scopes: readonly string[]): string[] {
  return [...new Set(scopes)].sort();
}

function checkOptions(options: TokenCacheOptions): { maxEntries: number; renewBeforeMs: number; clock: Clock } {
  if (typeof options !== 'object' || options === null) throw new TypeError('TokenCache options must be an object.');
  const { maxEntries = DEFAULT_MAX_CACHED_TOKENS, renewBeforeSeconds = DEFAULT_RENEW_BEFORE_SECONDS, clock = systemClock } = options;
  if (typeof maxEntries !== 'number' || !Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError('options.maxEntries must be a whole number, at least 1.');
  }
  if (typeof renewBeforeSeconds !== 'number' || !Number.isFinite(renewBeforeSeconds) || renewBeforeSeconds < 0) {
    throw new TypeError('options.renewBeforeSeconds must be a number of seconds, at least 0.');
  }
  if (typeof clock !== 'function') throw new TypeError('options.clock must be a function returning milliseconds.');
  return { maxEntries, renewBeforeMs: renewBeforeSeconds * 1000, clock };
}

/** A bounded, least-recently-used cache of issued tokens, renewed shortly before they expire. */
export class TokenCache {
  readonly #entries: LRUCache<string, Entry>;
  readonly #renewBeforeMs: number;
  readonly #clock: Clock;

  /** @throws TypeError naming the option that is wrong. */
  constructor(options: TokenCacheOptions = {}) {
    const { maxEntries, renewBeforeMs, clock } = checkOptions(options);
    this.#entries = new LRUCache({ max: maxEntries });
    this.#renewBeforeMs = renewBeforeMs;
    this.#clock = clock;
  }

  /** How many tokens (and mints in progress) are held. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The usable token for `key`, or the one `mint` makes when there is none (absent, being renewed,
   * or within the renewal margin of its expiry). Concurrent calls for one key share one mint.
   * Rejects with whatever `mint` throws, and then holds nothing for the key.
   */
  get(key: string, mint: () => IssuedToken | Promise<IssuedToken>): Promise<CachedToken> {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      if (entry.token === undefined) return entry.pending.then((token) => ({ token, fresh: true }));
      if (this.#usable(entry.token)) return Promise.resolve({ token: entry.token, fresh: false });
    }
    // async turns a synchronous throw (the built-in issuer signs synchronously) into a rejection.
    const pending = (async () => mint())();
    const created: Entry = { pending };
    this.#entries.set(key, created);
    pending.then(
      (token) => {
        created.token = token;
      },
      () => {
        if (this.#entries.peek(key) === created) this.#entries.delete(key);
      },
    );
    return pending.then((token) => ({ token, fresh: true }));
  }

  /**
   * Forgets the token held for `key`; with `token`, only when that is the token held (so a call
   * that saw an old token refused does not throw away the replacement another call just minted).
   * @returns whether something was forgotten.
   */
  delete(key: string, token?: string): boolean {
    const entry = this.#entries.peek(key);
    if (entry === undefined) return false;
    if (token !== undefined && entry.token?.token !== token) return false;
    return this.#entries.delete(key);
  }

  /** Forgets every token. */
  clear(): void {
    this.#entries.clear();
  }

  #usable(token: IssuedToken): boolean {
    const margin = Math.min(this.#renewBeforeMs, (token.expiresAt - token.notBefore) / 2);
    return this.#clock() < token.expiresAt - margin;
  }
}
