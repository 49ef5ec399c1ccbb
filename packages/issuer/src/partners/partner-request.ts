/**
 * One call to a partner as the caller describes it ({@link S2SRequestOptions}), and the checks
 * that turn it into a request ready to send, before any token is minted or byte sent.
 */
import { randomUUID } from 'node:crypto';
import type { UserContext } from '../identity/token-issuer.js';
import { formatIdempotencyKey, IDEMPOTENCY_KEY, SAFE_METHODS } from './idempotency-key.js';
import { MAX_QUOTED_LENGTH } from './outbound-http.js';
import { S2SClientError } from './s2s-client-error.js';
import { normalizeScopes } from './token-cache.js';

/** RFC 9110 `token`: the syntax of a method name. */
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Methods fetch refuses (Fetch standard "forbidden method"). */
const FORBIDDEN_METHODS: ReadonlySet<string> = new Set(['CONNECT', 'TRACE', 'TRACK']);

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

/** A request checked and ready to send, except for its token. */
export interface PreparedRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: Headers;
  readonly body: S2SRequestBody | undefined;
  readonly resendable: boolean;
  readonly user: UserContext | undefined;
  readonly scopes: string[] | undefined;
}

/**
 * Everything about a call that can be checked before anything is sent: the URL stays on `base`'s
 * origin, the method, headers (no `Authorization`, `Cookie` or `Idempotency-Key`), body or JSON,
 * the idempotency key (the caller's, or a new one for a method that is not safe), user and scopes.
 * @throws S2SClientError `invalid_url`; TypeError for a malformed call.
 */
export function preparePartnerRequest(base: URL, path: string, options: S2SRequestOptions, wantJson: boolean): PreparedRequest {
  if (typeof path !== 'string') throw new TypeError('path must be a string.');
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object.');
  const url = new URL(path, base);
  if (url.origin !== base.origin || url.username !== '' || url.password !== '') {
    throw new S2SClientError(
      'invalid_url',
      `The path ${JSON.stringify(path.slice(0, MAX_QUOTED_LENGTH))} leaves ${base.origin} or carries credentials; a token for ${base.origin} is sent nowhere else.`,
      { target: base.origin },
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

/** `METHOD /path` without the query, which may hold data that is not ours to repeat. */
export function describeRequest(request: Pick<PreparedRequest, 'method' | 'url'>): string {
  return `${request.method} ${request.url.pathname}`;
}
