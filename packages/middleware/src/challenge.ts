/**
 * This server's challenge (protocol.md section 7): the realm, its own principal, the issuers it
 * trusts (enabled partners of its realms, then enabled OAuth servers of its realms or `*`) and,
 * when known, the token endpoint of the OAuth server the challenge's realm selects. Built again
 * only when the revision of the issuer trusts moved.
 */
import { type ChallengeParams, formatIssuerId, stsIssuerId } from '@s2sauth/protocol';
import { ANY_REALM, selectOAuthServer } from './oauth-server.js';
import type { VerifierState } from './verifier-state.js';

/** The trusted issuers and token endpoint of a challenge, as the issuer trusts say now. */
interface Trusted {
  readonly trustedIssuers: string[];
  readonly authorizationUri: string | undefined;
}

/** Reads the trusts of `state`'s realms; throws whatever the issuer trusts throw. */
function trustedNow(state: VerifierState): Trusted {
  const { trust, realms } = state;
  const trustedIssuers = trust
    .list()
    .filter((p) => p.enabled && p.keySource.kind !== 'oauthServer' && realms.has(p.realm))
    .map((p) => formatIssuerId({ principal: p.applicationId, realm: p.realm }));
  // OAuth servers after partners, in identity order.
  const all = trust.listOAuthServers();
  const servers = all.filter((s) => s.enabled && (s.realm === ANY_REALM || realms.has(s.realm)));
  trustedIssuers.push(...servers.map((s) => stsIssuerId(s.realm)));
  // Callers are sent for tokens to the STS of the realm the challenge names, selected as an
  // actor's iss in that realm would select it: never to the STS of another realm.
  const selected = selectOAuthServer(all, state.realm);
  const authorizationUri = typeof selected === 'object' && selected.enabled ? selected.authorizationUri : undefined;
  return { trustedIssuers, authorizationUri };
}

/**
 * The challenge of one verifier: a function answering its parameters, kept until the revision of
 * the issuer trusts moves. Never throws: when the issuer trusts cannot be read (closed, store
 * failing), the list of trusted issuers is empty, since the challenge is written while answering
 * a request, often an error response, which must not turn into a crash.
 */
export function challengeOf(state: VerifierState): () => ChallengeParams {
  let kept: { readonly revision: number; readonly params: ChallengeParams } | undefined;
  return function challenge(): ChallengeParams {
    const revision = state.trust.revision;
    if (kept?.revision === revision) return kept.params;
    let trusted: Trusted;
    try {
      trusted = trustedNow(state);
    } catch {
      trusted = { trustedIssuers: [], authorizationUri: undefined };
    }
    const params: ChallengeParams = Object.freeze({
      realm: state.realm,
      clientId: state.principal,
      trustedIssuers: Object.freeze(trusted.trustedIssuers),
      ...(trusted.authorizationUri === undefined ? {} : { authorizationUri: trusted.authorizationUri }),
    });
    kept = { revision, params };
    return params;
  };
}
