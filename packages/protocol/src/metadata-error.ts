/**
 * The error of a refused metadata document or certificate (docs/protocol.md section 4), with its stable
 * codes: thrown by the metadata parser and by `signingKeyFromCertificate`.
 */
import { S2SAuthError } from './error-root.js';

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
