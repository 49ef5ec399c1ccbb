/**
 * Errors of protocol.md section 7, as RFC 6750 (section 3.1) defines them for bearer tokens.
 *
 * Every failure has a stable `code` (for programs and the audit log), a failure class that fixes
 * the HTTP status, the RFC 6750 `error`, one fixed `description` sentence and the optional
 * Exchange-style `x-ms-diagnostics` entry, and a free-text `reason` that says precisely what was
 * wrong. The reason is for the audit log only: it is never sent to the caller, and it never
 * contains token text or key material.
 */
import { buildChallenge, type ChallengeParams } from './challenge.js';
import { S2SAuthError } from './error-root.js';

/** The `error` values of RFC 6750 section 3.1. */
export type BearerErrorName = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

/** The failure classes: each has one status, one `error`, one fixed description. */
export type FailureClass =
  | 'request'
  | 'malformed'
  | 'signature'
  | 'lifetime'
  | 'audience'
  | 'realm'
  | 'trust'
  | 'user'
  | 'scope'
  | 'unavailable'
  | 'failed';

/** An Exchange diagnostic (`x-ms-diagnostics: <code>;reason="...";error_category="..."`). */
export interface Diagnostic {
  readonly code: number;
  readonly reason: string;
  readonly category: string;
}

interface ClassInfo {
  readonly status: 400 | 401 | 403 | 503;
  readonly error: BearerErrorName | undefined;
  readonly description: string;
  readonly diagnostic?: Diagnostic;
}

const CLASSES: Readonly<Record<FailureClass, ClassInfo>> = {
  request: {
    status: 400,
    error: 'invalid_request',
    description: 'The request must carry exactly one bearer token, in the Authorization header.',
  },
  malformed: { status: 401, error: 'invalid_token', description: 'The access token is malformed.' },
  signature: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token has an invalid signature.',
    diagnostic: { code: 2000000, reason: 'The token has an invalid signature.', category: 'invalid_signature' },
  },
  lifetime: { status: 401, error: 'invalid_token', description: 'The access token is expired or not yet valid.' },
  audience: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is not meant for this resource.',
    diagnostic: { code: 2000003, reason: 'The audience claim value is invalid.', category: 'invalid_resource' },
  },
  realm: {
    status: 401,
    error: 'invalid_token',
    description: 'The access token is not meant for this realm.',
    diagnostic: { code: 2000004, reason: 'The realm of the token is not served here.', category: 'invalid_tenant' },
  },
  trust: { status: 401, error: 'invalid_token', description: 'The access token was not issued by a trusted application for this call.' },
  user: {
    status: 401,
    error: 'invalid_token',
    description: 'The user context of the access token is invalid.',
    diagnostic: { code: 2000005, reason: 'The user context in the token is invalid.', category: 'invalid_user' },
  },
  scope: { status: 403, error: 'insufficient_scope', description: 'The access token does not grant the scope this resource requires.' },
  unavailable: { status: 503, error: undefined, description: "The signing keys of the token's issuer are temporarily unavailable." },
  failed: { status: 401, error: 'invalid_token', description: 'The access token could not be verified.' },
};

/**
 * Codes whose cause the caller can only fix by knowing it, with their own description instead of
 * their class's: a header over the size limit is not "more than one token".
 */
const CODE_DESCRIPTIONS: Readonly<Partial<Record<string, string>>> = {
  header_too_large: 'The Authorization header is too large: at most 8192 characters.',
};

/**
 * Every stable failure code and its class. Codes never change meaning; new ones may be added.
 */
export const FAILURE_CODES = {
  // 400: the request itself (protocol.md 3.3 step 1)
  multiple_credentials: 'request',
  token_in_query: 'request',
  token_in_body: 'request',
  malformed_authorization: 'request',
  header_too_large: 'request',
  // 401: the token's syntax (3.3 step 2)
  token_too_large: 'malformed',
  token_segments: 'malformed',
  token_base64url: 'malformed',
  token_utf8: 'malformed',
  token_json: 'malformed',
  token_not_object: 'malformed',
  token_duplicate_member: 'malformed',
  token_forbidden_header: 'malformed',
  token_unsupported_alg: 'malformed',
  token_key_id_mismatch: 'malformed',
  token_x5c_not_allowed: 'malformed',
  claim_missing: 'malformed',
  claim_type: 'malformed',
  actor_user_claims: 'malformed',
  // 401: keys and signatures
  key_unknown: 'signature',
  signature_invalid: 'signature',
  outer_signature_invalid: 'signature',
  outer_unsigned: 'signature',
  cnf_mismatch: 'signature',
  // 401: lifetime
  token_expired: 'lifetime',
  token_not_yet_valid: 'lifetime',
  token_issued_in_future: 'lifetime',
  token_lifetime_too_long: 'lifetime',
  outer_window: 'lifetime',
  // 401: audience and realm
  audience_invalid: 'audience',
  realm_invalid: 'realm',
  // 401: who issued it and what that issuer may do
  issuer_unknown: 'trust',
  issuer_invalid: 'trust',
  partner_disabled: 'trust',
  nameid_invalid: 'trust',
  trust_level: 'trust',
  delegation_not_allowed: 'trust',
  outer_binding: 'trust',
  // 401: the user
  user_invalid: 'user',
  // 403
  scope_insufficient: 'scope',
  // 503
  keys_unavailable: 'unavailable',
  // 401: verification could not be completed (a bug or a failing store); fails closed
  verification_failed: 'failed',
} as const satisfies Record<string, FailureClass>;

/** A stable failure code. */
export type FailureCode = keyof typeof FAILURE_CODES;

/** The headers an error response carries; values are ready to send. */
export interface ErrorHeaders {
  'WWW-Authenticate'?: string;
  'x-ms-diagnostics'?: string;
  'Retry-After'?: string;
}

/** Base class of every bearer-token failure. Use `bearerError` to create one. */
export class BearerError extends S2SAuthError<FailureCode> {
  /** The failure class the code belongs to. */
  readonly failureClass: FailureClass;
  /** HTTP status: 400, 401, 403 or 503. */
  readonly status: 400 | 401 | 403 | 503;
  /** RFC 6750 `error`, absent for 503. */
  readonly error: BearerErrorName | undefined;
  /** The fixed sentence sent as `error_description`: the class's, or the code's own for `header_too_large`. */
  readonly description: string;
  /** Precisely what was wrong, for the audit log only; never sent to the caller. */
  readonly reason: string;
  /** The Exchange diagnostic for this class, if one fits. */
  readonly diagnostic: Diagnostic | undefined;

  constructor(code: FailureCode, reason: string) {
    const failureClass = FAILURE_CODES[code];
    const info = CLASSES[failureClass];
    const description = CODE_DESCRIPTIONS[code] ?? info.description;
    super(code, description);
    this.failureClass = failureClass;
    this.status = info.status;
    this.error = info.error;
    this.description = description;
    this.reason = reason;
    this.diagnostic = info.diagnostic;
  }

  /**
   * The response headers for this failure: the `WWW-Authenticate` challenge built from the
   * server's own parameters plus `error` and `error_description`, and `x-ms-diagnostics` where one
   * fits.
   */
  headers(challenge: ChallengeParams): ErrorHeaders {
    const headers: ErrorHeaders = {
      'WWW-Authenticate': buildChallenge({
        ...challenge,
        ...(this.error ? { error: this.error, errorDescription: this.description } : {}),
      }),
    };
    if (this.diagnostic) {
      const d = this.diagnostic;
      headers['x-ms-diagnostics'] = `${d.code};reason="${d.reason}";error_category="${d.category}"`;
    }
    return headers;
  }
}

/** 400 `invalid_request`: the request is malformed (two credentials, a token in the query or body). */
export class InvalidRequestError extends BearerError {}

/** 401 `invalid_token`: anything wrong with the token or its issuer. */
export class InvalidTokenError extends BearerError {}

/** 403 `insufficient_scope`: a valid token that does not grant what the route needs. */
export class InsufficientScopeError extends BearerError {
  /** The scope(s) the route needs, space-separated, sent as the challenge's `scope`. */
  readonly scope: string;

  constructor(scope: string, reason: string) {
    super('scope_insufficient', reason);
    this.scope = scope;
  }

  override headers(challenge: ChallengeParams): ErrorHeaders {
    return super.headers({ ...challenge, scope: this.scope });
  }
}

/** 503: a known issuer's keys are unavailable (metadata down past its staleness bound). */
export class KeysUnavailableError extends BearerError {
  /** Seconds after which the caller may retry. */
  readonly retryAfter: number;

  constructor(reason: string, retryAfter = 30) {
    super('keys_unavailable', reason);
    this.retryAfter = retryAfter;
  }

  override headers(challenge: ChallengeParams): ErrorHeaders {
    return { ...super.headers(challenge), 'Retry-After': String(this.retryAfter) };
  }
}

/**
 * Creates the right error class for a failure code (for `scope_insufficient` and
 * `keys_unavailable` prefer their own constructors, which take the scope or retry delay).
 */
export function bearerError(code: FailureCode, reason: string): BearerError {
  switch (FAILURE_CODES[code]) {
    case 'request':
      return new InvalidRequestError(code, reason);
    case 'scope':
      return new InsufficientScopeError('', reason);
    case 'unavailable':
      return new KeysUnavailableError(reason);
    default:
      return new InvalidTokenError(code, reason);
  }
}
