/**
 * The outbound half of server-to-server OAuth: calling a partner application's URL as this server
 * alone or on behalf of a user (docs/architecture.md "Outbound", docs/protocol.md sections 3.1,
 * 3.2 and 7), the way Lync Server 2013 calls Exchange for contacts and archiving.
 *
 * What the client guarantees, because a token is a bearer credential that anyone who sees it can
 * replay until it expires:
 *
 * - a token is sent only over `https:`, or over `http:` to a literal loopback host when
 *   `allowLoopbackHttp` is set (it is not by default); any other URL
 *   is refused before a token is minted or a byte is sent;
 * - a token goes only to the origin it was minted for (its audience names that authority); a path
 *   that resolves to another origin is refused;
 * - redirects are never followed (`redirect: 'manual'`): a 3xx is an error, so a partner, or
 *   whoever answers in its name, cannot bounce the token to another host;
 * - every call has a deadline covering realm discovery, the token, every attempt and the body;
 * - no error message contains a token; the only credential sent is the token (no caller
 *   `Authorization` or `Cookie` header).
 *
 * The pieces: partner-endpoint.ts (one call), partner-request.ts (its checks), realm-discovery.ts,
 * token-cache.ts, outbound-http.ts (the guarded exchange) and s2s-client-error.ts.
 */
import { optionNames, parseIssuerId, refuseUnknownOptions, systemClock, type Clock } from '@s2sauth/protocol';
import { LRUCache } from 'lru-cache';
import type { ActorTokenRequest, IssuedToken, UserContext } from '../identity/token-issuer.js';
import { DEFAULT_OUTBOUND_TIMEOUT_MS, outboundHttp, type FetchFunction } from './outbound-http.js';
import { Endpoint, type ClientContext, type PartnerEndpoint, type PartnerTargetOptions } from './partner-endpoint.js';
import { DEFAULT_MAX_CACHED_TOKENS, DEFAULT_RENEW_BEFORE_SECONDS, TokenCache } from './token-cache.js';

/** Default deadline of one call in milliseconds: discovery, token, attempts and body together. */
export const DEFAULT_S2S_TIMEOUT_MS = DEFAULT_OUTBOUND_TIMEOUT_MS;

/** Most partner targets whose discovered realm is remembered. */
const MAX_DISCOVERED_TARGETS = 1000;

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
   * development and tests, where the traffic never leaves the machine. Default `false` (it was
   * `true` before; `StsTokenSource` and every outbound path now share the safe default). No name
   * other than `localhost` is resolved to decide this, so `http://` to any other host is always
   * refused. `false` permits `https:` only.
   */
  readonly allowLoopbackHttp?: boolean;
  /** Time source for renewal; give it the issuer's clock. Default the system clock. */
  readonly clock?: Clock;
  /** The `fetch` to call. Default the global `fetch`. */
  readonly fetch?: FetchFunction;
}

const S2S_CLIENT_OPTION_NAMES = optionNames<S2SClientOptions>({
  issuer: true,
  timeoutMs: true,
  renewBeforeSeconds: true,
  maxCachedTokens: true,
  allowLoopbackHttp: true,
  clock: true,
  fetch: true,
});

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
    refuseUnknownOptions('new S2SClient', options, S2S_CLIENT_OPTION_NAMES);
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
    const http = outboundHttp(options);
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
      http,
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
