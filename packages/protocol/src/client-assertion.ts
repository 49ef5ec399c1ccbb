/**
 * The wire rules of an STS client assertion (protocol.md section 6; RFC 7523): its
 * `client_assertion_type`, its `typ` header, and how long it may live. Both the STS that checks
 * assertions and the client that signs them read these.
 */
import { MAX_CLOCK_SKEW_SECONDS } from './claims.js';

/** `client_assertion_type` of a JWT client assertion (RFC 7523 section 2.2). */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The `typ` header every client assertion carries (protocol.md section 6), compared exactly. */
export const CLIENT_ASSERTION_TYP = 'client-authentication+jwt';

/** Longest accepted `exp - iat` of an assertion, in seconds (protocol.md section 6: 5 minutes). */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;

/** How far `iat`/`nbf` of an assertion may lie in the future, in seconds: the protocol's largest skew. */
export const ASSERTION_CLOCK_SKEW_SECONDS = MAX_CLOCK_SKEW_SECONDS;
