/**
 * The adapter between a standards-based authorization server and `PartnerRegistry.addOAuthServer`:
 * a small local HTTP endpoint that serves, at `/metadata/json/1`, the Microsoft-shaped metadata
 * document protocol.md section 4 asks of an STS, built on every request from the server's own
 * standard metadata: its OpenID Connect discovery document (`jwks_uri`, `token_endpoint`) and its
 * RFC 7517 JWKS.
 *
 * The document states `issuer` = `00000001-0000-0000-c000-000000000000@<realm>` (the issuer id the
 * mapped tokens carry; oidc-provider's own issuer is its URL), `realm`, `serviceName` = the STS
 * principal, one key per RS256 signing JWK that carries a certificate in `x5c` (keys without a
 * certificate cannot be published in this shape and are left out; thumbprints are recomputed by
 * `buildMetadataDocument`, never copied), and the token endpoint as the `OAuth2` `issuance`
 * endpoint (what our challenge advertises as `authorization_uri`).
 */
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildMetadataDocument, WellKnownPrincipal } from '@s2sauth/protocol';

/** A running adapter. */
export interface MetadataAdapter {
  /** `http://127.0.0.1:<port>/metadata/json/1`. */
  readonly url: string;
  /** How many documents it has served. */
  readonly requests: number;
  close(): Promise<void>;
}

async function fetchJson(url: string): Promise<Record<string, unknown>> {
  const response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  const body: unknown = await response.json();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error(`GET ${url} is not a JSON object`);
  return body as Record<string, unknown>;
}

/** The certificates of the RS256 signing keys of a JWKS that carry one in `x5c`. */
export function signingCertificatesOf(jwks: Record<string, unknown>): X509Certificate[] {
  const keys = Array.isArray(jwks['keys']) ? (jwks['keys'] as unknown[]) : [];
  const certificates: X509Certificate[] = [];
  for (const key of keys) {
    if (typeof key !== 'object' || key === null) continue;
    const { kty, use, alg, x5c } = key as Record<string, unknown>;
    if (kty !== 'RSA' || (use !== undefined && use !== 'sig') || (alg !== undefined && alg !== 'RS256')) continue;
    const encoded = Array.isArray(x5c) ? (x5c[0] as unknown) : undefined;
    if (typeof encoded !== 'string') continue;
    try {
      certificates.push(new X509Certificate(Buffer.from(encoded, 'base64')));
    } catch {
      // Not a certificate: nothing to publish for this key.
    }
  }
  return certificates;
}

/** The Microsoft-shaped STS document for `realm` from an OpenID Connect discovery URL. */
export async function microsoftMetadataFrom(discoveryUrl: string, realm: string): Promise<unknown> {
  const discovery = await fetchJson(discoveryUrl);
  const { jwks_uri: jwksUri, token_endpoint: tokenEndpoint } = discovery;
  if (typeof jwksUri !== 'string' || typeof tokenEndpoint !== 'string') throw new Error('discovery document without jwks_uri or token_endpoint');
  return buildMetadataDocument({
    principal: WellKnownPrincipal.sts,
    realm,
    name: 'oidc-provider',
    certificates: signingCertificatesOf(await fetchJson(jwksUri)),
    endpoints: [{ location: tokenEndpoint, protocol: 'OAuth2', usage: 'issuance' }],
  });
}

/** Starts the adapter for the authorization server whose discovery document is at `discoveryUrl`. */
export async function startMetadataAdapter(discoveryUrl: string, realm: string): Promise<MetadataAdapter> {
  let requests = 0;
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metadata/json/1') {
      res.writeHead(404).end();
      return;
    }
    requests++;
    microsoftMetadataFrom(discoveryUrl, realm).then(
      (document) => {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'public, max-age=3600' });
        res.end(JSON.stringify(document));
      },
      () => res.writeHead(502).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/metadata/json/1`,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
