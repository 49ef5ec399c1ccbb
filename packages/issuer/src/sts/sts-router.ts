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
 */
import { createHash } from 'node:crypto';
import { Router, type NextFunction, type Request, type Response } from 'express';
import {
  buildJwks,
  buildMetadataDocument,
  CLIENT_ASSERTION_TYPE,
  formatAudience,
  isRealm,
  isScopeToken,
  parseAudience,
  parseIssuerId,
  stsIssuerId,
  systemClock,
  WellKnownPrincipal,
  type Clock,
  type SigningKey,
} from '@s2sauth/protocol';
import type { ClientRecord, ClientStore, ReplayStore } from '@s2sauth/store';
import { CertificateSet } from '../identity/certificate-set.js';
import { OAuthCertificate } from '../identity/certificate.js';
import {
  ClientAssertionError,
  clientCertificateKeys,
  parseClientAssertion,
  verifyParsedClientAssertion,
  verifyRs256,
  type ParsedClientAssertion,
} from './client-assertion.js';
import { hostNameMatches } from './host-name-pattern.js';
import { StsTokenSigner } from './sts-token.js';

/** The largest accepted token request body, in bytes (16 KiB; an assertion is far smaller). */
export const MAX_TOKEN_REQUEST_BYTES = 16_384;

/** Default lifetime of an STS actor token, in seconds (one hour, the verifiers' default maximum). */
export const DEFAULT_STS_TOKEN_LIFETIME_SECONDS = 3600;

/** The token endpoint's path under the router for `realm`. */
export function stsTokenPath(realm: string): string {
  return `/${realm}/tokens/OAuth/2`;
}

/** The RFC 6749 section 5.2 error codes the token endpoint answers with, plus `invalid_target` (RFC 8707). */
export type StsErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'server_error'
  | 'temporarily_unavailable';

/** One fixed sentence per error (protocol.md section 7: never an echo of the request). */
const ERROR_DESCRIPTIONS: Readonly<Record<StsErrorCode, string>> = {
  invalid_request: 'The token request is malformed.',
  invalid_client: 'Client authentication failed.',
  invalid_grant: 'The grant is invalid.',
  unauthorized_client: 'The client is not authorized for this request.',
  unsupported_grant_type: 'Only the client_credentials grant type is supported.',
  invalid_scope: 'The requested scope is invalid or exceeds what the client is granted.',
  invalid_target: 'The requested resource is not known to this authorization server.',
  server_error: 'The authorization server could not issue a token.',
  temporarily_unavailable: 'The authorization server cannot issue tokens right now; try again later.',
};

const ERROR_STATUS: Readonly<Record<StsErrorCode, number>> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  server_error: 500,
  temporarily_unavailable: 503,
};

/**
 * One decision of the STS, for the audit log. Never holds a token, an assertion, a key or a
 * header value: only identifiers and the precise internal reason.
 */
export interface StsAuditEvent {
  readonly decision: 'issue' | 'reject';
  /** The error sent, for a rejection. */
  readonly error?: StsErrorCode;
  /** What exactly failed (e.g. `assertion_replayed`, `host_not_registered`), or `issued`. */
  readonly reason: string;
  readonly realm: string;
  /** `client_id` as sent, once it was a well-formed issuer id. */
  readonly clientId?: string;
  /** `resource` as issued, once the client authenticated. */
  readonly resource?: string;
  /** Scopes put into `scp`. */
  readonly scopes?: readonly string[];
  readonly delegation?: boolean;
  /** `jti` of the verified client assertion. */
  readonly assertionId?: string;
  /** `jti` of the issued token. */
  readonly tokenId?: string;
  readonly status: number;
}

/** Receives every {@link StsAuditEvent}. */
export type StsAuditSink = (event: StsAuditEvent) => void;

/** Options of {@link stsRouter}. */
export interface StsRouterOptions {
  /** The realms this STS issues for (lowercase DNS names or GUIDs); the first one's metadata is the default. */
  readonly realms: readonly string[];
  /** The STS's OAuth certificate(s); each must list every realm among its DNS SANs. */
  readonly certificates: CertificateSet | OAuthCertificate;
  /** The registered clients (service principals), both callers and resources. */
  readonly clients: ClientStore;
  /**
   * Where client assertions are claimed once; share it between STS instances. An error it throws
   * with `status` 503 (a store that cannot write now, e.g. a full disk) is answered 503
   * `temporarily_unavailable`; any other error 500 `server_error`.
   */
  readonly replay: ReplayStore;
  /**
   * Keys of a client registered with a `metadataUrl`, for an assertion naming the key `keyId`
   * (its `x5t`). Called only after the assertion passed the syntax and `typ` checks, only for an
   * enabled client with a `metadataUrl`, and only when none of its pinned certificates has that
   * `x5t`. Anyone can still send such a request, so the implementation MUST cache: keep one key
   * set per client (e.g. the middleware's `RemoteKeySet` over `fetchMetadata` and
   * `parseMetadataDocument`, which refetches for an unknown key id at most once per 30 s,
   * protocol.md section 4) rather than fetch per request. Without it, only pinned certificates
   * authenticate. A rejection counts as a failed authentication.
   */
  readonly clientKeys?: (client: ClientRecord, keyId: string) => Promise<readonly SigningKey[]>;
  /** Lifetime of issued tokens in seconds, 60 to 86400; default 3600. */
  readonly tokenLifetimeSeconds?: number;
  /**
   * The public base URL the router is reached at (`https://sts.contoso.com`, or with the mount
   * path), used in metadata. Default: from each request's protocol, `Host` and mount path, which
   * is only right when no proxy rewrites them; metadata then carries `Vary: Host`.
   */
  readonly baseUrl?: string;
  /** Longest `Cache-Control: max-age` of the metadata documents, seconds 0 to 86400; default 3600. */
  readonly metadataMaxAgeSeconds?: number;
  /** Time source; default the system clock. */
  readonly clock?: Clock;
  /** Where decisions are written; default none. A sink that throws is ignored: the decision stands. */
  readonly audit?: StsAuditSink;
}

/** A rejection on its way to the response. */
class Rejection extends Error {
  constructor(
    readonly error: StsErrorCode,
    readonly reason: string,
    readonly context: Partial<Pick<StsAuditEvent, 'clientId' | 'resource' | 'assertionId' | 'delegation'>> = {},
  ) {
    super(reason);
  }
}

function reject(error: StsErrorCode, reason: string, context?: Rejection['context']): never {
  throw new Rejection(error, reason, context);
}

const FORM_TYPE = 'application/x-www-form-urlencoded';
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * Sends a token endpoint answer (RFC 6749 section 5.1: `no-store`, `no-cache`): JSON, written
 * directly rather than through `res.send`, which would compute an ETag nobody may use.
 */
function sendNoStoreJson(res: Response, status: number, body: Readonly<Record<string, unknown>>): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

function sendError(res: Response, error: StsErrorCode): void {
  // `message` repeats the description: every error body of the demo servers has `error` and `message`.
  sendNoStoreJson(res, ERROR_STATUS[error], { error, error_description: ERROR_DESCRIPTIONS[error], message: ERROR_DESCRIPTIONS[error] });
}

/** `application/x-www-form-urlencoded`, alone or with `charset=utf-8` (any case, optional spaces). */
function isFormContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const [type = '', ...parameters] = header.split(';').map((part) => part.trim().toLowerCase());
  if (type !== FORM_TYPE) return false;
  return parameters.every((parameter) => parameter === 'charset=utf-8' || parameter === 'charset="utf-8"');
}

/** Reads at most `limit` bytes of the body; `undefined` when it is longer. */
function readBody(req: Request, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let done = false;
    const finish = (value: Buffer | undefined): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > limit) {
        // Stop collecting; the response closes the connection instead of draining the rest.
        req.pause();
        finish(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(Buffer.concat(chunks));
    const onError = (error: Error): void => {
      if (done) return;
      done = true;
      reject(error);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** The form's parameters, each at most once and printable ASCII; empty values count as absent (RFC 6749 section 3.1). */
function parseForm(body: Buffer): Map<string, string> {
  const text = body.toString('latin1');
  if (!PRINTABLE_ASCII.test(text)) reject('invalid_request', 'body_not_ascii');
  const parameters = new Map<string, string>();
  const seen = new Set<string>();
  for (const [name, value] of new URLSearchParams(text)) {
    if (!PRINTABLE_ASCII.test(name) || !PRINTABLE_ASCII.test(value)) reject('invalid_request', 'parameter_not_printable');
    if (seen.has(name)) reject('invalid_request', 'parameter_repeated');
    seen.add(name);
    if (value !== '') parameters.set(name, value);
  }
  return parameters;
}

function parseScope(scope: string | undefined): string[] | undefined {
  if (scope === undefined) return undefined;
  const words = scope.split(' ');
  if (!words.every(isScopeToken)) reject('invalid_scope', 'scope_malformed');
  return [...new Set(words)];
}

function checkTime(value: unknown, name: string, min: number, max: number, fallback: number): number {
  const result = value ?? fallback;
  if (typeof result !== 'number' || !Number.isSafeInteger(result) || result < min || result > max) {
    throw new TypeError(`stsRouter: options.${name} must be a whole number of seconds from ${min} to ${max}.`);
  }
  return result;
}

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
  if (typeof options !== 'object' || options === null) throw new TypeError('stsRouter: options must be an object.');
  const { realms, clients, replay, clientKeys, audit, baseUrl } = options;
  if (!Array.isArray(realms) || realms.length === 0) throw new TypeError('stsRouter: options.realms must be a non-empty array of realms.');
  for (const realm of realms as unknown[]) {
    if (typeof realm !== 'string' || !isRealm(realm)) {
      throw new TypeError('stsRouter: options.realms must hold lowercase DNS names or GUIDs.');
    }
  }
  if (new Set(realms).size !== realms.length) throw new TypeError('stsRouter: options.realms lists a realm twice.');
  if (typeof clients !== 'object' || clients === null || typeof clients.getClient !== 'function') {
    throw new TypeError('stsRouter: options.clients must be a ClientStore.');
  }
  if (typeof replay !== 'object' || replay === null || typeof replay.claim !== 'function') {
    throw new TypeError('stsRouter: options.replay must be a ReplayStore.');
  }
  if (clientKeys !== undefined && typeof clientKeys !== 'function') throw new TypeError('stsRouter: options.clientKeys must be a function.');
  if (audit !== undefined && typeof audit !== 'function') throw new TypeError('stsRouter: options.audit must be a function.');
  const clock = options.clock ?? systemClock;
  if (typeof clock !== 'function') throw new TypeError('stsRouter: options.clock must be a function returning milliseconds.');
  const lifetime = checkTime(options.tokenLifetimeSeconds, 'tokenLifetimeSeconds', 60, 86400, DEFAULT_STS_TOKEN_LIFETIME_SECONDS);
  const maxAge = checkTime(options.metadataMaxAgeSeconds, 'metadataMaxAgeSeconds', 0, 86400, 3600);
  let base: string | undefined;
  if (baseUrl !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(baseUrl);
    } catch {
      throw new TypeError('stsRouter: options.baseUrl must be an absolute http(s) URL.');
    }
    if ((parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.search !== '' || parsed.hash !== '') {
      throw new TypeError('stsRouter: options.baseUrl must be an absolute http(s) URL without query or fragment.');
    }
    base = parsed.href.replace(/\/+$/, '');
  }
  const certificates = CertificateSet.from(options.certificates, clock, 'stsRouter: options.certificates');

  const signers = new Map(realms.map((realm) => [realm, new StsTokenSigner(realm, certificates, lifetime, clock)]));
  const record = (event: StsAuditEvent): void => {
    if (audit === undefined) return;
    try {
      audit(event);
    } catch {
      // An audit sink must not turn a decision into a 500, nor an issued token into a lost one.
    }
  };

  /** The public key an unknown client's assertion is checked against, so that it costs as much as a known one's. */
  const standIn = (): SigningKey['publicKey'] => certificates.current.publicKey;

  async function authenticate(realm: string, form: Map<string, string>): Promise<{ client: ClientRecord; key: SigningKey; jti: string; clientId: string }> {
    const clientId = form.get('client_id') as string;
    const id = parseIssuerId(clientId);
    if (id === undefined) reject('invalid_client', 'client_id_malformed');
    const context = { clientId };
    if (id.realm !== realm) reject('invalid_client', 'client_id_realm', context);
    // Read the assertion before looking anything up: a request that is not even a well-formed
    // assertion learns nothing about the client and makes the STS fetch nothing.
    let parsed: ParsedClientAssertion;
    try {
      parsed = parseClientAssertion(form.get('client_assertion') as string);
    } catch (error) {
      if (error instanceof ClientAssertionError) reject('invalid_client', error.code, context);
      throw error;
    }
    const client = clients.getClient(id.principal, id.realm);
    if (client === undefined || !client.enabled) {
      // Spend the same work as for a registered client, then fail the same way.
      await verifyRs256(parsed.jws.signingInput, parsed.jws.signature, standIn());
      reject('invalid_client', client === undefined ? 'client_unknown' : 'client_disabled', context);
    }
    let keys: readonly SigningKey[] = clientCertificateKeys(client, clock());
    // Pinned certificates first; the metadata keys (an outbound fetch, cached by clientKeys) only
    // for a key id none of them has.
    if (client.metadataUrl !== undefined && clientKeys !== undefined && !keys.some((key) => key.x5t === parsed.keyId)) {
      try {
        keys = [...keys, ...(await clientKeys(client, parsed.keyId))];
      } catch {
        reject('invalid_client', 'client_keys_unavailable', context);
      }
    }
    let verifiedKey: SigningKey;
    let jti: string;
    try {
      const verified = await verifyParsedClientAssertion(parsed, {
        clientId,
        audience: stsIssuerId(realm),
        keys,
        replay,
        now: clock(),
        standInKey: standIn(),
      });
      verifiedKey = verified.key;
      jti = verified.jti;
    } catch (error) {
      if (error instanceof ClientAssertionError) reject('invalid_client', error.code, context);
      throw error;
    }
    // The signature was checked on the thread pool: a client disabled, removed or changed
    // meanwhile is refused now, as it would have been a moment later.
    const current = clients.getClient(id.principal, id.realm);
    if (current === undefined || !current.enabled || current.updatedAt !== client.updatedAt) reject('invalid_client', 'client_changed', context);
    return { client: current, key: verifiedKey, jti, clientId };
  }

  async function token(realm: string, req: Request): Promise<{ body: Record<string, unknown>; event: Omit<StsAuditEvent, 'status'> }> {
    if (req.headers.authorization !== undefined) reject('invalid_client', 'authorization_header');
    if (!isFormContentType(req.headers['content-type'])) reject('invalid_request', 'content_type');
    if (req.headers['content-encoding'] !== undefined) reject('invalid_request', 'content_encoding');
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > MAX_TOKEN_REQUEST_BYTES) reject('invalid_request', 'body_too_large');
    if (req.readableEnded || req.body !== undefined) {
      throw new Error('stsRouter must be mounted before any body parser: the token request body was already read.');
    }
    const body = await readBody(req, MAX_TOKEN_REQUEST_BYTES);
    if (body === undefined) reject('invalid_request', 'body_too_large');
    const form = parseForm(body);

    if (form.has('client_secret')) reject('invalid_client', 'client_secret');
    const grantType = form.get('grant_type');
    if (grantType === undefined) reject('invalid_request', 'grant_type_missing');
    if (grantType !== 'client_credentials') reject('unsupported_grant_type', 'grant_type_unsupported');
    const assertionType = form.get('client_assertion_type');
    if (assertionType === undefined || !form.has('client_assertion')) reject('invalid_client', 'client_assertion_missing');
    if (assertionType !== CLIENT_ASSERTION_TYPE) reject('invalid_client', 'client_assertion_type');
    if (!form.has('client_id')) reject('invalid_request', 'client_id_missing');
    const resourceText = form.get('resource');
    if (resourceText === undefined) reject('invalid_request', 'resource_missing');
    const delegationText = form.get('delegation');
    if (delegationText !== undefined && delegationText !== 'true') reject('invalid_request', 'delegation_value');
    const delegation = delegationText === 'true';
    const requested = parseScope(form.get('scope'));

    const { client, key, jti, clientId } = await authenticate(realm, form);
    const context = { clientId, assertionId: jti, delegation };

    const audience = parseAudience(resourceText);
    if (audience === undefined) reject('invalid_target', 'resource_malformed', context);
    if (audience.realm !== realm) reject('invalid_target', 'resource_realm', context);
    const resource = formatAudience(audience);
    const target = clients.getClient(audience.principal, audience.realm);
    if (target === undefined || !target.enabled) reject('invalid_target', 'resource_unknown', { ...context, resource });
    if (!target.hostNames.some((pattern) => hostNameMatches(pattern, audience.authority))) {
      reject('invalid_target', 'host_not_registered', { ...context, resource });
    }
    const grant = client.grants.find((candidate) => candidate.resource === audience.principal);
    if (grant === undefined) reject('unauthorized_client', 'no_grant', { ...context, resource });
    const scopes = requested ?? [...grant.scopes];
    if (!scopes.every((scope) => grant.scopes.includes(scope))) reject('invalid_scope', 'scope_not_granted', { ...context, resource });
    if (delegation && !grant.delegation) reject('unauthorized_client', 'delegation_not_granted', { ...context, resource });

    const signer = signers.get(realm) as StsTokenSigner;
    const issued = await signer.issue({
      audience: resource,
      clientId,
      scopes,
      ...(delegation ? { delegation: { x5tS256: key.x5tS256 } } : {}),
    });
    return {
      body: {
        token_type: 'Bearer',
        access_token: issued.token,
        expires_in: issued.expiresOn - issued.notBefore,
        not_before: issued.notBefore,
        expires_on: issued.expiresOn,
        resource,
        scope: scopes.join(' '),
      },
      event: { decision: 'issue', reason: 'issued', realm, clientId, resource, scopes, delegation, assertionId: jti, tokenId: issued.jti },
    };
  }

  const tokenEndpoint = (realm: string) => async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      const { body, event } = await token(realm, req);
      record({ ...event, status: 200 });
      sendNoStoreJson(res, 200, body);
    } catch (error) {
      if (!(error instanceof Rejection)) {
        if (error instanceof Error && error.message.startsWith('stsRouter must be mounted')) {
          next(error);
          return;
        }
        // A store that says it is unavailable for now (its error has status 503, e.g. a full disk):
        // 503 temporarily_unavailable (RFC 6749 section 4.1.2.1's code), nothing was issued.
        if (typeof error === 'object' && error !== null && (error as { status?: unknown }).status === 503) {
          record({ decision: 'reject', error: 'temporarily_unavailable', reason: 'store_unavailable', realm, status: 503 });
          sendError(res, 'temporarily_unavailable');
          return;
        }
        // A certificate that cannot sign, a store that fails: nothing was issued.
        record({ decision: 'reject', error: 'server_error', reason: 'internal_error', realm, status: 500 });
        sendError(res, 'server_error');
        return;
      }
      const status = ERROR_STATUS[error.error];
      if (!req.complete) res.set('Connection', 'close');
      record({ decision: 'reject', error: error.error, reason: error.reason, realm, ...error.context, status });
      sendError(res, error.error);
    }
  };

  const router = Router({ caseSensitive: true, strict: true });

  for (const realm of realms) {
    const path = stsTokenPath(realm);
    router.post(path, tokenEndpoint(realm));
    router.all(path, (_req, res) => {
      res.setHeader('Allow', 'POST');
      sendNoStoreJson(res, 405, { error: 'invalid_request', error_description: 'Use POST.', message: 'Use POST.' });
    });
  }

  // Metadata --------------------------------------------------------------------------------

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
  return router;
}
