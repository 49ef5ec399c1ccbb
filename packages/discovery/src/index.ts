/**
 * @s2sauth/discovery: key discovery, shared by the receiving side (the middleware's registry) and
 * the STS (the issuer's per-client key sets): fetching a metadata document under the protocol's
 * rules (`metadata-fetch`), and keeping a partner's key set fresh (`key-set`).
 * @packageDocumentation
 */
export * from './metadata-fetch.js';
export * from './key-set.js';
