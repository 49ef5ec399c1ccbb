/**
 * Claims of actor and outer tokens (protocol.md sections 3, 3.1 and 3.2): presence and types, the
 * lifetime rules of section 3.3 step 4, and scope arithmetic of step 7.
 *
 * Readers here decide only whether a claim is there and has the right type. What an `iss` or
 * `aud` means, and whether it is trusted, is the middleware's decision (identifiers.ts, trust).
 */
import { InvalidTokenError } from './errors.js';

/** The largest NumericDate accepted: ten decimal digits (year 2286), as Microsoft servers send at most. */
const MAX_NUMERIC_DATE = 9_999_999_999;

const NUMERIC_DATE_STRING = /^[0-9]{1,10}$/;

/**
 * Claims that describe a user. An actor token identifies an application, so it carries none of
 * them (protocol.md section 3.3 step 4); `actortoken` is here because an actor never nests another.
 */
export const USER_CLAIM_NAMES: readonly string[] = Object.freeze([
  'nii',
  'smtp',
  'sip',
  'upn',
  'actortoken',
  'unique_name',
  'altsecid',
]);

/** The claims of an actor token (protocol.md section 3.1), present and well-typed, not yet trusted. */
export interface ActorClaims {
  /** A single audience string; an array is rejected. */
  readonly aud: string;
  readonly iss: string;
  /** The acting application's issuer id. */
  readonly nameid: string;
  /** Seconds since the epoch. */
  readonly nbf: number;
  /** Seconds since the epoch. */
  readonly exp: number;
  readonly iat?: number;
  readonly jti?: string;
  /** `"true"` when the token may carry a user context; any other value means no. */
  readonly trustedfordelegation?: string;
  /** Space-separated scopes; see {@link parseScopes}. */
  readonly scp?: string;
  readonly identityprovider?: string;
  /** The SHA-256 thumbprint of the certificate that must sign the outer token (STS-issued actors). */
  readonly cnf?: { readonly 'x5t#S256': string };
}

/** The user claims an outer token may carry (protocol.md section 3.2). */
export interface UserClaims {
  readonly nameid?: string;
  readonly nii?: string;
  readonly smtp?: string;
  readonly sip?: string;
  readonly upn?: string;
}

/** The claims of an outer token (protocol.md section 3.2), present and well-typed, not yet bound to the actor. */
export interface OuterClaims extends UserClaims {
  readonly aud: string;
  readonly iss: string;
  readonly nbf: number;
  readonly exp: number;
  readonly iat?: number;
  /** The compact actor token, parsed and verified separately. */
  readonly actortoken: string;
}

/** The verifier's clock and limits for {@link checkLifetime}. */
export interface LifetimeRules {
  /** Now, in seconds since the epoch. */
  readonly now: number;
  /** Allowed clock skew in seconds, 0 to 300 (protocol.md section 3.3 step 4; default there 300). */
  readonly skew: number;
  /** The longest accepted `exp - nbf` and `exp - iat`, in seconds (default there 3600). */
  readonly maxLifetime: number;
}

/**
 * Reads a JWT NumericDate (RFC 7519 section 2) as protocol.md section 3 allows it: a finite JSON
 * number from 0 to 9999999999 (fractions allowed), or a string of 1 to 10 ASCII digits, which is
 * what Microsoft servers send. Anything else (another type, a sign, spaces, an exponent, an
 * 11-digit string, a negative or non-finite number) gives `undefined`.
 */
export function readNumericDate(value: unknown): number | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0 || value > MAX_NUMERIC_DATE) return undefined;
    return value === 0 ? 0 : value; // -0 reads as 0, so later comparisons see one zero
  }
  if (typeof value === 'string' && NUMERIC_DATE_STRING.test(value)) return Number(value);
  return undefined;
}

/** A short description of a value's type and shape for a reason; never the value itself. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return value === '' ? 'an empty string' : 'a string';
    case 'object':
      return 'an object';
    case 'number':
      if (!Number.isFinite(value)) return 'a non-finite number';
      if (value < 0) return 'a negative number';
      if (value > MAX_NUMERIC_DATE) return `a number above ${MAX_NUMERIC_DATE}`;
      return 'a number';
    default:
      return `a ${typeof value}`;
  }
}

function describeBadNumericDate(value: unknown): string {
  if (typeof value !== 'string' || value === '') return describe(value);
  if (/^[0-9]+$/.test(value)) return `a string of ${value.length} digits`;
  return `a string of ${value.length} characters that are not all ASCII digits`;
}

/** Own members only: a claim named `toString` or `__proto__` is never read through a prototype. */
class ClaimReader {
  constructor(
    private readonly payload: Readonly<Record<string, unknown>>,
    private readonly token: 'actor' | 'outer',
  ) {}

  private get(name: string): unknown {
    return Object.hasOwn(this.payload, name) ? this.payload[name] : undefined;
  }

  private wrongType(name: string, what: string): never {
    throw new InvalidTokenError('claim_type', `${this.token} token ${name} is ${what}`);
  }

  requiredString(name: string): string {
    const value = this.get(name);
    if (value === undefined) throw new InvalidTokenError('claim_missing', `${this.token} token has no ${name}`);
    if (typeof value !== 'string') this.wrongType(name, `${describe(value)}, not a string`);
    return value;
  }

  optionalString(name: string): string | undefined {
    const value = this.get(name);
    if (value !== undefined && typeof value !== 'string') this.wrongType(name, `${describe(value)}, not a string`);
    return value;
  }

  requiredDate(name: string): number {
    const date = this.optionalDate(name);
    if (date === undefined) throw new InvalidTokenError('claim_missing', `${this.token} token has no ${name}`);
    return date;
  }

  private optionalDate(name: string): number | undefined {
    const value = this.get(name);
    if (value === undefined) return undefined;
    const date = readNumericDate(value);
    if (date === undefined) this.wrongType(name, describeBadNumericDate(value));
    return date;
  }

  /**
   * `iat` as a JSON number only: protocol.md section 3 admits decimal-digit strings for `nbf` and
   * `exp` alone (Microsoft servers send those), and every other type is rejected.
   */
  optionalNumberDate(name: string): number | undefined {
    const value = this.get(name);
    if (value === undefined) return undefined;
    if (typeof value !== 'number') this.wrongType(name, describeBadNumericDate(value));
    const date = readNumericDate(value);
    if (date === undefined) this.wrongType(name, describeBadNumericDate(value));
    return date;
  }

  confirmation(): { readonly 'x5t#S256': string } | undefined {
    const value = this.get('cnf');
    if (value === undefined) return undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.wrongType('cnf', `${describe(value)}, not an object`);
    }
    const names = Object.keys(value);
    const thumbprint: unknown = Object.hasOwn(value, 'x5t#S256') ? (value as Record<string, unknown>)['x5t#S256'] : undefined;
    if (names.length !== 1 || thumbprint === undefined) {
      this.wrongType('cnf', `an object with ${names.length} members, not exactly x5t#S256`);
    }
    if (typeof thumbprint !== 'string') this.wrongType('cnf x5t#S256', `${describe(thumbprint)}, not a string`);
    return { 'x5t#S256': thumbprint };
  }

  /** The user claims among `names` that are present (any value). */
  presentOf(names: readonly string[]): string[] {
    const present: string[] = [];
    for (const name of names) if (Object.hasOwn(this.payload, name)) present.push(name);
    return present;
  }
}

/**
 * Reads the claims of an actor token (protocol.md section 3.1): `aud`, `iss`, `nameid` (strings)
 * and `nbf`, `exp` (NumericDate, see {@link readNumericDate}) are required; `iat`, `jti`,
 * `trustedfordelegation`, `scp`, `identityprovider` and `cnf` (an object of exactly one string
 * member `x5t#S256`) are optional. Other claims are ignored. Nothing is trusted or compared here.
 *
 * @throws InvalidTokenError `actor_user_claims` if the actor carries any of {@link USER_CLAIM_NAMES};
 * `claim_missing` for an absent required claim; `claim_type` for a claim of the wrong type (an
 * `aud` array included).
 */
export function readActorClaims(payload: Readonly<Record<string, unknown>>): ActorClaims {
  const claims = new ClaimReader(payload, 'actor');
  const userClaims = claims.presentOf(USER_CLAIM_NAMES);
  if (userClaims.length > 0) {
    throw new InvalidTokenError('actor_user_claims', `actor token carries user claims: ${userClaims.join(', ')}`);
  }
  const aud = claims.requiredString('aud');
  const iss = claims.requiredString('iss');
  const nameid = claims.requiredString('nameid');
  const nbf = claims.requiredDate('nbf');
  const exp = claims.requiredDate('exp');
  const iat = claims.optionalNumberDate('iat');
  const jti = claims.optionalString('jti');
  const trustedfordelegation = claims.optionalString('trustedfordelegation');
  const scp = claims.optionalString('scp');
  const identityprovider = claims.optionalString('identityprovider');
  const cnf = claims.confirmation();
  return {
    aud,
    iss,
    nameid,
    nbf,
    exp,
    ...(iat === undefined ? {} : { iat }),
    ...(jti === undefined ? {} : { jti }),
    ...(trustedfordelegation === undefined ? {} : { trustedfordelegation }),
    ...(scp === undefined ? {} : { scp }),
    ...(identityprovider === undefined ? {} : { identityprovider }),
    ...(cnf === undefined ? {} : { cnf }),
  };
}

/**
 * Reads the claims of an outer token (protocol.md section 3.2): `aud`, `iss`, `actortoken`
 * (strings) and `nbf`, `exp` (NumericDate) are required; `iat` (a JSON number NumericDate) and the user claims
 * `nameid`, `nii`, `smtp`, `sip`, `upn` (strings) are optional. Other claims are ignored. Whether a
 * user is identified, and the binding to the actor, are the middleware's checks.
 *
 * @throws InvalidTokenError `claim_missing` for an absent required claim, `claim_type` for a claim
 * of the wrong type (an `aud` array included).
 */
export function readOuterClaims(payload: Readonly<Record<string, unknown>>): OuterClaims {
  const claims = new ClaimReader(payload, 'outer');
  const aud = claims.requiredString('aud');
  const iss = claims.requiredString('iss');
  const nbf = claims.requiredDate('nbf');
  const exp = claims.requiredDate('exp');
  const actortoken = claims.requiredString('actortoken');
  const iat = claims.optionalNumberDate('iat');
  const user: Record<string, string> = {};
  for (const name of ['nameid', 'nii', 'smtp', 'sip', 'upn'] as const) {
    const value = claims.optionalString(name);
    if (value !== undefined) user[name] = value;
  }
  return { aud, iss, nbf, exp, actortoken, ...(iat === undefined ? {} : { iat }), ...(user as UserClaims) };
}

/**
 * Checks a token's lifetime (protocol.md section 3.3 step 4), in this order:
 * `exp <= nbf` → `claim_type`; `exp <= now - skew` → `token_expired`; `nbf > now + skew` →
 * `token_not_yet_valid`; `iat > now + skew` → `token_issued_in_future`; `exp - nbf` or
 * `exp - iat` above `maxLifetime` → `token_lifetime_too_long`.
 *
 * @throws InvalidTokenError with the codes above.
 * @throws TypeError if `rules` are out of range (`skew` outside 0..300, `maxLifetime` not positive,
 * `now` not finite).
 */
export function checkLifetime(claims: { readonly nbf: number; readonly exp: number; readonly iat?: number }, rules: LifetimeRules): void {
  const { now, skew, maxLifetime } = rules;
  if (!Number.isFinite(now)) throw new TypeError('checkLifetime: rules.now must be a finite number of seconds');
  if (!Number.isFinite(skew) || skew < 0 || skew > MAX_CLOCK_SKEW_SECONDS) {
    throw new TypeError(`checkLifetime: rules.skew must be 0 to ${MAX_CLOCK_SKEW_SECONDS} seconds`);
  }
  if (!Number.isFinite(maxLifetime) || maxLifetime <= 0) {
    throw new TypeError('checkLifetime: rules.maxLifetime must be a positive number of seconds');
  }
  const { nbf, exp, iat } = claims;
  if (!(exp > nbf)) throw new InvalidTokenError('claim_type', `exp is not after nbf (by ${nbf - exp} s)`);
  if (exp <= now - skew) {
    throw new InvalidTokenError('token_expired', `expired ${now - exp} s ago, skew ${skew} s`);
  }
  if (nbf > now + skew) {
    throw new InvalidTokenError('token_not_yet_valid', `not valid for another ${nbf - now} s, skew ${skew} s`);
  }
  if (iat !== undefined && iat > now + skew) {
    throw new InvalidTokenError('token_issued_in_future', `iat is ${iat - now} s in the future, skew ${skew} s`);
  }
  if (exp - nbf > maxLifetime) {
    throw new InvalidTokenError('token_lifetime_too_long', `exp - nbf is ${exp - nbf} s, more than ${maxLifetime} s`);
  }
  if (iat !== undefined && exp - iat > maxLifetime) {
    throw new InvalidTokenError('token_lifetime_too_long', `exp - iat is ${exp - iat} s, more than ${maxLifetime} s`);
  }
}

/** The largest clock skew a verifier may allow, and its default, in seconds (protocol.md section 3.3 step 4). */
export const MAX_CLOCK_SKEW_SECONDS = 300;

/** The longest token lifetime any verifier may be configured to accept, in seconds: 24 hours, as ACS actor tokens. */
export const MAX_TOKEN_LIFETIME_SECONDS = 86_400;

/** RFC 6749 section 3.3 `scope-token`: visible ASCII except space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * True when `word` is one RFC 6749 `scope-token` (section 3.3): one or more visible ASCII
 * characters other than space, `"` and `\`. Every scope that is granted, requested or required
 * must be one.
 */
export function isScopeToken(word: string): boolean {
  return SCOPE_TOKEN.test(word);
}

/**
 * Splits an `scp` claim into its scopes: whole words separated by spaces (RFC 6749 section 3.3),
 * empty words dropped, duplicates removed, order kept. Nothing is case-folded.
 */
export function parseScopes(scp: string): string[] {
  return [...new Set(scp.split(' ').filter((word) => word !== ''))];
}

/**
 * The scopes a call actually has (protocol.md section 3.3 step 7): with no `scp` claim, the
 * partner's grant; with an empty `scp`, nothing; otherwise the token's scopes that are also in the
 * grant, compared as whole, case-sensitive words.
 */
export function effectiveScopes(tokenScp: string | undefined, granted: readonly string[]): string[] {
  if (tokenScp === undefined) return [...new Set(granted)];
  const grant = new Set(granted);
  // parseScopes(tokenScp).filter((scope) => grant.has(scope)), in one pass: each granted word
  // once, in the order of its first occurrence.
  const scopes: string[] = [];
  for (const word of tokenScp.split(' ')) {
    if (word !== '' && grant.has(word) && !scopes.includes(word)) scopes.push(word);
  }
  return scopes;
}
