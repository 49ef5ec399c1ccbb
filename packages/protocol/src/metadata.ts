/**
 * Metadata documents of protocol.md section 4: the shape of the Microsoft `/metadata/json/1`
 * document, and the parser a verifier uses to load a partner's signing keys from one
 * (docs/protocol.md section 4).
 *
 * The parser is lenient in form, because Exchange, SharePoint and ACS disagree on member-name
 * casing, and strict in content: a document that carries anything a signing-key document must not
 * (private or symmetric keys, weak keys, expired certificates, thumbprints that do not match) is
 * refused as a whole, so a misconfigured partner is noticed rather than half-trusted.
 *
 * Building the documents is in `metadata-build`, loading one certificate as a signing key in
 * `signing-key`, the error in `metadata-error`.
 */
import { checkTime, decodeBase64, loadCertificate, validityError, type SigningKey } from './signing-key.js';
import { MetadataError } from './metadata-error.js';

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

/** Default `maxBytes` of `parseMetadataDocument`. */
export const MAX_METADATA_BYTES = 262_144;
/** Default `maxKeys` of `parseMetadataDocument`. */
export const MAX_METADATA_KEYS = 20;

/** Member names that only private keys have: RSA/EC JWK private parts, and key containers. */
const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'privatekey', 'private_key', 'pfx', 'pkcs12', 'p12']);
/** Member names and type values that denote a shared secret (JWK `oct`, WS-Trust `BinarySecret`). */
const SYMMETRIC_MEMBERS = new Set(['k', 'symmetrickey', 'binarysecret', 'secret']);
const SYMMETRIC_TYPES = new Set(['symmetric', 'symmetrickey', 'binarysecret', 'oct']);
/** No legitimate key entry nests deeper than `keyvalue.value`; the cap bounds the scan. */
const MAX_ENTRY_DEPTH = 8;

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
