/**
 * An error a route answers with: an HTTP status and a JSON body `{"error": <code>, "message": <text>}`
 * that a program can branch on (`error`) and a person can read (`message`). The message is always
 * written by this server, never an echo of a stack trace or of internal state.
 */
export class ApiError extends Error {
  /** HTTP status, 4xx or 5xx. */
  readonly status: number;
  /** Stable machine-readable code, e.g. `invalid_request`, `not_found`. */
  readonly code: string;

  /**
   * @param status HTTP status, 4xx or 5xx.
   * @param code Stable machine-readable code.
   * @param message A sentence for a person; sent as it is.
   * @param options `cause`: what went wrong underneath, for the log only (never sent).
   */
  constructor(status: number, code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }

  /** The response body. */
  toJSON(): { error: string; message: string } {
    return { error: this.code, message: this.message };
  }
}

/** A 400 `invalid_request` naming what is wrong with the request body or parameters. */
export function invalidRequest(message: string): ApiError {
  return new ApiError(400, 'invalid_request', message);
}
