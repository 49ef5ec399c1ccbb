/**
 * `@s2sauth/protocol`: the s2sauth wire contract (protocol.md). Pure: no I/O, no Express.
 * @packageDocumentation
 */
export * from './base64url.js';
export * from './challenge.js';
export * from './clock.js';
export * from './error-root.js';
export * from './errors.js';
export * from './identifiers.js';
export * from './thumbprint.js';
export * from './json.js';
export * from './jws.js';
export * from './claims.js';
export * from './bearer.js';
export * from './metadata.js';
export * from './metadata-build.js';
export * from './metadata-error.js';
export { signingKeyFromCertificate, type SigningKey } from './signing-key.js';
export * from './secure-url.js';
export * from './client-assertion.js';
export * from './options.js';
