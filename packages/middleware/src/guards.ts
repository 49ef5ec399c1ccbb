/**
 * Route guards that run after `s2sAuth` (or the Passport strategy) and decide whether the verified
 * call may use this route: by scope (protocol.md section 3.3 step 7) and by the kind of call
 * (with or without a user context).
 *
 * A guard that finds no verified principal answers like `s2sAuth` does for a request without a
 * token (401 with the challenge), so that a route whose authentication was forgotten or skipped
 * still fails closed. A `req.s2s` that neither `s2sAuth` nor `S2SBearerStrategy` set is not a
 * verified principal: guards trust only requests those two have seen.
 */
import { BearerError, type ChallengeParams, type ErrorHeaders, InsufficientScopeError, isScopeToken } from '@s2sauth/protocol';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { requestInfo, sendBearerChallenge, sendBearerError } from './express.js';
import { verificationContextOf } from './request.js';
import type { S2SPrincipal } from './principal.js';

/**
 * A valid token whose kind of call does not fit the route (app-only where a user is needed, or the
 * reverse). It is a 403 `insufficient_scope` like a missing scope, but names no `scope` in the
 * challenge: no scope the caller could ask for would help, only the other kind of call.
 */
class CallKindError extends InsufficientScopeError {
  constructor(reason: string) {
    super('', reason);
  }

  override headers(challenge: ChallengeParams): ErrorHeaders {
    // Skip InsufficientScopeError's `scope` parameter: there is no scope to name.
    return BearerError.prototype.headers.call(this, challenge);
  }
}

/**
 * Builds a guard from a check of the principal: a BearerError from the check is the answer,
 * undefined lets the request through.
 */
function guard(check: (principal: S2SPrincipal) => BearerError | undefined): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    const context = verificationContextOf(req);
    const principal = req.s2s;
    const request = requestInfo(req);
    if (principal === undefined || context === undefined) {
      context?.audit({ decision: 'reject', reason: 'A guarded route was reached without a verified principal.', status: 401, ...request });
      sendBearerChallenge(res, context?.challenge());
      return;
    }
    const failure = check(principal);
    if (failure === undefined) {
      next();
      return;
    }
    context.audit({
      decision: 'reject',
      code: failure.code,
      reason: failure.reason,
      status: failure.status,
      partner: principal.partner,
      applicationId: principal.applicationId,
      ...(principal.tokenId === undefined ? {} : { tokenId: principal.tokenId }),
      ...request,
    });
    sendBearerError(res, failure, context.challenge());
  };
}

/**
 * Lets a request through only when the verified call's effective scopes include every one of
 * `scopes` (whole, case-sensitive words; protocol.md section 3.3 step 7).
 *
 * Otherwise: 403 with `error="insufficient_scope"` and `scope="<all the listed scopes>"` in the
 * challenge (RFC 6750 section 3.1); 401 with the plain challenge when the request has no verified
 * principal (`s2sAuth` did not run before it).
 *
 * @param scopes one or more RFC 6749 scope tokens.
 * @throws TypeError at start-up when no scope is given or one is not a scope token.
 */
export function requireScope(...scopes: string[]): RequestHandler {
  if (scopes.length === 0) {
    throw new TypeError('requireScope needs at least one scope.');
  }
  for (const scope of scopes) {
    if (typeof scope !== 'string' || !isScopeToken(scope)) {
      throw new TypeError(
        `requireScope: ${JSON.stringify(scope)} is not a scope (a non-empty word of visible ASCII characters, without spaces, quotes or backslashes).`,
      );
    }
  }
  const needed = [...new Set(scopes)];
  const scopeParam = needed.join(' ');
  return guard((principal) => {
    const missing = needed.filter((scope) => !principal.scopes.includes(scope));
    if (missing.length === 0) return undefined;
    return new InsufficientScopeError(scopeParam, `The route requires the scope(s) "${missing.join(' ')}", which the call was not granted.`);
  });
}

/**
 * Lets a request through only when the verified call carries a user context (an outer token with
 * a user, protocol.md section 3.2), so that `req.s2s.user` is set.
 *
 * An app-only call gets 403 with `error="insufficient_scope"` and no `scope` parameter: its token is
 * valid and verified (401 `invalid_token` would tell the partner to discard a good token and mint
 * the same kind again), but it does not carry the privilege the route needs, a user to act for
 * (RFC 6750 section 3.1: "the request requires higher privileges than provided by the access token").
 * The audit code is `scope_insufficient`. 401 with the plain challenge when there is no principal.
 */
export function requireUser(): RequestHandler {
  return guard((principal) =>
    principal.user === undefined ? new CallKindError('The route requires a user context, and the call is app-only.') : undefined,
  );
}

/**
 * Lets a request through only when the verified call is app-only (no user context): for routes
 * that act with the partner's own authority and must not run on behalf of a user.
 *
 * A call with a user context gets 403 with `error="insufficient_scope"` and no `scope` parameter,
 * for the same reason as {@link requireUser}: the token is valid, it is the wrong kind of call for
 * this route. 401 with the plain challenge when there is no principal.
 */
export function requireAppOnly(): RequestHandler {
  return guard((principal) =>
    principal.user === undefined ? undefined : new CallKindError('The route accepts only app-only calls, and the call has a user context.'),
  );
}
