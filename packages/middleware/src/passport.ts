/**
 * The Passport adapter: a `passport-http-bearer` strategy that accepts exactly what `s2sAuth`
 * accepts, with the same verifier, and refuses exactly what it refuses with the same responses.
 *
 * Two things of `passport-http-bearer` are replaced: its token extraction (it reads `access_token`
 * from the query and the body, and splits the header on single spaces) by protocol.md 3.3 step 1,
 * and its failure path. Passport's `fail()` can only answer 401 with a bare challenge: it drops
 * `WWW-Authenticate` for any other status, and has no place for `x-ms-diagnostics`, `Retry-After`
 * or the JSON error body. So a presented token that is refused goes through Passport's `error()`
 * as the `BearerError` itself, and `s2sErrorHandler()` (or a custom callback) answers it; only
 * a request with no bearer token at all uses `fail()` (401 with the challenge), so that Passport
 * can still try the next strategy of a chain.
 *
 * This file is the package's second entry, `@s2sauth/middleware/passport`, kept out of the main
 * one: an application that uses only `s2sAuth` installs no Passport (an optional peer dependency).
 *
 * ```ts
 * import { S2SBearerStrategy } from '@s2sauth/middleware/passport';
 *
 * passport.use(new S2SBearerStrategy({ verifier }));
 * app.get('/contacts', passport.authenticate('s2s', { session: false, failWithError: true }), requireScope('contacts.read'), handler);
 * app.use(s2sErrorHandler());
 * ```
 */
import { BearerError, buildChallenge, optionNames, refuseUnknownOptions } from '@s2sauth/protocol';
import type { Request } from 'express';
import type { StrategyCreatedStatic } from 'passport';
import { Strategy as BearerStrategy, type VerifyFunctionWithRequest } from 'passport-http-bearer';
import { guardResponsePrototype, refuseCookies } from './cookie-guard.js';
import { asBearerError, extractCredential, isVerifier, requestInfo } from './express.js';
import type { S2SPrincipal } from './principal.js';
import { attachVerificationContext, verificationContext, type VerificationContext } from './request.js';
import type { Verifier } from './verifier.js';

/** Options of {@link S2SBearerStrategy}. */
export interface S2SBearerStrategyOptions {
  /** The verifier, typically the one `s2sAuth` uses (`s2sAuth(options).verifier`) or one from `createVerifier`. */
  readonly verifier: Verifier;
  /** The strategy name for `passport.authenticate(name)`; default `'s2s'`. */
  readonly name?: string;
}

/** What the strategy passes as Passport's `info` on success (it becomes `req.authInfo`). */
export interface S2SAuthInfo {
  /** The call's effective scopes, as `passport-http-bearer` strategies conventionally report them. */
  readonly scope: readonly string[];
}

const OPTION_NAMES = optionNames<S2SBearerStrategyOptions>({ verifier: true, name: true });

/**
 * Passport strategy for server-to-server bearer tokens (protocol.md section 3.3).
 *
 * On success: `req.s2s` and Passport's user (`req.user` with `session: false`) are the
 * `S2SPrincipal`, `req.authInfo` is {@link S2SAuthInfo}; guards like `requireScope` work as after
 * `s2sAuth`. Use it with `{ session: false }`: a bearer call has no session, and any `Set-Cookie`
 * on its response is dropped (protocol.md 3.3 step 8).
 *
 * On failure:
 * - no bearer token, or an empty `Bearer`: `fail(challenge, 401)`, i.e. 401 with the challenge
 *   (and Passport's `text/plain` body "Unauthorized"; with `failWithError: true` in
 *   `passport.authenticate`, `s2sErrorHandler()` answers it with `s2sAuth`'s JSON body instead);
 * - anything else (400 `invalid_request`, 401 `invalid_token`, 403, 503): `error(bearerError)`;
 *   mount `s2sErrorHandler()` to answer it exactly as `s2sAuth` does, or handle the
 *   `BearerError` in a custom callback.
 */
export class S2SBearerStrategy extends BearerStrategy<VerifyFunctionWithRequest> {
  /** The verifier this strategy uses. */
  readonly verifier: Verifier;
  // Passport runs authenticate() on Object.create(strategy): a #private field would not be reachable.
  private readonly context: VerificationContext;

  /** @throws TypeError when `verifier` is missing or not a verifier, `name` is not a non-empty string, or an option is unknown. */
  constructor(options: S2SBearerStrategyOptions) {
    const verifier = checkOptions(options);
    // passport-http-bearer's contract for checking a token. authenticate() below replaces the base
    // class's and verifies the same way, after its own stricter extraction.
    const verify: VerifyFunctionWithRequest = (req, token, done) => {
      verifier.verify(token, requestInfo(req)).then(
        (principal) => done(null, principal, { scope: [...principal.scopes] }),
        (error: unknown) => done(error),
      );
    };
    super({ passReqToCallback: true }, verify);
    this.name = options.name ?? 's2s';
    this.verifier = verifier;
    this.context = verificationContext(verifier);
    guardResponsePrototype();
  }

  /** Passport's entry point; not to be called directly. */
  override authenticate(req: Request): void {
    const actions = this as unknown as S2SBearerStrategy & StrategyCreatedStatic;
    const context = this.context;
    const request = requestInfo(req);
    if (req.res !== undefined) refuseCookies(req.res);
    attachVerificationContext(req, context);

    const credential = extractCredential(req, context, request);
    if (credential instanceof BearerError) {
      actions.error(credential);
      return;
    }
    if (credential.kind !== 'token') {
      const challenge = context.challenge();
      actions.fail(challenge === undefined ? 'Bearer' : safeBuildChallenge(challenge), 401);
      return;
    }
    const accept = (principal: S2SPrincipal): void => {
      req.s2s = principal;
      const info: S2SAuthInfo = { scope: principal.scopes };
      // success() runs the rest of the chain; what it throws is the application's error, and
      // must not become an unhandled rejection here.
      try {
        actions.success(principal, info);
      } catch (error) {
        actions.error(error);
      }
    };
    const cached = this.verifier.verifyCached(credential.token, request);
    if (cached !== undefined) {
      accept(cached);
      return;
    }
    this.verifier.verify(credential.token, request).then(accept, (error: unknown) => actions.error(asBearerError(error, context, request)));
  }
}

function safeBuildChallenge(challenge: Parameters<typeof buildChallenge>[0]): string {
  try {
    return buildChallenge(challenge);
  } catch {
    return 'Bearer';
  }
}

function checkOptions(options: S2SBearerStrategyOptions): Verifier {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('S2SBearerStrategy needs options: { verifier }.');
  }
  refuseUnknownOptions('new S2SBearerStrategy', options, OPTION_NAMES, 'Verification cannot be turned off.');
  const verifier: unknown = options.verifier;
  if (!isVerifier(verifier)) {
    throw new TypeError('S2SBearerStrategy: "verifier" must be a verifier made by createVerifier() (or s2sAuth(options).verifier).');
  }
  if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) {
    throw new TypeError('S2SBearerStrategy: "name" must be a non-empty string.');
  }
  return verifier;
}
