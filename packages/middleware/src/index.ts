/**
 * `@s2sauth/middleware`: the receiving side of s2sauth: partner applications and OAuth servers
 * (`PartnerRegistry`), token verification (`createVerifier`), the Express middleware and its route
 * guards, and the audit log. Key discovery lives in `@s2sauth/discovery` (shared with the issuer's
 * STS), and its names stay public here. The Passport strategy is the separate entry
 * `@s2sauth/middleware/passport`, so that this one loads and type-checks without Passport (an
 * optional peer dependency).
 * @packageDocumentation
 */
import './request.js'; // the `req.s2s` typing of Express requests

// The Express middleware, its error handler, and the guards routes put after it.
export { s2sAuth, s2sErrorHandler, type S2SAuthMiddleware, type S2SAuthOptions } from './express.js';
export { requireAppOnly, requireScope, requireUser } from './guards.js';
// Who called: the verified principal on `req.s2s`, and the user it acts for.
export type { S2SPrincipal, S2SUser, TrustSource } from './principal.js';

// Token verification, usable without Express; `DEFAULT_CACHE_ENTRIES` is the default `cache.maxEntries`.
export {
  createVerifier,
  DEFAULT_MAX_LIFETIME_SECONDS,
  type ResolvedVerifierOptions,
  type Verifier,
  type VerifierOptions,
  type VerifyContext,
} from './verifier.js';
export { DEFAULT_CACHE_ENTRIES } from './verification-cache.js';
export type { ResolveUser } from './verifier-state.js';
// What the verifier asks about issuers: `PartnerRegistry` implements it, another source may.
export type { IssuerTrusts } from './issuer-trusts.js';

// Partner applications and OAuth servers: registration, lookup and change notification.
export { PartnerRegistry, type PartnerRegistryOptions, type RegistryChangeListener } from './registry.js';
export { PartnerRegistryError, type PartnerRegistryErrorCode } from './registry-error.js';
export {
  ANY_REALM,
  type OAuthServerChanges,
  type OAuthServerRegistrationInput,
  type PartnerApplicationChanges,
  type PartnerApplicationInput,
} from './registration-input.js';
export type { OAuthServer, ResolvedOAuthServer } from './oauth-server.js';
export type { ResolvedPartner } from './partners.js';

// The audit log of every accept and refusal: a sink, a pino sink, a buffered file destination.
export {
  auditDestination,
  DEFAULT_AUDIT_BUFFER_BYTES,
  DEFAULT_AUDIT_FLUSH_INTERVAL_MS,
  pinoAuditSink,
  type AuditDestination,
  type AuditDestinationOptions,
  type AuditEvent,
  type AuditSink,
} from './audit.js';

// This package's run-time error codes.
export type { MiddlewareErrorCode } from './middleware-error-code.js';

// Key discovery: every public name of `@s2sauth/discovery` (its index lists them), the same here.
export * from '@s2sauth/discovery';
