/**
 * The error of a failed token request to an STS: {@link StsTokenError} and its stable codes.
 */
import { S2SAuthError } from '@s2sauth/protocol';

/** Why getting a token from the STS failed; stable, for programs. */
export type StsTokenErrorCode =
  /** The STS answered with an error status; `error`/`errorDescription` hold its RFC 6749 section 5.2 answer when it sent one. */
  | 'sts_error'
  /** The STS answered 2xx, but not with a token response this server can use (see the message). */
  | 'invalid_response'
  /** The STS metadata could not be used: status, size, document, issuer, no token endpoint, or one on another origin. Nothing was sent to it. */
  | 'discovery_failed'
  /** The metadata advertises a token endpoint that is neither `https:` nor allowed loopback `http:`. Nothing was sent to it. */
  | 'insecure_url'
  /** The STS answered with a redirect, which is never followed. */
  | 'redirect'
  /** The STS did not answer within the deadline. */
  | 'timeout'
  /** The STS could not be reached. */
  | 'network';

/** Details of an {@link StsTokenError}. */
export interface StsTokenErrorDetails {
  /** The URL asked, without its query. */
  readonly endpoint: string;
  readonly status?: number;
  readonly error?: string;
  readonly errorDescription?: string;
  readonly cause?: unknown;
}

/**
 * Getting a token from the STS failed. The message says what happened in words a person can act on;
 * it never contains an assertion or a token. Map it to a 502 (`timeout` to 504) when it fails an
 * inbound request.
 */
export class StsTokenError extends S2SAuthError<StsTokenErrorCode> {
  /** The STS URL asked (token endpoint or metadata URL), without its query. */
  readonly endpoint: string;
  // `declare`: absent rather than `undefined` when not set.
  /** The STS's HTTP status, when it answered. */
  declare readonly status?: number;
  /** The RFC 6749 `error` code the STS sent (`invalid_client`, `invalid_scope`, `invalid_target`, ...). */
  declare readonly error?: string;
  /** The STS's `error_description`, cleaned (no control characters, nothing token-like, bounded). */
  declare readonly errorDescription?: string;

  constructor(code: StsTokenErrorCode, message: string, details: StsTokenErrorDetails) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.endpoint = details.endpoint;
    if (details.status !== undefined) this.status = details.status;
    if (details.error !== undefined) this.error = details.error;
    if (details.errorDescription !== undefined) this.errorDescription = details.errorDescription;
  }
}
