/**
 * `@s2sauth/middleware`: partner applications, token verification and the Express middleware; key
 * discovery lives in `@s2sauth/discovery` (shared with the issuer's STS), and its names stay public
 * here. The Passport strategy is the separate entry `@s2sauth/middleware/passport`, so that this one
 * loads and type-checks without Passport (an optional peer dependency).
 * @packageDocumentation
 */
export * from '@s2sauth/discovery';
export * from './principal.js';
export * from './audit.js';
export * from './trust-level.js';
export {
  ANY_REALM,
  authorizationUriOf,
  checkStsMetadata,
  selectOAuthServer,
  type OAuthServer,
  type OAuthServerChanges,
  type OAuthServerRegistrationInput,
  type ResolvedOAuthServer,
} from './oauth-server.js';
export * from './registry.js';
export * from './verification-cache.js';
export * from './issuer-trusts.js';
export * from './verifier.js';
export { s2sAuth, s2sErrorHandler, type S2SAuthMiddleware, type S2SAuthOptions } from './express.js';
export * from './guards.js';
export * from './middleware-error-code.js';
import './request.js'; // the `req.s2s` typing of Express requests
