/**
 * Tokens from an authorization server (STS) instead of self-issued ones: the hybrid path of
 * docs/protocol.md section 9 ("Hybrid"), where an on-premises server (Exchange, Lync) authenticates
 * to ACS with its OAuth certificate, receives an ACS-signed actor token for the target, and wraps it
 * in an outer token for a user. Wire shapes: protocol.md sections 3.1, 3.2 and 6.
 *
 * For each target the source signs a fresh client assertion with the certificate that signs now,
 * POSTs it to the STS token endpoint, and keeps the access token until shortly before it expires
 * (one request in flight per audience, scopes and delegation). A user context gets an outer token
 * signed with the SAME certificate the assertion was signed with, carrying it in `x5c`, because the
 * STS bound the access token to that certificate (`cnf` `x5t#S256`) and a verifier accepts the
 * outer token only from the key `cnf` names.
 *
 * The pieces: sts-discovery.ts (where the STS is), sts-exchange.ts (one exchange over
 * partners/outbound-http.ts), sts-token-response.ts (what is checked in the answer) and
 * sts-token-error.ts.
 *
 * Nothing secret leaves this module in an error or a message: no assertion, no access token, no
 * outer token, and STS-sent text is quoted with anything token-like removed.
 */
import {
  CLIENT_ASSERTION_TYPE,
  formatAudience,
  isPrincipalId,
  isRealm,
  isScopeToken,
  isSecureUrl,
  MAX_TOKEN_LIFETIME_SECONDS,
  optionNames,
  parseAudience,
  refuseUnknownOptions,
  stsIssuerId,
  systemClock,
  type Audience,
  type Clock,
} from '@s2sauth/protocol';
import { CertificateSet } from '../identity/certificate-set.js';
import { OAuthCertificate } from '../identity/certificate.js';
import { Rs256Signer } from '../identity/jws-signer.js';
import {
  DEFAULT_TOKEN_LIFETIME_SECONDS,
  type ActorTokenRequest,
  type IssuedToken,
  type UserContext,
  userContextClaims,
} from '../identity/token-issuer.js';
import { describeUrl, outboundHttp, type FetchFunction, type OutboundHttp } from '../partners/outbound-http.js';
import type { TokenSource } from '../partners/s2s-client.js';
import { DEFAULT_RENEW_BEFORE_SECONDS, normalizeScopes, TokenCache } from '../partners/token-cache.js';
import { signClientAssertion } from './client-assertion-signer.js';
import { discoverSts, type StsEndpoint, type StsLocation } from './sts-discovery.js';
import { exchangeWithSts, isPlainObject } from './sts-exchange.js';
import { StsTokenError } from './sts-token-error.js';
import { MAX_TOKEN_RESPONSE_BYTES, readStsTokenResponse, type StsAccessToken } from './sts-token-response.js';

/** Most STS access tokens kept (per audience, scopes, delegation and signing certificate). */
const MAX_CACHED_ACCESS_TOKENS = 1000;

/** Options of {@link StsTokenSource}. */
export interface StsTokenSourceOptions {
  /** This server's principal id (lowercase GUID), as registered at the STS. */
  readonly principal: string;
  /**
   * The realm the STS knows this server in (a tenant GUID for ACS / Azure AD). `client_id` is
   * `<principal>@<realm>`, and every target audience must be in this realm. The OAuth certificate
   * does not have to name it: the STS trusts the certificate by registration, not by name
   * (docs/protocol.md section 6).
   */
  readonly realm: string;
  /** The OAuth certificate registered at the STS, or a set of them for rollover. */
  readonly certificates: CertificateSet | OAuthCertificate;
  /** Where the STS is. */
  readonly sts: StsLocation;
  /** The `fetch` to call. Default the global `fetch`. */
  readonly fetch?: FetchFunction;
  /** Time source for assertions, outer tokens, renewal and the signing certificate. Default the system clock. */
  readonly clock?: Clock;
  /** Deadline of each request to the STS (metadata or token, body included), in milliseconds. Default 10000. */
  readonly timeoutMs?: number;
  /**
   * Permit plain `http:` to a literal loopback host (`localhost`, `127.0.0.0/8`, `[::1]`) for the
   * token endpoint and metadata URL, for development and tests. Default `false` (protocol.md
   * section 4: plain `http:` only to loopback, and only when configured), as for `S2SClient`. Any
   * other `http:` URL is always refused.
   */
  readonly allowLoopbackHttp?: boolean;
}

const STS_TOKEN_SOURCE_OPTION_NAMES = optionNames<StsTokenSourceOptions>({
  principal: true,
  realm: true,
  certificates: true,
  sts: true,
  fetch: true,
  clock: true,
  timeoutMs: true,
  allowLoopbackHttp: true,
});

/** A checked request. */
interface PreparedRequest {
  readonly audience: string;
  /** Normalized (a set, sorted); `undefined` when the request named none. */
  readonly scopes: readonly string[] | undefined;
  readonly lifetime: number;
}

/**
 * A {@link TokenSource} for targets reached through an STS (protocol.md sections 3.2 and 6): give it
 * to an `S2SClient` in place of a `TokenIssuer`.
 *
 * Token request (`POST`, `application/x-www-form-urlencoded`, each parameter once):
 * `grant_type=client_credentials`, `client_id=<principal>@<realm>`,
 * `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
 * `client_assertion=<new JWT>`, `resource=<audience>`, `scope=<words>` when the request names scopes,
 * `delegation=true` for a user context. An explicitly empty scope list is sent as `scope=` (asking for
 * nothing; protocol.md section 3.3 step 7: an empty `scp` grants nothing) and, because a token without
 * `scp` would grant the whole registration, only an access token whose `scp` is empty is accepted;
 * an STS that answers `invalid_scope` or omits `scp` fails the request.
 *
 * @example
 * const sts = new StsTokenSource({
 *   principal: WellKnownPrincipal.exchange, realm: tenantId, certificates,
 *   sts: { metadataUrl: `https://accounts.accesscontrol.windows.net/metadata/json/1?realm=${tenantId}` },
 * });
 * const client = new S2SClient({ issuer: sts });
 * const online = client.partner({ principal: WellKnownPrincipal.exchange, baseUrl: 'https://outlook.office365.com', realm: tenantId });
 */
export class StsTokenSource implements TokenSource {
  /** `<principal>@<realm>`: the `client_id`, the access token's `nameid` and the outer token's `iss`. */
  readonly issuerId: string;
  readonly #realm: string;
  readonly #certificates: CertificateSet;
  readonly #clock: Clock;
  readonly #http: OutboundHttp;
  readonly #configured: StsEndpoint | undefined;
  readonly #metadataUrl: URL | undefined;
  #discovered: Promise<StsEndpoint> | undefined;
  readonly #tokens: TokenCache;
  readonly #outerSigners = new WeakMap<OAuthCertificate, Rs256Signer>();

  /**
   * Checks the options and that a certificate can sign now.
   * @throws TypeError naming the option that is wrong (an `http:` URL to a host other than loopback
   *   included); `CertificateError` when no certificate is valid now.
   */
  constructor(options: StsTokenSourceOptions) {
    if (!isPlainObject(options)) throw new TypeError('StsTokenSource options must be an object.');
    refuseUnknownOptions('new StsTokenSource', options, STS_TOKEN_SOURCE_OPTION_NAMES);
    const { principal, realm, certificates } = options;
    const sts: unknown = options.sts;
    if (typeof principal !== 'string' || !isPrincipalId(principal)) {
      throw new TypeError('options.principal must be a lowercase GUID (the application principal id).');
    }
    if (typeof realm !== 'string' || !isRealm(realm)) throw new TypeError('options.realm must be a lowercase DNS name or GUID.');
    const clock = options.clock ?? systemClock;
    if (typeof clock !== 'function') throw new TypeError('options.clock must be a function returning milliseconds.');
    this.#http = outboundHttp(options);
    this.#certificates = CertificateSet.from(certificates, clock);
    this.#realm = realm;
    this.#clock = clock;
    this.issuerId = `${principal}@${realm}`;

    if (!isPlainObject(sts)) throw new TypeError('options.sts must be { tokenEndpoint, issuer } or { metadataUrl }.');
    const hasEndpoint = sts['tokenEndpoint'] !== undefined || sts['issuer'] !== undefined;
    if (hasEndpoint === (sts['metadataUrl'] !== undefined)) {
      throw new TypeError('options.sts must be either { tokenEndpoint, issuer } or { metadataUrl }, not both or neither.');
    }
    if (hasEndpoint) {
      const issuer = sts['issuer'];
      if (typeof issuer !== 'string' || issuer !== stsIssuerId(this.#realm)) {
        throw new TypeError(`options.sts.issuer must be the STS issuer id of this realm, ${stsIssuerId(this.#realm)}.`);
      }
      this.#configured = { tokenEndpoint: this.#optionUrl(sts['tokenEndpoint'], 'options.sts.tokenEndpoint'), issuer };
      this.#metadataUrl = undefined;
    } else {
      this.#configured = undefined;
      this.#metadataUrl = this.#optionUrl(sts['metadataUrl'], 'options.sts.metadataUrl');
    }
    this.#tokens = new TokenCache({ clock, renewBeforeSeconds: DEFAULT_RENEW_BEFORE_SECONDS, maxEntries: MAX_CACHED_ACCESS_TOKENS });
    // Fail at start-up, not on the first call, when no certificate can sign.
    this.#certificates.requireSigning(clock());
  }

  /**
   * An app-only token: the STS access token for `request.audience` (no delegation), as the STS
   * issued it. `request.lifetimeSeconds` is checked but not sent: the STS decides the lifetime.
   * `jti` is the access token's `jti` (or, without one, a SHA-256 of the token).
   * @throws TypeError for a malformed request (also `delegation: true` or `claims`: the STS decides
   *   the claims); StsTokenError; `SigningCertificateError` when no certificate can sign now.
   */
  async issueAppOnly(request: ActorTokenRequest): Promise<IssuedToken> {
    const prepared = this.#prepare(request, false);
    const { token, jti, notBefore, expiresAt } = await this.#accessToken(prepared, false);
    return { token, jti, notBefore, expiresAt };
  }

  /**
   * A token on behalf of `user` (protocol.md section 3.2): an STS access token granted with
   * delegation (shared by every user of the same audience and scopes until shortly before it
   * expires), wrapped in an outer token signed with the certificate that signed the assertion.
   * Outer header `{"typ":"JWT","alg":"RS256","x5t","kid","x5c":[<that certificate, base64 DER>]}`;
   * claims `aud` (the access token's), `iss` (its `nameid`), `nbf`, `exp` (inside the access token's
   * window, at most `request.lifetimeSeconds`, default 3600, after `nbf`), `nameid`, `nii` (default
   * `urn:office:idp:activedirectory`), `smtp`/`sip`/`upn` when given, `actortoken`.
   * `jti` is the access token's; `expiresAt` the outer token's `exp`.
   * @throws TypeError for a malformed request or user; StsTokenError; `SigningCertificateError` when no
   *   certificate can sign now.
   */
  async issueForUser(request: ActorTokenRequest, user: UserContext): Promise<IssuedToken> {
    const prepared = this.#prepare(request, true);
    const claims = userContextClaims(user);
    const actor = await this.#accessToken(prepared, true);
    const nbf = Math.max(Math.floor(this.#clock() / 1000), actor.nbf);
    const exp = Math.min(actor.exp, nbf + prepared.lifetime);
    /* c8 ignore next 7 -- the cache hands out only tokens with time left; this guards a clock that jumps in between */
    if (exp <= nbf) {
      throw new StsTokenError(
        'invalid_response',
        `The STS access token for ${prepared.audience} expired before it could be used; try again.`,
        { endpoint: actor.endpoint },
      );
    }
    const token = this.#outerSigner(actor.certificate).sign({
      aud: actor.aud,
      iss: actor.nameid,
      nbf,
      exp,
      ...claims,
      actortoken: actor.token,
    });
    return { token, jti: actor.jti, notBefore: nbf * 1000, expiresAt: exp * 1000 };
  }

  /** Forgets every cached access token and the discovered token endpoint. */
  clear(): void {
    this.#tokens.clear();
    this.#discovered = undefined;
  }

  #optionUrl(value: unknown, name: string): URL {
    let url: URL | undefined;
    if (typeof value === 'string' && URL.canParse(value)) url = new URL(value);
    if (url === undefined || url.username !== '' || url.password !== '' || url.hash !== '') {
      throw new TypeError(`${name} must be an absolute URL without credentials or fragment.`);
    }
    if (!isSecureUrl(url, this.#http.allowLoopbackHttp)) {
      throw new TypeError(
        `${name} must be https: (or http: to a loopback host when allowLoopbackHttp is true); an assertion is never sent in the clear.`,
      );
    }
    return url;
  }

  #prepare(request: ActorTokenRequest, forUser: boolean): PreparedRequest {
    if (!isPlainObject(request)) throw new TypeError('request must be an object.');
    if (!forUser && request.delegation === true) {
      throw new TypeError('request.delegation is not allowed for an app-only token; use issueForUser.');
    }
    if (forUser && request.delegation === false) throw new TypeError('request.delegation cannot be false for a token with a user context.');
    if (request.claims !== undefined) {
      throw new TypeError('request.claims cannot be honoured: the STS decides the claims of the tokens it issues.');
    }
    const lifetime = request.lifetimeSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS;
    if (!Number.isSafeInteger(lifetime) || lifetime < 1 || lifetime > MAX_TOKEN_LIFETIME_SECONDS) {
      throw new TypeError(`request.lifetimeSeconds must be a whole number of seconds from 1 to ${MAX_TOKEN_LIFETIME_SECONDS}.`);
    }
    return {
      audience: this.#audience(request.audience),
      scopes: request.scopes === undefined ? undefined : checkScopes(request.scopes),
      lifetime,
    };
  }

  #audience(value: unknown): string {
    let parsed: Audience | undefined;
    if (typeof value === 'string') {
      parsed = parseAudience(value);
    } else if (isPlainObject(value) && typeof value['principal'] === 'string' && typeof value['authority'] === 'string' && typeof value['realm'] === 'string') {
      parsed = parseAudience(`${value['principal']}/${value['authority']}@${value['realm']}`);
    }
    if (!parsed) throw new TypeError('request.audience must be <principal>/<authority>@<realm> (protocol.md section 1).');
    if (parsed.realm !== this.#realm) {
      throw new TypeError(`request.audience is in realm ${parsed.realm}, not this source's realm ${this.#realm}.`);
    }
    return formatAudience(parsed);
  }

  async #accessToken(request: PreparedRequest, delegation: boolean): Promise<StsAccessToken> {
    // The signing certificate is part of the key: after a rollover the next request signs with the
    // new certificate and gets a token bound to it, while tokens bound to the old one run out.
    const certificate = this.#certificates.signing(this.#clock());
    const key = JSON.stringify([request.audience, request.scopes ?? null, delegation, certificate.x5tS256]);
    const { token } = await this.#tokens.get(key, () => this.#requestToken(request, delegation, certificate));
    // The cache hands back exactly the object #requestToken resolved with.
    return token as StsAccessToken;
  }

  async #requestToken(request: PreparedRequest, delegation: boolean, certificate: OAuthCertificate): Promise<StsAccessToken> {
    const sts = await this.#endpoint();
    try {
      return await this.#exchange(sts, request, delegation, certificate);
    } catch (error) {
      // An OAuth error is the STS speaking: the endpoint is right. Anything else may mean the
      // metadata changed (moved endpoint, new issuer): read it again next time.
      if (!(error instanceof StsTokenError && error.error !== undefined)) this.#discovered = undefined;
      throw error;
    }
  }

  async #exchange(sts: StsEndpoint, request: PreparedRequest, delegation: boolean, certificate: OAuthCertificate): Promise<StsAccessToken> {
    const assertion = signClientAssertion(certificate, { clientId: this.issuerId, audience: sts.issuer, now: this.#clock() });
    const form = new URLSearchParams();
    form.set('grant_type', 'client_credentials');
    form.set('client_id', this.issuerId);
    form.set('client_assertion_type', CLIENT_ASSERTION_TYPE);
    form.set('client_assertion', assertion);
    form.set('resource', request.audience);
    if (request.scopes !== undefined) form.set('scope', request.scopes.join(' '));
    if (delegation) form.set('delegation', 'true');
    const response = await exchangeWithSts(
      this.#http,
      sts.tokenEndpoint,
      {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      },
      MAX_TOKEN_RESPONSE_BYTES,
      'the token request',
    );
    return readStsTokenResponse(response, {
      audience: request.audience,
      scopes: request.scopes,
      delegation,
      certificate,
      clientId: this.issuerId,
      stsIssuer: sts.issuer,
      endpoint: describeUrl(sts.tokenEndpoint),
      now: this.#clock(),
    });
  }

  /** The configured STS, or the one its metadata describes (one discovery at a time; a failure is forgotten). */
  #endpoint(): Promise<StsEndpoint> {
    if (this.#configured !== undefined) return Promise.resolve(this.#configured);
    let pending = this.#discovered;
    if (pending === undefined) {
      const discovery = discoverSts(this.#http, this.#metadataUrl as URL, this.#realm, this.#clock());
      pending = discovery;
      this.#discovered = discovery;
      discovery.catch(() => {
        if (this.#discovered === discovery) this.#discovered = undefined;
      });
    }
    return pending;
  }

  #outerSigner(certificate: OAuthCertificate): Rs256Signer {
    let signer = this.#outerSigners.get(certificate);
    if (signer === undefined) {
      signer = new Rs256Signer(certificate.privateKey, {
        typ: 'JWT',
        alg: 'RS256',
        x5t: certificate.x5t,
        kid: certificate.x5t,
        x5c: [certificate.der.toString('base64')],
      });
      this.#outerSigners.set(certificate, signer);
    }
    return signer;
  }
}

function checkScopes(scopes: unknown): string[] {
  if (!Array.isArray(scopes)) throw new TypeError('request.scopes must be an array of scope words.');
  for (const scope of scopes as unknown[]) {
    if (typeof scope !== 'string' || !isScopeToken(scope)) {
      throw new TypeError('request.scopes must hold non-empty scope words without spaces, quotes, backslashes or control characters.');
    }
  }
  return normalizeScopes(scopes as string[]);
}
