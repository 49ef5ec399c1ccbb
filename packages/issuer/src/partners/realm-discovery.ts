/**
 * Realm discovery (protocol.md section 7, MS-XOAUTH 3.2.5.4): reading a partner's answer to a `GET`
 * with an empty `Authorization: Bearer`, a 401 with `WWW-Authenticate: Bearer realm=…,
 * client_id=…, trusted_issuers=…`. The answer is checked (the right application, this server among
 * the trusted issuers, this server's realm). A self-issued token is always in the issuer's own
 * realm (protocol.md section 3.3 step 4), so discovery cannot change the realm a token is minted
 * for: it finds out early, with a message a person can act on, that a call would fail.
 */
import {
  isRealm,
  parseTrustedIssuer,
  readBearerChallenge,
  trustedIssuerCovers,
  type BearerChallenge,
  type IssuerId,
} from '@s2sauth/protocol';
import { quoteRemoteText as quote } from './outbound-http.js';
import { S2SClientError } from './s2s-client-error.js';

/** Most `trusted_issuers` entries listed in a `not_trusted` message. */
const MAX_LISTED_ISSUERS = 10;

/** The partner as discovery knows it. */
export interface DiscoveryTarget {
  /** The partner's origin, for messages and errors. */
  readonly origin: string;
  /** The configured partner principal. */
  readonly principal: string;
  /** This server's issuer id, parsed and as text. */
  readonly issuerId: IssuerId;
  readonly issuerIdText: string;
}

/**
 * The realm a partner announced in its answer to the discovery request (`described`, e.g.
 * `GET /`), once checked.
 * @throws S2SClientError `discovery_failed`, `wrong_principal`, `not_trusted`, `realm_mismatch`.
 */
export function realmFromChallenge(response: Response, target: DiscoveryTarget, described: string): string {
  const { origin } = target;
  const challenge = response.status === 401 ? readBearerChallenge(response.headers.get('www-authenticate') ?? '') : undefined;
  if (challenge === undefined) {
    throw new S2SClientError(
      'discovery_failed',
      `${origin} answered the realm discovery request (${described} with an empty bearer token) with ${response.status}${response.status === 401 ? ' but no Bearer challenge' : ', not 401 with a Bearer challenge'}; configure the partner's realm or its discoveryPath.`,
      { target: origin, status: response.status },
    );
  }
  const details = { target: origin, status: response.status, challenge };
  if (challenge.clientId !== undefined && challenge.clientId !== target.principal) {
    throw new S2SClientError(
      'wrong_principal',
      `${origin} is the application ${quote(challenge.clientId)}, not the configured partner ${target.principal}.`,
      details,
    );
  }
  if (!trusts(challenge, target.issuerId)) {
    throw new S2SClientError(
      'not_trusted',
      `${origin} does not trust ${target.issuerIdText} as a token issuer (it trusts: ${listIssuers(challenge.trustedIssuers)}).`,
      details,
    );
  }
  const realm = challenge.realm ?? target.issuerId.realm;
  if (!isRealm(realm)) {
    throw new S2SClientError('discovery_failed', `${origin} announced a realm that is not a lowercase DNS name or GUID: ${quote(realm)}.`, details);
  }
  if (realm !== target.issuerId.realm) {
    throw new S2SClientError(
      'realm_mismatch',
      `${origin} is in the realm ${realm}, but ${target.issuerIdText} issues tokens for ${target.issuerId.realm} only.`,
      details,
    );
  }
  return realm;
}

/** True when the challenge lists no trusted issuers, or one covering `issuer`. */
export function trusts(challenge: BearerChallenge, issuer: IssuerId): boolean {
  if (challenge.trustedIssuers.length === 0) return true;
  return challenge.trustedIssuers.some((entry) => {
    const parsed = parseTrustedIssuer(entry);
    return parsed !== undefined && trustedIssuerCovers(parsed, issuer);
  });
}

/** A challenge's `trusted_issuers`, quoted, the first ten of them. */
export function listIssuers(entries: readonly string[]): string {
  const listed = entries.slice(0, MAX_LISTED_ISSUERS).map(quote).join(', ');
  return entries.length > MAX_LISTED_ISSUERS ? `${listed} and ${entries.length - MAX_LISTED_ISSUERS} more` : listed;
}

/** ` "error": "description" (scope "…")` of a challenge, quoted; empty without an `error`. */
export function describeChallenge(challenge: BearerChallenge | undefined): string {
  if (challenge?.error === undefined) return '';
  let text = ` ${quote(challenge.error)}`;
  if (challenge.errorDescription !== undefined) text += `: ${quote(challenge.errorDescription)}`;
  if (challenge.scope !== undefined) text += ` (scope ${quote(challenge.scope)})`;
  return text;
}
