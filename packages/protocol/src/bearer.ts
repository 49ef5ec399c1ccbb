/**
 * Finding the bearer token in a request: protocol.md section 3.3 step 1, RFC 6750 section 2.
 *
 * A request carries at most one credential, and only in one `Authorization` header. Tokens in the
 * query string or a form body (RFC 6750 sections 2.2 and 2.3) are refused rather than ignored: a
 * URL ends up in logs and proxies, and a second place to look for a token is a second credential
 * that some other layer may read differently.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { InvalidRequestError } from './errors.js';

/** The largest `Authorization` header value accepted, in characters (protocol.md 3.3 step 1). */
export const MAX_AUTHORIZATION_LENGTH = 8192;

/** The parts of an HTTP request that may carry a credential. Node's `IncomingMessage` and Express's `Request` fit. */
export interface BearerRequest {
  /** Parsed headers. Node keeps only the first of several `Authorization` headers here. */
  readonly headers: IncomingHttpHeaders;
  /** Headers as received, `[name, value, name, value, ...]`: the only place duplicates are visible. */
  readonly rawHeaders: readonly string[];
  /** The request target; its query string is searched for `access_token` (RFC 6750 section 2.3). */
  readonly url?: string | undefined;
  /** A parsed query (Express `req.query`), searched for `access_token` as well. */
  readonly query?: unknown;
  /** A parsed body (any body parser), searched for an `access_token` member (RFC 6750 section 2.2). */
  readonly body?: unknown;
}

/**
 * What the request carries:
 * - `none`: no `Authorization` header, or one with another scheme (`Basic`, `Negotiate`): the caller
 *   gets the plain challenge (RFC 6750 section 3.1: no error code when bearer authentication is missing);
 * - `empty`: `Authorization: Bearer` without a token, the realm-discovery request of protocol.md section 7;
 * - `token`: one token68 value, not yet parsed.
 */
export type BearerCredential = { readonly kind: 'none' } | { readonly kind: 'empty' } | { readonly kind: 'token'; readonly token: string };

/** RFC 9110 section 5.6.2 `token`, the syntax of an auth-scheme. */
const AUTH_SCHEME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 6750 section 2.1 `b64token` (= RFC 9110 `token68`). */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const AUTHORIZATION = 'authorization';

const NONE: BearerCredential = Object.freeze({ kind: 'none' });
const EMPTY: BearerCredential = Object.freeze({ kind: 'empty' });

/**
 * Extracts the bearer token of a request (protocol.md 3.3 step 1).
 *
 * @returns `none`, `empty` or the token; see {@link BearerCredential}.
 * @throws InvalidRequestError (400 `invalid_request`) with code
 *   - `multiple_credentials`: more than one `Authorization` header (counted in `rawHeaders`, since
 *     Node's `headers` silently keeps only the first);
 *   - `header_too_large`: the header value is longer than {@link MAX_AUTHORIZATION_LENGTH};
 *   - `token_in_query` / `token_in_body`: an `access_token` parameter, with or without a header;
 *   - `malformed_authorization`: an empty header, an invalid scheme, or a `Bearer` value that is not
 *     exactly one token68 (comma lists, two tokens, other characters).
 */
export function extractBearerToken(request: BearerRequest): BearerCredential {
  const header = authorizationHeader(request);
  if (header !== undefined && header.length > MAX_AUTHORIZATION_LENGTH) {
    throw new InvalidRequestError('header_too_large', `The Authorization header has ${header.length} characters, more than ${MAX_AUTHORIZATION_LENGTH}.`);
  }
  if (queryHasToken(request)) {
    throw new InvalidRequestError('token_in_query', 'The request has an access_token query parameter.');
  }
  if (hasOwnMember(request.body, 'access_token')) {
    throw new InvalidRequestError('token_in_body', 'The request body has an access_token parameter.');
  }
  return header === undefined ? NONE : parseAuthorization(header);
}

/** The one `Authorization` header value, OWS-trimmed, or undefined when there is none. */
function authorizationHeader(request: BearerRequest): string | undefined {
  const raw = request.rawHeaders;
  let count = 0;
  let value: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    // The length first: only a 13-character name can lower-case to "authorization" (no other
    // character lower-cases to one of its ASCII letters), and most headers are not that long.
    if (name.length === AUTHORIZATION.length && name.toLowerCase() === AUTHORIZATION) {
      count += 1;
      value = raw[i + 1] as string;
    }
  }
  const parsed: unknown = request.headers.authorization;
  if (Array.isArray(parsed) && parsed.length > 1) count = Math.max(count, parsed.length);
  if (count > 1) {
    throw new InvalidRequestError('multiple_credentials', `The request has ${count} Authorization headers.`);
  }
  // Requests built without rawHeaders (tests, other frameworks) still have the parsed header.
  if (value === undefined) {
    if (typeof parsed === 'string') value = parsed;
    else if (Array.isArray(parsed) && typeof parsed[0] === 'string') value = parsed[0];
    else return undefined;
  }
  return trimOws(value);
}

/** Node strips optional whitespace around field values (RFC 9110 section 5.5); do the same for other callers. */
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isOws(value.charCodeAt(start))) start += 1;
  while (end > start && isOws(value.charCodeAt(end - 1))) end -= 1;
  return value.slice(start, end);
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** RFC 6750 section 2.1: `"Bearer" 1*SP b64token`: the scheme is everything up to the first space, the credentials everything after the spaces that follow it. */
function parseAuthorization(header: string): BearerCredential {
  const space = header.indexOf(' ');
  const scheme = space < 0 ? header : header.slice(0, space);
  let start = space < 0 ? header.length : space;
  while (header.charCodeAt(start) === 0x20) start += 1;
  const rest = header.slice(start);
  if (!AUTH_SCHEME.test(scheme)) {
    throw new InvalidRequestError('malformed_authorization', 'The Authorization header does not start with an authentication scheme.');
  }
  if (scheme.length !== 6 || scheme.toLowerCase() !== 'bearer') return NONE;
  // Trailing whitespace is already gone, so "Bearer" and "Bearer   " both ask for the challenge.
  if (rest === '') return EMPTY;
  if (!TOKEN68.test(rest)) {
    throw new InvalidRequestError('malformed_authorization', 'The Bearer credentials are not a single token68 value.');
  }
  return { kind: 'token', token: rest };
}

function queryHasToken(request: BearerRequest): boolean {
  const url = request.url;
  const mark = typeof url === 'string' ? url.indexOf('?') : -1;
  // Express 5's `req.query` is a getter on the request prototype that parses the query string of
  // `req.url` on every read: with no '?' in the URL there is nothing for it to find, so it is not
  // read. A `query` that is the request's own property (Express 4, other frameworks, tests) is
  // always searched.
  const queryFromUrlOnly = typeof url === 'string' && mark < 0 && !Object.hasOwn(request, 'query');
  if (!queryFromUrlOnly && hasOwnMember(request.query, 'access_token')) return true;
  if (typeof url !== 'string' || mark < 0) return false;
  const hash = url.indexOf('#', mark);
  return new URLSearchParams(url.slice(mark + 1, hash < 0 ? undefined : hash)).has('access_token');
}

function hasOwnMember(value: unknown, name: string): boolean {
  return typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, name);
}
