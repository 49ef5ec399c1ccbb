/**
 * The error of a failed call to a partner application: {@link S2SClientError} and its stable codes.
 */
import { S2SAuthError, type BearerChallenge } from '@s2sauth/protocol';

/** Why a call failed; stable, for programs. */
export type S2SClientErrorCode =
  /** The URL is not `https:` (nor `http:` to loopback when allowed). Nothing was sent. */
  | 'insecure_url'
  /** The path resolves outside the partner's origin, or carries credentials. Nothing was sent. */
  | 'invalid_url'
  /** The partner's challenge names another application (`client_id`). */
  | 'wrong_principal'
  /** The partner's `trusted_issuers` does not cover this server's issuer id. */
  | 'not_trusted'
  /** The partner is in another realm than this server's issuer. */
  | 'realm_mismatch'
  /** Realm discovery got no usable Bearer challenge. */
  | 'discovery_failed'
  /** The partner refused the token (401), after one retry with a new token where possible. */
  | 'unauthorized'
  /** `json()` got a status other than 2xx. */
  | 'status'
  /** The partner answered with a redirect, which is never followed. */
  | 'redirect'
  /** The deadline passed. */
  | 'timeout'
  /** The caller's signal aborted the call. */
  | 'aborted'
  /** The partner could not be reached, or the connection failed. */
  | 'network'
  /** `json()` got a body that is not JSON. */
  | 'invalid_json';

/** Details of an {@link S2SClientError}. */
export interface S2SClientErrorDetails {
  /** The partner's origin. */
  readonly target: string;
  /** The partner's HTTP status, when it answered. */
  readonly status?: number;
  /** The partner's Bearer challenge, when it sent one. */
  readonly challenge?: BearerChallenge;
  readonly cause?: unknown;
}

/**
 * A call to a partner failed. `message` says what happened in words a person can act on (it names
 * the partner and this server's issuer id where that helps); it never contains a token. Map
 * `code` to a response: e.g. `timeout` to 504, the others to 502.
 */
export class S2SClientError extends S2SAuthError<S2SClientErrorCode> {
  /** The partner's origin, `scheme://host[:port]`. */
  readonly target: string;
  // `declare`: absent rather than `undefined` when not set, so logged errors show only what happened.
  /** The partner's HTTP status, when it answered. */
  declare readonly status?: number;
  /** The partner's Bearer challenge (`error`, `error_description`, `realm`, ...), when it sent one. */
  declare readonly challenge?: BearerChallenge;

  constructor(code: S2SClientErrorCode, message: string, details: S2SClientErrorDetails) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.target = details.target;
    if (details.status !== undefined) this.status = details.status;
    if (details.challenge !== undefined) this.challenge = details.challenge;
  }
}
