/**
 * How the STS token endpoint says no (RFC 6749 section 5.2): its error codes, one fixed sentence
 * and status per code, the internal {@link Rejection} a check throws, and the `no-store` JSON
 * answer.
 */
import type { Response } from 'express';
import type { StsAuditEvent } from './sts-router-options.js';

/** The RFC 6749 section 5.2 error codes the token endpoint answers with, plus `invalid_target` (RFC 8707). */
export type StsErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'server_error'
  | 'temporarily_unavailable';

/** One fixed sentence per error (protocol.md section 7: never an echo of the request). */
const ERROR_DESCRIPTIONS: Readonly<Record<StsErrorCode, string>> = {
  invalid_request: 'The token request is malformed.',
  invalid_client: 'Client authentication failed.',
  invalid_grant: 'The grant is invalid.',
  unauthorized_client: 'The client is not authorized for this request.',
  unsupported_grant_type: 'Only the client_credentials grant type is supported.',
  invalid_scope: 'The requested scope is invalid or exceeds what the client is granted.',
  invalid_target: 'The requested resource is not known to this authorization server.',
  server_error: 'The authorization server could not issue a token.',
  temporarily_unavailable: 'The authorization server cannot issue tokens right now; try again later.',
};

/** The HTTP status of each error (RFC 6749 section 5.2: 400, 401 for `invalid_client`; 500, 503). */
export const ERROR_STATUS: Readonly<Record<StsErrorCode, number>> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  server_error: 500,
  temporarily_unavailable: 503,
};

/** A rejection on its way to the response. */
export class Rejection extends Error {
  constructor(
    readonly error: StsErrorCode,
    readonly reason: string,
    readonly context: Partial<Pick<StsAuditEvent, 'clientId' | 'resource' | 'assertionId' | 'delegation'>> = {},
  ) {
    super(reason);
  }
}

/** Stops the request with `error`; `reason` and `context` go to the audit log only. */
export function reject(error: StsErrorCode, reason: string, context?: Rejection['context']): never {
  throw new Rejection(error, reason, context);
}

/**
 * Sends a token endpoint answer (RFC 6749 section 5.1: `no-store`, `no-cache`): JSON, written
 * directly rather than through `res.send`, which would compute an ETag nobody may use.
 */
export function sendNoStoreJson(res: Response, status: number, body: Readonly<Record<string, unknown>>): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** Answers `error` with its status, fixed description and `message`. */
export function sendError(res: Response, error: StsErrorCode): void {
  // `message` repeats the description: every error body of the demo servers has `error` and `message`.
  sendNoStoreJson(res, ERROR_STATUS[error], { error, error_description: ERROR_DESCRIPTIONS[error], message: ERROR_DESCRIPTIONS[error] });
}
