/**
 * Building what an issuer publishes (docs/protocol.md section 4): the Microsoft `/metadata/json/1`
 * document and the RFC 7517 JWK set of its signing certificates.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { isPrincipalId, isRealm } from './identifiers.js';
import type { MetadataDocument, MetadataEndpoint } from './metadata.js';
import { x5t, x5tS256 } from './thumbprint.js';

/** What `buildMetadataDocument` publishes. */
export interface BuildMetadataOptions {
  /** The issuer's principal id (lowercase GUID). */
  readonly principal: string;
  /** The issuer's realm. */
  readonly realm: string;
  /** Display name; defaults to the principal, as SharePoint does. */
  readonly name?: string;
  /** Signing certificates in publication order: current, next, previous. */
  readonly certificates: readonly X509Certificate[];
  /** Endpoints to advertise; default none. An STS lists its token endpoint here. */
  readonly endpoints?: readonly MetadataEndpoint[];
}

/** An RSA public JWK (RFC 7517 section 4, RFC 7518 section 6.3.1) for one signing certificate. */
export interface Jwk {
  kty: 'RSA';
  use: 'sig';
  alg: 'RS256';
  /** Same as `x5t`, so a token's `kid` and `x5t` name the same key. */
  kid: string;
  x5t: string;
  'x5t#S256': string;
  n: string;
  e: string;
  /** The certificate's DER in standard base64 (RFC 7517 section 4.7). */
  x5c: [string];
}

/**
 * Builds the `/metadata/json/1` document. `id` is derived from the issuer id so it stays the same
 * across restarts and rollovers. Throws `TypeError` for a malformed principal, realm, name,
 * certificate or endpoint.
 */
export function buildMetadataDocument(options: BuildMetadataOptions): MetadataDocument {
  const { principal, realm } = options;
  if (typeof principal !== 'string' || !isPrincipalId(principal)) {
    throw new TypeError('buildMetadataDocument: options.principal must be a lowercase GUID.');
  }
  if (typeof realm !== 'string' || !isRealm(realm)) {
    throw new TypeError('buildMetadataDocument: options.realm must be a lowercase DNS name or GUID.');
  }
  if (options.name !== undefined && typeof options.name !== 'string') {
    throw new TypeError('buildMetadataDocument: options.name must be a string.');
  }
  const certificates = certificateList(options.certificates, 'buildMetadataDocument: options.certificates');
  const endpoints = (options.endpoints ?? []).map((endpoint, index) => {
    if (!isEndpoint(endpoint)) {
      throw new TypeError(`buildMetadataDocument: options.endpoints[${index}] must have string location, protocol and usage.`);
    }
    return { location: endpoint.location, protocol: endpoint.protocol, usage: endpoint.usage };
  });
  const issuer = `${principal}@${realm}`;
  return {
    id: `_${createHash('sha256').update(issuer).digest('hex').slice(0, 32)}`,
    version: '1.0',
    name: options.name ?? principal,
    realm,
    serviceName: principal,
    issuer,
    allowedAudiences: [issuer],
    keys: certificates.map((certificate) => ({
      usage: 'signing',
      keyinfo: { x5t: x5t(certificate.raw) },
      keyvalue: { type: 'x509Certificate', value: certificate.raw.toString('base64') },
    })),
    endpoints,
  };
}

/**
 * Builds the `/.well-known/jwks.json` set (RFC 7517 section 5): one public RSA JWK per certificate,
 * in the given order. Throws `TypeError` for a certificate without an RSA key.
 */
export function buildJwks(certificates: readonly X509Certificate[]): { keys: Jwk[] } {
  return {
    keys: certificateList(certificates, 'buildJwks: certificates').map((certificate, index) => {
      const jwk = certificate.publicKey.export({ format: 'jwk' });
      if (jwk.kty !== 'RSA' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') {
        throw new TypeError(`buildJwks: certificates[${index}] does not hold an RSA key.`);
      }
      const thumbprint = x5t(certificate.raw);
      return {
        kty: 'RSA',
        use: 'sig',
        alg: 'RS256',
        kid: thumbprint,
        x5t: thumbprint,
        'x5t#S256': x5tS256(certificate.raw),
        n: jwk.n,
        e: jwk.e,
        x5c: [certificate.raw.toString('base64')],
      };
    }),
  };
}

function isEndpoint(value: unknown): value is MetadataEndpoint {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const entry = value as Record<string, unknown>;
  return typeof entry['location'] === 'string' && typeof entry['protocol'] === 'string' && typeof entry['usage'] === 'string';
}

function certificateList(certificates: readonly X509Certificate[], name: string): readonly X509Certificate[] {
  if (!Array.isArray(certificates)) throw new TypeError(`${name} must be an array of X509Certificate.`);
  certificates.forEach((certificate: unknown, index) => {
    if (!(certificate instanceof X509Certificate)) throw new TypeError(`${name}[${index}] must be an X509Certificate.`);
  });
  return certificates;
}
