/**
 * RS256 signing in the JWS Compact Serialization (RFC 7515 sections 3.1 and 7.1; RS256 is
 * RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 section 3.3), the only algorithm protocol.md section 2
 * allows.
 *
 * Signing always goes through a `KeyObject`: parsing a PEM per token would cost more than the
 * JSON and base64url work of the token itself. A token issuer signs many tokens under one header
 * (the header only changes with the certificate), so `Rs256Signer` encodes that header once and
 * per token only serializes and encodes the payload.
 */
import { KeyObject, sign } from 'node:crypto';

/** The smallest RSA modulus protocol.md section 2 allows, in bits. */
const MIN_MODULUS_BITS = 2048;

/** Throws a `TypeError` unless `key` is a private RSA (RSASSA-PKCS1-v1_5) key of at least 2048 bits. */
function assertRsaPrivateKey(key: unknown, name: string): asserts key is KeyObject {
  if (!(key instanceof KeyObject) || key.type !== 'private') {
    throw new TypeError(`${name} must be a private KeyObject (crypto.createPrivateKey).`);
  }
  // 'rsa-pss' keys are refused: they cannot produce RS256 (PKCS#1 v1.5) signatures.
  if (key.asymmetricKeyType !== 'rsa') {
    throw new TypeError(`${name} must be an RSA key; RS256 is the only signing algorithm.`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_MODULUS_BITS) {
    throw new TypeError(`${name} must be an RSA key of at least ${MIN_MODULUS_BITS} bits.`);
  }
}

function payloadBytes(payload: string | Uint8Array): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

/** Signs `<header>.<payload>` (both already base64url) and appends the signature segment. */
function signSegments(signingInput: string, key: KeyObject): string {
  // crypto.sign with an 'rsa' KeyObject and no padding option is RSASSA-PKCS1-v1_5.
  return `${signingInput}.${sign('sha256', Buffer.from(signingInput), key).toString('base64url')}`;
}

/** {@link signSegments} on libuv's thread pool (node:crypto with a callback): the event loop goes on meanwhile. */
function signSegmentsAsync(signingInput: string, key: KeyObject): Promise<string> {
  return new Promise((resolve, reject) => {
    sign('sha256', Buffer.from(signingInput), key, (error, signature) => {
      if (error !== null) reject(error);
      else resolve(`${signingInput}.${signature.toString('base64url')}`);
    });
  });
}

/**
 * Signs one JWS with RS256 and returns its compact serialization `<header>.<payload>.<signature>`
 * (RFC 7515 section 7.1).
 *
 * `protectedHeader` is the header's JSON text and is encoded exactly as given (byte for byte), so
 * the caller fixes the member order; it must be a JSON object whose `alg` is `"RS256"`.
 * `payload` is the payload's bytes (a string is encoded as UTF-8); for a JWT that is the claims'
 * JSON text, but any content may be signed (RFC 7515 section 3).
 *
 * For many tokens under one header prefer {@link Rs256Signer}, which encodes the header once.
 *
 * @throws TypeError when the header is not a JSON object with `alg` `"RS256"`, or the key is not a
 *   private RSA key of at least 2048 bits.
 */
export function signCompactJws(protectedHeader: string, payload: string | Uint8Array, privateKey: KeyObject): string {
  assertRsaPrivateKey(privateKey, 'privateKey');
  let header: unknown;
  try {
    header = JSON.parse(protectedHeader);
  } catch {
    throw new TypeError('protectedHeader must be JSON text.');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header) || (header as { alg?: unknown }).alg !== 'RS256') {
    throw new TypeError('protectedHeader must be a JSON object with "alg":"RS256".');
  }
  const headerSegment = Buffer.from(protectedHeader, 'utf8').toString('base64url');
  return signSegments(`${headerSegment}.${payloadBytes(payload).toString('base64url')}`, privateKey);
}

/**
 * A reusable RS256 signer for one key and one JOSE header.
 *
 * The header is serialized with `JSON.stringify` (member order as given) and base64url-encoded
 * once, at construction; each {@link Rs256Signer.sign} call only serializes and encodes the
 * payload and computes the signature. Create a new signer when the key or header changes (a token
 * issuer keeps one per OAuth certificate).
 */
export class Rs256Signer {
  /** The base64url header segment every token from this signer starts with. */
  readonly headerSegment: string;
  /** The header as given (frozen copy). */
  readonly header: Readonly<Record<string, unknown>>;
  readonly #key: KeyObject;
  readonly #prefix: string;

  /**
   * @param privateKey a private RSA `KeyObject` of at least 2048 bits.
   * @param header the JOSE header; `alg` must be `"RS256"`. Member order is kept.
   * @throws TypeError for any other key or header.
   */
  constructor(privateKey: KeyObject, header: Readonly<Record<string, unknown>>) {
    assertRsaPrivateKey(privateKey, 'privateKey');
    if (typeof header !== 'object' || header === null || Array.isArray(header) || header['alg'] !== 'RS256') {
      throw new TypeError('header must be an object with alg "RS256".');
    }
    this.header = Object.freeze({ ...header });
    this.headerSegment = Buffer.from(JSON.stringify(this.header), 'utf8').toString('base64url');
    this.#prefix = `${this.headerSegment}.`;
    this.#key = privateKey;
  }

  /**
   * Signs a JWT: `claims` is serialized with `JSON.stringify` (member order as given) and signed.
   * Values must be JSON-representable; the caller validates them (a non-finite number would
   * become `null`).
   */
  sign(claims: Readonly<Record<string, unknown>>): string {
    return signSegments(this.#prefix + Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url'), this.#key);
  }

  /**
   * {@link Rs256Signer.sign}, with the RSA operation on libuv's thread pool instead of the calling
   * thread: for a server that signs per request (the STS), so that a signature (about 0.4 ms for
   * 2048 bits) does not hold up the other requests, and a second core can share the work.
   */
  signAsync(claims: Readonly<Record<string, unknown>>): Promise<string> {
    return signSegmentsAsync(this.#prefix + Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url'), this.#key);
  }

  /** Signs arbitrary payload bytes (a string is encoded as UTF-8) under this signer's header. */
  signPayload(payload: string | Uint8Array): string {
    return signSegments(this.#prefix + payloadBytes(payload).toString('base64url'), this.#key);
  }
}
