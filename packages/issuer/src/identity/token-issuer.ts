/**
 * The built-in token issuer: self-issued actor tokens (protocol.md section 3.1) and signed outer
 * tokens carrying a user context (section 3.2), the way a Lync Server 2013 partner application
 * mints its own tokens instead of asking an STS.
 *
 * Everything a caller can get wrong is checked before anything is signed and reported as a
 * `TypeError`; nothing the caller passes can replace a claim the protocol defines. The signing
 * certificate is chosen per token (`CertificateSet.signing(now)`), so a staged certificate takes
 * over at its effective time without restarting anything; one {@link Rs256Signer} is kept per
 * certificate, so the header is encoded once per certificate and the key is a `KeyObject`.
 */
import { randomFillSync } from 'node:crypto';
import {
  formatAudience,
  isPrincipalId,
  isRealm,
  isScopeToken,
  MAX_TOKEN_LIFETIME_SECONDS,
  optionNames,
  parseAudience,
  refuseUnknownOptions,
  systemClock,
  USER_CLAIM_NAMES,
  type Audience,
  type Clock,
} from '@s2sauth/protocol';
import { CertificateSet } from './certificate-set.js';
import type { OAuthCertificate } from './certificate.js';
import { Rs256Signer } from './jws-signer.js';

/** Default lifetime of an issued token, in seconds (one hour). */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 3600;

/**
 * Default cap on a token's lifetime, in seconds: the verifiers' default maximum lifetime
 * (protocol.md section 3.1, one hour). A longer-lived token would be refused by them.
 */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 3600;

/** The largest `maxLifetimeSeconds` accepted (one day). */

/** `nii` of an outer token when the user context does not name one. */
export const DEFAULT_NAME_IDENTIFIER_ISSUER = 'urn:office:idp:activedirectory';

/**
 * Names `claims` may not set: every claim protocol.md section 3 defines (actor and outer), the
 * user claims an actor token must never carry, and JOSE header parameter names (so an extra claim
 * is never mistaken for a header by a lenient reader). `__proto__` because assigning it would
 * change an object's prototype instead of adding a claim.
 */
const RESERVED_CLAIMS: ReadonlySet<string> = new Set([
  // protocol.md 3.1 and 3.2
  'aud',
  'iss',
  'nameid',
  'nbf',
  'exp',
  'iat',
  'jti',
  'scp',
  'trustedfordelegation',
  'identityprovider',
  'cnf',
  // nii smtp sip upn actortoken unique_name altsecid: a verifier rejects an actor carrying them
  ...USER_CLAIM_NAMES,
  // JOSE header parameters (RFC 7515 section 4.1, RFC 7797)
  'typ',
  'alg',
  'kid',
  'x5t',
  'x5t#S256',
  'x5c',
  'x5u',
  'jku',
  'jwk',
  'crit',
  'cty',
  'b64',
  'enc',
  'zip',
  '__proto__',
]);

/** A scope word: RFC 6749 section 3.3 `scope-token` (visible ASCII except `"` and `\`). */

/** Control characters (C0, DEL, C1): never valid in a user identifier or claim name. */
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

/** Options of {@link TokenIssuer}. */
export interface TokenIssuerOptions {
  /** This application's principal id (a lowercase GUID, protocol.md section 1). */
  readonly principal: string;
  /** The realm the issuer signs for; the signing certificate must list it (protocol.md section 2). */
  readonly realm: string;
  /** The OAuth certificate, or a set of them for rollover. A single certificate signs while it is valid. */
  readonly certificates: CertificateSet | OAuthCertificate;
  /** Lifetime of each token in seconds unless a request says otherwise. Default 3600. */
  readonly lifetimeSeconds?: number;
  /**
   * The longest lifetime a token may have, in seconds; a request for more is a `TypeError`.
   * Default 3600, the verifiers' default maximum (protocol.md section 3.1); at most 86400.
   */
  readonly maxLifetimeSeconds?: number;
  /**
   * Time source for `nbf`/`iat`/`exp` and for choosing the signing certificate. Default the system
   * clock. With a `CertificateSet`, give it the set's clock.
   */
  readonly clock?: Clock;
}

const OPTION_NAMES = optionNames<TokenIssuerOptions>({
  principal: true,
  realm: true,
  certificates: true,
  lifetimeSeconds: true,
  maxLifetimeSeconds: true,
  clock: true,
});

/** What an actor token is for. */
export interface ActorTokenRequest {
  /**
   * The target service, `<principal>/<authority>@<realm>` (protocol.md section 1), as text or
   * parsed. Its realm must be the issuer's realm. The authority is emitted lower-cased.
   */
  readonly audience: string | Audience;
  /**
   * Scopes to put in `scp`, space-separated. Absent: no `scp` (the verifier applies the partner's
   * grant). Empty array: `scp` is `""`, which grants nothing (protocol.md section 3.3 step 7).
   * Each must be an RFC 6749 scope word.
   */
  readonly scopes?: readonly string[];
  /**
   * Whether the actor token carries `trustedfordelegation`. It is implied by the method:
   * `issueAppOnly` never sets it (so `true` is refused), `issueForUser` always does (so `false` is
   * refused). Leave it out.
   */
  readonly delegation?: boolean;
  /** Lifetime of this token in seconds; default the issuer's `lifetimeSeconds`, at most its `maxLifetimeSeconds`. */
  readonly lifetimeSeconds?: number;
  /**
   * Extra claims for the actor token. Names defined by the protocol or by JOSE (`aud`, `iss`,
   * `scp`, `nii`, `alg`, ...) are refused: use the request fields instead.
   */
  readonly claims?: Readonly<Record<string, string | number | boolean>>;
}

/** The user a call is made on behalf of (the outer token's claims, protocol.md section 3.2). */
export interface UserContext {
  /** The user's identifier, e.g. `alice@contoso.com`. */
  readonly nameid: string;
  /** Name identifier issuer. Default `urn:office:idp:activedirectory`. */
  readonly nii?: string;
  readonly smtp?: string;
  readonly sip?: string;
  readonly upn?: string;
}

/** An issued token and its validity window. */
export interface IssuedToken {
  /** The compact JWS to send as `Authorization: Bearer <token>`. */
  readonly token: string;
  /** The actor token's `jti`. */
  readonly jti: string;
  /** `nbf`, in milliseconds since the epoch. */
  readonly notBefore: number;
  /** `exp`, in milliseconds since the epoch. */
  readonly expiresAt: number;
}

interface ActorToken extends IssuedToken {
  readonly nameid: string;
  readonly aud: string;
  readonly nbf: number;
  readonly exp: number;
  readonly signer: Rs256Signer;
}

/** Bytes of a `jti`: 128 random bits (protocol.md section 3.1). */
const JTI_BYTES = 16;

/**
 * `jti`s are cut from a pool of CSPRNG bytes refilled every 256 tokens: a call into the CSPRNG
 * costs more than serializing all the claims, so one per token would be the issuer's largest
 * overhead after the signature. Every byte is used once.
 */
const jtiPool = Buffer.alloc(JTI_BYTES * 256);
let jtiOffset = jtiPool.length;

function newJti(): string {
  if (jtiOffset === jtiPool.length) {
    randomFillSync(jtiPool);
    jtiOffset = 0;
  }
  const jti = jtiPool.toString('base64url', jtiOffset, jtiOffset + JTI_BYTES);
  jtiOffset += JTI_BYTES;
  return jti;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkLifetime(value: unknown, name: string, max: number, maxName: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`${name} must be a whole number of seconds, at least 1.`);
  }
  if (value > max) throw new TypeError(`${name} (${value} s) is longer than ${maxName} (${max} s).`);
  return value;
}

function checkText(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '' || CONTROL.test(value)) {
    throw new TypeError(`${name} must be a non-empty string without control characters.`);
  }
  return value;
}

/**
 * The user claims of an outer token (protocol.md section 3.2) from a user context: `nameid`, `nii`
 * (default {@link DEFAULT_NAME_IDENTIFIER_ISSUER}) and `smtp`/`sip`/`upn` when given, each a
 * non-empty string without control characters. Used by every issuer of outer tokens.
 *
 * @throws TypeError naming the member that is missing or malformed.
 */
export function userContextClaims(user: UserContext): Record<string, string> {
  if (!isPlainObject(user)) throw new TypeError('user must be an object.');
  const claims: Record<string, string> = {
    nameid: checkText(user.nameid, 'user.nameid'),
    nii: user.nii === undefined ? DEFAULT_NAME_IDENTIFIER_ISSUER : checkText(user.nii, 'user.nii'),
  };
  for (const name of ['smtp', 'sip', 'upn'] as const) {
    const value = user[name];
    if (value !== undefined) claims[name] = checkText(value, `user.${name}`);
  }
  return claims;
}

/**
 * Issues self-issued actor tokens and user-context tokens, signed RS256 with the OAuth
 * certificate (protocol.md sections 3.1 and 3.2).
 *
 * Header of every token: `{"typ":"JWT","alg":"RS256","x5t":"<x5t>","kid":"<x5t>"}` of the
 * certificate that signs at issue time. Claims of an app-only actor token: `aud`, `iss`,
 * `nameid` (= `iss` = {@link TokenIssuer.issuerId}), `nbf`, `exp`, `iat`, `jti` (128 random bits),
 * `scp` when scopes are given, and any extra `claims`.
 *
 * @example
 * const issuer = new TokenIssuer({ principal: WellKnownPrincipal.lync, realm: 'contoso.com', certificates });
 * const { token } = issuer.issueAppOnly({ audience: '00000002-0000-0ff1-ce00-000000000000/mail.contoso.com@contoso.com' });
 */
export class TokenIssuer {
  /** `<principal>@<realm>`: the `iss` and `nameid` of every actor token. */
  readonly issuerId: string;
  readonly #realm: string;
  readonly #certificates: CertificateSet;
  readonly #lifetime: number;
  readonly #maxLifetime: number;
  readonly #clock: Clock;
  readonly #signers = new WeakMap<OAuthCertificate, Rs256Signer>();
  /** The last audience text accepted and its formatted form: callers mostly repeat one audience. */
  #lastAudience: readonly [string, string] | undefined;

  /**
   * Checks the options and the certificate that signs now.
   * @throws TypeError naming the option that is wrong, or a `CertificateError` (a `TypeError`)
   *   when the certificate that signs now is not valid now or does not cover `realm`.
   */
  constructor(options: TokenIssuerOptions) {
    if (!isPlainObject(options)) throw new TypeError('TokenIssuer options must be an object.');
    refuseUnknownOptions('new TokenIssuer', options, OPTION_NAMES);
    const { principal, realm, certificates } = options;
    if (typeof principal !== 'string' || !isPrincipalId(principal)) {
      throw new TypeError('options.principal must be a lowercase GUID (the application principal id).');
    }
    if (typeof realm !== 'string' || !isRealm(realm)) {
      throw new TypeError('options.realm must be a lowercase DNS name or GUID.');
    }
    const clock = options.clock ?? systemClock;
    if (typeof clock !== 'function') throw new TypeError('options.clock must be a function returning milliseconds.');
    const maxLifetime = checkLifetime(
      options.maxLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
      'options.maxLifetimeSeconds',
      MAX_TOKEN_LIFETIME_SECONDS,
      'one day',
    );
    this.#lifetime = checkLifetime(
      options.lifetimeSeconds ?? Math.min(DEFAULT_TOKEN_LIFETIME_SECONDS, maxLifetime),
      'options.lifetimeSeconds',
      maxLifetime,
      'options.maxLifetimeSeconds',
    );
    this.#maxLifetime = maxLifetime;
    this.#certificates = CertificateSet.from(certificates, clock);
    this.#realm = realm;
    this.#clock = clock;
    this.issuerId = `${principal}@${realm}`;
    // Fail at start-up, not on the first call, when the certificate cannot sign for this realm.
    const now = clock();
    this.#signerFor(this.#certificates.requireSigning(now), now);
  }

  /**
   * Issues an app-only actor token (protocol.md section 3.1): no `trustedfordelegation`.
   * @throws TypeError for a malformed request; `SigningCertificateError` when no certificate can sign now.
   */
  issueAppOnly(request: ActorTokenRequest): IssuedToken {
    if (isPlainObject(request) && request.delegation === true) {
      throw new TypeError('request.delegation is not allowed for an app-only token; use issueForUser.');
    }
    const { token, jti, notBefore, expiresAt } = this.#issueActor(request, false);
    return { token, jti, notBefore, expiresAt };
  }

  /**
   * Issues a token on behalf of a user (protocol.md section 3.2): an actor token with
   * `trustedfordelegation` `"true"`, wrapped in an outer token signed with the same key whose
   * claims are `aud`, `iss` (= the actor's `nameid`), `nbf`, `exp` (the actor's window),
   * `nameid` (the user), `nii`, `smtp`/`sip`/`upn` when given, and `actortoken`.
   *
   * The returned `jti` is the actor token's.
   * @throws TypeError for a malformed request or user; `SigningCertificateError` when no certificate can sign now.
   */
  issueForUser(request: ActorTokenRequest, user: UserContext): IssuedToken {
    if (isPlainObject(request) && request.delegation === false) {
      throw new TypeError('request.delegation cannot be false for a token with a user context.');
    }
    const outerUser = userContextClaims(user);
    const actor = this.#issueActor(request, true);
    const token = actor.signer.sign({
      aud: actor.aud,
      iss: actor.nameid,
      nbf: actor.nbf,
      exp: actor.exp,
      ...outerUser,
      actortoken: actor.token,
    });
    return { token, jti: actor.jti, notBefore: actor.notBefore, expiresAt: actor.expiresAt };
  }

  #issueActor(request: ActorTokenRequest, delegation: boolean): ActorToken {
    if (!isPlainObject(request)) throw new TypeError('request must be an object.');
    const aud = this.#audience(request.audience);
    const lifetime =
      request.lifetimeSeconds === undefined
        ? this.#lifetime
        : checkLifetime(request.lifetimeSeconds, 'request.lifetimeSeconds', this.#maxLifetime, 'maxLifetimeSeconds');
    const scp = request.scopes === undefined ? undefined : scopeClaim(request.scopes);
    const extra = request.claims === undefined ? undefined : extraClaims(request.claims);

    const now = this.#clock();
    const signer = this.#signerFor(this.#certificates.signing(now), now);
    const nbf = Math.floor(now / 1000);
    const exp = nbf + lifetime;
    const jti = newJti();
    const claims: Record<string, unknown> = {
      aud,
      iss: this.issuerId,
      nameid: this.issuerId,
      nbf,
      exp,
      iat: nbf,
      jti,
    };
    if (delegation) claims['trustedfordelegation'] = 'true';
    if (scp !== undefined) claims['scp'] = scp;
    if (extra) Object.assign(claims, extra);
    return {
      token: signer.sign(claims),
      jti,
      notBefore: nbf * 1000,
      expiresAt: exp * 1000,
      nameid: this.issuerId,
      aud,
      nbf,
      exp,
      signer,
    };
  }

  #audience(value: unknown): string {
    if (typeof value === 'string' && this.#lastAudience?.[0] === value) return this.#lastAudience[1];
    let parsed: Audience | undefined;
    if (typeof value === 'string') {
      parsed = parseAudience(value);
    } else if (isPlainObject(value) && typeof value['principal'] === 'string' && typeof value['authority'] === 'string' && typeof value['realm'] === 'string') {
      // Round-trip through the text form so an object is held to exactly the same rules.
      parsed = parseAudience(`${value['principal']}/${value['authority']}@${value['realm']}`);
    }
    if (!parsed) {
      throw new TypeError('request.audience must be <principal>/<authority>@<realm> (protocol.md section 1).');
    }
    if (parsed.realm !== this.#realm) {
      throw new TypeError(`request.audience is in realm ${parsed.realm}, not this issuer's realm ${this.#realm}.`);
    }
    const formatted = formatAudience(parsed);
    if (typeof value === 'string') this.#lastAudience = [value, formatted];
    return formatted;
  }

  #signerFor(certificate: OAuthCertificate, now: number): Rs256Signer {
    let signer = this.#signers.get(certificate);
    if (!signer) {
      // protocol.md section 2, checked once per certificate before its first signature: CN = the
      // primary realm, listed among the SANs with this issuer's realm (validity is checked on every
      // signature by CertificateSet.signing).
      certificate.validate({ realms: [this.#realm], now });
      signer = new Rs256Signer(certificate.privateKey, { typ: 'JWT', alg: 'RS256', x5t: certificate.x5t, kid: certificate.x5t });
      this.#signers.set(certificate, signer);
    }
    return signer;
  }
}

function scopeClaim(scopes: unknown): string {
  if (!Array.isArray(scopes)) throw new TypeError('request.scopes must be an array of scope words.');
  for (const scope of scopes as unknown[]) {
    if (typeof scope !== 'string' || !isScopeToken(scope)) {
      throw new TypeError('request.scopes must hold non-empty scope words without spaces, quotes, backslashes or control characters.');
    }
  }
  return scopes.join(' ');
}

function extraClaims(claims: unknown): Record<string, string | number | boolean> {
  if (!isPlainObject(claims)) throw new TypeError('request.claims must be an object.');
  const result: Record<string, string | number | boolean> = {};
  for (const name of Object.keys(claims)) {
    if (RESERVED_CLAIMS.has(name)) {
      throw new TypeError(`request.claims may not set the reserved claim "${name}".`);
    }
    if (name === '' || CONTROL.test(name)) throw new TypeError('request.claims has an empty name or one with control characters.');
    const value = claims[name];
    if (!(typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)))) {
      throw new TypeError(`request.claims.${name} must be a string, a finite number or a boolean.`);
    }
    result[name] = value;
  }
  return result;
}
