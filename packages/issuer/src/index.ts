/** @packageDocumentation */
export * from './certificate.js';
export * from './certificate-set.js';
export * from './jws-signer.js';
export * from './token-issuer.js';
export * from './metadata-router.js';
export * from './token-cache.js';
export * from './s2s-client.js';
export * from './client-assertion.js';
export * from './host-name-pattern.js';
export * from './sts-token.js';
export * from './sts.js';
export * from './client-assertion-signer.js';
export * from './sts-token-source.js';
export * from './sts/client-key-sets.js';
export * from './issuer-error-code.js';
