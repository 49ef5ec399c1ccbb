/**
 * The STS's metadata documents (protocol.md section 6): Microsoft `/metadata/json/1` with the
 * `OAuth2` issuance endpoint (first realm, `?realm=`, or `/<realm>/metadata/json/1`), the RFC 7517
 * JWKS of its published certificates, and RFC 8414 authorization server metadata; each with an
 * ETag and a `max-age` no longer than what is published stays valid.
 */
import { createHash } from 'node:crypto';
import { buildJwks, buildMetadataDocument, WellKnownPrincipal } from '@s2sauth/protocol';
import type { Request, Response, Router } from 'express';
import type { OAuthCertificate } from '../identity/certificate.js';
import type { StsContext } from './sts-router-options.js';
import { stsTokenPath } from './sts-token-path.js';

/** Adds the metadata routes of the STS described by `context` to `router`. */
export function addStsMetadataRoutes(router: Router, context: StsContext): void {
  const { realms, base, certificates, clock, maxAge } = context;
  const defaultRealm = realms[0] as string;
  const baseOf = (req: Request): string => base ?? `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}`;

  const maxAgeNow = (now: number, published: readonly OAuthCertificate[]): number => {
    if (published.length === 0) return 0;
    let until = Math.min(...published.map((certificate) => certificate.notAfter - now));
    const next = certificates.next;
    if (next !== undefined && next.effectiveAt > now) until = Math.min(until, next.effectiveAt - now);
    return Math.max(0, Math.min(maxAge, Math.floor(until / 1000)));
  };

  const sendDocument = (req: Request, res: Response, document: unknown): void => {
    const now = clock();
    const bytes = Buffer.from(JSON.stringify(document), 'utf8');
    res.set({
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': `public, max-age=${maxAgeNow(now, certificates.published(now))}`,
      ETag: `"${createHash('sha256').update(bytes).digest('base64url')}"`,
      'X-Content-Type-Options': 'nosniff',
    });
    if (base === undefined) res.vary('Host');
    res.send(bytes);
  };

  const microsoftMetadata = (realm: string, req: Request): unknown =>
    buildMetadataDocument({
      principal: WellKnownPrincipal.sts,
      realm,
      name: 'STS',
      certificates: certificates.published(clock()).map((certificate) => certificate.certificate),
      endpoints: [{ location: `${baseOf(req)}${stsTokenPath(realm)}`, protocol: 'OAuth2', usage: 'issuance' }],
    });

  const authorizationServerMetadata = (realm: string, req: Request): unknown => {
    const at = baseOf(req);
    return {
      issuer: `${at}/${realm}`,
      token_endpoint: `${at}${stsTokenPath(realm)}`,
      jwks_uri: `${at}/.well-known/jwks.json`,
      grant_types_supported: ['client_credentials'],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS256'],
    };
  };

  router.get('/metadata/json/1', (req, res, next) => {
    const asked = req.query['realm'];
    if (asked === undefined) {
      sendDocument(req, res, microsoftMetadata(defaultRealm, req));
    } else if (typeof asked === 'string' && realms.includes(asked)) {
      sendDocument(req, res, microsoftMetadata(asked, req));
    } else {
      next();
    }
  });
  for (const realm of realms) {
    router.get(`/${realm}/metadata/json/1`, (req, res) => sendDocument(req, res, microsoftMetadata(realm, req)));
    router.get(`/.well-known/oauth-authorization-server/${realm}`, (req, res) =>
      sendDocument(req, res, authorizationServerMetadata(realm, req)),
    );
  }
  router.get('/.well-known/oauth-authorization-server', (req, res) =>
    sendDocument(req, res, authorizationServerMetadata(defaultRealm, req)),
  );
  router.get('/.well-known/jwks.json', (req, res) =>
    sendDocument(req, res, buildJwks(certificates.published(clock()).map((certificate) => certificate.certificate))),
  );
}
