/**
 * The Express adapter: `s2sAuth` turns a request into a verified principal on `req.s2s` or into
 * the response of protocol.md section 7, and nothing else. All verification is the verifier's;
 * this file only extracts the token (protocol.md 3.3 step 1), keeps cookies off bearer responses
 * (step 8), and writes the answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BearerError,
  buildChallenge,
  extractBearerToken,
  InvalidTokenError,
  optionNames,
  refuseUnknownOptions,
  type BearerCredential,
  type ChallengeParams,
  type ErrorHeaders,
} from '@s2sauth/protocol';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import { guardResponsePrototype, refuseCookies } from './cookie-guard.js';
import type { S2SPrincipal } from './principal.js';
import { attachVerificationContext, verificationContext, verificationContextOf, type VerificationContext } from './request.js';
import { createVerifier, VERIFIER_OPTION_NAMES, type Verifier, type VerifierOptions } from './verifier.js';

/**
 * Options of {@link s2sAuth}: either a verifier made by `createVerifier` (to share it with the
 * Passport strategy or other routes), or the verifier options themselves.
 *
 * There is deliberately no option that turns verification off; unknown option names are refused.
 */
export type S2SAuthOptions = { readonly verifier: Verifier } | VerifierOptions;

/** The middleware returned by {@link s2sAuth}, with the verifier it uses. */
export interface S2SAuthMiddleware extends RequestHandler {
  /** The verifier: pass it to `S2SBearerStrategy` to accept the same tokens through Passport. */
  readonly verifier: Verifier;
}

/** The one option of the other form of {@link S2SAuthOptions}. */
const VERIFIER_ONLY = optionNames<{ readonly verifier: Verifier }>({ verifier: true });

/** Option names a mistyped "switch it off" usually has; named in the error so the intent is clear. */
const DISABLING_NAMES = new Set(['disabled', 'disable', 'enabled', 'enable', 'verify', 'skip', 'bypass', 'insecure', 'optional', 'passthrough', 'credentialsRequired']);

/**
 * Express middleware that authenticates server-to-server calls (protocol.md section 3.3).
 *
 * Per request:
 * - no `Authorization: Bearer` header, another scheme, or an empty `Bearer` (realm discovery): 401
 *   with `WWW-Authenticate: Bearer realm="…", client_id="…", trusted_issuers="…"` and no `error`
 *   (RFC 6750 section 3.1), body `{"error": "token_required", "message"}`;
 * - two credentials, a token in the query or body, a malformed or oversized header: 400
 *   `invalid_request`, audited here;
 * - a token: the verifier's decision. Accepted: `req.s2s` is the principal and the next handler
 *   runs. Rejected: the error's status (401, 403, 503), its `WWW-Authenticate`, `x-ms-diagnostics`
 *   and `Retry-After` headers, and the JSON body `{"error", "error_description", "message"}`; the internal
 *   reason is only audited (by the verifier).
 *
 * Any response to a request that went through this middleware drops `Set-Cookie` (protocol.md 3.3
 * step 8). Mount body parsers before it if request bodies should be searched for `access_token`
 * (an unparsed body is never read for a token by anyone, so it cannot smuggle one either).
 *
 * The middleware never calls `next(err)` and never rejects: anything unexpected becomes a 401
 * `invalid_token`, never a 500.
 *
 * @throws TypeError at start-up for missing, mistyped or unknown options (also from
 *   `createVerifier` when given verifier options).
 */
export function s2sAuth(options: S2SAuthOptions): S2SAuthMiddleware {
  const verifier = verifierFrom(options);
  const context = verificationContext(verifier);
  guardResponsePrototype();

  const verifyAsync = async (res: Response, token: string, request: RequestInfo): Promise<S2SPrincipal | undefined> => {
    try {
      return await verifier.verify(token, request);
    } catch (error) {
      sendBearerError(res, asBearerError(error, context, request), context.challenge());
      return undefined;
    }
  };

  const accept = (req: Request, principal: S2SPrincipal, next: NextFunction): void => {
    req.s2s = principal;
    // What the route does is the application's business: its errors go to its error handlers.
    try {
      next();
    } catch (error) {
      next(error);
    }
  };

  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    refuseCookies(res);
    attachVerificationContext(req, context);
    const request = requestInfo(req);
    const credential = extractCredential(req, context, request);
    if (credential instanceof BearerError) {
      sendBearerError(res, credential, context.challenge());
      return;
    }
    if (credential.kind !== 'token') {
      sendBearerChallenge(res, context.challenge());
      return;
    }
    // A token the verifier accepted before, and nothing changed since: no promise needed.
    const cached = verifier.verifyCached(credential.token, request);
    if (cached !== undefined) {
      accept(req, cached, next);
      return;
    }
    verifyAsync(res, credential.token, request).then(
      (principal) => {
        if (principal !== undefined) accept(req, principal, next);
      },
      // verifyAsync() catches everything it can; this is the last line against a rejection escaping.
      () => {
        try {
          sendBearerError(res, unexpectedFailure(), context.challenge());
        } catch {
          res.destroy();
        }
      },
    );
  };
  return Object.assign(middleware, { verifier }) as S2SAuthMiddleware;
}

/**
 * Passport's error for "every strategy failed" (`passport.authenticate(name, { failWithError: true })`):
 * `name` `AuthenticationError`, status 401 once `S2SBearerStrategy` failed for want of a token.
 */
function isPassportChallenge(error: unknown): boolean {
  return error instanceof Error && error.name === 'AuthenticationError' && (error as { status?: unknown }).status === 401;
}

/**
 * An Express error handler that answers a `BearerError` (for example from `S2SBearerStrategy`
 * through Passport's `error` path) exactly as `s2sAuth` would: status, `WWW-Authenticate`,
 * `x-ms-diagnostics`, `Retry-After`, JSON body. With Passport's `failWithError: true`, it also
 * answers the 401 of a request without a token as `s2sAuth` does (challenge and JSON body) instead
 * of Passport's `text/plain` "Unauthorized". Other errors go to the next error handler.
 *
 * Mount it after the routes: `app.use(s2sErrorHandler())`.
 */
export function s2sErrorHandler(): ErrorRequestHandler {
  return (error: unknown, req: Request, res: Response, next: NextFunction): void => {
    const context = verificationContextOf(req);
    const challenge = !(error instanceof BearerError) && context !== undefined && isPassportChallenge(error);
    if ((!(error instanceof BearerError) && !challenge) || res.headersSent) {
      next(error);
      return;
    }
    if (error instanceof BearerError) sendBearerError(res, error, context === undefined ? undefined : context.challenge());
    else sendBearerChallenge(res, context?.challenge());
  };
}

/** The `error` of a 503 body: RFC 6750 has none for it (the challenge carries none), RFC 6749's registry has this one. */
const UNAVAILABLE_ERROR = 'temporarily_unavailable';

/**
 * The JSON body of a bearer failure: RFC 6750's `error` and `error_description`, and the same
 * sentence as `message`, the member every error body of the servers has (`{error, message}`).
 * A 503 has no RFC 6750 `error` (its challenge carries none): its body says
 * `temporarily_unavailable`. Internal.
 */
export function bearerErrorBody(error: BearerError): { error: string; error_description: string; message: string } {
  return { error: error.error ?? UNAVAILABLE_ERROR, error_description: error.description, message: error.description };
}

/** The JSON body of the 401 without a bearer token: the challenge header says the rest (realm, issuers). */
const CHALLENGE_BODY = JSON.stringify({
  error: 'token_required',
  message: 'This resource needs a bearer token in the Authorization header; WWW-Authenticate names the realm and the trusted issuers.',
});

/**
 * Writes the response for a bearer failure (protocol.md section 7): the error's status and headers
 * (`WWW-Authenticate` with `error` and `error_description`, `x-ms-diagnostics`, `Retry-After`),
 * `Cache-Control: no-store`, and the JSON body of {@link bearerErrorBody}
 * (`{"error", "error_description", "message"}`). The error's internal `reason` is never sent.
 *
 * @param challenge the server's challenge parameters; without them the challenge is a bare
 *   `Bearer` with the error parameters only.
 * Internal: shared with the guards and the error handler, not exported from the package.
 */
export function sendBearerError(res: ServerResponse, error: BearerError, challenge: ChallengeParams | undefined): void {
  if (res.headersSent) {
    // Someone answered already; all that is left is not to let the request go on.
    res.end();
    return;
  }
  let headers: ErrorHeaders;
  try {
    headers = challenge === undefined ? bareErrorHeaders(error) : error.headers(challenge);
  } catch {
    // A challenge value that cannot be sent in a header (a programming error elsewhere) must not
    // turn a refusal into a crash.
    headers = bareErrorHeaders(error);
  }
  const body = JSON.stringify(bearerErrorBody(error));
  res.statusCode = error.status;
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) res.setHeader(name, value);
  }
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/**
 * Writes the 401 response for a request without a bearer token (protocol.md section 7):
 * `WWW-Authenticate: Bearer realm="…", client_id="…", trusted_issuers="…"` and no `error`
 * (RFC 6750 section 3.1), and a JSON body for people, `{"error": "token_required", "message"}`.
 * Internal.
 */
export function sendBearerChallenge(res: ServerResponse, challenge: ChallengeParams | undefined): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  let header = 'Bearer';
  if (challenge !== undefined) {
    try {
      header = buildChallenge(challenge);
    } catch {
      // See sendBearerError: keep refusing even if the challenge cannot be built.
    }
  }
  res.statusCode = 401;
  res.setHeader('WWW-Authenticate', header);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(CHALLENGE_BODY));
  res.end(CHALLENGE_BODY);
}

function verifierFrom(options: S2SAuthOptions): Verifier {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('s2sAuth needs options: { verifier } or the verifier options (principal, realms, authorities, registry).');
  }
  const withVerifier = 'verifier' in options;
  refuseUnknownOptions('s2sAuth', options, withVerifier ? VERIFIER_ONLY : VERIFIER_OPTION_NAMES, optionHint(options, withVerifier));
  if (withVerifier) {
    const verifier: unknown = options.verifier;
    if (!isVerifier(verifier)) {
      throw new TypeError('s2sAuth: "verifier" must be a verifier made by createVerifier().');
    }
    return verifier;
  }
  return createVerifier(options);
}

/**
 * The sentence after an unknown-option message: that verification cannot be turned off when a
 * name reads like an attempt to, else the other form of the options.
 */
function optionHint(options: object, withVerifier: boolean): string {
  if (Object.keys(options).some((name) => DISABLING_NAMES.has(name))) {
    return 'Verification cannot be turned off: leave s2sAuth off the routes that must be public.';
  }
  return withVerifier ? 'With "verifier", configure the verifier instead.' : 'Or give { verifier } alone, a verifier made by createVerifier().';
}

/** True for an object with the Verifier methods the adapters call. Internal. */
export function isVerifier(value: unknown): value is Verifier {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Record<keyof Verifier, unknown>>;
  return typeof candidate.verify === 'function' && typeof candidate.verifyCached === 'function' && typeof candidate.challenge === 'function';
}

/** Step 1 of protocol.md 3.3; a refusal is audited here (the verifier never sees it) and returned. Internal. */
export function extractCredential(req: Request, context: VerificationContext, request: RequestInfo): BearerCredential | BearerError {
  try {
    return extractBearerToken(req);
  } catch (error) {
    const failure = asBearerError(error, context, request, false);
    context.audit({ decision: 'reject', code: failure.code, reason: failure.reason, status: failure.status, ...request });
    return failure;
  }
}

/** See {@link requestInfo}. */
export interface RequestInfo {
  readonly method: string;
  readonly path: string;
}

/** Method and path of a request for `verify()` and the audit log. Internal. */
export function requestInfo(req: IncomingMessage & { originalUrl?: string }): RequestInfo {
  // The query string is left out: it is the caller's, and an audit line has no use for it.
  const url = req.originalUrl ?? req.url ?? '/';
  const mark = url.indexOf('?');
  return { method: req.method ?? 'GET', path: mark < 0 ? url : url.slice(0, mark) };
}

/** Fails closed the way the verifier does for its own internal errors (a 401 that verified nothing). */
function unexpectedFailure(): BearerError {
  return new InvalidTokenError('verification_failed', 'internal error in the Express adapter; the token could not be verified');
}

/** The error as a BearerError; anything else is audited (the verifier did not) and becomes a 401. Internal. */
export function asBearerError(error: unknown, context: VerificationContext, request: RequestInfo, audit = true): BearerError {
  if (error instanceof BearerError) return error;
  const failure = unexpectedFailure();
  if (audit) context.audit({ decision: 'reject', code: failure.code, reason: failure.reason, status: failure.status, ...request });
  return failure;
}

/** Headers without the server's parameters: the error alone in the challenge, and the rest as usual. */
function bareErrorHeaders(error: BearerError): ErrorHeaders {
  return { ...error.headers({ realm: '', clientId: '', trustedIssuers: [] }), 'WWW-Authenticate': error.error === undefined ? 'Bearer' : `Bearer error="${error.error}"` };
}
