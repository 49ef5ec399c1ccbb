/**
 * The outbound half of server-to-server OAuth: calling a partner application's URL as this server
 * alone or on behalf of a user (architecture.md "Outbound", reference-microsoft-s2s.md sections 4.4,
 * 4.5, 6 and 9), the way Lync Server 2013 calls Exchange for contacts and archiving.
 *
 * What the client guarantees, because a token is a bearer credential that anyone who sees it can
 * replay until it expires:
 *
 * - a token is sent only over `https:`, or over `http:` to a literal loopback host; any other URL
 *   is refused before a token is minted or a byte is sent;
 * - a token goes only to the origin it was minted for (its audience names that authority); a path
 *   that resolves to another origin is refused;
 * - redirects are never followed (`redirect: 'manual'`): a 3xx is an error, so a partner, or
 *   whoever answers in its name, cannot bounce the token to another host;
 * - every call has a deadline covering realm discovery, the token, every attempt and the body;
 * - no error message contains a token; the only credential sent is the token (no caller
 *   `Authorization` or `Cookie` header).
 *
 * Realm discovery (protocol.md section 7, MS-XOAUTH 3.2.5.4): a `GET` with an empty
 * `Authorization: Bearer` is answered 401 with `WWW-Authenticate: Bearer realm=…, client_id=…,
 * trusted_issuers=…`. The answer is checked (the right application, this server among the trusted
 * issuers, this server's realm) and cached per (principal, origin). A self-issued token is always
 * in the issuer's own realm (protocol.md section 3.3 step 4), so discovery cannot change the realm
 * a token is minted for: it finds out early, with a message a person can act on, that a call would
 * fail.
 */
import {
  authorityOf,
  formatAudience,
  isPrincipalId,
  isRealm,
  isSecureUrl,
  parseIssuerId,
  parseTrustedIssuer,
  readBearerChallenge,
  systemClock,
  trustedIssuerCovers,
  type BearerChallenge,
  type Clock,
  type IssuerId,
} from '@s2sauth/protocol';
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { DEFAULT_MAX_CACHED_TOKENS, DEFAULT_RENEW_BEFORE_SECONDS, normalizeScopes, TokenCache, tokenCacheKey } from './token-cache.js';
import type { ActorTokenRequest, IssuedToken, UserContext } from '../identity/token-issuer.js';

/** Default deadline of one call in milliseconds: discovery, token, attempts and body together. */
export const DEFAULT_S2S_TIMEOUT_MS = 10_000;

/** The longest deadline accepted (the largest timer delay Node.js supports, about 24.8 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** Most partner targets whose discovered realm is remembered. */
const MAX_DISCOVERED_TARGETS = 1000;

/** Longest piece of partner-sent text (`error_description`, diagnostics) quoted in a message. */
const MAX_QUOTED_LENGTH = 200;

/** Most `trusted_issuers` entries listed in a `not_trusted` message. */
const MAX_LISTED_ISSUERS = 10;

/** RFC 9110 `token`: the syntax of a method name. */
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** RFC 9110 section 9.2.1 safe methods: no `Idempotency-Key` is sent with them unless the caller gives one. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** An idempotency key: 1 to 255 of `A-Z a-z 0-9 - _ . : ~ + / =` (a UUID, base64, a ULID, `outbox-42`). */
const IDEMPOTENCY_KEY = /^[A-Za-z0-9\-_.:~+/=]{1,255}$/;

/**
 * The key of an `Idempotency-Key` header value (draft-ietf-httpapi-idempotency-key-header): a
 * Structured Fields string (`"8e03978e-…"`, the draft's form) or the same characters unquoted, 1 to
 * 255 of `A-Z a-z 0-9 - _ . : ~ + / =`. `undefined` for anything else (several keys, spaces, quotes
 * that do not match, an empty or longer key).
 */
export function parseIdempotencyKey(value: string): string | undefined {
  const key = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  return IDEMPOTENCY_KEY.test(key) ? key : undefined;
}

/** The `Idempotency-Key` header value for `key`: a Structured Fields string, as the draft writes it. */
export function formatIdempotencyKey(key: string): string {
  return `"${key}"`;
}

/** Methods fetch refuses (Fetch standard "forbidden method"). */
const FORBIDDEN_METHODS: ReadonlySet<string> = new Set(['CONNECT', 'TRACE', 'TRACK']);

/**
 * What mints the tokens. {@link TokenIssuer} is one (it signs synchronously); an asynchronous
 * source (a token fetched from an STS) fits too. `issuerId` is `<principal>@<realm>`: the identity
 * a partner's `trusted_issuers` must cover, and the realm of every audience.
 */
export interface TokenSource {
  readonly issuerId: string;
  issueAppOnly(request: ActorTokenRequest): IssuedToken | Promise<IssuedToken>;
  issueForUser(request: ActorTokenRequest, user: UserContext): IssuedToken | Promise<IssuedToken>;
}

/** The `fetch` the client calls: the global `fetch` or a stand-in with the same contract. */
export type FetchFunction = (url: URL, init: RequestInit) => Promise<Response>;

/** Options of {@link S2SClient}. */
export interface S2SClientOptions {
  /** Mints the tokens; usually a {@link TokenIssuer}. */
  readonly issuer: TokenSource;
  /** Default deadline of a call in milliseconds (discovery, token, every attempt, body). Default 10000. */
  readonly timeoutMs?: number;
  /**
   * Renew a cached token when less than this many seconds are left before its `exp`. Default 300;
   * never more than half a token's lifetime is used.
   */
  readonly renewBeforeSeconds?: number;
  /** The most tokens cached, per (audience, user, scopes). Default 1000. */
  readonly maxCachedTokens?: number;
  /**
   * Permit plain `http:` to a literal loopback host: `localhost`, `127.0.0.0/8` or `[::1]`, for
   * development and tests, where the traffic never leaves the machine. Default `true`. No name
   * other than `localhost` is resolved to decide this, so `http://` to any other host is always
   * refused. `false` permits `https:` only.
   */
  readonly allowLoopbackHttp?: boolean;
  /** Time source for renewal; give it the issuer's clock. Default the system clock. */
  readonly clock?: Clock;
  /** The `fetch` to call. Default the global `fetch`. */
  readonly fetch?: FetchFunction;
}

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

/** A request body the client can send. Every kind but a stream can be sent again after a 401. */
export type S2SRequestBody = string | Uint8Array | ArrayBuffer | URLSearchParams | Blob | FormData | ReadableStream<Uint8Array>;

/** Request headers, as `fetch` takes them. */
export type S2SRequestHeaders = Headers | Readonly<Record<string, string>> | readonly (readonly [string, string])[];

/** One call to a partner. */
export interface S2SRequestOptions {
  /**
   * Call on behalf of this user (an outer token wrapping a delegation actor token, protocol.md
   * section 3.2). Absent: an app-only call.
   */
  readonly user?: UserContext;
  /**
   * Scopes for the token's `scp`; their order does not matter. Absent: no `scp` (the partner's grant
   * applies). Empty: `scp` `""`, which grants nothing.
   */
  readonly scopes?: readonly string[];
  /** HTTP method. Default `POST` when a body is given, else `GET`. */
  readonly method?: string;
  /** Extra headers. `Authorization` and `Cookie` are refused: the token is the only credential. */
  readonly headers?: S2SRequestHeaders;
  /** The body. Not with `json`. */
  readonly body?: S2SRequestBody;
  /** A value sent as JSON (`Content-Type: application/json` unless `headers` set one). Not with `body`. */
  readonly json?: unknown;
  /** Deadline of this call in milliseconds. Default the partner's, else the client's. */
  readonly timeoutMs?: number;
  /** Aborts the call, e.g. when the inbound request that caused it is closed. */
  readonly signal?: AbortSignal;
  /**
   * The `Idempotency-Key` of this logical call (draft-ietf-httpapi-idempotency-key-header): 1 to
   * 255 of `A-Z a-z 0-9 - _ . : ~ + / =`. Give the same key when calling again after a timeout or a
   * crash (e.g. the id of the row the call delivers), so the partner answers the repeat with its
   * first answer instead of doing the work twice. Absent: a call with a method that is not safe
   * (anything but GET, HEAD, OPTIONS) gets a new random key; a safe one gets none. Every attempt of
   * one call (the retry after a 401) sends the same key.
   */
  readonly idempotencyKey?: string;
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

/** Why a call failed; stable, for programs. */
export type S2SClientErrorCode =
  /** The URL is not `https:` (nor `http:` to loopback when allowed). Nothing was sent. */
  | 'insecure_url'
  /** The path resolves outside the partner's origin, or carries credentials. Nothing was sent. */
  | 'invalid_url'
  /** The partner's challenge names another application (`client_id`). */
  | 'wrong_principal'
  /** The partner's `trusted_issuers` does not cover this server's issuer id. */
  | 'not_trusted'
  /** The partner is in another realm than this server's issuer. */
  | 'realm_mismatch'
  /** Realm discovery got no usable Bearer challenge. */
  | 'discovery_failed'
  /** The partner refused the token (401), after one retry with a new token where possible. */
  | 'unauthorized'
  /** `json()` got a status other than 2xx. */
  | 'status'
  /** The partner answered with a redirect, which is never followed. */
  | 'redirect'
  /** The deadline passed. */
  | 'timeout'
  /** The caller's signal aborted the call. */
  | 'aborted'
  /** The partner could not be reached, or the connection failed. */
  | 'network'
  /** `json()` got a body that is not JSON. */
  | 'invalid_json';

/** Details of an {@link S2SClientError}. */
export interface S2SClientErrorDetails {
  /** The partner's origin. */
  readonly target: string;
  /** The partner's HTTP status, when it answered. */
  readonly status?: number;
  /** The partner's Bearer challenge, when it sent one. */
  readonly challenge?: BearerChallenge;
  readonly cause?: unknown;
}

/**
 * A call to a partner failed. `message` says what happened in words a person can act on (it names
 * the partner and this server's issuer id where that helps); it never contains a token. Map
 * `code` to a response: e.g. `timeout` to 504, the others to 502.
 */
export class S2SClientError extends Error {
  /** Stable reason code. */
  readonly code: S2SClientErrorCode;
  /** The partner's origin, `scheme://host[:port]`. */
  readonly target: string;
  // `declare`: absent rather than `undefined` when not set, so logged errors show only what happened.
  /** The partner's HTTP status, when it answered. */
  declare readonly status?: number;
  /** The partner's Bearer challenge (`error`, `error_description`, `realm`, ...), when it sent one. */
  declare readonly challenge?: BearerChallenge;

  constructor(code: S2SClientErrorCode, message: string, details: S2SClientErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'S2SClientError';
    this.code = code;
    this.target = details.target;
    if (details.status !== undefined) this.status = details.status;
    if (details.challenge !== undefined) this.challenge = details.challenge;
  }
}

/** What every endpoint of one client shares. */
interface ClientContext {
  readonly issuer: TokenSource;
  readonly issuerId: IssuerId;
  readonly issuerIdText: string;
  readonly tokens: TokenCache;
  /** Discovered realms by `<principal> <origin>`; a discovery in progress is its promise. */
  readonly realms: LRUCache<string, Promise<string>>;
  readonly fetch: FetchFunction;
  readonly timeoutMs: number;
  readonly allowLoopbackHttp: boolean;
}

/**
 * Calls partner applications with tokens from a {@link TokenSource}, cached per (audience, user,
 * scopes) and renewed shortly before they expire, so repeated calls sign once per token lifetime.
 *
 * @example
 * const client = new S2SClient({ issuer });   // issuer: a TokenIssuer for Lync in contoso.com
 * const exchange = client.partner({ principal: WellKnownPrincipal.exchange, baseUrl: 'https://mail.contoso.com' });
 * app.get('/contacts', async (req, res, next) => {
 *   try {
 *     const contacts = await exchange.json('/api/ucs/contacts', {
 *       user: { nameid: 'alice@contoso.com', smtp: 'alice@contoso.com', sip: 'alice@contoso.com' },
 *       scopes: ['contacts.read'],
 *     });
 *     res.json(contacts);
 *   } catch (error) {
 *     if (error instanceof S2SClientError) res.status(error.code === 'timeout' ? 504 : 502).json({ error: error.code, message: error.message });
 *     else next(error);
 *   }
 * });
 */
export class S2SClient {
  /** The issuer id (`<principal>@<realm>`) partners see as `iss`. */
  readonly issuerId: string;
  readonly #context: ClientContext;

  /** @throws TypeError naming the option that is wrong. */
  constructor(options: S2SClientOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('S2SClient options must be an object.');
    const { issuer } = options;
    if (
      typeof issuer !== 'object' ||
      issuer === null ||
      typeof issuer.issueAppOnly !== 'function' ||
      typeof issuer.issueForUser !== 'function'
    ) {
      throw new TypeError('options.issuer must be a TokenIssuer (or an object with issuerId, issueAppOnly and issueForUser).');
    }
    const issuerId = typeof issuer.issuerId === 'string' ? parseIssuerId(issuer.issuerId) : undefined;
    if (!issuerId) throw new TypeError('options.issuer.issuerId must be <principal>@<realm>.');
    const timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_S2S_TIMEOUT_MS, 'options.timeoutMs');
    const allowLoopbackHttp = options.allowLoopbackHttp ?? true;
    if (typeof allowLoopbackHttp !== 'boolean') throw new TypeError('options.allowLoopbackHttp must be a boolean.');
    const fetchFunction = options.fetch ?? (globalThis.fetch as FetchFunction);
    if (typeof fetchFunction !== 'function') throw new TypeError('options.fetch must be a function like the global fetch.');
    const clock = options.clock ?? systemClock;
    if (typeof clock !== 'function') throw new TypeError('options.clock must be a function returning milliseconds.');
    const tokens = new TokenCache({
      maxEntries: options.maxCachedTokens ?? DEFAULT_MAX_CACHED_TOKENS,
      renewBeforeSeconds: options.renewBeforeSeconds ?? DEFAULT_RENEW_BEFORE_SECONDS,
      clock,
    });
    this.issuerId = issuer.issuerId;
    this.#context = {
      issuer,
      issuerId,
      issuerIdText: issuer.issuerId,
      tokens,
      realms: new LRUCache({ max: MAX_DISCOVERED_TARGETS }),
      fetch: fetchFunction,
      timeoutMs,
      allowLoopbackHttp,
    };
  }

  /**
   * A partner application to call.
   * @throws S2SClientError `insecure_url` when `baseUrl` is neither `https:` nor allowed loopback
   *   `http:`; TypeError for a malformed principal, URL, realm, path or timeout, or a realm other
   *   than the issuer's.
   */
  partner(options: PartnerTargetOptions): PartnerEndpoint {
    return new Endpoint(this.#context, options);
  }

  /** Forgets every cached token and discovered realm (e.g. after a partner's configuration changed). */
  clear(): void {
    this.#context.tokens.clear();
    this.#context.realms.clear();
  }
}

/** One call's deadline: the timeout and the caller's signal, combined. */
interface Deadline {
  readonly signal: AbortSignal;
  readonly timeout: AbortSignal;
  readonly caller: AbortSignal | undefined;
}

/** A request checked and ready to send, except for its token. */
interface PreparedRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: Headers;
  readonly body: S2SRequestBody | undefined;
  readonly resendable: boolean;
  readonly user: UserContext | undefined;
  readonly scopes: string[] | undefined;
}

class Endpoint implements PartnerEndpoint {
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
    if (!isSecureUrl(base, context.allowLoopbackHttp)) {
      throw new S2SClientError(
        'insecure_url',
        `${base.origin} is not an https: URL${context.allowLoopbackHttp ? ' (plain http: is allowed only to localhost, 127.0.0.0/8 and [::1])' : ''}; tokens are never sent over it.`,
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
    this.#timeoutMs = options.timeoutMs === undefined ? context.timeoutMs : checkTimeout(options.timeoutMs, 'options.timeoutMs');
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
    const request = this.#prepare(path, options, wantJson);
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

  /** Everything that can be checked before anything is sent. */
  #prepare(path: string, options: S2SRequestOptions, wantJson: boolean): PreparedRequest {
    if (typeof path !== 'string') throw new TypeError('path must be a string.');
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object.');
    const url = new URL(path, this.#base);
    if (url.origin !== this.origin || url.username !== '' || url.password !== '') {
      throw new S2SClientError(
        'invalid_url',
        `The path ${JSON.stringify(path.slice(0, MAX_QUOTED_LENGTH))} leaves ${this.origin} or carries credentials; a token for ${this.origin} is sent nowhere else.`,
        { target: this.origin },
      );
    }
    const { json, body, user, scopes } = options;
    if (json !== undefined && body !== undefined) throw new TypeError('options.json and options.body cannot both be given.');
    const hasBody = json !== undefined || body !== undefined;
    const method = options.method ?? (hasBody ? 'POST' : 'GET');
    if (typeof method !== 'string' || !METHOD.test(method) || FORBIDDEN_METHODS.has(method.toUpperCase())) {
      throw new TypeError('options.method must be an HTTP method name (not CONNECT, TRACE or TRACK).');
    }
    if (hasBody && (method.toUpperCase() === 'GET' || method.toUpperCase() === 'HEAD')) {
      throw new TypeError(`options.method ${method} cannot carry a body.`);
    }
    let headers: Headers;
    try {
      headers = new Headers(options.headers as ConstructorParameters<typeof Headers>[0]);
    } catch (error) {
      throw new TypeError('options.headers must be valid HTTP headers.', { cause: error });
    }
    for (const name of ['authorization', 'cookie']) {
      if (headers.has(name)) throw new TypeError(`options.headers may not set ${name}: the token is the only credential sent.`);
    }
    if (headers.has('idempotency-key')) throw new TypeError('options.headers may not set idempotency-key: give options.idempotencyKey.');
    const { idempotencyKey } = options;
    if (idempotencyKey !== undefined) {
      if (typeof idempotencyKey !== 'string' || !IDEMPOTENCY_KEY.test(idempotencyKey)) {
        throw new TypeError('options.idempotencyKey must be 1 to 255 of A-Z a-z 0-9 - _ . : ~ + / =.');
      }
      headers.set('idempotency-key', formatIdempotencyKey(idempotencyKey));
    } else if (!SAFE_METHODS.has(method.toUpperCase())) {
      // One key per logical call, kept for every attempt of it.
      headers.set('idempotency-key', formatIdempotencyKey(randomUUID()));
    }
    if (user !== undefined && (typeof user !== 'object' || user === null)) throw new TypeError('options.user must be an object.');
    if (scopes !== undefined && !Array.isArray(scopes)) throw new TypeError('options.scopes must be an array of scope words.');
    let sent: S2SRequestBody | undefined = body;
    if (json !== undefined) {
      const text = JSON.stringify(json);
      if (text === undefined) throw new TypeError('options.json must be a value JSON can represent.');
      sent = text;
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
    if (wantJson && !headers.has('accept')) headers.set('accept', 'application/json');
    return {
      url,
      method,
      headers,
      body: sent,
      resendable: !(sent instanceof ReadableStream),
      user,
      scopes: scopes === undefined ? undefined : normalizeScopes(scopes),
    };
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
    const timeout = AbortSignal.timeout(timeoutMs);
    return { signal: caller === undefined ? timeout : AbortSignal.any([timeout, caller]), timeout, caller };
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
    const challenge = response.status === 401 ? readBearerChallenge(response.headers.get('www-authenticate') ?? '') : undefined;
    if (challenge === undefined) {
      throw new S2SClientError(
        'discovery_failed',
        `${this.origin} answered the realm discovery request (${describeRequest(request)} with an empty bearer token) with ${response.status}${response.status === 401 ? ' but no Bearer challenge' : ', not 401 with a Bearer challenge'}; configure the partner's realm or its discoveryPath.`,
        { target: this.origin, status: response.status },
      );
    }
    const context = this.#context;
    const details = { target: this.origin, status: response.status, challenge };
    if (challenge.clientId !== undefined && challenge.clientId !== this.principal) {
      throw new S2SClientError(
        'wrong_principal',
        `${this.origin} is the application ${quote(challenge.clientId)}, not the configured partner ${this.principal}.`,
        details,
      );
    }
    if (!trusts(challenge, context.issuerId)) {
      throw new S2SClientError(
        'not_trusted',
        `${this.origin} does not trust ${context.issuerIdText} as a token issuer (it trusts: ${listIssuers(challenge.trustedIssuers)}).`,
        details,
      );
    }
    const realm = challenge.realm ?? context.issuerId.realm;
    if (!isRealm(realm)) {
      throw new S2SClientError('discovery_failed', `${this.origin} announced a realm that is not a lowercase DNS name or GUID: ${quote(realm)}.`, details);
    }
    if (realm !== context.issuerId.realm) {
      throw new S2SClientError(
        'realm_mismatch',
        `${this.origin} is in the realm ${realm}, but ${context.issuerIdText} issues tokens for ${context.issuerId.realm} only.`,
        details,
      );
    }
    return realm;
  }

  /** One HTTP exchange: never follows a redirect, maps failures to typed errors. */
  async #send(
    url: URL,
    method: string,
    headers: Headers,
    body: S2SRequestBody | undefined,
    deadline: Deadline,
    request: Pick<PreparedRequest, 'method' | 'url'>,
  ): Promise<Response> {
    const init: RequestInit & { duplex?: 'half' } = { method, headers, redirect: 'manual', signal: deadline.signal };
    if (body !== undefined) init.body = body as NonNullable<RequestInit['body']>;
    // fetch requires half duplex to stream a request body.
    if (body instanceof ReadableStream) init.duplex = 'half';
    let response: Response;
    try {
      response = await this.#context.fetch(url, init);
    } catch (error) {
      throw this.#failure(error, deadline, describeRequest(request));
    }
    if (response.status >= 300 && response.status <= 399 && response.status !== 304) {
      await discard(response);
      throw new S2SClientError(
        'redirect',
        `${this.origin} answered ${describeRequest(request)} with a redirect (${response.status}); redirects are not followed with a token.`,
        { target: this.origin, status: response.status },
      );
    }
    return response;
  }

  /** Waits for `promise` no longer than the deadline. */
  #within<T>(promise: Promise<T>, deadline: Deadline, doing: string): Promise<T> {
    const { signal } = deadline;
    if (signal.aborted) return Promise.reject(this.#failure(signal.reason, deadline, doing));
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(this.#failure(signal.reason, deadline, doing));
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  #failure(error: unknown, deadline: Deadline, doing: string): S2SClientError {
    const details = { target: this.origin, cause: error };
    if (deadline.caller?.aborted) return new S2SClientError('aborted', `The call to ${this.origin} was aborted (${doing}).`, details);
    if (deadline.timeout.aborted) return new S2SClientError('timeout', `${this.origin} did not answer in time (${doing}).`, details);
    return new S2SClientError('network', `${this.origin} could not be reached (${doing}): ${networkReason(error)}.`, details);
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

/** True when the challenge lists no trusted issuers, or one covering `issuer`. */
function trusts(challenge: BearerChallenge, issuer: IssuerId): boolean {
  if (challenge.trustedIssuers.length === 0) return true;
  return challenge.trustedIssuers.some((entry) => {
    const parsed = parseTrustedIssuer(entry);
    return parsed !== undefined && trustedIssuerCovers(parsed, issuer);
  });
}

function listIssuers(entries: readonly string[]): string {
  const listed = entries.slice(0, MAX_LISTED_ISSUERS).map(quote).join(', ');
  return entries.length > MAX_LISTED_ISSUERS ? `${listed} and ${entries.length - MAX_LISTED_ISSUERS} more` : listed;
}

function describeChallenge(challenge: BearerChallenge | undefined): string {
  if (challenge?.error === undefined) return '';
  let text = ` ${quote(challenge.error)}`;
  if (challenge.errorDescription !== undefined) text += `: ${quote(challenge.errorDescription)}`;
  if (challenge.scope !== undefined) text += ` (scope ${quote(challenge.scope)})`;
  return text;
}

/** `METHOD /path` without the query, which may hold data that is not ours to repeat. */
function describeRequest(request: Pick<PreparedRequest, 'method' | 'url'>): string {
  return `${request.method} ${request.url.pathname}`;
}

/** Partner-sent text fit for a message: no control characters, bounded length. */
function quote(text: string): string {
  const clean = text.replace(/[\x00-\x1f\x7f-\x9f]/g, ' ');
  return clean.length > MAX_QUOTED_LENGTH ? `${clean.slice(0, MAX_QUOTED_LENGTH)}…` : clean;
}

/** The reason a fetch failed, from undici's `cause` (an errno or undici code) when there is one. */
function networkReason(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return code;
  if (cause instanceof Error) return quote(cause.message);
  return error instanceof Error ? quote(error.message) : 'unknown error';
}

/** Releases a response body that will not be read, so its connection can be reused or closed. */
async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // The body is not wanted; a failure to cancel it changes nothing for the caller.
  }
}

function checkTimeout(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMEOUT_MS) {
    throw new TypeError(`${name} must be a positive number of milliseconds (at most ${MAX_TIMEOUT_MS}).`);
  }
  return value;
}
