/**
 * Certificate thumbprints as JOSE names them (RFC 7515 sections 4.1.7 and 4.1.8): base64url,
 * no padding, of the SHA-1 (`x5t`) or SHA-256 (`x5t#S256`) digest of the certificate's DER.
 * Thumbprints are always computed from the certificate, never taken from a document or a token.
 */
import { createHash } from 'node:crypto';

/** `x5t`: base64url of SHA-1 over the certificate's DER bytes. */
export function x5t(der: Uint8Array): string {
  return createHash('sha1').update(der).digest('base64url');
}

/** `x5t#S256`: base64url of SHA-256 over the certificate's DER bytes. */
export function x5tS256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}
