/**
 * A guarded HTTP exchange with a partner or an STS: the one outbound HTTP path of this package.
 * `S2SClient` (a token to a partner) and `StsTokenSource` (a client assertion to an STS) both send
 * through it, so both keep the same promises, because what they send is a bearer credential:
 *
 * - only `https:`, or plain `http:` to a literal loopback host (`localhost`, `127.0.0.0/8`,
 *   `[::1]`) when `allowLoopbackHttp` is set, which it is not by default (protocol.md section 4);
 * - one deadline per exchange (an `AbortSignal`), combined with the caller's signal when there is
 *   one, and kept running while the body is read;
 * - redirects are never followed (`redirect: 'manual'`): a 3xx other than 304 is refused, so
 *   whoever answers cannot bounce the credential to another host;
 * - text the other side sent is quoted only without control characters, without anything
 *   token-like (a run of 40 or more base64/base64url characters) and bounded in length;
 * - a failure is one of `redirect`, `timeout`, `aborted` (the caller's signal) or `network`, with a
 *   network reason taken from undici's `cause` (an errno or undici code) where there is one.
 *
 * Each client turns an {@link OutboundFailure} into its own typed error and message.
 */
/** The `fetch` a client calls: the global `fetch` or a stand-in with the same contract. */
export type FetchFunction = (url: URL, init: RequestInit) => Promise<Response>;

/** Default deadline of one exchange in milliseconds. */
export const DEFAULT_OUTBOUND_TIMEOUT_MS = 10_000;

/** The longest deadline accepted (the largest timer delay Node.js supports, about 24.8 days). */
export const MAX_OUTBOUND_TIMEOUT_MS = 2_147_483_647;

/** Longest piece of remote text (`error_description`, diagnostics, a network reason) quoted in a message. */
export const MAX_QUOTED_LENGTH = 200;

/**
 * Runs of base64url/base64 characters long enough to be a token segment or key material: a partner
 * or STS that echoes a token or an assertion in its answer must not get it into a log.
 */
const TOKEN_LIKE = /[A-Za-z0-9_\-+/=.]{40,}/g;

/** The options every outbound client shares. */
export interface OutboundHttpOptions {
  /** The `fetch` to call. Default the global `fetch`. */
  readonly fetch?: FetchFunction;
  /** Deadline of an exchange in milliseconds. Default 10000. */
  readonly timeoutMs?: number;
  /**
   * Permit plain `http:` to a literal loopback host (`localhost`, `127.0.0.0/8`, `[::1]`), for
   * development and tests, where the traffic never leaves the machine. Default `false`: `https:`
   * only. No name other than `localhost` is resolved to decide this, so `http:` to any other host
   * is always refused.
   */
  readonly allowLoopbackHttp?: boolean;
}

/** {@link OutboundHttpOptions} checked, with their defaults. */
export interface OutboundHttp {
  readonly fetch: FetchFunction;
  readonly timeoutMs: number;
  readonly allowLoopbackHttp: boolean;
}

/**
 * Checks the shared options and fills in the defaults (`allowLoopbackHttp` `false`).
 * @throws TypeError naming the option that is wrong.
 */
export function outboundHttp(options: OutboundHttpOptions): OutboundHttp {
  const allowLoopbackHttp = options.allowLoopbackHttp ?? false;
  if (typeof allowLoopbackHttp !== 'boolean') throw new TypeError('options.allowLoopbackHttp must be a boolean.');
  const fetchFunction = options.fetch ?? ((url: URL, init: RequestInit) => fetch(url, init));
  if (typeof fetchFunction !== 'function') throw new TypeError('options.fetch must be a function like the global fetch.');
  const timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_OUTBOUND_TIMEOUT_MS, 'options.timeoutMs');
  return { fetch: fetchFunction, timeoutMs, allowLoopbackHttp };
}


/**
 * A deadline in milliseconds, checked.
 * @throws TypeError unless a positive number up to {@link MAX_OUTBOUND_TIMEOUT_MS}.
 */
export function checkTimeout(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_OUTBOUND_TIMEOUT_MS) {
    throw new TypeError(`${name} must be a positive number of milliseconds (at most ${MAX_OUTBOUND_TIMEOUT_MS}).`);
  }
  return value;
}

/** One exchange's deadline: its timeout and the caller's signal, combined in `signal`. */
export interface Deadline {
  readonly signal: AbortSignal;
  readonly timeout: AbortSignal;
  readonly caller: AbortSignal | undefined;
}

/** A deadline `timeoutMs` from now, ended early when `caller` aborts. */
export function startDeadline(timeoutMs: number, caller?: AbortSignal): Deadline {
  const timeout = AbortSignal.timeout(timeoutMs);
  return { signal: caller === undefined ? timeout : AbortSignal.any([timeout, caller]), timeout, caller };
}

/** Why an exchange failed. */
export type OutboundFailureKind = 'redirect' | 'timeout' | 'aborted' | 'network';

/** An exchange failed; each client turns it into its own error. `message` is a quoted reason. */
export class OutboundFailure extends Error {
  /** What went wrong. */
  readonly kind: OutboundFailureKind;
  /** The status of a refused redirect. */
  declare readonly status?: number;

  constructor(kind: OutboundFailureKind, reason: string, details: { readonly status?: number; readonly cause?: unknown } = {}) {
    super(reason, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'OutboundFailure';
    this.kind = kind;
    if (details.status !== undefined) this.status = details.status;
  }
}

/** Classifies an error thrown while `deadline` ran: the caller's abort, the timeout, or the network. */
export function outboundFailure(error: unknown, deadline: Deadline): OutboundFailure {
  if (error instanceof OutboundFailure) return error;
  if (deadline.caller?.aborted) return new OutboundFailure('aborted', 'aborted', { cause: error });
  if (deadline.timeout.aborted) return new OutboundFailure('timeout', 'timeout', { cause: error });
  return new OutboundFailure('network', networkReason(error), { cause: error });
}

/**
 * Sends one request under `deadline` and returns the response, whatever its status, except a
 * redirect: never followed, its body released.
 * @throws OutboundFailure.
 */
export async function sendGuarded(fetchFunction: FetchFunction, url: URL, init: RequestInit, deadline: Deadline): Promise<Response> {
  const guarded: RequestInit & { duplex?: 'half' } = { ...init, redirect: 'manual', signal: deadline.signal };
  // fetch requires half duplex to stream a request body.
  if (init.body instanceof ReadableStream) guarded.duplex = 'half';
  let response: Response;
  try {
    response = await fetchFunction(url, guarded);
  } catch (error) {
    throw outboundFailure(error, deadline);
  }
  if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status <= 399 && response.status !== 304)) {
    await discard(response);
    throw new OutboundFailure('redirect', 'redirect', { status: response.status });
  }
  return response;
}

/**
 * Waits for `promise` no longer than `deadline`.
 * @throws OutboundFailure `timeout` or `aborted` when the deadline ends first; else what `promise` rejects with.
 */
export function withinDeadline<T>(promise: Promise<T>, deadline: Deadline): Promise<T> {
  const { signal } = deadline;
  if (signal.aborted) return Promise.reject(outboundFailure(signal.reason, deadline));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(outboundFailure(signal.reason, deadline));
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

/** Reads at most `maxBytes` of the body; `undefined` (and the rest discarded) when there is more. */
export async function readLimited(response: Response, maxBytes: number): Promise<Buffer | undefined> {
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

/** Releases a response body that will not be read, so its connection can be reused or closed. */
export async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // The body is not wanted; a failure to cancel it changes nothing for the caller.
  }
}

/** Remote text fit for a message: no control characters, nothing token-like, bounded length. */
export function quoteRemoteText(text: string): string {
  const clean = text.replace(/[\x00-\x1f\x7f-\x9f]/g, ' ').replace(TOKEN_LIKE, '[removed]');
  return clean.length > MAX_QUOTED_LENGTH ? `${clean.slice(0, MAX_QUOTED_LENGTH)}…` : clean;
}

/** The reason a fetch failed, from undici's `cause` (an errno or undici code) when there is one. */
export function networkReason(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return code;
  if (cause instanceof Error) return quoteRemoteText(cause.message);
  return error instanceof Error ? quoteRemoteText(error.message) : 'unknown error';
}

/** `scheme://host[:port]/path`: the query may hold data that is not ours to repeat. */
export function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
