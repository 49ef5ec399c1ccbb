/** @packageDocumentation */
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
export * from './sts/client-assertion-signer.js';
export * from './sts/sts-token-source.js';
