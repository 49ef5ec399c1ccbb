/**
 * The run-time public surface of `@s2sauth/protocol`, `@s2sauth/discovery`, `@s2sauth/issuer` and
 * `@s2sauth/middleware` (issue 10, section 4): each `index.ts` lists its exports by name, so an
 * internal helper (`TokenCache`, `verifyRs256`, `classifyAddress`, `VerificationCache`, ...) stays
 * out, and this test fails when a value is added or dropped without a decision. Type-only exports
 * leave nothing at run time; `tsc -p tsconfig.check.json` checks those against their users.
 */
import { expect } from 'chai';
import * as discovery from '@s2sauth/discovery';
import * as issuer from '@s2sauth/issuer';
import * as middleware from '@s2sauth/middleware';
import * as protocol from '@s2sauth/protocol';

const PUBLIC_VALUES: Readonly<Record<string, { readonly entry: object; readonly names: readonly string[] }>> = {
  '@s2sauth/protocol': {
    entry: protocol,
    names: [
      'ASSERTION_CLOCK_SKEW_SECONDS', 'BearerError', 'CLIENT_ASSERTION_TYP', 'CLIENT_ASSERTION_TYPE', 'FAILURE_CODES',
      'InsufficientScopeError', 'InvalidRequestError', 'InvalidTokenError', 'KeysUnavailableError',
      'MAX_ASSERTION_LIFETIME_SECONDS', 'MAX_AUTHORIZATION_LENGTH', 'MAX_CLOCK_SKEW_SECONDS', 'MAX_JSON_DEPTH',
      'MAX_METADATA_BYTES', 'MAX_METADATA_KEYS', 'MAX_TOKEN_LENGTH', 'MAX_TOKEN_LIFETIME_SECONDS', 'MetadataError',
      'S2SAuthError', 'USER_CLAIM_NAMES', 'WellKnownPrincipal', 'audiencesEqual', 'authorityOf', 'bearerError',
      'buildChallenge', 'buildJwks', 'buildMetadataDocument', 'checkLifetime', 'decodeBase64url', 'effectiveScopes',
      'encodeBase64url', 'epochSeconds', 'extractBearerToken', 'formatAudience', 'formatIssuerId', 'formatTrustedIssuer',
      'isAuthority', 'isLoopbackHost', 'isPrincipalId', 'isRealm', 'isScopeToken', 'isSecureUrl', 'issuerIdsEqual',
      'optionNames', 'parseAudience', 'parseChallenges', 'parseIssuerId', 'parseJws', 'parseMetadataDocument',
      'parseScopes', 'parseStrictJson', 'parseTrustedIssuer', 'readActorClaims', 'readBearerChallenge',
      'readNumericDate', 'readOuterClaims', 'refuseUnknownOptions', 'signingKeyFromCertificate', 'stsIssuerId',
      'systemClock', 'trustedIssuerCovers', 'x5t', 'x5tS256',
    ],
  },
  '@s2sauth/discovery': {
    entry: discovery,
    names: [
      'KEY_MAX_STALENESS_MS', 'KEY_REFRESH_INTERVAL_MS', 'METADATA_FETCH_TIMEOUT_MS', 'MetadataFetchError', 'RemoteKeySet',
      'StaticKeySet', 'UNKNOWN_KEY_COOLDOWN_MS', 'fetchMetadata',
    ],
  },
  '@s2sauth/issuer': {
    entry: issuer,
    names: [
      'CertificateError', 'CertificateSet', 'ClientAssertionError', 'ClientKeySets', 'DEFAULT_MAX_CACHED_TOKENS',
      'DEFAULT_MAX_TOKEN_LIFETIME_SECONDS', 'DEFAULT_METADATA_MAX_AGE_SECONDS', 'DEFAULT_NAME_IDENTIFIER_ISSUER',
      'DEFAULT_RENEW_BEFORE_SECONDS', 'DEFAULT_S2S_TIMEOUT_MS', 'DEFAULT_STS_TOKEN_LIFETIME_SECONDS',
      'DEFAULT_TOKEN_LIFETIME_SECONDS', 'JWKS_PATH', 'MAX_ASSERTION_JTI_LENGTH', 'MAX_TOKEN_REQUEST_BYTES', 'METADATA_PATH',
      'OAuthCertificate', 'Rs256Signer', 'S2SClient', 'S2SClientError', 'SigningCertificateError', 'StsTokenError',
      'StsTokenSource', 'TokenIssuer', 'formatIdempotencyKey', 'metadataRouter', 'parseIdempotencyKey',
      'signClientAssertion', 'stsRouter', 'stsTokenPath',
    ],
  },
  '@s2sauth/middleware': {
    entry: middleware,
    names: [
      'ANY_REALM', 'DEFAULT_AUDIT_BUFFER_BYTES', 'DEFAULT_AUDIT_FLUSH_INTERVAL_MS', 'DEFAULT_CACHE_ENTRIES',
      'DEFAULT_MAX_LIFETIME_SECONDS', 'KEY_MAX_STALENESS_MS', 'KEY_REFRESH_INTERVAL_MS', 'METADATA_FETCH_TIMEOUT_MS',
      'MetadataFetchError', 'PartnerRegistry', 'PartnerRegistryError', 'RemoteKeySet', 'StaticKeySet',
      'UNKNOWN_KEY_COOLDOWN_MS', 'auditDestination', 'createVerifier', 'fetchMetadata', 'pinoAuditSink', 'requireAppOnly',
      'requireScope', 'requireUser', 's2sAuth', 's2sErrorHandler',
    ],
  },
};

/** Internal helpers the issue names, and the others only tests used, which no entry exports. */
const INTERNAL = [
  'TokenCache', 'tokenCacheKey', 'normalizeScopes', 'verifyRs256', 'verifyClientAssertion', 'parseClientAssertion',
  'verifyParsedClientAssertion', 'clientCertificateKeys', 'hostNameMatches', 'StsTokenSigner', 'signCompactJws',
  'userContextClaims', 'classifyAddress', 'VerificationCache', 'isIssuerTrusts', 'ISSUER_TRUSTS_MEMBERS',
  'checkTrustLevel', 'authorizationUriOf', 'checkStsMetadata', 'selectOAuthServer', 'VERIFIER_OPTION_NAMES',
];

describe('public exports', () => {
  for (const [name, { entry, names }] of Object.entries(PUBLIC_VALUES)) {
    it(`${name} exports exactly its listed values`, () => {
      expect(Object.keys(entry).sort()).to.deep.equal([...names].sort());
      for (const exported of names) expect((entry as Record<string, unknown>)[exported], exported).not.to.equal(undefined);
    });

    it(`${name} exports none of the internal helpers`, () => {
      for (const internal of INTERNAL) expect(Object.keys(entry), internal).not.to.include(internal);
    });
  }

  it('@s2sauth/middleware keeps every name of @s2sauth/discovery public, as the same values', () => {
    for (const [exported, value] of Object.entries(discovery)) {
      expect((middleware as Record<string, unknown>)[exported], exported).to.equal(value);
    }
  });
});
