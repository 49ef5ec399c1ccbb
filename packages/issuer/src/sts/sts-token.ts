/**
 * The STS-issued actor token (protocol.md sections 3.1 and 6): what the token endpoint hands a
 * client that authenticated, signed RS256 with the STS's OAuth certificate.
 */
import { randomBytes } from 'node:crypto';
import { stsIssuerId, type Clock } from '@s2sauth/protocol';
import type { CertificateSet } from '../identity/certificate-set.js';
import type { OAuthCertificate } from '../identity/certificate.js';
import { Rs256Signer } from '../identity/jws-signer.js';

/** What one STS actor token says. */
export interface StsActorTokenRequest {
  /** The resource, already formatted (`<principal>/<authority>@<realm>`, authority lower-case). */
  readonly audience: string;
  /** The client's issuer id `<principal>@<realm>`: the token's `nameid`. */
  readonly clientId: string;
  /**
   * Granted scopes: `scp` is always present, space-joined, and `""` when none were granted, since
   * a verifier reads an absent `scp` as the partner's whole grant (protocol.md section 3.3 step 7).
   */
  readonly scopes: readonly string[];
  /**
   * Present only when delegation was granted: the SHA-256 thumbprint of the client certificate
   * that signed the assertion, which must sign the outer token (`cnf`, protocol.md section 3.2).
   */
  readonly delegation?: { readonly x5tS256: string };
}

/** An issued STS token and its window. */
export interface IssuedStsToken {
  readonly token: string;
  readonly jti: string;
  /** `nbf` (= `iat`), seconds since the epoch. */
  readonly notBefore: number;
  /** `exp`, seconds since the epoch. */
  readonly expiresOn: number;
}

/**
 * Signs STS actor tokens for one realm. Header `{"typ":"JWT","alg":"RS256","x5t","kid"}` of the
 * certificate that signs now; claims, in this order: `aud`, `iss` (the STS issuer id),
 * `nameid` (the client), `identityprovider` (the STS issuer id), `nbf`, `exp`, `iat`, `jti`
 * (128 random bits), `scp` (the granted scopes space-joined, `""` when none: never absent),
 * and only with delegation `trustedfordelegation: "true"` and `cnf: {"x5t#S256"}`.
 */
export class StsTokenSigner {
  readonly issuerId: string;
  readonly #realm: string;
  readonly #certificates: CertificateSet;
  readonly #lifetime: number;
  readonly #clock: Clock;
  readonly #signers = new WeakMap<OAuthCertificate, Rs256Signer>();

  /**
   * @throws CertificateError (a `TypeError`) when the certificate that signs now is not valid or
   *   does not list `realm` among its DNS Subject Alternative Names.
   */
  constructor(realm: string, certificates: CertificateSet, lifetimeSeconds: number, clock: Clock) {
    this.issuerId = stsIssuerId(realm);
    this.#realm = realm;
    this.#certificates = certificates;
    this.#lifetime = lifetimeSeconds;
    this.#clock = clock;
    const now = clock();
    this.#signer(certificates.requireSigning(now), now);
  }

  /** @throws SigningCertificateError when no certificate can sign now. */
  async issue(request: StsActorTokenRequest): Promise<IssuedStsToken> {
    const now = this.#clock();
    const signer = this.#signer(this.#certificates.signing(now), now);
    const nbf = Math.floor(now / 1000);
    const exp = nbf + this.#lifetime;
    const jti = randomBytes(16).toString('base64url');
    const claims: Record<string, unknown> = {
      aud: request.audience,
      iss: this.issuerId,
      nameid: request.clientId,
      identityprovider: this.issuerId,
      nbf,
      exp,
      iat: nbf,
      jti,
    };
    // Always present: an absent scp would grant the client's whole registration at the resource.
    claims['scp'] = request.scopes.join(' ');
    if (request.delegation !== undefined) {
      claims['trustedfordelegation'] = 'true';
      claims['cnf'] = { 'x5t#S256': request.delegation.x5tS256 };
    }
    return { token: await signer.signAsync(claims), jti, notBefore: nbf, expiresOn: exp };
  }

  #signer(certificate: OAuthCertificate, now: number): Rs256Signer {
    let signer = this.#signers.get(certificate);
    if (signer === undefined) {
      certificate.validate({ realms: [this.#realm], now });
      signer = new Rs256Signer(certificate.privateKey, { typ: 'JWT', alg: 'RS256', x5t: certificate.x5t, kid: certificate.x5t });
      this.#signers.set(certificate, signer);
    }
    return signer;
  }
}
