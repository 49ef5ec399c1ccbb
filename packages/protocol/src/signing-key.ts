/**
 * A partner's signing key from one certificate: the checks every certificate of a metadata
 * document or a registration passes (DER X.509 only, never a private key or a secret, RSA 2048 to
 * 4096 bits with exponent 65537, readable validity), the strict base64 and PEM forms it may come
 * in, and its validity at a given time.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { MetadataError } from './metadata-error.js';
import { x5t, x5tS256 } from './thumbprint.js';

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

const PEM_CERTIFICATE = /^-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE-----$/;
const PEM_DASHES = Buffer.from('-----');
const PFX_VERSION = Buffer.from([0x02, 0x01, 0x03]);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** The largest time a `Date` can hold (ECMA-262 section 21.4.1.22). */
const MAX_DATE_MS = 8.64e15;

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

/** Throws `TypeError` unless `now` is a time a `Date` can hold; `name` says which argument. */
export function checkTime(now: number, name: string): void {
  // A NaN time would make every validity comparison false, i.e. every certificate valid.
  if (typeof now !== 'number' || !(Math.abs(now) <= MAX_DATE_MS)) {
    throw new TypeError(`${name} must be a time in milliseconds since the epoch.`);
  }
}

/** Strict standard base64 (RFC 4648 section 4) with padding; `undefined` unless canonical. */
export function decodeBase64(text: string): Buffer | undefined {
  if (text.length === 0 || !BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/** The signing key of the DER certificate `der`; `MetadataError` for anything else (`where` names it). */
export function loadCertificate(der: Buffer, where: string): SigningKey {
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
export function validityError(key: SigningKey, now: number, where: string): MetadataError | undefined {
  if (now >= key.notBefore && now <= key.notAfter) return undefined;
  const iso = (ms: number) => new Date(ms).toISOString();
  return new MetadataError(
    'metadata_certificate_expired',
    `${where} is valid from ${iso(key.notBefore)} to ${iso(key.notAfter)}, not at ${iso(now)}.`,
  );
}
