/**
 * oidc-provider 8 (panva) as a third-party authorization server for the interop test and the STS
 * benchmark: the client credentials grant (RFC 6749 section 4.4), resource indicators (RFC 8707)
 * with JWT access tokens (RFC 9068, RS256), clients authenticating with `private_key_jwt`
 * (OpenID Connect Core section 9, RFC 7523) with a JWKS made from their OAuth certificate, and one
 * RS256 signing key whose JWK carries the STS certificate in `x5c`.
 *
 * What it issues is oidc-provider's own shape unless the {@link ProtocolMapping} flags turn on the
 * mapping onto protocol.md section 3.1, made only with oidc-provider's documented configuration
 * hooks: `features.resourceIndicators.getResourceServerInfo` (`audience`), `extraTokenClaims`
 * (`nameid`, `scp`) and `formats.customizers.jwt` (`iss`, `identityprovider`, `nbf`, header
 * `x5t`/`kid`). The flags are read at every issuance, so a test can switch one mapping off and
 * see exactly which check of our verifier refuses the difference. README.md in the folder above
 * lists the differences.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { errors, type IssuedToken, type StructuredToken } from 'oidc-provider';
import { buildJwks, formatAudience, formatIssuerId, WellKnownPrincipal } from '@s2sauth/protocol';
import { Rs256Signer, type OAuthCertificate } from '@s2sauth/issuer';

/** Which parts of protocol.md's actor token shape the provider is configured to produce. */
export interface ProtocolMapping {
  /** `iss` = the STS issuer id `00000001-0000-0000-c000-000000000000@<realm>` (plus `identityprovider`), instead of the provider's URL. */
  issuer: boolean;
  /** `aud` = `<principal>/<authority>@<realm>` of the resource server, instead of the resource indicator URL. */
  audience: boolean;
  /** `nameid` = the client id (`<principal>@<realm>`); oidc-provider has `sub` and `client_id` only. */
  nameid: boolean;
  /** `nbf` = `iat`; oidc-provider sets `iat` and `exp` only. */
  notBefore: boolean;
  /** `scp` = the granted scopes (`""` when none); oidc-provider writes them to `scope`. */
  scp: boolean;
  /** Header `kid` = `x5t` = SHA-1 thumbprint of the STS certificate; oidc-provider's `kid` is the RFC 7638 JWK thumbprint. */
  keyId: boolean;
  /** Header `typ` `JWT` instead of RFC 9068's `at+jwt`. Our verifier accepts both; off by default. */
  typJwt: boolean;
}

/** Every mapping on except `typJwt`: the closest faithful mapping the interop test uses. */
export function fullMapping(): ProtocolMapping {
  return { issuer: true, audience: true, nameid: true, notBefore: true, scp: true, keyId: true, typJwt: false };
}

/** Every mapping off: oidc-provider's own token shape. */
export function noMapping(): ProtocolMapping {
  return { issuer: false, audience: false, nameid: false, notBefore: false, scp: false, keyId: false, typJwt: false };
}

/** A resource server oidc-provider issues tokens for, addressed by its origin URL (the RFC 8707 resource indicator). */
export interface ResourceServerRegistration {
  /** The resource indicator clients send: the server's origin, e.g. `http://127.0.0.1:4402`. */
  readonly url: string;
  /** Its principal id (the audience's principal). */
  readonly principal: string;
  /** Scopes it defines (space-separated). */
  readonly scope: string;
}

/** Options of {@link startOidcProviderSts}. */
export interface OidcProviderStsOptions {
  /** Our realm; client ids are `<principal>@<realm>`. */
  readonly realm: string;
  /** The certificate whose key signs access tokens (its DER goes into the JWK's `x5c`). */
  readonly signingCertificate: OAuthCertificate;
  /** Clients: principal and the certificate whose key signs their assertions. */
  readonly clients: readonly { readonly principal: string; readonly certificate: OAuthCertificate }[];
  /** Resource servers, by origin; more can be added later through the returned `resourceServers`. */
  readonly resourceServers?: readonly ResourceServerRegistration[];
  /** The mapping onto protocol.md; default {@link fullMapping}. Mutable: read at every issuance. */
  readonly mapping?: ProtocolMapping;
  /** Access token lifetime in seconds; default 3600. */
  readonly accessTokenTtl?: number;
}

/** A running oidc-provider. */
export interface OidcProviderSts {
  /** The provider's issuer identifier, `http://127.0.0.1:<port>`. */
  readonly issuer: string;
  /** `<issuer>/token`. */
  readonly tokenEndpoint: string;
  /** `<issuer>/.well-known/openid-configuration`. */
  readonly discoveryUrl: string;
  /** The mapping in effect (change its members to change what is issued next). */
  readonly mapping: ProtocolMapping;
  /** Registered resource servers, by origin (add to it to register another). */
  readonly resourceServers: Map<string, ResourceServerRegistration>;
  close(): Promise<void>;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** The private RS256 JWK of `certificate`, with the certificate in `x5c` and no `kid` (oidc-provider computes RFC 7638's). */
function signingJwk(certificate: OAuthCertificate): Record<string, unknown> {
  const jwk = certificate.privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
  return { ...jwk, use: 'sig', alg: 'RS256', x5c: [certificate.der.toString('base64')] };
}

/** The URL origin of a resource indicator, or undefined when it is not an absolute http(s) URL. */
function originOf(indicator: string): string | undefined {
  try {
    const url = new URL(indicator);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts oidc-provider on 127.0.0.1 at an ephemeral port, configured as described above.
 */
export async function startOidcProviderSts(options: OidcProviderStsOptions): Promise<OidcProviderSts> {
  const { realm, signingCertificate } = options;
  const mapping = options.mapping ?? fullMapping();
  const stsIssuer = formatIssuerId({ principal: WellKnownPrincipal.sts, realm });
  const x5t = signingCertificate.x5t;
  const resourceServers = new Map((options.resourceServers ?? []).map((server) => [originOf(server.url) ?? server.url, server]));

  const server = createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: options.clients.map(({ principal, certificate }) => ({
      client_id: formatIssuerId({ principal, realm }),
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS256',
      // The client's certificate as an RFC 7517 key: kid = x5t, x5c = the certificate.
      jwks: buildJwks([certificate.certificate]),
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    })),
    jwks: { keys: [signingJwk(signingCertificate)] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          const origin = originOf(indicator);
          const target = origin === undefined ? undefined : resourceServers.get(origin);
          if (origin === undefined || target === undefined) throw new errors.InvalidTarget();
          const authority = new URL(origin).host;
          return {
            scope: target.scope,
            ...(mapping.audience ? { audience: formatAudience({ principal: target.principal, authority, realm }) } : {}),
            accessTokenTTL: options.accessTokenTtl ?? 3600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    // Claims oidc-provider lets a deployment add (they cannot replace iss, aud, sub, jti, iat, exp, scope, client_id).
    extraTokenClaims: (_ctx: unknown, token: IssuedToken) => {
      const extra: Record<string, unknown> = {};
      if (mapping.nameid && token.clientId !== undefined) extra['nameid'] = token.clientId;
      if (mapping.scp) extra['scp'] = token.scope ?? '';
      return extra;
    },
    formats: {
      customizers: {
        // The last word before signing: the only hook that can set iss and the JOSE header.
        jwt: (_ctx: unknown, _token: IssuedToken, jwt: StructuredToken) => {
          const header: Record<string, unknown> = { ...jwt.header };
          if (mapping.keyId) Object.assign(header, { kid: x5t, x5t });
          if (mapping.typJwt) header['typ'] = 'JWT';
          jwt.header = header;
          if (mapping.issuer) {
            jwt.payload['iss'] = stsIssuer;
            jwt.payload['identityprovider'] = stsIssuer;
          }
          if (mapping.notBefore) jwt.payload['nbf'] = jwt.payload['iat'];
        },
      },
    },
    ttl: { ClientCredentials: (_ctx: unknown, token: { resourceServer?: { accessTokenTTL?: number } }) => token.resourceServer?.accessTokenTTL ?? 600 },
    clockTolerance: 5,
    // Client credentials only: no sessions, so no cookie keys are used; set to keep the start-up quiet.
    cookies: { keys: ['interop-only-not-secret'] },
  });
  const handler = provider.callback();
  server.on('request', handler);
  // A token endpoint error is an answer to the client; keep oidc-provider's console quiet.
  provider.on('server_error', () => undefined);

  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    mapping,
    resourceServers,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A `private_key_jwt` client assertion for oidc-provider: the header and claims of
 * `signClientAssertion` (protocol.md section 6), except `aud`, which oidc-provider requires to be
 * its issuer URL or token endpoint URL (never an issuer id such as our STS's). 128-bit random
 * `jti`: oidc-provider, like our STS, accepts each `(iss, jti)` once.
 */
export function signProviderAssertion(certificate: OAuthCertificate, clientId: string, audience: string, nowMs = Date.now()): string {
  const iat = Math.floor(nowMs / 1000);
  return new Rs256Signer(certificate.privateKey, { typ: 'client-authentication+jwt', alg: 'RS256', x5t: certificate.x5t, kid: certificate.x5t }).sign({
    iss: clientId,
    sub: clientId,
    aud: audience,
    jti: randomBytes(16).toString('base64url'),
    iat,
    exp: iat + 300,
  });
}
