/**
 * The client assertion a server signs to authenticate itself to the STS (protocol.md section 6,
 * RFC 7523 section 2.2 with the `private_key_jwt` shape of OpenID Connect Core section 9): no client
 * secret, only a short-lived JWT signed with the server's OAuth certificate, the certificate-based
 * counterpart of ACS's secret-based `client_credentials` request (docs/protocol.md
 * section 6).
 *
 * Each assertion has its own `jti` (128 random bits) and is used once: the STS accepts each
 * `(iss, jti)` only once, so an assertion is never kept or reused.
 */
import { randomBytes } from 'node:crypto';
import { CLIENT_ASSERTION_TYP, MAX_ASSERTION_LIFETIME_SECONDS } from '@s2sauth/protocol';
import type { OAuthCertificate } from '../identity/certificate.js';
// The wire constants are the STS verifier's, so the two sides cannot drift apart.
import { Rs256Signer } from '../identity/jws-signer.js';

/** What a client assertion says. */
export interface ClientAssertionClaims {
  /** The client id `<principal>@<realm>`: both `iss` and `sub`. */
  readonly clientId: string;
  /** The STS issuer id `00000001-0000-0000-c000-000000000000@<realm>`: `aud`, a single string. */
  readonly audience: string;
  /** The time of signing in milliseconds since the epoch; `iat` is its whole seconds. */
  readonly now: number;
  /** Seconds from `iat` to `exp`, 1 to 300. Default 300. */
  readonly lifetimeSeconds?: number;
}

/**
 * Signs a new client assertion with `certificate`'s private key (RS256).
 *
 * Header `{"typ":"client-authentication+jwt","alg":"RS256","x5t":<x5t>,"kid":<x5t>}`, claims
 * `{"iss","sub","aud","jti","iat","exp"}` in that order. The certificate's validity is the
 * caller's to check (a `CertificateSet` only hands out certificates valid now).
 *
 * @throws TypeError when `lifetimeSeconds` is not a whole number from 1 to 300 or `now` is not a
 *   finite time.
 */
export function signClientAssertion(certificate: OAuthCertificate, claims: ClientAssertionClaims): string {
  const lifetime = claims.lifetimeSeconds ?? MAX_ASSERTION_LIFETIME_SECONDS;
  if (!Number.isSafeInteger(lifetime) || lifetime < 1 || lifetime > MAX_ASSERTION_LIFETIME_SECONDS) {
    throw new TypeError(`lifetimeSeconds must be a whole number of seconds from 1 to ${MAX_ASSERTION_LIFETIME_SECONDS}.`);
  }
  if (typeof claims.now !== 'number' || !Number.isFinite(claims.now)) throw new TypeError('now must be a time in milliseconds.');
  const iat = Math.floor(claims.now / 1000);
  const signer = new Rs256Signer(certificate.privateKey, {
    typ: CLIENT_ASSERTION_TYP,
    alg: 'RS256',
    x5t: certificate.x5t,
    kid: certificate.x5t,
  });
  return signer.sign({
    iss: claims.clientId,
    sub: claims.clientId,
    aud: claims.audience,
    jti: randomBytes(16).toString('base64url'),
    iat,
    exp: iat + lifetime,
  });
}
