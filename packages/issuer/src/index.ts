/**
 * `@s2sauth/issuer`: a server's own identity (`identity/`), calling partners (`partners/`) and the
 * STS with its client (`sts/`).
 * @packageDocumentation
 */
export * from './identity/certificate.js';
export * from './identity/certificate-set.js';
export * from './identity/jws-signer.js';
export * from './identity/token-issuer.js';
export * from './identity/metadata-router.js';
export * from './partners/token-cache.js';
export * from './partners/s2s-client.js';
export * from './partners/s2s-client-error.js';
export { formatIdempotencyKey, parseIdempotencyKey } from './partners/idempotency-key.js';
export type { S2SRequestBody, S2SRequestHeaders, S2SRequestOptions } from './partners/partner-request.js';
export type { PartnerEndpoint, PartnerTargetOptions, RealmOptions } from './partners/partner-endpoint.js';
export type { FetchFunction } from './partners/outbound-http.js';
export * from './sts/client-assertion.js';
export * from './sts/host-name-pattern.js';
export * from './sts/sts-token.js';
export * from './sts/sts-router.js';
export { DEFAULT_STS_TOKEN_LIFETIME_SECONDS, type StsAuditEvent, type StsAuditSink, type StsRouterOptions } from './sts/sts-router-options.js';
export type { StsErrorCode } from './sts/sts-errors.js';
export { MAX_TOKEN_REQUEST_BYTES } from './sts/token-request.js';
export { stsTokenPath } from './sts/sts-token-path.js';
export * from './sts/client-assertion-signer.js';
export * from './sts/sts-token-source.js';
export * from './sts/sts-token-error.js';
export type { StsLocation } from './sts/sts-discovery.js';
export * from './sts/client-key-sets.js';
export * from './issuer-error-code.js';
