/**
 * Token verification, framework-free: protocol.md section 3.3 steps 2 to 9, in that order. The
 * Express layer does step 1 (one `Authorization: Bearer` header) and hands the token text here.
 * This file holds the options, the order of the steps and the audit; each step is its own file:
 *
 * - token-pair.ts, steps 2 and 3: the strict parse, and which token is the actor;
 * - actor-token.ts, step 4: the one trust the unverified `iss` names (a partner, or an OAuth
 *   server), its key, the signature, the claims, and for an STS-issued actor the partner it names;
 * - trust-level.ts, step 5; outer-token.ts, step 6: the user context, bound to its actor;
 * - cached-verification.ts: whether a cached accept still holds (the hot path of `verifyCached`);
 * - challenge.ts: this server's challenge (protocol.md section 7).
 *
 * The verifier takes its trusts from an {@link IssuerTrusts} (issuer-trusts.ts), not from a concrete
 * registry. Nothing in a token is trusted before the actor token's signature verified with a key
 * of the one trust its `iss` named; the outer token can never decide which application is
 * calling. `verify` throws only `BearerError`s; every decision is audited once, without token text.
 */
import {
  BearerError,
  type ChallengeParams,
  type Clock,
  effectiveScopes,
  formatIssuerId,
  InvalidTokenError,
  isAuthority,
  isPrincipalId,
  isRealm,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_TOKEN_LIFETIME_SECONDS,
  optionNames,
  refuseUnknownOptions,
  systemClock,
} from '@s2sauth/protocol';
import { verifyActor } from './actor-token.js';
import { pinoAuditSink, type AuditEvent, type AuditSink } from './audit.js';
import { revalidate, stillCurrentNow, trailOf } from './cached-verification.js';
import { challengeOf } from './challenge.js';
import { verifyOuter } from './outer-token.js';
import type { S2SPrincipal } from './principal.js';
import { splitToken } from './token-pair.js';
import { checkTrustLevel } from './trust-level.js';
import { isIssuerTrusts, ISSUER_TRUSTS_MEMBERS, type IssuerTrusts } from './issuer-trusts.js';
import { VerificationCache, type CachedVerification } from './verification-cache.js';
import { fail, type ResolveUser, type Trail, type VerifierState } from './verifier-state.js';

export type { ResolveUser } from './verifier-state.js';

/** The default longest accepted token lifetime, in seconds (protocol.md section 3.1). */
export const DEFAULT_MAX_LIFETIME_SECONDS = 3600;

/** Options of {@link createVerifier}. */
export interface VerifierOptions {
  /** This server's own principal id (lowercase GUID); the audience's principal must be it. */
  readonly principal: string;
  /** The realm(s) this server serves; the first is the one the challenge names. */
  readonly realms: string | readonly string[];
  /**
   * The authorities (`host[:port]`) this server is addressed by, e.g. `mail.contoso.com`,
   * `127.0.0.1:4402`; compared case-insensitively with the audience's.
   */
  readonly authorities: readonly string[];
  /**
   * The partner applications and OAuth servers this server trusts: a `PartnerRegistry`, or any
   * other {@link IssuerTrusts} source. The verifier does not close it.
   */
  readonly registry: IssuerTrusts;
  /** Allowed clock skew in seconds, 0 to 300. Default 300. */
  readonly clockSkewSeconds?: number;
  /** The longest accepted `exp - nbf` and `exp - iat`, in seconds, at most 86400. Default 3600. */
  readonly maxLifetimeSeconds?: number;
  /** Time source; default the system clock. */
  readonly clock?: Clock;
  /** The verification cache, or `false` for none. Default `{ maxEntries: 10000 }`. */
  readonly cache?: false | { readonly maxEntries?: number };
  /** Where decisions are written, or `false` for nowhere. Default {@link pinoAuditSink}`()`. */
  readonly audit?: AuditSink | false;
  /** Optional check of the user of every user-context call, cached or not. */
  readonly resolveUser?: ResolveUser;
}

/**
 * Every option name of {@link VerifierOptions}, checked by the compiler: `createVerifier` refuses
 * any other (a misspelt safety option must not silently keep its default). Internal.
 */
export const VERIFIER_OPTION_NAMES: ReadonlySet<string> = optionNames<VerifierOptions>({
  principal: true,
  realms: true,
  authorities: true,
  registry: true,
  clockSkewSeconds: true,
  maxLifetimeSeconds: true,
  clock: true,
  cache: true,
  audit: true,
  resolveUser: true,
});

/** {@link VerifierOptions} after defaults and checks. */
export interface ResolvedVerifierOptions {
  readonly principal: string;
  readonly realms: readonly string[];
  /** Lower-cased. */
  readonly authorities: readonly string[];
  readonly registry: IssuerTrusts;
  readonly clockSkewSeconds: number;
  readonly maxLifetimeSeconds: number;
  readonly clock: Clock;
  readonly cache: false | { readonly maxEntries: number };
  readonly audit: AuditSink | false;
  readonly resolveUser: ResolveUser | undefined;
}

/** Where a verification happens, for the audit log only (an Express request will do). */
export interface VerifyContext {
  readonly method?: string;
  /** The request path, without the query string. */
  readonly path?: string;
}

/** Verifies bearer tokens for one server. */
export interface Verifier {
  /**
   * Verifies a token (protocol.md section 3.3 steps 2 to 9) and returns the call's principal.
   * Rejects only with `BearerError`s: `InvalidTokenError` (401) for every token problem,
   * `KeysUnavailableError` (503) when the keys of the token's (registered) partner are unavailable.
   */
  verify(token: string, context?: VerifyContext): Promise<S2SPrincipal>;
  /**
   * The principal of a token that `verify` accepted before, answered synchronously from the
   * verification cache when nothing needs waiting for: the cached accept is still current
   * (registry revision, registrations, key set, certificates valid, token not expired) and no
   * `resolveUser` hook has to be asked. The accept is audited as `verify` audits a cached one.
   * `undefined` means only `verify` can decide (never that the token was refused), and nothing
   * was audited. Adapters call this first to answer a reused token without a promise.
   */
  verifyCached(token: string, context?: VerifyContext): S2SPrincipal | undefined;
  /**
   * This server's challenge parameters (protocol.md section 7): the first realm, the own
   * principal, the enabled partners of our realms and then the enabled OAuth servers of our realms
   * or `*` (as `00000001-0000-0000-c000-000000000000@<realm or *>`) as trusted issuers, and as
   * `authorizationUri` the token endpoint of the OAuth server that the challenge's realm (the
   * first realm) selects (the one registered for it, else the `*` one), when that server is
   * enabled and this process has read its document; a server of another realm never supplies it,
   * since its tokens would not be for the realm the challenge names. Never throws: when the
   * registry cannot be read, the list of trusted issuers is empty.
   */
  challenge(): ChallengeParams;
  /** The options in effect. */
  readonly options: ResolvedVerifierOptions;
  /** Drops the cache and stops listening to the registry; later calls verify without a cache. */
  close(): void;
}

/** The options after defaults and checks; a `TypeError` naming the option for any that is wrong or unknown. */
function checkOptions(options: VerifierOptions): ResolvedVerifierOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('createVerifier: options must be an object');
  refuseUnknownOptions('createVerifier', options, VERIFIER_OPTION_NAMES);
  const { principal, registry, clock = systemClock, audit, resolveUser } = options;
  if (typeof principal !== 'string' || !isPrincipalId(principal)) {
    throw new TypeError('createVerifier: options.principal must be this server\'s principal id, a lowercase GUID');
  }
  const realms: unknown = typeof options.realms === 'string' ? [options.realms] : options.realms;
  if (!Array.isArray(realms) || realms.length === 0 || !realms.every((r) => typeof r === 'string' && isRealm(r))) {
    throw new TypeError('createVerifier: options.realms must be a realm or a non-empty list of realms (lowercase DNS names or GUIDs)');
  }
  const authorities: unknown = options.authorities;
  if (!Array.isArray(authorities) || authorities.length === 0 || !authorities.every((a) => typeof a === 'string' && isAuthority(a))) {
    throw new TypeError('createVerifier: options.authorities must be a non-empty list of host[:port] this server is addressed by');
  }
  if (!isIssuerTrusts(registry)) {
    throw new TypeError(`createVerifier: options.registry must be a PartnerRegistry or another IssuerTrusts source (${ISSUER_TRUSTS_MEMBERS})`);
  }
  const clockSkewSeconds = options.clockSkewSeconds ?? MAX_CLOCK_SKEW_SECONDS;
  if (typeof clockSkewSeconds !== 'number' || !Number.isFinite(clockSkewSeconds) || clockSkewSeconds < 0 || clockSkewSeconds > MAX_CLOCK_SKEW_SECONDS) {
    throw new TypeError(`createVerifier: options.clockSkewSeconds must be 0 to ${MAX_CLOCK_SKEW_SECONDS} seconds`);
  }
  const maxLifetimeSeconds = options.maxLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS;
  if (
    typeof maxLifetimeSeconds !== 'number' ||
    !Number.isFinite(maxLifetimeSeconds) ||
    maxLifetimeSeconds <= 0 ||
    maxLifetimeSeconds > MAX_TOKEN_LIFETIME_SECONDS
  ) {
    throw new TypeError(`createVerifier: options.maxLifetimeSeconds must be more than 0 and at most ${MAX_TOKEN_LIFETIME_SECONDS} seconds`);
  }
  if (typeof clock !== 'function') throw new TypeError('createVerifier: options.clock must be a function returning milliseconds');
  let cache: false | { readonly maxEntries: number } = { maxEntries: 10_000 };
  if (options.cache === false) cache = false;
  else if (options.cache !== undefined) {
    const maxEntries: unknown = typeof options.cache === 'object' && options.cache !== null ? (options.cache.maxEntries ?? 10_000) : undefined;
    if (typeof maxEntries !== 'number' || !Number.isSafeInteger(maxEntries) || maxEntries <= 0) {
      throw new TypeError('createVerifier: options.cache must be false or { maxEntries: a positive integer }');
    }
    cache = { maxEntries };
  }
  if (audit !== undefined && audit !== false && typeof audit !== 'function') {
    throw new TypeError('createVerifier: options.audit must be an audit sink function or false');
  }
  if (resolveUser !== undefined && typeof resolveUser !== 'function') {
    throw new TypeError('createVerifier: options.resolveUser must be a function');
  }
  return Object.freeze({
    principal,
    realms: Object.freeze([...(realms as string[])]),
    authorities: Object.freeze((authorities as string[]).map((a) => a.toLowerCase())),
    registry,
    clockSkewSeconds,
    maxLifetimeSeconds,
    clock,
    cache,
    audit: audit === undefined ? pinoAuditSink() : audit,
    resolveUser,
  });
}

/** The options as the steps read them, made once per verifier. */
function stateOf(resolved: ResolvedVerifierOptions): VerifierState {
  return {
    principal: resolved.principal,
    realm: resolved.realms[0] as string,
    realms: new Set(resolved.realms),
    authorities: new Set(resolved.authorities),
    trust: resolved.registry,
    clock: resolved.clock,
    clockSkewSeconds: resolved.clockSkewSeconds,
    maxLifetimeSeconds: resolved.maxLifetimeSeconds,
    resolveUser: resolved.resolveUser,
    lastAudience: { text: undefined, parsed: undefined },
  };
}

/** The request method and path for the audit log; anything else in `context` is ignored. */
function whereOf(context: VerifyContext | undefined): { method?: string; path?: string } {
  if (typeof context !== 'object' || context === null) return {};
  const { method, path } = context;
  // One object, no spreads: this runs on every request, cache hits included.
  if (typeof method === 'string') return typeof path === 'string' ? { method, path } : { method };
  return typeof path === 'string' ? { path } : {};
}

/** Writes `event` to the audit sink; a sink that throws must not turn a decision into a crash. */
function auditTo(sink: AuditSink | false, event: AuditEvent): void {
  if (sink === false) return;
  try {
    sink(event);
  } catch {
    // An audit sink must not turn a decision into a crash or an escaping non-bearer error.
  }
}

/** The bearer error a failed verification answers with. */
function failureOf(error: unknown): BearerError {
  if (error instanceof BearerError) return error;
  // Fail closed: an unexpected error (a bug, a closed store) means the token was not verified.
  return new InvalidTokenError(
    'verification_failed',
    `internal error during verification (${error instanceof Error ? error.name : typeof error}); the token could not be verified`,
  );
}

/**
 * Steps 2 to 9 for a token that is not in the cache, in protocol order; the result is what the
 * cache keeps. `registryRevision` is the revision of the issuer trusts read before verifying.
 */
async function verifyToken(state: VerifierState, token: string, trail: Trail, nowMs: number, registryRevision: number): Promise<CachedVerification> {
  const { actor: actorJws, outer: outerJws } = splitToken(token); // steps 2 and 3
  const actor = await verifyActor(state, actorJws, trail, nowMs); // step 4
  const { partner, claims, server } = actor;
  checkTrustLevel(partner, { userContext: outerJws !== undefined, actorIssuer: actor.signer, trustedForDelegation: actor.delegation }); // step 5
  const outer = outerJws === undefined ? undefined : await verifyOuter(state, outerJws, actor, trail, nowMs); // step 6
  const scopes = Object.freeze(effectiveScopes(claims.scp, partner.scopes)); // step 7 (step 8 is the adapters')
  const principal: S2SPrincipal = Object.freeze({
    partner: partner.identity,
    applicationId: partner.applicationId,
    realm: partner.realm,
    issuer: formatIssuerId(actor.issuer),
    audience: claims.aud,
    scopes,
    ...(outer === undefined ? {} : { user: outer.user }),
    ...(claims.jti === undefined ? {} : { tokenId: claims.jti }),
    trust: server !== undefined ? 'oauthServer' : partner.keySource.kind === 'certificate' ? 'certificate' : 'metadata',
    expiresAt: Math.min(claims.exp, outer?.exp ?? claims.exp) * 1000,
  }); // step 9
  const certificate = outer?.certificate;
  return {
    principal,
    registryRevision,
    partnerUpdatedAt: partner.updatedAt,
    keySetVersion: actor.keySetVersion,
    keyId: actor.keyId,
    keyThumbprint: actor.key.x5tS256,
    ...(server === undefined ? {} : { oauthServer: { identity: server.identity, updatedAt: server.updatedAt } }),
    ...(certificate === undefined ? {} : { outerCertificate: { notBefore: certificate.notBefore, notAfter: certificate.notAfter } }),
  };
}

/**
 * Creates a verifier for one server (this server's principal, realms and addresses) over a
 * registry (any {@link IssuerTrusts}, usually a `PartnerRegistry`).
 *
 * @example
 * ```ts
 * const verifier = createVerifier({ principal: WellKnownPrincipal.exchange, realms: 'contoso.com',
 *   authorities: ['mail.contoso.com'], registry });
 * const principal = await verifier.verify(token);
 * ```
 * @throws TypeError for options that are missing, out of range or unknown (naming the option).
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const resolved = checkOptions(options);
  const state = stateOf(resolved);
  const { trust, clock } = state;
  const sink = resolved.audit;
  let cache = resolved.cache === false ? undefined : new VerificationCache({ maxEntries: resolved.cache.maxEntries });
  // Every cache entry is also checked against the revision; clearing on change only frees memory
  // early (and forgets principals of removed partners at once).
  let unsubscribe: (() => void) | undefined;
  try {
    unsubscribe = cache === undefined ? undefined : trust.onChange(() => cache?.clear());
  } catch {
    throw new TypeError('createVerifier: options.registry is closed');
  }

  function verifyCached(token: string, context: VerifyContext = {}): S2SPrincipal | undefined {
    const activeCache = cache;
    if (activeCache === undefined || typeof token !== 'string') return undefined;
    try {
      const nowMs = clock();
      const entry = activeCache.get(VerificationCache.keyOf(token), nowMs);
      if (entry === undefined || !stillCurrentNow(state, entry, nowMs)) return undefined;
      auditTo(sink, { decision: 'accept', status: 200, cached: true, ...trailOf(entry.principal, {}), ...whereOf(context) });
      return entry.principal;
    } catch {
      // Whatever went wrong here, verify() decides (and audits) the token.
      return undefined;
    }
  }

  async function verify(token: string, context: VerifyContext = {}): Promise<S2SPrincipal> {
    const trail: Trail = {};
    const where = whereOf(context);
    let cacheKey: string | undefined;
    try {
      if (typeof token !== 'string') fail('token_segments', 'the token is not a string');
      const nowMs = clock();
      const activeCache = cache;
      if (activeCache !== undefined) {
        cacheKey = VerificationCache.keyOf(token);
        const entry = activeCache.get(cacheKey, nowMs);
        if (entry !== undefined) {
          const principal = await revalidate(state, entry, trail);
          if (principal !== undefined) {
            auditTo(sink, { decision: 'accept', status: 200, cached: true, ...trail, ...where });
            return principal;
          }
          activeCache.delete(cacheKey);
        }
      }
      // Read before verifying: a change while this verification awaits keys makes the entry stale
      // rather than caching a decision made against the old registrations.
      const verified = await verifyToken(state, token, trail, nowMs, trust.revision);
      if (activeCache !== undefined && cacheKey !== undefined && activeCache === cache) activeCache.set(cacheKey, verified);
      auditTo(sink, { decision: 'accept', status: 200, cached: false, ...trail, ...where });
      return verified.principal;
    } catch (error) {
      const failure = failureOf(error);
      if (cacheKey !== undefined) cache?.delete(cacheKey);
      auditTo(sink, { decision: 'reject', code: failure.code, reason: failure.reason, status: failure.status, ...trail, ...where });
      throw failure;
    }
  }

  function close(): void {
    unsubscribe?.();
    unsubscribe = undefined;
    cache?.clear();
    cache = undefined;
  }

  return Object.freeze({ verify, verifyCached, challenge: challengeOf(state), options: resolved, close });
}
