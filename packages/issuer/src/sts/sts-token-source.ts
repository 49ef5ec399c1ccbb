/**
 * Tokens from an authorization server (STS) instead of self-issued ones: the hybrid path of
 * reference-microsoft-s2s.md section 10, where an on-premises server (Exchange, Lync) authenticates
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
 * What the source checks in the STS's answer (strict JSON, `Bearer`, `resource`, and the access
 * token's `aud`, `iss`, `nameid`, window, `scp`, delegation and `cnf`) is not a security check: the
 * target verifies the token. It is there so a misconfigured STS or registration fails here, with a
 * message naming what is wrong, instead of as a bare 401 at the target, and so a token broader than
 * the one asked for (scopes) is never sent.
 *
 * Nothing secret leaves this module in an error or a message: no assertion, no access token, no
 * outer token, and STS-sent text is quoted with anything token-like removed.
 */
import { createHash } from 'node:crypto';
import {
  audiencesEqual,
  CLIENT_ASSERTION_TYPE,
  formatAudience,
  isPrincipalId,
  isRealm,
  isScopeToken,
  isSecureUrl,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_METADATA_BYTES,
  MAX_TOKEN_LIFETIME_SECONDS,
  parseAudience,
  parseJws,
  parseMetadataDocument,
  parseStrictJson,
  readNumericDate,
  stsIssuerId,
  systemClock,
  type Audience,
  type Clock,
} from '@s2sauth/protocol';
import { CertificateSet } from '../identity/certificate-set.js';
import { OAuthCertificate } from '../identity/certificate.js';
import { signClientAssertion } from './client-assertion-signer.js';
import { Rs256Signer } from '../identity/jws-signer.js';
import type { FetchFunction } from '../partners/outbound-http.js';
import type { TokenSource } from '../partners/s2s-client.js';
import { DEFAULT_RENEW_BEFORE_SECONDS, normalizeScopes, TokenCache } from '../partners/token-cache.js';
import {
  DEFAULT_TOKEN_LIFETIME_SECONDS,
  type ActorTokenRequest,
  type IssuedToken,
  type UserContext,
  userContextClaims,
} from '../identity/token-issuer.js';

/** Default deadline of one request to the STS (metadata or token), in milliseconds. */
const DEFAULT_TIMEOUT_MS = 10_000;

/** The longest deadline accepted (the largest timer delay Node.js supports). */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** Largest token response read; an access token is at most 8 KiB (protocol.md section 3.3). */
const MAX_TOKEN_RESPONSE_BYTES = 65_536;

/** Most STS access tokens kept (per audience, scopes, delegation and signing certificate). */
const MAX_CACHED_ACCESS_TOKENS = 1000;

/** Longest piece of STS-sent text quoted in a message. */
const MAX_QUOTED_LENGTH = 200;

/** RFC 6749 section 5.2: the characters of an `error` code. */
const ERROR_CODE = /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,100}$/;


/**
 * Runs of base64url/base64 characters long enough to be a token segment or key material: an STS
 * that echoes the assertion (or anything like it) in `error_description` must not get it into a log.
 */
const TOKEN_LIKE = /[A-Za-z0-9_\-+/=.]{40,}/g;

/** Where the STS is: its token endpoint and issuer id given, or read from its metadata document. */
export type StsLocation =
  | {
      /** The token endpoint, e.g. `https://accounts.accesscontrol.windows.net/<realm>/tokens/OAuth/2`. */
      readonly tokenEndpoint: string;
      /** The STS issuer id `00000001-0000-0000-c000-000000000000@<realm>`: the assertion's `aud`. */
      readonly issuer: string;
    }
  | {
      /**
       * The STS metadata document (`/metadata/json/1`, protocol.md section 6). Fetched once, on the
       * first token request; its `issuer` and its `OAuth2`/`issuance` endpoint are used. That
       * endpoint must have the same origin (scheme, host, port) as this URL, as ACS serves both
       * from one origin: a document cannot send the assertion elsewhere. A failed
       * fetch, and any token request that fails other than with an OAuth error from the STS, makes
       * the next request fetch it again.
       */
      readonly metadataUrl: string;
    };

/** Options of {@link StsTokenSource}. */
export interface StsTokenSourceOptions {
  /** This server's principal id (lowercase GUID), as registered at the STS. */
  readonly principal: string;
  /**
   * The realm the STS knows this server in (a tenant GUID for ACS / Azure AD). `client_id` is
   * `<principal>@<realm>`, and every target audience must be in this realm. The OAuth certificate
   * does not have to name it: the STS trusts the certificate by registration, not by name
   * (reference-microsoft-s2s.md section 10).
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
   * section 4: plain `http:` only to loopback, and only when configured). Any other `http:` URL is
   * always refused.
   */
  readonly allowLoopbackHttp?: boolean;
}

/** Why getting a token from the STS failed; stable, for programs. */
export type StsTokenErrorCode =
  /** The STS answered with an error status; `error`/`errorDescription` hold its RFC 6749 section 5.2 answer when it sent one. */
  | 'sts_error'
  /** The STS answered 2xx, but not with a token response this server can use (see the message). */
  | 'invalid_response'
  /** The STS metadata could not be used: status, size, document, issuer, no token endpoint, or one on another origin. Nothing was sent to it. */
  | 'discovery_failed'
  /** The metadata advertises a token endpoint that is neither `https:` nor allowed loopback `http:`. Nothing was sent to it. */
  | 'insecure_url'
  /** The STS answered with a redirect, which is never followed. */
  | 'redirect'
  /** The STS did not answer within the deadline. */
  | 'timeout'
  /** The STS could not be reached. */
  | 'network';

/** Details of an {@link StsTokenError}. */
export interface StsTokenErrorDetails {
  /** The URL asked, without its query. */
  readonly endpoint: string;
  readonly status?: number;
  readonly error?: string;
  readonly errorDescription?: string;
  readonly cause?: unknown;
}

/**
 * Getting a token from the STS failed. The message says what happened in words a person can act on;
 * it never contains an assertion or a token. Map it to a 502 (`timeout` to 504) when it fails an
 * inbound request.
 */
export class StsTokenError extends Error {
  /** Stable reason code. */
  readonly code: StsTokenErrorCode;
  /** The STS URL asked (token endpoint or metadata URL), without its query. */
  readonly endpoint: string;
  // `declare`: absent rather than `undefined` when not set.
  /** The STS's HTTP status, when it answered. */
  declare readonly status?: number;
  /** The RFC 6749 `error` code the STS sent (`invalid_client`, `invalid_scope`, `invalid_target`, ...). */
  declare readonly error?: string;
  /** The STS's `error_description`, cleaned (no control characters, nothing token-like, bounded). */
  declare readonly errorDescription?: string;

  constructor(code: StsTokenErrorCode, message: string, details: StsTokenErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'StsTokenError';
    this.code = code;
    this.endpoint = details.endpoint;
    if (details.status !== undefined) this.status = details.status;
    if (details.error !== undefined) this.error = details.error;
    if (details.errorDescription !== undefined) this.errorDescription = details.errorDescription;
  }
}

/** The STS as used for token requests. */
interface StsEndpoint {
  readonly tokenEndpoint: URL;
  /** The STS issuer id: the assertion's `aud` and the access token's `iss`. */
  readonly issuer: string;
}

/** A checked request. */
interface PreparedRequest {
  readonly audience: string;
  /** Normalized (a set, sorted); `undefined` when the request named none. */
  readonly scopes: readonly string[] | undefined;
  readonly lifetime: number;
}

/** An STS access token with what the outer token needs. */
interface StsAccessToken extends IssuedToken {
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

/** A response whose body was read (`undefined`: larger than allowed). */
interface ReadResponse {
  readonly status: number;
  readonly body: Buffer | undefined;
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
  readonly #fetch: FetchFunction;
  readonly #timeoutMs: number;
  readonly #allowLoopbackHttp: boolean;
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
    const { principal, realm, certificates } = options;
    const sts: unknown = options.sts;
    if (typeof principal !== 'string' || !isPrincipalId(principal)) {
      throw new TypeError('options.principal must be a lowercase GUID (the application principal id).');
    }
    if (typeof realm !== 'string' || !isRealm(realm)) throw new TypeError('options.realm must be a lowercase DNS name or GUID.');
    const clock = options.clock ?? systemClock;
    if (typeof clock !== 'function') throw new TypeError('options.clock must be a function returning milliseconds.');
    const allowLoopbackHttp = options.allowLoopbackHttp ?? false;
    if (typeof allowLoopbackHttp !== 'boolean') throw new TypeError('options.allowLoopbackHttp must be a boolean.');
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
      throw new TypeError(`options.timeoutMs must be a positive number of milliseconds (at most ${MAX_TIMEOUT_MS}).`);
    }
    const fetchFunction = options.fetch ?? ((url: URL, init: RequestInit) => fetch(url, init));
    if (typeof fetchFunction !== 'function') throw new TypeError('options.fetch must be a function like the global fetch.');
    this.#certificates = CertificateSet.from(certificates, clock);
    this.#realm = realm;
    this.#clock = clock;
    this.#fetch = fetchFunction;
    this.#timeoutMs = timeoutMs;
    this.#allowLoopbackHttp = allowLoopbackHttp;
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
    this.#certificates.signing(clock());
  }

  /**
   * An app-only token: the STS access token for `request.audience` (no delegation), as the STS
   * issued it. `request.lifetimeSeconds` is checked but not sent: the STS decides the lifetime.
   * `jti` is the access token's `jti` (or, without one, a SHA-256 of the token).
   * @throws TypeError for a malformed request (also `delegation: true` or `claims`: the STS decides
   *   the claims); StsTokenError; `CertificateError` when no certificate can sign now.
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
   * @throws TypeError for a malformed request or user; StsTokenError; `CertificateError` when no
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
    if (!isSecureUrl(url, this.#allowLoopbackHttp)) {
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
    const endpoint = describeUrl(sts.tokenEndpoint);
    const response = await this.#send(
      sts.tokenEndpoint,
      {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      },
      MAX_TOKEN_RESPONSE_BYTES,
      'the token request',
    );
    if (response.status !== 200) throw stsError(response, endpoint);
    const invalid = (what: string): StsTokenError =>
      new StsTokenError('invalid_response', `The STS at ${endpoint} answered the token request for ${request.audience} with ${what}.`, {
        endpoint,
        status: 200,
      });
    if (response.body === undefined) throw invalid(`more than ${MAX_TOKEN_RESPONSE_BYTES} bytes`);
    const body = readJsonObject(response.body);
    if (body === undefined) throw invalid('a body that is not a JSON object');

    const tokenType = body['token_type'];
    if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer') throw invalid('a token_type other than Bearer');
    const accessToken = body['access_token'];
    if (typeof accessToken !== 'string' || accessToken === '') throw invalid('no access_token');
    for (const name of ['expires_in', 'not_before', 'expires_on']) {
      // ACS sends these as digit strings (reference-microsoft-s2s.md section 7).
      if (body[name] !== undefined && readNumericDate(body[name]) === undefined) throw invalid(`a ${name} that is not a number of seconds`);
    }
    if (body['scope'] !== undefined && typeof body['scope'] !== 'string') throw invalid('a scope that is not a string');
    const resource = body['resource'];
    const requested = parseAudience(request.audience) as Audience;
    if (typeof resource !== 'string' || !sameAudience(resource, requested)) throw invalid('a resource other than the requested one');

    let payload: Readonly<Record<string, unknown>>;
    try {
      payload = parseJws(accessToken).payload;
    } catch {
      throw invalid('an access token that is not a well-formed RS256 JWS');
    }
    const aud = payload['aud'];
    if (typeof aud !== 'string' || !sameAudience(aud, requested)) throw invalid('an access token whose aud is not the requested audience');
    if (payload['iss'] !== sts.issuer) throw invalid(`an access token whose iss is not ${sts.issuer}`);
    const nameid = payload['nameid'];
    if (nameid !== this.issuerId) throw invalid(`an access token whose nameid is not ${this.issuerId}`);
    const rawNbf = readNumericDate(payload['nbf']);
    const rawExp = readNumericDate(payload['exp']);
    if (rawNbf === undefined || rawExp === undefined) throw invalid('an access token without a numeric nbf and exp');
    // Whole seconds inside the token's window, so an outer token never reaches outside it.
    const nbf = Math.ceil(rawNbf);
    const exp = Math.floor(rawExp);
    const now = this.#clock();
    if (exp <= nbf) throw invalid('an access token whose exp is not after its nbf');
    if (exp * 1000 <= now) throw invalid('an access token that has already expired');
    if (nbf * 1000 > now + MAX_CLOCK_SKEW_SECONDS * 1000) throw invalid('an access token that becomes valid only in the future');
    if (request.scopes !== undefined) {
      const scp = payload['scp'];
      const granted = typeof scp === 'string' ? scp.split(' ').filter((word) => word !== '') : undefined;
      if (granted === undefined || !granted.every((word) => request.scopes?.includes(word))) {
        throw invalid('an access token whose scp is absent or names scopes that were not requested');
      }
    }
    if (delegation) {
      if (payload['trustedfordelegation'] !== 'true') throw invalid('an access token without trustedfordelegation "true"; delegation was not granted');
      const cnf = payload['cnf'];
      if (!isPlainObject(cnf) || cnf['x5t#S256'] !== certificate.x5tS256) {
        throw invalid(`an access token whose cnf does not name the certificate ${certificate.x5t} that signed the assertion`);
      }
    }
    const jti = payload['jti'];
    return {
      token: accessToken,
      jti: typeof jti === 'string' && jti !== '' ? jti : createHash('sha256').update(accessToken).digest('base64url'),
      notBefore: nbf * 1000,
      expiresAt: exp * 1000,
      certificate,
      endpoint,
      aud,
      nameid,
      nbf,
      exp,
    };
  }

  /** The configured STS, or the one its metadata describes (one discovery at a time; a failure is forgotten). */
  #endpoint(): Promise<StsEndpoint> {
    if (this.#configured !== undefined) return Promise.resolve(this.#configured);
    let pending = this.#discovered;
    if (pending === undefined) {
      const discovery = this.#discover(this.#metadataUrl as URL);
      pending = discovery;
      this.#discovered = discovery;
      discovery.catch(() => {
        if (this.#discovered === discovery) this.#discovered = undefined;
      });
    }
    return pending;
  }

  async #discover(url: URL): Promise<StsEndpoint> {
    const endpoint = describeUrl(url);
    const failed = (what: string, details: Partial<StsTokenErrorDetails> = {}): StsTokenError =>
      new StsTokenError('discovery_failed', `The STS metadata at ${endpoint} ${what}.`, { endpoint, ...details });
    const response = await this.#send(url, { method: 'GET', headers: { accept: 'application/json' } }, MAX_METADATA_BYTES, 'the metadata request');
    if (response.status !== 200) throw failed(`answered ${response.status}, not 200`, { status: response.status });
    if (response.body === undefined) throw failed(`is larger than ${MAX_METADATA_BYTES} bytes`, { status: 200 });
    let metadata;
    try {
      metadata = parseMetadataDocument(response.body, { now: this.#clock() });
    } catch (error) {
      // MetadataError messages name what is wrong, never key material.
      throw failed(`cannot be used: ${(error as Error).message}`, { status: 200, cause: error });
    }
    const issuer = stsIssuerId(this.#realm);
    if (metadata.issuer !== issuer) {
      throw failed(
        `names the issuer ${metadata.issuer === undefined ? '(none)' : JSON.stringify(quote(metadata.issuer))}, not the STS issuer id of this realm, ${issuer}`,
      );
    }
    const issuance = metadata.endpoints.find(
      (entry) => entry.protocol.toLowerCase() === 'oauth2' && entry.usage.toLowerCase() === 'issuance',
    );
    const location = issuance?.location;
    if (location === undefined || !URL.canParse(location)) throw failed('lists no OAuth2 issuance endpoint with an absolute URL');
    const tokenEndpoint = new URL(location);
    if (tokenEndpoint.username !== '' || tokenEndpoint.password !== '') throw failed('lists a token endpoint with credentials in its URL');
    if (!isSecureUrl(tokenEndpoint, this.#allowLoopbackHttp)) {
      throw new StsTokenError(
        'insecure_url',
        `The STS metadata at ${endpoint} lists the token endpoint ${describeUrl(tokenEndpoint)}, which is not https:; no assertion was sent to it.`,
        { endpoint: describeUrl(tokenEndpoint) },
      );
    }
    if (tokenEndpoint.origin !== url.origin) {
      // The assertion's aud is the STS issuer id, not the endpoint: wherever it goes, it could be
      // replayed at the real STS. ACS serves metadata and token endpoint from one origin.
      throw failed(`lists the token endpoint ${describeUrl(tokenEndpoint)}, on another origin than the metadata; no assertion was sent to it`);
    }
    return { tokenEndpoint, issuer };
  }

  /** One exchange with the STS under one deadline (body included); never follows a redirect. */
  async #send(url: URL, init: RequestInit, maxBytes: number, doing: string): Promise<ReadResponse> {
    const endpoint = describeUrl(url);
    const signal = AbortSignal.timeout(this.#timeoutMs);
    try {
      const response = await this.#fetch(url, { ...init, redirect: 'manual', signal });
      if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status <= 399)) {
        await response.body?.cancel().catch(() => undefined);
        throw new StsTokenError('redirect', `The STS at ${endpoint} answered ${doing} with a redirect (${response.status}); redirects are not followed.`, {
          endpoint,
          status: response.status,
        });
      }
      return { status: response.status, body: await readLimited(response, maxBytes) };
    } catch (error) {
      if (error instanceof StsTokenError) throw error;
      if (signal.aborted) {
        throw new StsTokenError('timeout', `The STS at ${endpoint} did not answer ${doing} within ${this.#timeoutMs} ms.`, { endpoint });
      }
      throw new StsTokenError('network', `The STS at ${endpoint} could not be reached (${doing}): ${networkReason(error)}.`, {
        endpoint,
        cause: error,
      });
    }
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

/** An `sts_error` from a non-200 answer, with the RFC 6749 section 5.2 error when the body is one. */
function stsError(response: ReadResponse, endpoint: string): StsTokenError {
  const body = response.body === undefined ? undefined : readJsonObject(response.body);
  const code = body?.['error'];
  const description = body?.['error_description'];
  if (typeof code !== 'string' || !ERROR_CODE.test(code)) {
    return new StsTokenError('sts_error', `The STS at ${endpoint} refused the token request with ${response.status} and no OAuth error.`, {
      endpoint,
      status: response.status,
    });
  }
  const error = quote(code);
  const errorDescription = typeof description === 'string' ? quote(description) : undefined;
  return new StsTokenError(
    'sts_error',
    `The STS at ${endpoint} refused the token request (${response.status} ${error}${errorDescription === undefined ? '' : `: ${errorDescription}`}).`,
    { endpoint, status: response.status, error, ...(errorDescription === undefined ? {} : { errorDescription }) },
  );
}

/** The body as a strict JSON object, or `undefined`. */
function readJsonObject(body: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return undefined;
  }
  return isPlainObject(value) ? value : undefined;
}

/** Reads at most `maxBytes` of the body; `undefined` (and the rest discarded) when there is more. */
async function readLimited(response: Response, maxBytes: number): Promise<Buffer | undefined> {
  const reader = response.body?.getReader();
  if (reader === undefined) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks);
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
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

function sameAudience(text: string, requested: Audience): boolean {
  const parsed = parseAudience(text);
  return parsed !== undefined && audiencesEqual(parsed, requested);
}

/** `scheme://host[:port]/path`: the query may hold data that is not ours to repeat. */
function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** STS-sent text fit for a message: no control characters, nothing token-like, bounded length. */
function quote(text: string): string {
  const clean = text.replace(/[\x00-\x1f\x7f-\x9f]/g, ' ').replace(TOKEN_LIKE, '[removed]');
  return clean.length > MAX_QUOTED_LENGTH ? `${clean.slice(0, MAX_QUOTED_LENGTH)}…` : clean;
}

/** The reason a fetch failed, from undici's `cause` when there is one. */
function networkReason(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return code;
  return error instanceof Error ? quote(error.message) : 'unknown error';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
