/**
 * Metadata documents of protocol.md section 4: the Microsoft `/metadata/json/1` document and the
 * RFC 7517 JWK set an issuer publishes, and the parser a verifier uses to load a partner's
 * signing keys from one (reference-microsoft-s2s.md section 5).
 *
 * The parser is lenient in form, because Exchange, SharePoint and ACS disagree on member-name
 * casing, and strict in content: a document that carries anything a signing-key document must not
 * (private or symmetric keys, weak keys, expired certificates, thumbprints that do not match) is
 * refused as a whole, so a misconfigured partner is noticed rather than half-trusted.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { S2SAuthError } from './error-root.js';
import { isPrincipalId, isRealm } from './identifiers.js';
import { x5t, x5tS256 } from './thumbprint.js';

/** An `endpoints` entry, e.g. an STS token endpoint (`OAuth2`, `issuance`). */
export interface MetadataEndpoint {
  readonly location: string;
  readonly protocol: string;
  readonly usage: string;
}

/** One `keys` entry of a Microsoft metadata document. */
export interface MetadataKey {
  usage: 'signing';
  keyinfo: { x5t: string };
  /** `value` is the certificate's DER in standard base64 (with padding). */
  keyvalue: { type: 'x509Certificate'; value: string };
}

/** The Microsoft `/metadata/json/1` document (protocol.md section 4). */
export interface MetadataDocument {
  id: string;
  version: '1.0';
  name: string;
  realm: string;
  /** The issuer's principal id. */
  serviceName: string;
  /** `<principal>@<realm>`. */
  issuer: string;
  allowedAudiences: string[];
  keys: MetadataKey[];
  endpoints: MetadataEndpoint[];
}

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

/** A partner's signing key, loaded from a certificate whose checks all passed. */
export interface SigningKey {
  /** SHA-1 thumbprint, recomputed from the DER. */
  readonly x5t: string;
  /** SHA-256 thumbprint, recomputed from the DER. */
  readonly x5tS256: string;
  readonly certificate: X509Certificate;
  readonly publicKey: KeyObject;
  /** Start of the certificate's validity, ms since the epoch. */
  readonly notBefore: number;
  /** End of the certificate's validity (inclusive), ms since the epoch. */
  readonly notAfter: number;
}

/** What a verifier learns from a partner's metadata document. */
export interface ParsedMetadata {
  readonly issuer?: string;
  readonly realm?: string;
  readonly serviceName?: string;
  readonly name?: string;
  /** Every signing key of the document valid at `now`, in document order, without duplicates. */
  readonly keys: readonly SigningKey[];
  /** Endpoints whose `location`, `protocol` and `usage` are all strings. */
  readonly endpoints: readonly MetadataEndpoint[];
}

/** Limits and the time used by `parseMetadataDocument`. */
export interface ParseMetadataOptions {
  /** The time certificates must be valid at, ms since the epoch. */
  readonly now: number;
  /** Largest accepted document in bytes (UTF-8); default 262144 (256 KiB, protocol.md section 4). */
  readonly maxBytes?: number;
  /** Most `keys` entries accepted; default 20 (protocol.md section 4). */
  readonly maxKeys?: number;
}

/** Why a metadata document or certificate was refused. */
export type MetadataErrorCode =
  | 'metadata_too_large'
  | 'metadata_not_json'
  | 'metadata_shape'
  | 'metadata_no_keys'
  | 'metadata_too_many_keys'
  | 'metadata_private_key'
  | 'metadata_symmetric_key'
  | 'metadata_weak_key'
  | 'metadata_certificate_invalid'
  | 'metadata_certificate_expired'
  | 'metadata_thumbprint_mismatch';

/** A refused metadata document or certificate. The message never contains key material. */
export class MetadataError extends S2SAuthError<MetadataErrorCode> {
  constructor(code: MetadataErrorCode, message: string) {
    super(code, message);
  }
}

/** Default `maxBytes` of `parseMetadataDocument`. */
export const MAX_METADATA_BYTES = 262_144;
/** Default `maxKeys` of `parseMetadataDocument`. */
export const MAX_METADATA_KEYS = 20;

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

/**
 * Parses a partner's `/metadata/json/1` document and loads all of its signing keys.
 *
 * Member names are matched case-insensitively (ASCII only), as are the values `signing` and
 * `x509Certificate`; a member present in two casings is ambiguous and refused. `null` members count
 * as absent. Any private or symmetric key material, weak key, malformed certificate or published
 * thumbprint that differs from the certificate refuses the whole document. A certificate outside
 * its validity at `now` is left out; `metadata_certificate_expired` only when that leaves no key.
 * Throws `MetadataError`; whether `issuer`/`realm` contradict a registration is for the caller to
 * check.
 */
export function parseMetadataDocument(body: string | Uint8Array, options: ParseMetadataOptions): ParsedMetadata {
  checkTime(options.now, 'parseMetadataDocument: options.now');
  const maxBytes = positiveInteger(options.maxBytes, MAX_METADATA_BYTES, 'parseMetadataDocument: options.maxBytes');
  const maxKeys = positiveInteger(options.maxKeys, MAX_METADATA_KEYS, 'parseMetadataDocument: options.maxKeys');
  const size = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.byteLength;
  if (size > maxBytes) {
    throw new MetadataError('metadata_too_large', `The metadata document has ${size} bytes, more than the limit of ${maxBytes}.`);
  }
  const document = parseJson(body);
  if (!isObject(document)) {
    throw new MetadataError('metadata_shape', 'The metadata document is not a JSON object.');
  }

  const keys = member(document, 'keys', 'the document');
  if (!Array.isArray(keys)) {
    throw new MetadataError('metadata_shape', 'The metadata document has no "keys" array.');
  }
  if (keys.length > maxKeys) {
    throw new MetadataError(
      'metadata_too_many_keys',
      `The metadata document lists ${keys.length} keys, more than the limit of ${maxKeys}.`,
    );
  }
  const loaded = new Map<string, SigningKey>();
  let outsideValidity: MetadataError | undefined;
  keys.forEach((entry: unknown, index) => {
    const where = `keys[${index}]`;
    const key = readKeyEntry(entry, where);
    if (key === undefined || loaded.has(key.x5t)) return;
    // A certificate outside its validity never verifies, so it is left out rather than failing the
    // document: publishers list a staged next certificate before it is valid and may keep an expired
    // previous one, and refusing the whole document for that would take every current key with it.
    const invalid = validityError(key, options.now, where);
    if (invalid === undefined) loaded.set(key.x5t, key);
    else outsideValidity ??= invalid;
  });
  if (loaded.size === 0) {
    throw outsideValidity ?? new MetadataError('metadata_no_keys', 'The metadata document has no signing key.');
  }

  return {
    ...optionalString(document, 'issuer'),
    ...optionalString(document, 'realm'),
    ...optionalString(document, 'serviceName'),
    ...optionalString(document, 'name'),
    keys: [...loaded.values()],
    endpoints: readEndpoints(document),
  };
}

/**
 * Loads one signing certificate given directly (a registration's pinned certificate): an
 * `X509Certificate`, PEM text holding exactly one `CERTIFICATE` block, or standard base64 DER.
 * Applies the same checks as `parseMetadataDocument` at `now` (ms) and throws `MetadataError`.
 */
export function signingKeyFromCertificate(certificate: X509Certificate | string, now: number): SigningKey {
  checkTime(now, 'signingKeyFromCertificate: now');
  const where = 'The certificate';
  const key =
    certificate instanceof X509Certificate ? checkCertificate(certificate, where) : loadCertificate(certificateDer(certificate), where);
  const invalid = validityError(key, now, where);
  if (invalid !== undefined) throw invalid;
  return key;
}

/** The DER of a certificate given as PEM text or standard base64. */
function certificateDer(certificate: string): Buffer {
  if (typeof certificate !== 'string') {
    throw new TypeError('signingKeyFromCertificate: certificate must be an X509Certificate, PEM text or base64 DER.');
  }
  if (certificate.includes('PRIVATE KEY')) {
    throw new MetadataError('metadata_private_key', 'The certificate text contains a private key.');
  }
  let der: Buffer | undefined;
  if (certificate.trimStart().startsWith('-----BEGIN')) {
    const pem = PEM_CERTIFICATE.exec(certificate.trim());
    der = pem?.[1] === undefined ? undefined : decodeBase64(pem[1].replace(/\s+/g, ''));
    if (der === undefined) {
      throw new MetadataError('metadata_certificate_invalid', 'The certificate text is not exactly one PEM CERTIFICATE block.');
    }
  } else {
    der = decodeBase64(certificate);
    if (der === undefined) {
      throw new MetadataError('metadata_certificate_invalid', 'The certificate is neither PEM nor standard base64 DER.');
    }
  }
  return der;
}

const PEM_CERTIFICATE = /^-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE-----$/;
const PEM_DASHES = Buffer.from('-----');
const PFX_VERSION = Buffer.from([0x02, 0x01, 0x03]);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Member names that only private keys have: RSA/EC JWK private parts, and key containers. */
const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'privatekey', 'private_key', 'pfx', 'pkcs12', 'p12']);
/** Member names and type values that denote a shared secret (JWK `oct`, WS-Trust `BinarySecret`). */
const SYMMETRIC_MEMBERS = new Set(['k', 'symmetrickey', 'binarysecret', 'secret']);
const SYMMETRIC_TYPES = new Set(['symmetric', 'symmetrickey', 'binarysecret', 'oct']);
/** The largest time a `Date` can hold (ECMA-262 section 21.4.1.22). */
const MAX_DATE_MS = 8.64e15;
/** No legitimate key entry nests deeper than `keyvalue.value`; the cap bounds the scan. */
const MAX_ENTRY_DEPTH = 8;

function checkTime(now: number, name: string): void {
  // A NaN time would make every validity comparison false, i.e. every certificate valid.
  if (typeof now !== 'number' || !(Math.abs(now) <= MAX_DATE_MS)) {
    throw new TypeError(`${name} must be a time in milliseconds since the epoch.`);
  }
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer.`);
  return value;
}

function parseJson(body: string | Uint8Array): unknown {
  let text: string;
  if (typeof body === 'string') {
    text = body;
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      throw new MetadataError('metadata_not_json', 'The metadata document is not valid UTF-8.');
    }
  }
  // .NET servers may prefix a byte order mark; it is not part of the JSON text.
  if (text.startsWith('\ufeff')) text = text.slice(1);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new MetadataError('metadata_not_json', 'The metadata document is not JSON.');
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Lower-cases ASCII letters only, so that e.g. the Kelvin sign never folds to `k`. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Reads a member by case-insensitive name; `null` is absent; two casings of one name are refused. */
function member(object: Record<string, unknown>, name: string, where: string): unknown {
  const wanted = asciiLower(name);
  let found: unknown;
  let seen = false;
  for (const key of Object.keys(object)) {
    if (asciiLower(key) !== wanted) continue;
    if (seen) throw new MetadataError('metadata_shape', `In ${where}, the member "${name}" appears in more than one casing.`);
    seen = true;
    found = object[key];
  }
  return found === null ? undefined : found;
}

type DocumentName = 'issuer' | 'realm' | 'serviceName' | 'name';

function optionalString(document: Record<string, unknown>, name: DocumentName): Partial<Record<DocumentName, string>> {
  const value = member(document, name, 'the document');
  if (value === undefined) return {};
  if (typeof value !== 'string') throw new MetadataError('metadata_shape', `The member "${name}" is not a string.`);
  return { [name]: value };
}

function readEndpoints(document: Record<string, unknown>): MetadataEndpoint[] {
  const endpoints = member(document, 'endpoints', 'the document');
  if (endpoints === undefined) return [];
  if (!Array.isArray(endpoints)) throw new MetadataError('metadata_shape', 'The member "endpoints" is not an array.');
  const result: MetadataEndpoint[] = [];
  endpoints.forEach((entry: unknown, index) => {
    if (!isObject(entry)) return;
    const where = `endpoints[${index}]`;
    const location = member(entry, 'location', where);
    const protocol = member(entry, 'protocol', where);
    const usage = member(entry, 'usage', where);
    if (typeof location === 'string' && typeof protocol === 'string' && typeof usage === 'string') {
      result.push({ location, protocol, usage });
    }
  });
  return result;
}

function isEndpoint(value: unknown): value is MetadataEndpoint {
  return (
    isObject(value) && typeof value['location'] === 'string' && typeof value['protocol'] === 'string' && typeof value['usage'] === 'string'
  );
}

function certificateList(certificates: readonly X509Certificate[], name: string): readonly X509Certificate[] {
  if (!Array.isArray(certificates)) throw new TypeError(`${name} must be an array of X509Certificate.`);
  certificates.forEach((certificate: unknown, index) => {
    if (!(certificate instanceof X509Certificate)) throw new TypeError(`${name}[${index}] must be an X509Certificate.`);
  });
  return certificates;
}

/** Loads one `keys` entry; `undefined` for a well-formed entry that is not a signing key. */
function readKeyEntry(entry: unknown, where: string): SigningKey | undefined {
  if (!isObject(entry)) throw new MetadataError('metadata_shape', `${where} is not an object.`);
  scanForSecrets(entry, where);

  const usage = member(entry, 'usage', where);
  if (usage !== undefined && typeof usage !== 'string') throw new MetadataError('metadata_shape', `${where}.usage is not a string.`);
  if (usage === undefined || asciiLower(usage) !== 'signing') return undefined;

  const keyvalue = member(entry, 'keyvalue', where);
  if (!isObject(keyvalue)) throw new MetadataError('metadata_shape', `${where} has no keyvalue object.`);
  const type = member(keyvalue, 'type', where);
  if (typeof type !== 'string' || asciiLower(type) !== 'x509certificate') {
    throw new MetadataError('metadata_shape', `${where}.keyvalue.type is not x509Certificate.`);
  }
  const value = member(keyvalue, 'value', where);
  if (typeof value !== 'string') throw new MetadataError('metadata_shape', `${where}.keyvalue.value is not a string.`);
  const der = decodeBase64(value);
  if (der === undefined) {
    throw new MetadataError('metadata_certificate_invalid', `${where}.keyvalue.value is not standard base64.`);
  }
  const key = loadCertificate(der, where);

  const keyinfo = member(entry, 'keyinfo', where);
  if (keyinfo !== undefined) {
    if (!isObject(keyinfo)) throw new MetadataError('metadata_shape', `${where}.keyinfo is not an object.`);
    checkPublishedThumbprint(member(keyinfo, 'x5t', where), key.x5t, `${where}.keyinfo.x5t`);
    checkPublishedThumbprint(member(keyinfo, 'x5t#S256', where), key.x5tS256, `${where}.keyinfo.x5t#S256`);
  }
  return key;
}

function checkPublishedThumbprint(published: unknown, computed: string, where: string): void {
  if (published === undefined) return;
  if (typeof published !== 'string') throw new MetadataError('metadata_shape', `${where} is not a string.`);
  if (published !== computed) {
    throw new MetadataError('metadata_thumbprint_mismatch', `${where} does not match the thumbprint of the certificate.`);
  }
}

/**
 * Walks a key entry for private or symmetric key material, whatever its usage: a document that
 * publishes a secret is broken (or leaking) as a whole.
 */
function scanForSecrets(entry: Record<string, unknown>, where: string): void {
  let secret: 'private' | 'symmetric' | undefined;
  const pending: Array<[unknown, number]> = [[entry, 0]];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const [value, depth] = item;
    if (depth > MAX_ENTRY_DEPTH) throw new MetadataError('metadata_shape', `${where} is nested too deeply.`);
    if (typeof value === 'string') {
      if (value.includes('PRIVATE KEY')) secret = 'private';
    } else if (Array.isArray(value)) {
      for (const element of value as unknown[]) pending.push([element, depth + 1]);
    } else if (isObject(value)) {
      for (const [name, inner] of Object.entries(value)) {
        const lower = asciiLower(name);
        if (PRIVATE_MEMBERS.has(lower)) secret = 'private';
        else if (secret === undefined && SYMMETRIC_MEMBERS.has(lower)) secret = 'symmetric';
        else if (
          secret === undefined &&
          (lower === 'type' || lower === 'kty') &&
          typeof inner === 'string' &&
          SYMMETRIC_TYPES.has(asciiLower(inner))
        ) {
          secret = 'symmetric';
        }
        pending.push([inner, depth + 1]);
      }
    }
  }
  if (secret === 'private') throw new MetadataError('metadata_private_key', `${where} contains private key material.`);
  if (secret === 'symmetric') throw new MetadataError('metadata_symmetric_key', `${where} is a symmetric key.`);
}

/** Strict standard base64 (RFC 4648 section 4) with padding; `undefined` unless canonical. */
function decodeBase64(text: string): Buffer | undefined {
  if (text.length === 0 || !BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

function loadCertificate(der: Buffer, where: string): SigningKey {
  let certificate: X509Certificate | undefined;
  // X509Certificate would also take PEM text, and ignores bytes after the certificate: both would
  // let one document spell a certificate several ways, so only an exact DER SEQUENCE is accepted.
  if (der[0] === 0x30) {
    try {
      certificate = new X509Certificate(der);
    } catch {
      certificate = undefined;
    }
  }
  if (certificate === undefined || !certificate.raw.equals(der)) {
    if (isPrivateKeyDer(der)) throw new MetadataError('metadata_private_key', `${where} holds a private key.`);
    // Bytes that are not even an ASN.1 SEQUENCE (nor PEM text put there by mistake) are a raw secret.
    if (der[0] !== 0x30 && !der.subarray(0, 5).equals(PEM_DASHES)) {
      throw new MetadataError('metadata_symmetric_key', `${where} holds a secret, not a certificate.`);
    }
    throw new MetadataError('metadata_certificate_invalid', `${where} is not a DER X.509 certificate.`);
  }
  return checkCertificate(certificate, where);
}

/** PKCS#8 (plain or encrypted), PKCS#1, SEC1, a PKCS#12 container, or PEM text of a private key. */
function isPrivateKeyDer(der: Buffer): boolean {
  if (der.includes('PRIVATE KEY')) return true;
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ERR_MISSING_PASSPHRASE') return true;
    }
  }
  return isPkcs12(der);
}

/** PFX (RFC 7292 section 4): SEQUENCE { INTEGER 3 (version), SEQUENCE { pkcs7-data ... } ... }. */
function isPkcs12(der: Buffer): boolean {
  if (der.length < 2 || der[0] !== 0x30) return false;
  const lengthByte = der.readUInt8(1);
  const body = lengthByte < 0x80 ? 2 : 2 + (lengthByte & 0x7f);
  return der.subarray(body, body + 3).equals(PFX_VERSION);
}

/** Checks the key of a certificate and reads its validity period (checked separately). */
function checkCertificate(certificate: X509Certificate, where: string): SigningKey {
  const publicKey = certificate.publicKey;
  const bits = publicKey.asymmetricKeyDetails?.modulusLength;
  // protocol.md section 2: RSA, 2048 to 4096 bits, public exponent 65537 — the same rule the
  // issuer applies to its own certificate (larger moduli only make every verification slower).
  if (publicKey.asymmetricKeyType !== 'rsa' || bits === undefined || bits < 2048 || bits > 4096) {
    throw new MetadataError('metadata_weak_key', `${where} is not an RSA key of 2048 to 4096 bits.`);
  }
  if (publicKey.asymmetricKeyDetails?.publicExponent !== 65537n) {
    throw new MetadataError('metadata_weak_key', `${where} has an RSA public exponent other than 65537.`);
  }
  const notBefore = Date.parse(certificate.validFrom);
  const notAfter = Date.parse(certificate.validTo);
  if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) {
    throw new MetadataError('metadata_certificate_invalid', `${where} has an unreadable validity period.`);
  }
  return {
    x5t: x5t(certificate.raw),
    x5tS256: x5tS256(certificate.raw),
    certificate,
    publicKey,
    notBefore,
    notAfter,
  };
}

/** The `metadata_certificate_expired` error for a key outside its validity at `now`, if it is. */
function validityError(key: SigningKey, now: number, where: string): MetadataError | undefined {
  if (now >= key.notBefore && now <= key.notAfter) return undefined;
  const iso = (ms: number) => new Date(ms).toISOString();
  return new MetadataError(
    'metadata_certificate_expired',
    `${where} is valid from ${iso(key.notBefore)} to ${iso(key.notAfter)}, not at ${iso(now)}.`,
  );
}
