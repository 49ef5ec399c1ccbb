/**
 * `@s2sauth/protocol`: the s2sauth wire contract (docs/protocol.md), pure: no I/O, no Express. What
 * every issuer, verifier, STS and client agrees on: identifiers, the strict syntax gate (base64url,
 * JSON, compact JWS), claims and their lifetime rules, thumbprints, the metadata document and JWKS,
 * the Bearer challenge and credential, the typed errors under one root, and the option-name check
 * every constructor uses. Every name here is public; the other packages import them from here.
 * @packageDocumentation
 */

// The error root of every s2sauth run-time error, and this package's code union.
export { S2SAuthError, type ProtocolErrorCode } from './error-root.js';
// RFC 6750 errors with stable codes, HTTP status, fixed description and internal reason.
export {
  bearerError,
  BearerError,
  FAILURE_CODES,
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  KeysUnavailableError,
  type BearerErrorName,
  type Diagnostic,
  type ErrorHeaders,
  type FailureClass,
  type FailureCode,
} from './errors.js';

// Principal ids, realms, issuer ids, audiences, trusted-issuer entries and their comparison rules.
export {
  audiencesEqual,
  authorityOf,
  formatAudience,
  formatIssuerId,
  formatTrustedIssuer,
  isAuthority,
  isPrincipalId,
  isRealm,
  issuerIdsEqual,
  parseAudience,
  parseIssuerId,
  parseTrustedIssuer,
  stsIssuerId,
  trustedIssuerCovers,
  WellKnownPrincipal,
  type Audience,
  type IssuerId,
  type TrustedIssuer,
} from './identifiers.js';
// Which URLs count as secure: https, or http to a loopback host where allowed.
export { isLoopbackHost, isSecureUrl } from './secure-url.js';

// The strict syntax gate: canonical base64url, strict JSON, compact JWS with RS256 only.
export { decodeBase64url, encodeBase64url } from './base64url.js';
export { MAX_JSON_DEPTH, parseStrictJson } from './json.js';
export { MAX_TOKEN_LENGTH, parseJws, type JwsHeader, type ParsedJws, type ParseJwsOptions } from './jws.js';

// Actor and outer claim sets, NumericDate reading, lifetime rules and scopes.
export {
  checkLifetime,
  effectiveScopes,
  isScopeToken,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_TOKEN_LIFETIME_SECONDS,
  parseScopes,
  readActorClaims,
  readNumericDate,
  readOuterClaims,
  USER_CLAIM_NAMES,
  type ActorClaims,
  type LifetimeRules,
  type OuterClaims,
  type UserClaims,
} from './claims.js';
// The STS client assertion's wire constants (type, `typ`, lifetime and skew limits).
export {
  ASSERTION_CLOCK_SKEW_SECONDS,
  CLIENT_ASSERTION_TYP,
  CLIENT_ASSERTION_TYPE,
  MAX_ASSERTION_LIFETIME_SECONDS,
} from './client-assertion.js';
// Time: the injectable clock and NumericDate seconds.
export { epochSeconds, systemClock, type Clock } from './clock.js';

// Certificates and keys: thumbprints, and one certificate loaded as a signing key.
export { x5t, x5tS256 } from './thumbprint.js';
export { signingKeyFromCertificate, type SigningKey } from './signing-key.js';

// The `/metadata/json/1` document and the JWKS: parse, build, and the metadata error.
export {
  MAX_METADATA_BYTES,
  MAX_METADATA_KEYS,
  parseMetadataDocument,
  type MetadataDocument,
  type MetadataEndpoint,
  type MetadataKey,
  type ParsedMetadata,
  type ParseMetadataOptions,
} from './metadata.js';
export { buildJwks, buildMetadataDocument, type BuildMetadataOptions, type Jwk } from './metadata-build.js';
export { MetadataError, type MetadataErrorCode } from './metadata-error.js';

// The `WWW-Authenticate: Bearer` challenge and RFC 6750 token extraction.
export {
  buildChallenge,
  parseChallenges,
  readBearerChallenge,
  type BearerChallenge,
  type Challenge,
  type ChallengeParams,
} from './challenge.js';
export { extractBearerToken, MAX_AUTHORIZATION_LENGTH, type BearerCredential, type BearerRequest } from './bearer.js';

// The one unknown-option check and message style of every constructor.
export { optionNames, refuseUnknownOptions } from './options.js';
