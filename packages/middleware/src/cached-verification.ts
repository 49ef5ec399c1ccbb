/**
 * The cached path: whether a token's cached accept still holds. It holds while nothing it
 * depended on changed (the revision of the issuer trusts, the partner's and, for an STS-issued actor,
 * the OAuth server's registration, enabled; the key set's version), the key set still yields the
 * certificate that verified it and that certificate (and the outer token's own) is valid now. A
 * configured `resolveUser` hook is still asked on every call.
 *
 * `stillCurrentNow` is `verifyCached`'s hot path: synchronous, no promise, no allocation of its own.
 */
import { parseIssuerId, type SigningKey } from '@s2sauth/protocol';
import type { PartnerApplication } from '@s2sauth/store';
import type { KeySet } from '@s2sauth/discovery';
import type { ResolvedOAuthServer } from './oauth-server.js';
import { checkUser, userLabel } from './outer-token.js';
import type { S2SPrincipal } from './principal.js';
import type { IssuerTrusts } from './issuer-trusts.js';
import type { CachedVerification } from './verification-cache.js';
import type { Trail, VerifierState } from './verifier-state.js';

/** A partner and the key set its cached token's key came from (its own, or its OAuth server's). */
interface CurrentTrust {
  readonly partner: PartnerApplication;
  readonly keys: KeySet;
}

/**
 * The registration and key set a cached result was verified with, if both are unchanged: the
 * partner record (and, for an STS-issued actor, the OAuth server record) as they were, enabled.
 */
function currentTrust(trust: IssuerTrusts, entry: CachedVerification): CurrentTrust | undefined {
  const { principal } = entry;
  if (entry.oauthServer === undefined) {
    const found = trust.resolve(principal.applicationId, principal.realm);
    return found === undefined || found.partner.identity !== principal.partner ? undefined : found;
  }
  const issuer = parseIssuerId(principal.issuer);
  let sts: ResolvedOAuthServer | undefined;
  try {
    sts = issuer === undefined ? undefined : trust.resolveOAuthServer(issuer.principal, issuer.realm);
  } catch {
    return undefined; // two servers for one realm: verified afresh, and refused there
  }
  if (sts === undefined || sts.server.identity !== entry.oauthServer.identity || sts.server.updatedAt !== entry.oauthServer.updatedAt) {
    return undefined;
  }
  if (!sts.server.enabled) return undefined;
  const partner = trust.find(principal.applicationId, principal.realm);
  if (partner === undefined || partner.identity !== principal.partner || partner.keySource.kind !== 'oauthServer') return undefined;
  return { partner, keys: sts.keys };
}

/**
 * The trust a cached result was verified under, if it is still current: same revision,
 * registrations (enabled) and key set.
 */
function currentTrustOf(trust: IssuerTrusts, entry: CachedVerification): CurrentTrust | undefined {
  const found = currentTrust(trust, entry);
  if (
    found === undefined ||
    !found.partner.enabled ||
    found.partner.updatedAt !== entry.partnerUpdatedAt ||
    found.keys.version !== entry.keySetVersion ||
    trust.revision !== entry.registryRevision
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

/** Fills `trail` with the audit fields of a cached principal, and returns it. */
export function trailOf(principal: S2SPrincipal, trail: Trail): Trail {
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

/**
 * Whether a cached accept still holds, answered without waiting: `false` also when only waiting
 * could tell (the key set is loading or due for a refresh, or `resolveUser` must be asked).
 * Throws whatever the issuer trusts throw (the caller treats that as "ask `verify`").
 */
export function stillCurrentNow(state: VerifierState, entry: CachedVerification, nowMs: number): boolean {
  // The resolveUser hook may answer asynchronously: a user-context call takes verify().
  if (entry.principal.user !== undefined && state.resolveUser !== undefined) return false;
  const found = currentTrustOf(state.trust, entry);
  return found !== undefined && keyStillGood(entry, found.keys.keyNow(entry.keyId), nowMs);
}

/**
 * A cached result, if it is still current (see {@link stillCurrentNow}), waiting for the key set
 * when it must and asking `resolveUser` again; fills `trail` for the audit.
 *
 * @throws KeysUnavailableError past the key set's staleness bound (fail closed, 503), and
 *   `InvalidTokenError` `user_invalid` when the hook no longer accepts the user.
 */
export async function revalidate(state: VerifierState, entry: CachedVerification, trail: Trail): Promise<S2SPrincipal | undefined> {
  const { principal } = entry;
  const found = currentTrustOf(state.trust, entry);
  if (found === undefined) return undefined;
  // Protocol.md section 4: past the staleness bound, fail closed with 503 (KeysUnavailableError
  // propagates). A map lookup while the keys are current.
  const key = await found.keys.getKey(entry.keyId);
  if (!keyStillGood(entry, key, state.clock())) return undefined;
  trailOf(principal, trail);
  // The user may have been removed since; the hook is asked on every call.
  if (principal.user !== undefined) await checkUser(state, principal.user, found.partner);
  return principal;
}
