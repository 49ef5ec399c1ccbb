/**
 * Token verification, framework-free: protocol.md section 3.3 steps 2 to 9, in that order. The
 * Express layer does step 1 (one `Authorization: Bearer` header) and hands the token text here.
 *
 * The rules a reviewer should be able to check line by line:
 * - Nothing in a token is trusted before the actor token's signature verified with a key of the
 *   one trust the unverified `iss` named: a registered OAuth server (STS) when `iss` is the STS
 *   principal in a realm one is registered for (or `*`), else a partner application. Before the
 *   signature only `iss` is read, and only to pick that trust; the key comes from that trust's key
 *   set and nowhere else (never from the actor token: no `jku`, `x5u`, `jwk`, `x5c`).
 * - An STS-issued actor names its partner in `nameid`, which is read only after the STS's
 *   signature verified, and must name an enabled partner registered with `useOAuthServer` in the
 *   same realm. The only key ever taken from a token is the outer token's `x5c` certificate over
 *   an STS-issued actor, and only after its SHA-256 thumbprint equalled the verified actor's
 *   `cnf` (protocol.md section 3.2): the STS vouched for that certificate, not the token.
 * - An unregistered issuer causes no outbound request at all, and a disabled partner or OAuth
 *   server none either.
 * - The signature is checked by jsonwebtoken with a `KeyObject` and RS256 only; every time rule is
 *   ours (`checkLifetime`), because jsonwebtoken does not require `exp`, does not check a future
 *   `iat`, and refuses the decimal-string `nbf`/`exp` Microsoft servers send.
 * - The outer (user context) token is looked at only after its actor verified, is bound to it
 *   (same key, same `aud`, `iss` = actor `nameid`, inside the actor's window), and can never
 *   decide which application is calling.
 * - `verify` throws only `BearerError`s; every decision is audited once, without token text.
 */
import jwt from 'jsonwebtoken';
import {
  type ActorClaims,
  BearerError,
  type ChallengeParams,
  checkLifetime,
  type Clock,
  effectiveScopes,
  epochSeconds,
  formatIssuerId,
  InvalidTokenError,
  isAuthority,
  isPrincipalId,
  isRealm,
  type IssuerId,
  type LifetimeRules,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_TOKEN_LIFETIME_SECONDS,
  MetadataError,
  parseAudience,
  type ParsedJws,
  parseIssuerId,
  parseJws,
  readActorClaims,
  readOuterClaims,
  type SigningKey,
  signingKeyFromCertificate,
  stsIssuerId,
  systemClock,
  WellKnownPrincipal,
  x5tS256,
} from '@s2sauth/protocol';
import type { OAuthServerRecord, PartnerApplication } from '@s2sauth/store';
import { pinoAuditSink, type AuditEvent, type AuditSink } from './audit.js';
import type { S2SPrincipal, S2SUser } from './principal.js';
import type { KeySet } from '@s2sauth/discovery';
import { ANY_REALM, selectOAuthServer, type ResolvedOAuthServer } from './oauth-server.js';
import { PartnerRegistry, PartnerRegistryError } from './registry.js';
import { checkTrustLevel, type ActorIssuer } from './trust-level.js';
import { VerificationCache, type CachedVerification } from './verification-cache.js';

/** The default longest accepted token lifetime, in seconds (protocol.md section 3.1). */
export const DEFAULT_MAX_LIFETIME_SECONDS = 3600;

/**
 * Decides whether the user of a verified user context exists and may be acted for (the local
 * policy, the `resolveUser` hook of docs/protocol.md section 5). Return false to reject with
 * `user_invalid`; a hook that throws rejects the same way.
 */
export type ResolveUser = (user: S2SUser, partner: PartnerApplication) => boolean | Promise<boolean>;

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
  /** The partner applications this server trusts. The verifier does not close it. */
  readonly registry: PartnerRegistry;
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

/** {@link VerifierOptions} after defaults and checks. */
export interface ResolvedVerifierOptions {
  readonly principal: string;
  readonly realms: readonly string[];
  /** Lower-cased. */
  readonly authorities: readonly string[];
  readonly registry: PartnerRegistry;
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

/** Fields of the audit event that are known so far; only ever registry data or verified claims. */
interface Trail {
  partner?: string;
  applicationId?: string;
  audience?: string;
  tokenId?: string;
  user?: string;
}

/** What verifying the actor token established. */
interface VerifiedActor {
  /** Who signed the actor: the partner itself, or the OAuth server `server`. */
  readonly signer: ActorIssuer;
  readonly server: OAuthServerRecord | undefined;
  readonly partner: PartnerApplication;
  readonly issuer: IssuerId;
  readonly keyId: string;
  readonly key: SigningKey;
  readonly keySetVersion: number;
  readonly claims: ActorClaims;
  /** The raw `trustedfordelegation` value, of whatever type. */
  readonly delegation: unknown;
}

interface Verified {
  readonly principal: S2SPrincipal;
  readonly partnerUpdatedAt: number;
  readonly keySetVersion: number;
  readonly keyId: string;
  readonly keyThumbprint: string;
  readonly oauthServer: CachedVerification['oauthServer'];
  readonly outerCertificate: CachedVerification['outerCertificate'];
}

function fail(code: ConstructorParameters<typeof InvalidTokenError>[0], reason: string): never {
  throw new InvalidTokenError(code, reason);
}

function own(payload: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(payload, name) ? payload[name] : undefined;
}

function checkOptions(options: VerifierOptions): ResolvedVerifierOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('createVerifier: options must be an object');
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
  if (!(registry instanceof PartnerRegistry)) throw new TypeError('createVerifier: options.registry must be a PartnerRegistry');
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

/** Verifies an RS256 signature with jsonwebtoken; any failure is `code`. Time claims are ours. */
function checkSignature(
  token: string,
  key: SigningKey,
  code: 'signature_invalid' | 'outer_signature_invalid',
  who: string,
  whose = 'the partner\'s key',
): void {
  try {
    jwt.verify(token, key.publicKey, { algorithms: ['RS256'], ignoreExpiration: true, ignoreNotBefore: true });
  } catch (error) {
    // jsonwebtoken's own messages are fixed texts ("invalid signature"); anything else by name only.
    const detail = error instanceof jwt.JsonWebTokenError ? error.message : error instanceof Error ? error.name : typeof error;
    fail(code, `${who}: the signature does not verify with ${whose} (${detail})`);
  }
}

/** The user of an outer token, with only the members it has. */
function userOf(claims: S2SUser): S2SUser {
  const user: Record<string, string> = {};
  for (const name of ['nameid', 'nii', 'smtp', 'sip', 'upn'] as const) {
    const value = claims[name];
    if (value !== undefined) user[name] = value;
  }
  return Object.freeze(user as S2SUser);
}

/** The request method and path for the audit log; anything else in `context` is ignored. */
function whereOf(context: VerifyContext | undefined): { method?: string; path?: string } {
  if (typeof context !== 'object' || context === null) return {};
  const { method, path } = context;
  // One object, no spreads: this runs on every request, cache hits included.
  if (typeof method === 'string') return typeof path === 'string' ? { method, path } : { method };
  return typeof path === 'string' ? { path } : {};
}

/** The name a user goes by in the audit log. */
function userLabel(user: S2SUser): string | undefined {
  return [user.nameid, user.upn, user.smtp, user.sip].find((value) => value !== undefined && value !== '');
}

/**
 * Creates a verifier for one server (this server's principal, realms and addresses) over a
 * partner registry.
 *
 * @example
 * ```ts
 * const verifier = createVerifier({ principal: WellKnownPrincipal.exchange, realms: 'contoso.com',
 *   authorities: ['mail.contoso.com'], registry });
 * const principal = await verifier.verify(token);
 * ```
 * @throws TypeError for options that are missing or out of range (naming the option).
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const resolved = checkOptions(options);
  const { principal: ownPrincipal, registry, clock, resolveUser } = resolved;
  const realms = new Set(resolved.realms);
  const authorities = new Set(resolved.authorities);
  const rulesAt = (nowMs: number): LifetimeRules => ({
    now: epochSeconds(() => nowMs),
    skew: resolved.clockSkewSeconds,
    maxLifetime: resolved.maxLifetimeSeconds,
  });
  let cache = resolved.cache === false ? undefined : new VerificationCache({ maxEntries: resolved.cache.maxEntries });
  // Every cache entry is also checked against the registry revision; clearing on change only
  // frees memory early (and forgets principals of removed partners at once).
  let unsubscribe: (() => void) | undefined;
  try {
    unsubscribe = cache === undefined ? undefined : registry.onChange(() => cache?.clear());
  } catch {
    throw new TypeError('createVerifier: options.registry is closed');
  }
  let challengeCache: { readonly revision: number; readonly params: ChallengeParams } | undefined;
  let lastAudience: { readonly text: string | undefined; readonly parsed: ReturnType<typeof parseAudience> } = { text: undefined, parsed: undefined };

  function audit(event: AuditEvent): void {
    if (resolved.audit === false) return;
    try {
      resolved.audit(event);
    } catch {
      // An audit sink must not turn a decision into a crash or an escaping non-bearer error.
    }
  }

  /**
   * The first parse. Only an outer token may carry `x5c` (over an STS-issued actor, protocol.md
   * 3.2), and whether a token is an outer token is in its payload, so a token is parsed strictly
   * first and, only when its sole fault was an `x5c`, again with `x5c` allowed to see whether it is
   * an outer token. Whatever else the lenient parse finds wrong, the strict refusal stands.
   */
  function parseFirst(token: string): ParsedJws {
    try {
      return parseJws(token, { allowUnsigned: true, allowX5c: false });
    } catch (error) {
      if (!(error instanceof InvalidTokenError) || error.code !== 'token_x5c_not_allowed') throw error;
      let lenient: ParsedJws;
      try {
        lenient = parseJws(token, { allowUnsigned: true, allowX5c: true });
      } catch {
        throw error;
      }
      if (!Object.hasOwn(lenient.payload, 'actortoken')) throw error;
      return lenient;
    }
  }

  /** Steps 2 and 3: the strict parse, and which token is the actor. */
  function split(token: string): { readonly actor: ParsedJws; readonly outer: ParsedJws | undefined } {
    // Whether the token is an outer token is in its payload, so the first parse must let `none`
    // through; an unsigned token that turns out not to be an outer token is refused just below.
    // An outer token's `x5c` is refused again in verifyOuter unless its actor is STS-issued.
    const first = parseFirst(token);
    if (!Object.hasOwn(first.payload, 'actortoken')) {
      if (first.header.alg !== 'RS256') fail('token_unsupported_alg', 'an unsigned token is accepted only as an outer token over an actor token');
      return { actor: first, outer: undefined };
    }
    const actorText = own(first.payload, 'actortoken');
    if (typeof actorText !== 'string') fail('claim_type', 'outer token actortoken is not a string');
    const actor = parseJws(actorText, { allowUnsigned: false, allowX5c: false });
    if (Object.hasOwn(actor.payload, 'actortoken')) fail('actor_user_claims', 'the actor token carries an actortoken of its own');
    return { actor, outer: first };
  }

  /**
   * The actor's key, looked up by its `x5t`/`kid` in `keys` only (one trust's key set), checked
   * to be valid now, and its signature verified with it.
   */
  async function verifySignature(
    actor: ParsedJws,
    keys: KeySet,
    owner: string,
    nowMs: number,
  ): Promise<{ keyId: string; key: SigningKey; keySetVersion: number }> {
    const { header } = actor;
    // parseJws guarantees a signed token names its key, and that kid and x5t agree when both are there.
    const keyId = header.x5t ?? header.kid;
    if (keyId === undefined) fail('claim_missing', 'actor token header has neither x5t nor kid');
    const key = await keys.getKey(keyId); // KeysUnavailableError (503) propagates
    if (key === undefined) fail('key_unknown', `no valid key with the actor token's key id in ${owner}'s key set`);
    if (header['x5t#S256'] !== undefined && header['x5t#S256'] !== key.x5tS256) {
      fail('token_key_id_mismatch', 'actor token x5t#S256 names another certificate than its x5t/kid');
    }
    if (nowMs < key.notBefore || nowMs > key.notAfter) fail('key_unknown', `${owner}'s certificate for this key is not valid now`);
    const keySetVersion = keys.version;
    checkSignature(actor.token, key, 'signature_invalid', 'actor token', `${owner}'s key`);
    return { keyId, key, keySetVersion };
  }

  /**
   * The verified actor's claims, lifetime and audience: `aud` is one of ours, and its realm is one
   * we serve and the realm of `iss`. `trustedfordelegation` is returned raw: it is a trust input,
   * not a claim whose type can make a token malformed (any value but the string "true" just means
   * "not trusted for delegation", trust-level.ts).
   */
  function readClaims(actor: ParsedJws, issuer: IssuerId, trail: Trail, nowMs: number): { claims: ActorClaims; delegation: unknown } {
    const { payload } = actor;
    const delegation = own(payload, 'trustedfordelegation');
    // The claims without the raw trust input; copied only when it is there (the copy is most of
    // this function's cost, and without the member it would equal the payload member for member).
    let claimSet = payload;
    if (Object.hasOwn(payload, 'trustedfordelegation')) {
      const { trustedfordelegation: _ignored, ...rest } = payload;
      claimSet = rest;
    }
    const claims = readActorClaims(claimSet);
    trail.audience = claims.aud;
    if (claims.jti !== undefined) trail.tokenId = claims.jti;
    checkLifetime(claims, rulesAt(nowMs));

    // Partners send one audience for all their tokens: the last one parsed is kept (a pure
    // function of the string; one entry, so nothing grows).
    if (claims.aud !== lastAudience.text) lastAudience = { text: claims.aud, parsed: parseAudience(claims.aud) };
    const audience = lastAudience.parsed;
    if (audience === undefined) fail('audience_invalid', 'actor token aud is not <principal>/<authority>@<realm>');
    if (audience.principal !== ownPrincipal) fail('audience_invalid', 'actor token aud names another principal');
    if (!authorities.has(audience.authority.toLowerCase())) {
      fail('audience_invalid', 'actor token aud names an authority this server is not configured with');
    }
    if (!realms.has(audience.realm)) fail('realm_invalid', 'actor token aud names a realm this server does not serve');
    if (issuer.realm !== audience.realm) fail('realm_invalid', 'actor token iss and aud name different realms');
    return { claims, delegation };
  }

  /** The one OAuth server `issuer` selects, if any; two that would answer are refused, not chosen from. */
  function oauthServerFor(issuer: IssuerId): ResolvedOAuthServer | undefined {
    try {
      return registry.resolveOAuthServer(issuer.principal, issuer.realm);
    } catch (error) {
      if (error instanceof PartnerRegistryError && error.code === 'conflict') {
        fail('issuer_unknown', 'several OAuth servers are registered for the actor token\'s realm');
      }
      throw error;
    }
  }

  /** Step 4: the actor token, its one trust, its key, its signature, then its claims. */
  async function verifyActor(actor: ParsedJws, trail: Trail, nowMs: number): Promise<VerifiedActor> {
    const { header, payload } = actor;
    if (header.alg !== 'RS256') fail('token_unsupported_alg', 'the actor token is not RS256');

    // The only claim read before the signature, and only to pick one registered trust.
    const iss = own(payload, 'iss');
    if (iss === undefined) fail('claim_missing', 'actor token has no iss');
    if (typeof iss !== 'string') fail('claim_type', 'actor token iss is not a string');
    const issuer = parseIssuerId(iss);
    if (issuer === undefined) fail('issuer_invalid', 'actor token iss is not <principal>@<realm>');

    const sts = oauthServerFor(issuer);
    if (sts !== undefined) return verifyStsActor(actor, issuer, sts, trail, nowMs);

    const found = registry.resolve(issuer.principal, issuer.realm);
    if (found === undefined) {
      const other = registry.find(issuer.principal, issuer.realm);
      fail(
        'issuer_unknown',
        other === undefined
          ? 'no partner application or OAuth server is registered for the actor token\'s issuer'
          : `partner "${other.identity}" trusts through an OAuth server, so its self-issued tokens are not accepted`,
      );
    }
    const { partner, keys } = found;
    trail.partner = partner.identity;
    trail.applicationId = partner.applicationId;
    // Checked here, before the key lookup, rather than after the claims: a disabled partner's
    // tokens must not make us fetch its metadata (no outbound request because of a token we will
    // refuse anyway). It tells an unauthenticated caller nothing the challenge does not: disabled
    // partners are simply absent from trusted_issuers.
    if (!partner.enabled) fail('partner_disabled', `partner "${partner.identity}" is disabled`);

    const { keyId, key, keySetVersion } = await verifySignature(actor, keys, `partner "${partner.identity}"`, nowMs);

    // From here on the actor's claims are the partner's own words.
    const { claims, delegation } = readClaims(actor, issuer, trail, nowMs);
    if (issuer.realm !== partner.realm) fail('realm_invalid', `actor token iss realm is not partner "${partner.identity}"'s realm`);
    // Self-issued: the signer is the acting application.
    if (claims.nameid !== claims.iss) fail('nameid_invalid', 'self-issued actor token: nameid is not exactly iss');
    return { signer: 'self', server: undefined, partner, issuer, keyId, key, keySetVersion, claims, delegation };
  }

  /**
   * Step 4 for an actor issued by an OAuth server: that server's keys only, its signature, the
   * claims, then the partner `nameid` names (protocol.md sections 3.1, 3.3 and 5).
   */
  async function verifyStsActor(
    actor: ParsedJws,
    issuer: IssuerId,
    sts: ResolvedOAuthServer,
    trail: Trail,
    nowMs: number,
  ): Promise<VerifiedActor> {
    const { server, keys } = sts;
    // Before the key lookup, as for partners: a disabled server's tokens cause no fetch. A disabled
    // server refuses its realm's STS tokens rather than letting a `*` server answer for it.
    if (!server.enabled) fail('issuer_unknown', `OAuth server "${server.identity}" is disabled`);

    const { keyId, key, keySetVersion } = await verifySignature(actor, keys, `OAuth server "${server.identity}"`, nowMs);

    // From here on the claims are the STS's words: which partner it authenticated, for what.
    // readClaims binds iss realm = aud realm = one of ours; the server was selected by that realm
    // (or is trusted for `*`), so the three agree with the server's realm too.
    const { claims, delegation } = readClaims(actor, issuer, trail, nowMs);
    const nameid = parseIssuerId(claims.nameid);
    if (nameid === undefined) fail('nameid_invalid', 'STS-issued actor token: nameid is not <principal>@<realm>');
    if (nameid.realm !== issuer.realm) fail('nameid_invalid', 'STS-issued actor token: nameid and iss name different realms');
    if (nameid.principal === WellKnownPrincipal.sts) fail('nameid_invalid', 'STS-issued actor token: nameid names the STS itself');
    const partner = registry.find(nameid.principal, nameid.realm);
    if (partner === undefined || partner.keySource.kind !== 'oauthServer') {
      fail(
        'issuer_unknown',
        partner === undefined
          ? 'no partner application is registered for the STS-issued actor token\'s nameid'
          : `partner "${partner.identity}" has keys of its own and is not registered to trust through an OAuth server`,
      );
    }
    trail.partner = partner.identity;
    trail.applicationId = partner.applicationId;
    if (!partner.enabled) fail('partner_disabled', `partner "${partner.identity}" is disabled`);
    // protocol.md 3.1: an STS-issued actor names its identity provider, the STS itself. Absent is
    // a missing required claim (claim_missing); another value a wrong issuer (issuer_invalid).
    if (claims.identityprovider === undefined) fail('claim_missing', 'STS-issued actor token has no identityprovider');
    if (claims.identityprovider !== claims.iss) fail('issuer_invalid', 'STS-issued actor token: identityprovider is not its iss');
    // An STS grants delegation only together with the client certificate the outer token must be
    // signed with (protocol.md 3.1 hardening): a delegation grant without it is not a token our
    // STS profile issues, whatever kind of call it comes with.
    if (delegation === 'true' && claims.cnf === undefined) {
      fail('claim_missing', 'STS-issued actor token is trusted for delegation but has no cnf x5t#S256');
    }
    return { signer: 'sts', server, partner, issuer, keyId, key, keySetVersion, claims, delegation };
  }

  /**
   * The key an outer token over an STS-issued actor is signed with: the one certificate of its
   * `x5c`, used only after its SHA-256 thumbprint equals the actor's `cnf`, and only while it is
   * a valid RSA signing certificate (protocol.md sections 2 and 3.2).
   */
  function confirmedKey(outer: ParsedJws, actor: VerifiedActor, nowMs: number): SigningKey {
    const confirmation = actor.claims.cnf?.['x5t#S256'];
    // Unreachable while the trust table demands delegation and delegation demands cnf; kept so
    // that this function alone never accepts an outer token without a confirmation to match.
    if (confirmation === undefined) fail('cnf_mismatch', 'the STS-issued actor token confirms no certificate (no cnf)');
    const chain = outer.header.x5c;
    const encoded = chain?.[0];
    if (chain === undefined || chain.length !== 1 || encoded === undefined) {
      fail('cnf_mismatch', 'the outer token over an STS-issued actor carries no x5c certificate');
    }
    if (x5tS256(Buffer.from(encoded, 'base64')) !== confirmation) {
      fail('cnf_mismatch', 'the outer token\'s x5c certificate is not the one its actor token\'s cnf names');
    }
    try {
      return signingKeyFromCertificate(encoded, nowMs);
    } catch (error) {
      if (error instanceof MetadataError) fail('key_unknown', `the outer token's x5c certificate is not acceptable now (${error.code})`);
      throw error;
    }
  }

  /** Step 6: the outer token, bound to its verified actor. */
  async function verifyOuter(
    outer: ParsedJws,
    actor: VerifiedActor,
    trail: Trail,
    nowMs: number,
  ): Promise<{ user: S2SUser; exp: number; certificate: SigningKey | undefined }> {
    const { partner } = actor;
    let certificate: SigningKey | undefined;
    if (actor.signer === 'sts') {
      // The signed form is required whatever the partner allows: the actor's cnf names the key
      // that must sign, and an unsigned outer token proves nothing about holding it.
      if (outer.header.alg === 'none') {
        fail('outer_unsigned', 'an outer token over an STS-issued actor must be signed with the certificate its cnf names');
      }
      certificate = confirmedKey(outer, actor, nowMs);
      checkSignature(outer.token, certificate, 'outer_signature_invalid', 'outer token', 'its x5c certificate');
    } else if (Object.hasOwn(outer.header, 'x5c')) {
      fail('token_x5c_not_allowed', 'an outer token over a self-issued actor may not carry x5c');
    } else if (outer.header.alg === 'none') {
      if (!partner.acceptUnsignedUserContext) {
        fail('outer_unsigned', `partner "${partner.identity}" is not allowed to send unsigned user context`);
      }
    } else {
      // Self-issued actor: the outer token must be signed with the very key that signed the actor.
      const outerKeyId = outer.header.x5t ?? outer.header.kid;
      if (outerKeyId !== undefined && outerKeyId !== actor.keyId) {
        fail('outer_signature_invalid', 'the outer token names another key than its actor token');
      }
      if (outer.header['x5t#S256'] !== undefined && outer.header['x5t#S256'] !== actor.key.x5tS256) {
        fail('outer_signature_invalid', 'the outer token x5t#S256 names another certificate than its actor token\'s');
      }
      checkSignature(outer.token, actor.key, 'outer_signature_invalid', 'outer token');
    }
    const claims = readOuterClaims(outer.payload);
    if (claims.aud !== actor.claims.aud) fail('outer_binding', 'outer token aud is not its actor token\'s aud');
    if (claims.iss !== actor.claims.nameid) fail('outer_binding', 'outer token iss is not its actor token\'s nameid');
    if (claims.nbf < actor.claims.nbf || claims.exp > actor.claims.exp) {
      fail('outer_window', 'outer token nbf/exp are not within its actor token\'s window');
    }
    checkLifetime(claims, rulesAt(nowMs));
    const user = userOf(claims);
    const label = userLabel(user);
    if (label === undefined) fail('user_invalid', 'outer token names no user (nameid, smtp, sip or upn)');
    trail.user = label;
    await checkUser(user, partner);
    return { user, exp: claims.exp, certificate };
  }

  async function checkUser(user: S2SUser, partner: PartnerApplication): Promise<void> {
    if (resolveUser === undefined) return;
    let known: boolean;
    try {
      known = await resolveUser(user, partner);
    } catch (error) {
      fail('user_invalid', `the resolveUser hook failed (${error instanceof Error ? error.name : typeof error})`);
    }
    if (known !== true) fail('user_invalid', 'the resolveUser hook did not accept the user');
  }

  /** Steps 2 to 9 for a token that is not in the cache. */
  async function verifyToken(token: string, trail: Trail, nowMs: number): Promise<Verified> {
    const { actor: actorJws, outer: outerJws } = split(token);
    const actor = await verifyActor(actorJws, trail, nowMs);
    const { partner, claims, server } = actor;
    checkTrustLevel(partner, { userContext: outerJws !== undefined, actorIssuer: actor.signer, trustedForDelegation: actor.delegation });
    const outer = outerJws === undefined ? undefined : await verifyOuter(outerJws, actor, trail, nowMs);
    const scopes = Object.freeze(effectiveScopes(claims.scp, partner.scopes));
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
    });
    const certificate = outer?.certificate;
    return {
      principal,
      partnerUpdatedAt: partner.updatedAt,
      keySetVersion: actor.keySetVersion,
      keyId: actor.keyId,
      keyThumbprint: actor.key.x5tS256,
      oauthServer: server === undefined ? undefined : { identity: server.identity, updatedAt: server.updatedAt },
      outerCertificate: certificate === undefined ? undefined : { notBefore: certificate.notBefore, notAfter: certificate.notAfter },
    };
  }

  /**
   * The registration and key set a cached result was verified with, if both are unchanged: the
   * partner record (and, for an STS-issued actor, the OAuth server record) as they were, enabled.
   */
  function currentTrust(entry: CachedVerification): { partner: PartnerApplication; keys: KeySet } | undefined {
    const { principal } = entry;
    if (entry.oauthServer === undefined) {
      const found = registry.resolve(principal.applicationId, principal.realm);
      return found === undefined || found.partner.identity !== principal.partner ? undefined : found;
    }
    const issuer = parseIssuerId(principal.issuer);
    let sts: ResolvedOAuthServer | undefined;
    try {
      sts = issuer === undefined ? undefined : registry.resolveOAuthServer(issuer.principal, issuer.realm);
    } catch {
      return undefined; // two servers for one realm: verified afresh, and refused there
    }
    if (sts === undefined || sts.server.identity !== entry.oauthServer.identity || sts.server.updatedAt !== entry.oauthServer.updatedAt) {
      return undefined;
    }
    if (!sts.server.enabled) return undefined;
    const partner = registry.find(principal.applicationId, principal.realm);
    if (partner === undefined || partner.identity !== principal.partner || partner.keySource.kind !== 'oauthServer') return undefined;
    return { partner, keys: sts.keys };
  }

  /**
   * The trust a cached result was verified under, if it is still current: same registry revision,
   * registrations (enabled) and key set.
   */
  function currentTrustOf(entry: CachedVerification): { partner: PartnerApplication; keys: KeySet } | undefined {
    const found = currentTrust(entry);
    if (
      found === undefined ||
      !found.partner.enabled ||
      found.partner.updatedAt !== entry.partnerUpdatedAt ||
      found.keys.version !== entry.keySetVersion ||
      registry.revision !== entry.registryRevision
    ) {
      return undefined;
    }
    return found;
  }

  /**
   * Whether `key`, as the trust's key set answers for the entry's key id now, is still the
   * certificate that verified the token and valid at `nowMs`, and so is the outer token's own
   * certificate (over an STS-issued actor). Protocol.md section 2: an expired certificate never
   * verifies.
   */
  function keyStillGood(entry: CachedVerification, key: SigningKey | undefined, nowMs: number): boolean {
    if (key === undefined || key.x5tS256 !== entry.keyThumbprint) return false;
    if (nowMs < key.notBefore || nowMs > key.notAfter) return false;
    const outer = entry.outerCertificate;
    return outer === undefined || (nowMs >= outer.notBefore && nowMs <= outer.notAfter);
  }

  /** The audit fields of a cached principal. */
  function trailOf(principal: S2SPrincipal, trail: Trail): Trail {
    trail.partner = principal.partner;
    trail.applicationId = principal.applicationId;
    trail.audience = principal.audience;
    if (principal.tokenId !== undefined) trail.tokenId = principal.tokenId;
    if (principal.user !== undefined) {
      const label = userLabel(principal.user);
      if (label !== undefined) trail.user = label;
    }
    return trail;
  }

  /** A cached result, if it is still current (see {@link currentTrustOf} and {@link keyStillGood}). */
  async function fromCache(entry: CachedVerification, trail: Trail): Promise<S2SPrincipal | undefined> {
    const { principal } = entry;
    const found = currentTrustOf(entry);
    if (found === undefined) return undefined;
    // Protocol.md section 4: past the staleness bound, fail closed with 503 (KeysUnavailableError
    // propagates). A map lookup while the keys are current.
    const key = await found.keys.getKey(entry.keyId);
    if (!keyStillGood(entry, key, clock())) return undefined;
    trailOf(principal, trail);
    // The user may have been removed since; the hook is asked on every call.
    if (principal.user !== undefined) await checkUser(principal.user, found.partner);
    return principal;
  }

  function verifyCached(token: string, context: VerifyContext = {}): S2SPrincipal | undefined {
    const activeCache = cache;
    if (activeCache === undefined || typeof token !== 'string') return undefined;
    try {
      const nowMs = clock();
      const entry = activeCache.get(VerificationCache.keyOf(token), nowMs);
      if (entry === undefined) return undefined;
      const { principal } = entry;
      // The resolveUser hook may answer asynchronously: a user-context call takes verify().
      if (principal.user !== undefined && resolveUser !== undefined) return undefined;
      const found = currentTrustOf(entry);
      if (found === undefined || !keyStillGood(entry, found.keys.keyNow(entry.keyId), nowMs)) return undefined;
      audit({ decision: 'accept', status: 200, cached: true, ...trailOf(principal, {}), ...whereOf(context) });
      return principal;
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
          const principal = await fromCache(entry, trail);
          if (principal !== undefined) {
            audit({ decision: 'accept', status: 200, cached: true, ...trail, ...where });
            return principal;
          }
          activeCache.delete(cacheKey);
        }
      }
      // Read before verifying: a registry change while this verification awaits keys makes the
      // entry stale rather than caching a decision made against the old registrations.
      const registryRevision = registry.revision;
      const verified = await verifyToken(token, trail, nowMs);
      if (activeCache !== undefined && cacheKey !== undefined && activeCache === cache) {
        activeCache.set(cacheKey, {
          principal: verified.principal,
          registryRevision,
          partnerUpdatedAt: verified.partnerUpdatedAt,
          keySetVersion: verified.keySetVersion,
          keyId: verified.keyId,
          keyThumbprint: verified.keyThumbprint,
          ...(verified.oauthServer === undefined ? {} : { oauthServer: verified.oauthServer }),
          ...(verified.outerCertificate === undefined ? {} : { outerCertificate: verified.outerCertificate }),
        });
      }
      audit({ decision: 'accept', status: 200, cached: false, ...trail, ...where });
      return verified.principal;
    } catch (error) {
      const failure =
        error instanceof BearerError
          ? error
          : // Fail closed: an unexpected error (a bug, a closed store) means the token was not verified.
            new InvalidTokenError(
              'verification_failed',
              `internal error during verification (${error instanceof Error ? error.name : typeof error}); the token could not be verified`,
            );
      if (cacheKey !== undefined) cache?.delete(cacheKey);
      audit({ decision: 'reject', code: failure.code, reason: failure.reason, status: failure.status, ...trail, ...where });
      throw failure;
    }
  }

  function challenge(): ChallengeParams {
    const revision = registry.revision;
    if (challengeCache?.revision === revision) return challengeCache.params;
    let trustedIssuers: string[];
    let authorizationUri: string | undefined;
    try {
      trustedIssuers = registry
        .list()
        .filter((p) => p.enabled && p.keySource.kind !== 'oauthServer' && realms.has(p.realm))
        .map((p) => formatIssuerId({ principal: p.applicationId, realm: p.realm }));
      // OAuth servers after partners, in identity order.
      const all = registry.listOAuthServers();
      const servers = all.filter((s) => s.enabled && (s.realm === ANY_REALM || realms.has(s.realm)));
      trustedIssuers.push(...servers.map((s) => stsIssuerId(s.realm)));
      // Callers are sent for tokens to the STS of the realm the challenge names, selected as an
      // actor's iss in that realm would select it: never to the STS of another realm.
      const selected = selectOAuthServer(all, resolved.realms[0] as string);
      authorizationUri = typeof selected === 'object' && selected.enabled ? selected.authorizationUri : undefined;
    } catch {
      // Called while answering a request, often an error response: a registry that cannot be read
      // (closed, store failing) must not turn that answer into a crash. Trust no one in it.
      trustedIssuers = [];
      authorizationUri = undefined;
    }
    const params: ChallengeParams = Object.freeze({
      realm: resolved.realms[0] as string,
      clientId: ownPrincipal,
      trustedIssuers: Object.freeze(trustedIssuers),
      ...(authorizationUri === undefined ? {} : { authorizationUri }),
    });
    challengeCache = { revision, params };
    return params;
  }

  function close(): void {
    unsubscribe?.();
    unsubscribe = undefined;
    cache?.clear();
    cache = undefined;
  }

  return Object.freeze({ verify, verifyCached, challenge, options: resolved, close });
}
