/**
 * The metadata endpoints of protocol.md section 4, as an Express router: the Microsoft
 * `/metadata/json/1` document partners register by URL (Lync's `New-CsPartnerApplication
 * -MetadataUrl`, Exchange's `New-PartnerApplication -AuthMetadataUrl`) and the RFC 7517 JWK set.
 *
 * Both bodies are rendered once per set of published certificates and served from memory: a
 * request only asks the `CertificateSet` which certificates are published (cheap) and compares
 * that list with the one last rendered. The cache is also dropped on the set's `onChange`, so a
 * staged, rolled or removed certificate shows on the next request.
 */
import { createHash } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { buildJwks, buildMetadataDocument, optionNames, refuseUnknownOptions, systemClock, type Clock, type MetadataEndpoint } from '@s2sauth/protocol';
import { CertificateSet } from './certificate-set.js';
import { OAuthCertificate } from './certificate.js';

/** Path of the Microsoft metadata document. */
export const METADATA_PATH = '/metadata/json/1';

/** Path of the JWK set. */
export const JWKS_PATH = '/.well-known/jwks.json';

/** Default `max-age` of both documents, in seconds (one hour). */
export const DEFAULT_METADATA_MAX_AGE_SECONDS = 3600;

/** The largest `maxAgeSeconds` accepted (one day, the consumers' default staleness bound). */
const MAX_MAX_AGE_SECONDS = 86400;

/**
 * Both documents are sent as `application/json; charset=utf-8`. RFC 7517 section 8.5 registers
 * `application/jwk-set+json` for JWK sets, but plain JSON is what Microsoft's servers send and
 * what every JWKS consumer accepts, so one type serves both.
 */
const CONTENT_TYPE = 'application/json; charset=utf-8';

/** Options of {@link metadataRouter}. */
export interface MetadataRouterOptions {
  /** This application's principal id (lowercase GUID); `serviceName` of the document. */
  readonly principal: string;
  /** The realm; the document's `issuer` is `<principal>@<realm>`. */
  readonly realm: string;
  /** Display name of the document; default the principal (as SharePoint does). */
  readonly name?: string;
  /** The OAuth certificate, or the set whose published certificates (current, next, previous) are listed. */
  readonly certificates: CertificateSet | OAuthCertificate;
  /** Endpoints to advertise (an STS lists its token endpoint). Default none. */
  readonly endpoints?: readonly MetadataEndpoint[];
  /** Longest `Cache-Control: max-age`, in seconds, 0 to 86400. Default 3600. */
  readonly maxAgeSeconds?: number;
  /** Time source for what is published and for `max-age`; default the system clock. Give it the set's clock. */
  readonly clock?: Clock;
}

const OPTION_NAMES = optionNames<MetadataRouterOptions>({
  principal: true,
  realm: true,
  name: true,
  certificates: true,
  endpoints: true,
  maxAgeSeconds: true,
  clock: true,
});

interface Rendering {
  readonly certificates: readonly OAuthCertificate[];
  readonly metadata: Body;
  readonly jwks: Body;
}

interface Body {
  readonly bytes: Buffer;
  readonly etag: string;
}

function body(value: unknown): Body {
  const bytes = Buffer.from(JSON.stringify(value), 'utf8');
  return { bytes, etag: `"${createHash('sha256').update(bytes).digest('base64url')}"` };
}

function sameList(a: readonly OAuthCertificate[], b: readonly OAuthCertificate[]): boolean {
  return a.length === b.length && a.every((certificate, index) => certificate === b[index]);
}

/**
 * An Express router serving, unauthenticated, `GET`/`HEAD` {@link METADATA_PATH} (the Microsoft
 * document, built by `buildMetadataDocument` from the certificates the set publishes now: signing
 * certificate first, then next or current, then previous) and {@link JWKS_PATH} (the same
 * certificates as public RSA JWKs, `buildJwks`).
 *
 * Response headers: `Content-Type: application/json; charset=utf-8`, a strong `ETag` (a
 * matching `If-None-Match` gets `304`), and `Cache-Control: public, max-age=<s>` where `<s>` is
 * `maxAgeSeconds`, lowered to the whole seconds left until the published list changes by itself
 * (the staged certificate's effective time, or the expiry of a published certificate), and `0`
 * while no certificate is published (so partners pick up a repaired configuration at once).
 * A certificate staged by `stageNext` is published from the next request on; rollover planning
 * must still leave partners at least `maxAgeSeconds` to fetch it before it signs.
 *
 * @throws TypeError for malformed or unknown options (checked by rendering both documents once, up front).
 */
export function metadataRouter(options: MetadataRouterOptions): Router {
  if (typeof options !== 'object' || options === null) throw new TypeError('metadataRouter options must be an object.');
  refuseUnknownOptions('metadataRouter', options, OPTION_NAMES);
  const { principal, realm, name, endpoints } = options;
  const maxAge = options.maxAgeSeconds ?? DEFAULT_METADATA_MAX_AGE_SECONDS;
  if (typeof maxAge !== 'number' || !Number.isSafeInteger(maxAge) || maxAge < 0 || maxAge > MAX_MAX_AGE_SECONDS) {
    throw new TypeError(`options.maxAgeSeconds must be a whole number of seconds from 0 to ${MAX_MAX_AGE_SECONDS}.`);
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock !== 'function') throw new TypeError('options.clock must be a function returning milliseconds.');
  const set = CertificateSet.from(options.certificates, clock);

  const render = (certificates: readonly OAuthCertificate[]): Rendering => {
    const x509 = certificates.map((certificate) => certificate.certificate);
    const document = buildMetadataDocument({
      principal,
      realm,
      certificates: x509,
      ...(name === undefined ? {} : { name }),
      ...(endpoints === undefined ? {} : { endpoints }),
    });
    return { certificates, metadata: body(document), jwks: body(buildJwks(x509)) };
  };

  let cached: Rendering | undefined = render(set.published(clock()));
  // Never unsubscribed: the router lives as long as the application that serves it.
  set.onChange(() => {
    cached = undefined;
  });

  const rendering = (now: number): Rendering => {
    const published = set.published(now);
    if (cached === undefined || !sameList(cached.certificates, published)) cached = render(published);
    return cached;
  };

  /** Seconds until the published list changes by itself, capped at `maxAge`. */
  const maxAgeAt = (now: number, certificates: readonly OAuthCertificate[]): number => {
    if (certificates.length === 0) return 0;
    let until = Math.min(...certificates.map((certificate) => certificate.notAfter - now));
    const next = set.next;
    if (next !== undefined && next.effectiveAt > now) until = Math.min(until, next.effectiveAt - now);
    return Math.max(0, Math.min(maxAge, Math.floor(until / 1000)));
  };

  const serve = (pick: (r: Rendering) => Body) => (_req: Request, res: Response): void => {
    const now = clock();
    const current = rendering(now);
    const { bytes, etag } = pick(current);
    res.set({
      'Content-Type': CONTENT_TYPE,
      'Cache-Control': `public, max-age=${maxAgeAt(now, current.certificates)}`,
      ETag: etag,
      'X-Content-Type-Options': 'nosniff',
    });
    // res.send answers a fresh conditional request (If-None-Match) with 304 and HEAD without a body.
    res.send(bytes);
  };

  const router = Router();
  router.get(METADATA_PATH, serve((r) => r.metadata));
  router.get(JWKS_PATH, serve((r) => r.jwks));
  return router;
}
