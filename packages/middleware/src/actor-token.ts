/**
 * Protocol.md section 3.3 step 4: the actor token. Only its `iss` is read before the signature,
 * and only to pick the one registered trust it names (a partner, or the OAuth server of its realm);
 * the key comes from that trust's key set and nowhere else (never from the token: no `jku`, `x5u`,
 * `jwk`, `x5c`); then the claims, the lifetime and the audience; then, for an STS-issued actor,
 * the partner its `nameid` names. An unregistered issuer, a disabled partner and a disabled OAuth
 * server cause no outbound request at all.
 */
import {
  type ActorClaims,
  checkLifetime,
  type IssuerId,
  parseAudience,
  type ParsedJws,
  parseIssuerId,
  readActorClaims,
  type SigningKey,
  WellKnownPrincipal,
} from '@s2sauth/protocol';
import type { OAuthServerRecord, PartnerApplication } from '@s2sauth/store';
import type { KeySet } from '@s2sauth/discovery';
import type { ResolvedOAuthServer } from './oauth-server.js';
import { PartnerRegistryError } from './registry.js';
import { checkSignature } from './signature.js';
import type { ActorIssuer } from './trust-level.js';
import { fail, own, rulesAt, type Trail, type VerifierState } from './verifier-state.js';

/** What verifying the actor token established. */
export interface VerifiedActor {
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

/** The key that verified an actor's signature, and the version of the key set it came from. */
interface ActorKey {
  readonly keyId: string;
  readonly key: SigningKey;
  readonly keySetVersion: number;
}

/**
 * Steps 4.3 and 4.4: the actor's key, looked up by its `x5t`/`kid` in `keys` only (one trust's key
 * set), checked to be valid now, and its signature verified with it.
 */
async function verifySignature(actor: ParsedJws, keys: KeySet, owner: string, nowMs: number): Promise<ActorKey> {
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
 * Steps 4.5 to 4.7: the verified actor's claims, lifetime and audience: `aud` is one of ours, and
 * its realm is one we serve and the realm of `iss`. `trustedfordelegation` is returned raw: it is
 * a trust input, not a claim whose type can make a token malformed (any value but the string
 * "true" just means "not trusted for delegation", trust-level.ts).
 */
function readClaims(
  state: VerifierState,
  actor: ParsedJws,
  issuer: IssuerId,
  trail: Trail,
  nowMs: number,
): { claims: ActorClaims; delegation: unknown } {
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
  checkLifetime(claims, rulesAt(state, nowMs));

  if (claims.aud !== state.lastAudience.text) state.lastAudience = { text: claims.aud, parsed: parseAudience(claims.aud) };
  const audience = state.lastAudience.parsed;
  if (audience === undefined) fail('audience_invalid', 'actor token aud is not <principal>/<authority>@<realm>');
  if (audience.principal !== state.principal) fail('audience_invalid', 'actor token aud names another principal');
  if (!state.authorities.has(audience.authority.toLowerCase())) {
    fail('audience_invalid', 'actor token aud names an authority this server is not configured with');
  }
  if (!state.realms.has(audience.realm)) fail('realm_invalid', 'actor token aud names a realm this server does not serve');
  if (issuer.realm !== audience.realm) fail('realm_invalid', 'actor token iss and aud name different realms');
  return { claims, delegation };
}

/** The one OAuth server `issuer` selects, if any; two that would answer are refused, not chosen from. */
function oauthServerFor(state: VerifierState, issuer: IssuerId): ResolvedOAuthServer | undefined {
  try {
    return state.trust.resolveOAuthServer(issuer.principal, issuer.realm);
  } catch (error) {
    if (error instanceof PartnerRegistryError && error.code === 'conflict') {
      fail('issuer_unknown', 'several OAuth servers are registered for the actor token\'s realm');
    }
    throw error;
  }
}

/** Step 4: the actor token, its one trust, its key, its signature, then its claims. */
export async function verifyActor(state: VerifierState, actor: ParsedJws, trail: Trail, nowMs: number): Promise<VerifiedActor> {
  const { header, payload } = actor;
  if (header.alg !== 'RS256') fail('token_unsupported_alg', 'the actor token is not RS256');

  // The only claim read before the signature, and only to pick one registered trust.
  const iss = own(payload, 'iss');
  if (iss === undefined) fail('claim_missing', 'actor token has no iss');
  if (typeof iss !== 'string') fail('claim_type', 'actor token iss is not a string');
  const issuer = parseIssuerId(iss);
  if (issuer === undefined) fail('issuer_invalid', 'actor token iss is not <principal>@<realm>');

  const sts = oauthServerFor(state, issuer);
  if (sts !== undefined) return verifyStsActor(state, actor, issuer, sts, trail, nowMs);

  const found = state.trust.resolve(issuer.principal, issuer.realm);
  if (found === undefined) {
    const other = state.trust.find(issuer.principal, issuer.realm);
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
  const { claims, delegation } = readClaims(state, actor, issuer, trail, nowMs);
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
  state: VerifierState,
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
  const { claims, delegation } = readClaims(state, actor, issuer, trail, nowMs);
  const partner = stsPartner(state, claims, issuer);
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
 * Step 4.9: the partner an STS-issued actor's verified `nameid` names: an issuer id in the realm
 * of `iss`, not the STS itself, registered to trust through an OAuth server.
 */
function stsPartner(state: VerifierState, claims: ActorClaims, issuer: IssuerId): PartnerApplication {
  const nameid = parseIssuerId(claims.nameid);
  if (nameid === undefined) fail('nameid_invalid', 'STS-issued actor token: nameid is not <principal>@<realm>');
  if (nameid.realm !== issuer.realm) fail('nameid_invalid', 'STS-issued actor token: nameid and iss name different realms');
  if (nameid.principal === WellKnownPrincipal.sts) fail('nameid_invalid', 'STS-issued actor token: nameid names the STS itself');
  const partner = state.trust.find(nameid.principal, nameid.realm);
  if (partner === undefined || partner.keySource.kind !== 'oauthServer') {
    fail(
      'issuer_unknown',
      partner === undefined
        ? 'no partner application is registered for the STS-issued actor token\'s nameid'
        : `partner "${partner.identity}" has keys of its own and is not registered to trust through an OAuth server`,
    );
  }
  return partner;
}
