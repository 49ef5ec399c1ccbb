/**
 * Reading an STS's answer to a token request (protocol.md section 6): strict JSON, `Bearer`,
 * `resource`, and the access token's `aud`, `iss`, `nameid`, window, `scp`, delegation and `cnf`.
 * Not a security check (the target verifies the token): it makes a misconfigured STS or
 * registration fail here with a message naming what is wrong, and keeps a token broader than the
 * one asked for (scopes) from ever being sent.
 */
import { createHash } from 'node:crypto';
import { audiencesEqual, MAX_CLOCK_SKEW_SECONDS, parseAudience, parseJws, readNumericDate, type Audience } from '@s2sauth/protocol';
import type { OAuthCertificate } from '../identity/certificate.js';
import type { IssuedToken } from '../identity/token-issuer.js';
import { isPlainObject, readJsonObject, stsError, type StsResponse } from './sts-exchange.js';
import { StsTokenError } from './sts-token-error.js';

/** Largest token response read; an access token is at most 8 KiB (protocol.md section 3.3). */
export const MAX_TOKEN_RESPONSE_BYTES = 65_536;

/** What was asked for, to check the answer against. */
export interface StsTokenQuery {
  /** The requested audience, formatted. */
  readonly audience: string;
  /** Normalized (a set, sorted); `undefined` when the request named none. */
  readonly scopes: readonly string[] | undefined;
  readonly delegation: boolean;
  /** The certificate that signed the assertion. */
  readonly certificate: OAuthCertificate;
  /** `<principal>@<realm>`: the access token's expected `nameid`. */
  readonly clientId: string;
  /** The STS issuer id: the access token's expected `iss`. */
  readonly stsIssuer: string;
  /** The token endpoint asked, for messages. */
  readonly endpoint: string;
  /** Now, in milliseconds. */
  readonly now: number;
}

/** An STS access token with what the outer token needs. */
export interface StsAccessToken extends IssuedToken {
  /** The certificate that signed the assertion; `cnf` names it when delegation was granted. */
  readonly certificate: OAuthCertificate;
  /** The token endpoint it came from, for messages. */
  readonly endpoint: string;
  readonly aud: string;
  readonly nameid: string;
  /** Whole seconds, rounded into the token's window. */
  readonly nbf: number;
  readonly exp: number;
}

/** Builds the `invalid_response` errors of one answer. */
type Invalid = (what: string) => StsTokenError;

/**
 * The access token in the STS's answer to `query`, checked.
 * @throws StsTokenError `sts_error` for a status other than 200; `invalid_response` for an answer
 *   this server cannot use.
 */
export function readStsTokenResponse(response: StsResponse, query: StsTokenQuery): StsAccessToken {
  const { endpoint } = query;
  if (response.status !== 200) throw stsError(response, endpoint);
  const invalid: Invalid = (what) =>
    new StsTokenError('invalid_response', `The STS at ${endpoint} answered the token request for ${query.audience} with ${what}.`, {
      endpoint,
      status: 200,
    });
  if (response.body === undefined) throw invalid(`more than ${MAX_TOKEN_RESPONSE_BYTES} bytes`);
  const body = readJsonObject(response.body);
  if (body === undefined) throw invalid('a body that is not a JSON object');
  const requested = parseAudience(query.audience) as Audience;
  const accessToken = readAccessToken(body, requested, invalid);
  let payload: Readonly<Record<string, unknown>>;
  try {
    payload = parseJws(accessToken).payload;
  } catch {
    throw invalid('an access token that is not a well-formed RS256 JWS');
  }
  const { aud, nameid, nbf, exp } = checkClaims(payload, requested, query, invalid);
  const jti = payload['jti'];
  return {
    token: accessToken,
    jti: typeof jti === 'string' && jti !== '' ? jti : createHash('sha256').update(accessToken).digest('base64url'),
    notBefore: nbf * 1000,
    expiresAt: exp * 1000,
    certificate: query.certificate,
    endpoint,
    aud,
    nameid,
    nbf,
    exp,
  };
}

/** The token response's fields around the token (RFC 6749 section 5.1); the `access_token`. */
function readAccessToken(body: Readonly<Record<string, unknown>>, requested: Audience, invalid: Invalid): string {
  const tokenType = body['token_type'];
  if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer') throw invalid('a token_type other than Bearer');
  const accessToken = body['access_token'];
  if (typeof accessToken !== 'string' || accessToken === '') throw invalid('no access_token');
  for (const name of ['expires_in', 'not_before', 'expires_on']) {
    // ACS sends these as digit strings (as Microsoft's dates, docs/protocol.md section 3.1).
    if (body[name] !== undefined && readNumericDate(body[name]) === undefined) throw invalid(`a ${name} that is not a number of seconds`);
  }
  if (body['scope'] !== undefined && typeof body['scope'] !== 'string') throw invalid('a scope that is not a string');
  const resource = body['resource'];
  if (typeof resource !== 'string' || !sameAudience(resource, requested)) throw invalid('a resource other than the requested one');
  return accessToken;
}

/** The access token's claims against the query: audience, issuer, subject, window, scopes, delegation. */
function checkClaims(
  payload: Readonly<Record<string, unknown>>,
  requested: Audience,
  query: StsTokenQuery,
  invalid: Invalid,
): { aud: string; nameid: string; nbf: number; exp: number } {
  const aud = payload['aud'];
  if (typeof aud !== 'string' || !sameAudience(aud, requested)) throw invalid('an access token whose aud is not the requested audience');
  if (payload['iss'] !== query.stsIssuer) throw invalid(`an access token whose iss is not ${query.stsIssuer}`);
  const nameid = payload['nameid'];
  if (nameid !== query.clientId) throw invalid(`an access token whose nameid is not ${query.clientId}`);
  const rawNbf = readNumericDate(payload['nbf']);
  const rawExp = readNumericDate(payload['exp']);
  if (rawNbf === undefined || rawExp === undefined) throw invalid('an access token without a numeric nbf and exp');
  // Whole seconds inside the token's window, so an outer token never reaches outside it.
  const nbf = Math.ceil(rawNbf);
  const exp = Math.floor(rawExp);
  const { now } = query;
  if (exp <= nbf) throw invalid('an access token whose exp is not after its nbf');
  if (exp * 1000 <= now) throw invalid('an access token that has already expired');
  if (nbf * 1000 > now + MAX_CLOCK_SKEW_SECONDS * 1000) throw invalid('an access token that becomes valid only in the future');
  if (query.scopes !== undefined) {
    const scp = payload['scp'];
    const granted = typeof scp === 'string' ? scp.split(' ').filter((word) => word !== '') : undefined;
    if (granted === undefined || !granted.every((word) => query.scopes?.includes(word))) {
      throw invalid('an access token whose scp is absent or names scopes that were not requested');
    }
  }
  if (query.delegation) {
    if (payload['trustedfordelegation'] !== 'true') throw invalid('an access token without trustedfordelegation "true"; delegation was not granted');
    const cnf = payload['cnf'];
    if (!isPlainObject(cnf) || cnf['x5t#S256'] !== query.certificate.x5tS256) {
      throw invalid(`an access token whose cnf does not name the certificate ${query.certificate.x5t} that signed the assertion`);
    }
  }
  return { aud, nameid, nbf, exp };
}

function sameAudience(text: string, requested: Audience): boolean {
  const parsed = parseAudience(text);
  return parsed !== undefined && audiencesEqual(parsed, requested);
}
