/**
 * The authorization server (STS) of protocol.md section 6, as an Express router: the token
 * endpoint `POST /<realm>/tokens/OAuth/2` (OAuth 2.0 client credentials, RFC 6749 section 4.4,
 * with JWT client authentication, RFC 7523 section 2.2) and its metadata documents (Microsoft
 * `/metadata/json/1` with the `OAuth2` issuance endpoint, RFC 7517 JWKS, RFC 8414).
 *
 * A request is checked in this order, and the first failure answers (RFC 6749 section 5.2 JSON
 * `{error, error_description}` plus `message`, the same sentence, `Cache-Control: no-store`,
 * `Pragma: no-cache`):
 * 1. an `Authorization` header (HTTP Basic or anything else) → `invalid_client`: clients
 *    authenticate only with an assertion;
 * 2. `Content-Type: application/x-www-form-urlencoded` (optionally `charset=utf-8`), no
 *    `Content-Encoding`, a body of at most 16 KiB in printable ASCII, no parameter repeated
 *    (parsed here from the raw body, so repeats are seen) → else `invalid_request`;
 * 3. `client_secret` → `invalid_client` (no secrets); `grant_type` → `unsupported_grant_type`
 *    unless `client_credentials`; `client_assertion_type`/`client_assertion` absent or another
 *    type → `invalid_client`; `client_id` or `resource` absent, `delegation` other than `true`
 *    → `invalid_request`; a malformed `scope` → `invalid_scope`;
 * 4. client authentication: `client_id` is `<principal>@<path realm>`; the assertion is a
 *    strict JWS with `typ` `client-authentication+jwt` (checked before any client or key is
 *    looked up, so a malformed request never makes the STS fetch anything); the client is
 *    registered and enabled; the key its `x5t` names is among the client's pinned certificates,
 *    or else (metadata-URL clients only) among what `clientKeys` returns; and the assertion
 *    verifies (client-assertion.ts) → else `invalid_client`, with one body for every cause (no
 *    enumeration of clients; an unknown client or an unknown key still costs an RSA
 *    verification). The assertion's `(iss, jti)` is now consumed;
 * 5. `resource` is an audience in the path realm whose principal is a registered, enabled client
 *    and whose authority matches one of its host names (host-name-pattern.ts) → else
 *    `invalid_target`; the caller holds a grant for that principal → else `unauthorized_client`;
 *    requested scopes ⊆ the grant → else `invalid_scope` (none requested: all granted);
 *    `delegation=true` needs the grant's `delegation` → else `unauthorized_client`.
 * Then one STS actor token is issued (sts-token.ts). A failure issues nothing and stores nothing
 * except the replay claim of an assertion that verified. Every decision goes to the audit sink.
 *
 * The pieces: sts-router-options.ts (options and audit), token-request.ts (steps 1 to 3),
 * client-authentication.ts (step 4), token-endpoint.ts (step 5, issuing, answers), sts-errors.ts,
 * sts-metadata.ts.
 */
import { Router } from 'express';
import { sendNoStoreJson } from './sts-errors.js';
import { addStsMetadataRoutes } from './sts-metadata.js';
import { readStsRouterOptions, type StsRouterOptions } from './sts-router-options.js';
import { stsTokenPath } from './sts-token-path.js';
import { tokenEndpoint } from './token-endpoint.js';

/**
 * The STS as an Express router: `POST /<realm>/tokens/OAuth/2` for each configured realm (paths
 * case-sensitive; other methods get `405` with `invalid_request`), `GET /metadata/json/1`
 * (first realm, or `?realm=`), `GET /<realm>/metadata/json/1`, `GET /.well-known/jwks.json`,
 * `GET /.well-known/oauth-authorization-server` (first realm) and
 * `GET /.well-known/oauth-authorization-server/<realm>` (RFC 8414 section 3, issuer
 * `<base>/<realm>`). Mount it before any body parser: it reads the token request body itself.
 *
 * `options.clientKeys` must be cached (one key set per client, refetching for an unknown key id
 * at most once per 30 s): unauthenticated requests reach it, and an uncached one turns each of
 * them into an outbound fetch of the client's metadata.
 *
 * @throws TypeError for malformed options; `CertificateError` when the certificate that signs now
 *   does not cover every realm or is not valid.
 */
export function stsRouter(options: StsRouterOptions): Router {
  const context = readStsRouterOptions(options);
  const router = Router({ caseSensitive: true, strict: true });
  for (const realm of context.realms) {
    const path = stsTokenPath(realm);
    router.post(path, tokenEndpoint(context, realm));
    router.all(path, (_req, res) => {
      res.setHeader('Allow', 'POST');
      sendNoStoreJson(res, 405, { error: 'invalid_request', error_description: 'Use POST.', message: 'Use POST.' });
    });
  }
  addStsMetadataRoutes(router, context);
  return router;
}
