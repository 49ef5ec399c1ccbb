/**
 * What a verified call is (protocol.md section 3.3 step 9): which partner application made it, in
 * which realm, with which scopes, on behalf of which user, and how the partner was trusted.
 *
 * Everything here comes from the registration or from claims of a token whose signature, issuer,
 * audience, realm and lifetime were verified; nothing is taken from a token before that.
 */

/**
 * The user a call is made for (the outer token's user claims, protocol.md section 3.2). Present
 * only on calls with a user context; at least one of `nameid`, `smtp`, `sip`, `upn` is set.
 */
export interface S2SUser {
  /** The user's identifier as the partner names it (UPN-like, a SID, or a PUID). */
  readonly nameid?: string;
  /** Name identifier issuer, e.g. `urn:office:idp:activedirectory`. */
  readonly nii?: string;
  /** Primary SMTP address. */
  readonly smtp?: string;
  /** SIP address. */
  readonly sip?: string;
  /** User principal name. */
  readonly upn?: string;
}

/**
 * How the partner's signing key was trusted (protocol.md section 3.3 step 9): keys from its
 * metadata document, certificates pinned at registration, or an OAuth server (STS) that issued the
 * actor token.
 */
export type TrustSource = 'metadata' | 'certificate' | 'oauthServer';

/** A verified server-to-server call. */
export interface S2SPrincipal {
  /** The partner application's registration identity, e.g. `microsoft.exchange`. */
  readonly partner: string;
  /** The partner's principal id (a lowercase GUID). */
  readonly applicationId: string;
  /** The realm the call was made in (the partner's realm, equal to the audience's). */
  readonly realm: string;
  /** The actor token's `iss`: the signer's issuer id `<principal>@<realm>`. */
  readonly issuer: string;
  /** The actor token's `aud`, exactly as the partner sent it. */
  readonly audience: string;
  /** Effective scopes (protocol.md section 3.3 step 7): the token's `scp` within the partner's grant. */
  readonly scopes: readonly string[];
  /** The user of a call with a user context; absent on an app-only call. */
  readonly user?: S2SUser;
  /** The actor token's `jti`, when it has one. */
  readonly tokenId?: string;
  /** How the signing key was trusted. */
  readonly trust: TrustSource;
  /** When the call's authorization ends, in ms since the epoch: the earliest `exp` of the token(s). */
  readonly expiresAt: number;
}
