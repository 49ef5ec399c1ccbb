/**
 * `@s2sauth/issuer`: a server's own side of server-to-server OAuth: its identity (`identity/`: the
 * OAuth certificate and its rollover, the built-in token issuer, the metadata partners read),
 * calling partners (`partners/`: `S2SClient`) and the STS with its client (`sts/`: `stsRouter`,
 * `StsTokenSource`).
 * @packageDocumentation
 */

// The OAuth certificate: create, load, save, validate; the rollover set of current, next, previous.
export {
  CertificateError,
  OAuthCertificate,
  type CertificateErrorCode,
  type CertificateValidityProblem,
  type CreateCertificateOptions,
  type ValidateCertificateOptions,
} from './identity/certificate.js';
export {
  CertificateSet,
  SigningCertificateError,
  type CertificateSetOptions,
  type SigningCertificateErrorCode,
  type StagedCertificate,
  type StageOptions,
} from './identity/certificate-set.js';
// RS256 signing with a certificate's key.
export { Rs256Signer } from './identity/jws-signer.js';
// The built-in token issuer: app-only actor tokens and user-context outer tokens.
export {
  DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
  DEFAULT_NAME_IDENTIFIER_ISSUER,
  DEFAULT_TOKEN_LIFETIME_SECONDS,
  TokenIssuer,
  type ActorTokenRequest,
  type IssuedToken,
  type TokenIssuerOptions,
  type UserContext,
} from './identity/token-issuer.js';
// The metadata document and JWKS partners read to trust this server.
export {
  DEFAULT_METADATA_MAX_AGE_SECONDS,
  JWKS_PATH,
  METADATA_PATH,
  metadataRouter,
  type MetadataRouterOptions,
} from './identity/metadata-router.js';

// Calling partners: the client, its options and results, and its error.
export { DEFAULT_S2S_TIMEOUT_MS, S2SClient, type S2SClientOptions, type TokenSource } from './partners/s2s-client.js';
export { DEFAULT_MAX_CACHED_TOKENS, DEFAULT_RENEW_BEFORE_SECONDS } from './partners/token-cache.js';
export type { PartnerEndpoint, PartnerTargetOptions, RealmOptions } from './partners/partner-endpoint.js';
export type { S2SRequestBody, S2SRequestHeaders, S2SRequestOptions } from './partners/partner-request.js';
export type { FetchFunction } from './partners/outbound-http.js';
export { formatIdempotencyKey, parseIdempotencyKey } from './partners/idempotency-key.js';
export { S2SClientError, type S2SClientErrorCode, type S2SClientErrorDetails } from './partners/s2s-client-error.js';

// The STS (authorization server): its router, options, audit events, limits and error codes.
export { stsRouter } from './sts/sts-router.js';
export {
  DEFAULT_STS_TOKEN_LIFETIME_SECONDS,
  type StsAuditEvent,
  type StsAuditSink,
  type StsRouterOptions,
} from './sts/sts-router-options.js';
export { stsTokenPath } from './sts/sts-token-path.js';
export { MAX_TOKEN_REQUEST_BYTES } from './sts/token-request.js';
export type { StsErrorCode } from './sts/sts-errors.js';
export { ClientAssertionError, MAX_ASSERTION_JTI_LENGTH, type ClientAssertionErrorCode } from './sts/client-assertion.js';
// The STS's client keys for clients registered by metadata URL.
export { ClientKeySets, type ClientKeySetsOptions } from './sts/client-key-sets.js';

// The STS's client: tokens from an STS for `S2SClient`, the client assertion it signs, its error.
export { StsTokenSource, type StsTokenSourceOptions } from './sts/sts-token-source.js';
export type { StsLocation } from './sts/sts-discovery.js';
export { signClientAssertion, type ClientAssertionClaims } from './sts/client-assertion-signer.js';
export { StsTokenError, type StsTokenErrorCode, type StsTokenErrorDetails } from './sts/sts-token-error.js';

// This package's run-time error codes.
export type { IssuerErrorCode } from './issuer-error-code.js';
