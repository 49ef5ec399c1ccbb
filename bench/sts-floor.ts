/**
 * The reference token endpoint of bench/sts.bench.ts: the least work any correct token endpoint
 * of protocol.md section 6 must do per request, on bare `node:http` with nothing else: read the
 * form, verify the client assertion's RS256 signature with the client's certificate, refuse a
 * `jti` seen before, and sign an RS256 access token of the same shape and size as the STS's. Both
 * RSA operations run on libuv's thread pool (node:crypto with a callback), as oidc-provider's do.
 *
 * Not a product and not safe (no `aud`, lifetime, `iss`/`sub` or grant checks): it exists to
 * show how far any implementation on Node could go, so that the STS's ratio to oidc-provider is
 * read against that ceiling.
 */
import { randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { REALM, RESOURCE_AUDIENCE, SCOPE } from './sts-wire.js';

const LIFETIME_SECONDS = 3600;

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Starts the reference endpoint on 127.0.0.1 at an ephemeral port (any path answers). */
export function startReferenceEndpoint(client: OAuthCertificate, signing: OAuthCertificate, issuer: string): Promise<Server> {
  const clientKey: KeyObject = client.publicKey;
  const header = base64urlJson({ typ: 'JWT', alg: 'RS256', x5t: signing.x5t, kid: signing.x5t });
  const seen = new Set<string>();
  const answer = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const assertion = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('client_assertion') ?? '';
      const dot = assertion.lastIndexOf('.');
      if (dot < 0) {
        answer(res, 401, { error: 'invalid_client' });
        return;
      }
      // With a callback, node:crypto runs the RSA operation on libuv's thread pool, as
      // oidc-provider (jose) does: the event loop goes on with other requests meanwhile.
      verify('sha256', Buffer.from(assertion.slice(0, dot)), clientKey, Buffer.from(assertion.slice(dot + 1), 'base64url'), (error, valid) => {
        if (error !== null || !valid) {
          answer(res, 401, { error: 'invalid_client' });
          return;
        }
        const payloadText = assertion.slice(assertion.indexOf('.') + 1, dot);
        const claims = JSON.parse(Buffer.from(payloadText, 'base64url').toString('utf8')) as { sub?: string; jti?: string };
        if (typeof claims.jti !== 'string' || seen.has(claims.jti)) {
          answer(res, 400, { error: 'invalid_grant' });
          return;
        }
        seen.add(claims.jti);
        const now = Math.floor(Date.now() / 1000);
        const payload = base64urlJson({
          aud: RESOURCE_AUDIENCE,
          iss: issuer,
          nbf: now,
          exp: now + LIFETIME_SECONDS,
          iat: now,
          nameid: claims.sub,
          identityprovider: issuer,
          realm: REALM,
          scp: SCOPE,
          jti: randomUUID(),
          cnf: { 'x5t#S256': client.x5tS256 },
        });
        const signingInput = `${header}.${payload}`;
        sign('sha256', Buffer.from(signingInput), signing.privateKey, (signError, signature) => {
          if (signError !== null) answer(res, 500, { error: 'server_error' });
          else answer(res, 200, { token_type: 'Bearer', access_token: `${signingInput}.${signature.toString('base64url')}`, expires_in: LIFETIME_SECONDS });
        });
      });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
