/**
 * The error of a refused metadata document or certificate (docs/protocol.md section 4), with its stable
 * codes: thrown by the metadata parser and by `signingKeyFromCertificate`.
 */

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
export class MetadataError extends Error {
  readonly code: MetadataErrorCode;

  constructor(code: MetadataErrorCode, message: string) {
    super(message);
    this.name = 'MetadataError';
    this.code = code;
  }
}
