/**
 * A partner application at a base URL, as `S2SClient.partner` hands it out: one call is realm
 * (configured or discovered), token (cached, one re-mint on 401), and a guarded exchange
 * (outbound-http.ts) under one deadline covering all of them and the body.
 */
import {
  authorityOf,
  formatAudience,
  isPrincipalId,
  isRealm,
  isSecureUrl,
  optionNames,
  readBearerChallenge,
  refuseUnknownOptions,
  type IssuerId,
} from '@s2sauth/protocol';
import type { LRUCache } from 'lru-cache';
import type { ActorTokenRequest, IssuedToken } from '../identity/token-issuer.js';
import {
  checkTimeout,
  discard,
  OutboundFailure,
  outboundFailure,
  quoteRemoteText as quote,
  sendGuarded,
  startDeadline,
  withinDeadline,
  type Deadline,
  type OutboundHttp,
} from './outbound-http.js';
import { describeRequest, preparePartnerRequest, type PreparedRequest, type S2SRequestBody, type S2SRequestOptions } from './partner-request.js';
import { describeChallenge, listIssuers, realmFromChallenge, trusts } from './realm-discovery.js';
import { S2SClientError } from './s2s-client-error.js';
import type { TokenSource } from './s2s-client.js';
import { tokenCacheKey, type TokenCache } from './token-cache.js';

/** Where a partner application is and who it is. */
export interface PartnerTargetOptions {
  /** The partner's application principal id, e.g. `WellKnownPrincipal.exchange`. */
  readonly principal: string;
  /**
   * The partner's base URL, e.g. `https://mail.contoso.com`. Its authority (`host[:port]`, port only
   * when not the scheme's default) is the audience's authority. Must be `https:`, or `http:` to
   * loopback when the client allows it.
   */
  readonly baseUrl: string | URL;
  /**
   * The partner's realm. It must be the issuer's realm. Absent: discovered from the partner's
   * challenge on first use, which also checks that the partner trusts this server.
   */
  readonly realm?: string;
  /**
   * Where realm discovery sends its `GET`, relative to `baseUrl` (e.g. `/_vti_bin/client.svc` for
   * SharePoint). Default: the URL of the call that needs the realm.
   */
  readonly discoveryPath?: string;
  /** Default deadline of calls to this partner in milliseconds. Default the client's. */
  readonly timeoutMs?: number;
}

/** Options of {@link PartnerEndpoint.realm}. */
export interface RealmOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * A partner application at a base URL: call it with {@link PartnerEndpoint.fetch} or
 * {@link PartnerEndpoint.json}. Cheap to create; tokens and discovered realms live in the client.
 */
export interface PartnerEndpoint {
  /** The partner's principal id. */
  readonly principal: string;
  /** `scheme://host[:port]` of the base URL. */
  readonly origin: string;
  /** `host[:port]` as it appears in the audience. */
  readonly authority: string;
  /**
   * Calls `path` (resolved against `baseUrl`) with a token, and returns the partner's response
   * whatever its status, except: a 401 with a cached token drops the token and retries once with a
   * new one (only when the body can be sent again, i.e. not a stream, and with the same
   * `Idempotency-Key`, so the partner never does a non-safe call twice); a 401 that remains is
   * `unauthorized`; a 3xx (other than 304) is `redirect`. The deadline keeps running while the
   * caller reads the body.
   * @throws S2SClientError; TypeError for a malformed call (bad method, `json` and `body`
   *   together, an `Authorization` header, scopes that are not scope words, ...).
   */
  fetch(path: string, options?: S2SRequestOptions): Promise<Response>;
  /**
   * Like `fetch` (with `Accept: application/json` unless set), then reads the body as JSON:
   * a 2xx with an empty body gives `undefined`; any other status is `status`, a body that is not
   * JSON is `invalid_json`.
   * @throws S2SClientError; TypeError as for `fetch`.
   */
  json<T = unknown>(path: string, options?: S2SRequestOptions): Promise<T>;
  /**
   * The partner's realm: the configured one, or discovered (once, then cached) from its challenge
   * at `discoveryPath` or `/`. Use it at start-up to find out whether the partner trusts this server.
   * @throws S2SClientError `wrong_principal`, `not_trusted`, `realm_mismatch`, `discovery_failed`,
   *   `redirect`, `timeout`, `aborted`, `network`.
   */
  realm(options?: RealmOptions): Promise<string>;
}

const PARTNER_OPTION_NAMES = optionNames<PartnerTargetOptions>({
  principal: true,
  baseUrl: true,
  realm: true,
  discoveryPath: true,
  timeoutMs: true,
});

/** What every endpoint of one client shares. */
export interface ClientContext {
  readonly issuer: TokenSource;
  readonly issuerId: IssuerId;
  readonly issuerIdText: string;
  readonly tokens: TokenCache;
  /** Discovered realms by `<principal> <origin>`; a discovery in progress is its promise. */
  readonly realms: LRUCache<string, Promise<string>>;
  readonly http: OutboundHttp;
}

/** The {@link PartnerEndpoint} of a client. */
export class Endpoint implements PartnerEndpoint {
  readonly principal: string;
  readonly origin: string;
  readonly authority: string;
  readonly #context: ClientContext;
  readonly #base: URL;
  readonly #realm: string | undefined;
  readonly #discoveryUrl: URL | undefined;
  readonly #timeoutMs: number;

  constructor(context: ClientContext, options: PartnerTargetOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('partner options must be an object.');
    refuseUnknownOptions('S2SClient.partner', options, PARTNER_OPTION_NAMES);
    const { principal, realm, discoveryPath } = options;
    if (typeof principal !== 'string' || !isPrincipalId(principal)) {
      throw new TypeError('options.principal must be a lowercase GUID (the partner application principal id).');
    }
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch {
      throw new TypeError('options.baseUrl must be an absolute URL.');
    }
    if (base.username !== '' || base.password !== '') throw new TypeError('options.baseUrl must not carry a user name or password.');
    if (!isSecureUrl(base, context.http.allowLoopbackHttp)) {
      throw new S2SClientError(
        'insecure_url',
        `${base.origin} is not an https: URL${context.http.allowLoopbackHttp ? ' (plain http: is allowed only to localhost, 127.0.0.0/8 and [::1])' : ''}; tokens are never sent over it.`,
        { target: base.origin },
      );
    }
    if (realm !== undefined) {
      if (typeof realm !== 'string' || !isRealm(realm)) throw new TypeError('options.realm must be a lowercase DNS name or GUID.');
      if (realm !== context.issuerId.realm) {
        throw new TypeError(`options.realm ${realm} is not the issuer's realm ${context.issuerId.realm}; self-issued tokens are only valid in it.`);
      }
    }
    if (discoveryPath !== undefined) {
      if (typeof discoveryPath !== 'string') throw new TypeError('options.discoveryPath must be a path.');
      const url = new URL(discoveryPath, base);
      if (url.origin !== base.origin) throw new TypeError('options.discoveryPath must stay on the origin of options.baseUrl.');
      this.#discoveryUrl = url;
    }
    this.#timeoutMs = options.timeoutMs === undefined ? context.http.timeoutMs : checkTimeout(options.timeoutMs, 'options.timeoutMs');
    this.#context = context;
    this.#base = base;
    this.#realm = realm;
    this.principal = principal;
    this.origin = base.origin;
    this.authority = authorityOf(base);
  }

  async fetch(path: string, options: S2SRequestOptions = {}): Promise<Response> {
    return (await this.#call(path, options, false)).response;
  }

  async json<T = unknown>(path: string, options: S2SRequestOptions = {}): Promise<T> {
    const { response, deadline, request } = await this.#call(path, options, true);
    if (response.status < 200 || response.status > 299) {
      await discard(response);
      const challenge = readBearerChallenge(response.headers.get('www-authenticate') ?? '');
      throw new S2SClientError(
        'status',
        `${this.origin} answered ${describeRequest(request)} with ${response.status}${describeChallenge(challenge)}.`,
        { target: this.origin, status: response.status, ...(challenge ? { challenge } : {}) },
      );
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw this.#failure(error, deadline, `reading the answer to ${describeRequest(request)}`);
    }
    if (text.trim() === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new S2SClientError('invalid_json', `${this.origin} answered ${describeRequest(request)} with a body that is not JSON.`, {
        target: this.origin,
        status: response.status,
        cause: error,
      });
    }
  }

  async realm(options: RealmOptions = {}): Promise<string> {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object.');
    const deadline = this.#deadline(options);
    return this.#resolveRealm(this.#discoveryUrl ?? new URL('/', this.#base), deadline);
  }

  async #call(path: string, options: S2SRequestOptions, wantJson: boolean): Promise<{ response: Response; deadline: Deadline; request: PreparedRequest }> {
    const request = preparePartnerRequest(this.#base, path, options, wantJson);
    const deadline = this.#deadline(options);
    const realm = await this.#resolveRealm(request.url, deadline);
    const audience = formatAudience({ principal: this.principal, authority: this.authority, realm });
    const key = tokenCacheKey(audience, request.user, request.scopes);
    const tokens = this.#context.tokens;
    for (let attempt = 1; ; attempt += 1) {
      const { token, fresh } = await this.#within(tokens.get(key, () => this.#mint(audience, request)), deadline, 'minting a token');
      request.headers.set('authorization', `Bearer ${token.token}`);
      const response = await this.#send(request.url, request.method, request.headers, request.body, deadline, request);
      if (response.status !== 401) return { response, deadline, request };
      await discard(response);
      tokens.delete(key, token.token);
      if (!fresh && request.resendable && attempt === 1) continue;
      throw this.#unauthorized(response, request, attempt > 1, !fresh && !request.resendable);
    }
  }

  #mint(audience: string, request: PreparedRequest): IssuedToken | Promise<IssuedToken> {
    const actor: ActorTokenRequest = request.scopes === undefined ? { audience } : { audience, scopes: request.scopes };
    const issuer = this.#context.issuer;
    return request.user === undefined ? issuer.issueAppOnly(actor) : issuer.issueForUser(actor, request.user);
  }

  #deadline(options: { readonly timeoutMs?: number; readonly signal?: AbortSignal }): Deadline {
    const timeoutMs = options.timeoutMs === undefined ? this.#timeoutMs : checkTimeout(options.timeoutMs, 'options.timeoutMs');
    const caller = options.signal;
    if (caller !== undefined && !(caller instanceof AbortSignal)) throw new TypeError('options.signal must be an AbortSignal.');
    return startDeadline(timeoutMs, caller);
  }

  /** The configured realm, or the discovered one (one discovery per target at a time, then cached). */
  async #resolveRealm(url: URL, deadline: Deadline): Promise<string> {
    if (this.#realm !== undefined) return this.#realm;
    const realms = this.#context.realms;
    const key = `${this.principal} ${this.origin}`;
    let pending = realms.get(key);
    if (pending === undefined) {
      // Discovery has its own deadline: other calls may be waiting on it, and one caller's short
      // timeout or abort must not fail theirs.
      const discovery = this.#discover(this.#discoveryUrl ?? url, this.#deadline({}));
      pending = discovery;
      realms.set(key, discovery);
      discovery.catch(() => {
        if (realms.peek(key) === discovery) realms.delete(key);
      });
    }
    return this.#within(pending, deadline, 'realm discovery');
  }

  async #discover(url: URL, deadline: Deadline): Promise<string> {
    const headers = new Headers({ authorization: 'Bearer' });
    const request = { method: 'GET', url };
    const response = await this.#send(url, 'GET', headers, undefined, deadline, request);
    await discard(response);
    const { issuerId, issuerIdText } = this.#context;
    return realmFromChallenge(response, { origin: this.origin, principal: this.principal, issuerId, issuerIdText }, describeRequest(request));
  }

  /** One guarded exchange (outbound-http.ts), its failures as S2SClientError. */
  async #send(
    url: URL,
    method: string,
    headers: Headers,
    body: S2SRequestBody | undefined,
    deadline: Deadline,
    request: Pick<PreparedRequest, 'method' | 'url'>,
  ): Promise<Response> {
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = body as NonNullable<RequestInit['body']>;
    try {
      return await sendGuarded(this.#context.http.fetch, url, init, deadline);
    } catch (error) {
      throw this.#failure(error, deadline, describeRequest(request));
    }
  }

  /** Waits for `promise` no longer than the deadline. */
  async #within<T>(promise: Promise<T>, deadline: Deadline, doing: string): Promise<T> {
    try {
      return await withinDeadline(promise, deadline);
    } catch (error) {
      // Only the deadline's own failure is this call's; what `promise` rejects with passes through.
      if (error instanceof OutboundFailure) throw this.#failure(error, deadline, doing);
      throw error;
    }
  }

  #failure(error: unknown, deadline: Deadline, doing: string): S2SClientError {
    const failure = outboundFailure(error, deadline);
    const details = { target: this.origin, cause: failure.kind === 'redirect' ? undefined : (failure.cause ?? error) };
    switch (failure.kind) {
      case 'redirect':
        return new S2SClientError(
          'redirect',
          `${this.origin} answered ${doing} with a redirect (${failure.status}); redirects are not followed with a token.`,
          { target: this.origin, ...(failure.status === undefined ? {} : { status: failure.status }) },
        );
      case 'aborted':
        return new S2SClientError('aborted', `The call to ${this.origin} was aborted (${doing}).`, details);
      case 'timeout':
        return new S2SClientError('timeout', `${this.origin} did not answer in time (${doing}).`, details);
      case 'network':
        return new S2SClientError('network', `${this.origin} could not be reached (${doing}): ${failure.message}.`, details);
    }
  }

  #unauthorized(response: Response, request: PreparedRequest, retried: boolean, streamed: boolean): S2SClientError {
    const challenge = readBearerChallenge(response.headers.get('www-authenticate') ?? '');
    let message = `${this.origin} refused the token for ${describeRequest(request)} (401${describeChallenge(challenge)})`;
    if (retried) message += ', also a newly minted one';
    if (streamed) message += '; the body is a stream, so the call was not retried with a new token';
    const diagnostics = response.headers.get('x-ms-diagnostics');
    if (diagnostics !== null) message += `; diagnostics: ${quote(diagnostics)}`;
    if (challenge !== undefined && !trusts(challenge, this.#context.issuerId)) {
      message += `; it does not trust ${this.#context.issuerIdText} as a token issuer (it trusts: ${listIssuers(challenge.trustedIssuers)})`;
    }
    // A realm found out earlier may be what changed: find it out again next time.
    this.#context.realms.delete(`${this.principal} ${this.origin}`);
    return new S2SClientError('unauthorized', `${message}.`, {
      target: this.origin,
      status: 401,
      ...(challenge ? { challenge } : {}),
    });
  }
}
