/**
 * The JSON errors Lync's routes answer with (`{"error": "<code>", "message": "<sentence>"}`), and
 * the last error handler, which turns everything else into such an answer without a stack trace.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';

/** An error a route answers with as it is: its status, a stable code and a sentence for a person. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** 400 `invalid_request` naming what is wrong with the input. */
export function invalidInput(message: string): ApiError {
  return new ApiError(400, 'invalid_request', message);
}

/** Answers every unmatched route with 404 JSON. */
export function notFound(): RequestHandler {
  return (_req, res) => {
    res.status(404).json({ error: 'not_found', message: 'There is no such resource.' });
  };
}

/** body-parser's errors carry `type` and `status`; they are the client's, never a 500. */
function bodyParserError(error: unknown): ApiError | undefined {
  if (typeof error !== 'object' || error === null || !('type' in error) || typeof error.type !== 'string') return undefined;
  switch (error.type) {
    case 'entity.parse.failed':
      return invalidInput('The request body is not valid JSON.');
    case 'entity.too.large':
      return new ApiError(413, 'too_large', 'The request body is too large.');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new ApiError(415, 'unsupported_media_type', 'The request body encoding is not supported.');
    default:
      return 'status' in error && error.status === 400 ? invalidInput('The request body could not be read.') : undefined;
  }
}

/**
 * The last error handler: an {@link ApiError} or a body-parser error is answered as it is, anything
 * else is logged and answered with a bare 500 (no message, no stack).
 */
export function apiErrorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const known = error instanceof ApiError ? error : bodyParserError(error);
    if (known !== undefined) {
      res.status(known.status).json({ error: known.code, message: known.message });
      return;
    }
    logger.error({ err: error, method: req.method, path: req.path }, 'unexpected error in a route');
    res.status(500).json({ error: 'internal_error', message: 'Something went wrong on the server.' });
  };
}
