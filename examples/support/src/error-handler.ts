/**
 * The last stop of every request that failed: a JSON body `{"error", "message"}` with the right
 * status, and never a stack trace, an exception message or any internal state. What the client
 * did wrong (bad JSON, too large, wrong content) is a 4xx; anything else is a 500 that is logged
 * here with its details and answered with one fixed sentence.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { ApiError, invalidRequest } from './api-error.js';

/** body-parser's error types, as the answers they deserve. */
const BODY_ERRORS: Readonly<Record<string, ApiError>> = {
  'entity.parse.failed': new ApiError(400, 'invalid_json', 'The request body is not valid JSON.'),
  'entity.too.large': new ApiError(413, 'body_too_large', 'The request body is too large.'),
  'encoding.unsupported': new ApiError(415, 'unsupported_encoding', 'The request body\'s content encoding is not supported.'),
  'charset.unsupported': new ApiError(415, 'unsupported_charset', 'The request body\'s charset is not supported.'),
  'request.size.invalid': new ApiError(400, 'invalid_request', 'The request body does not match its Content-Length.'),
  'request.aborted': new ApiError(400, 'invalid_request', 'The request was aborted while its body was read.'),
  'parameters.too.many': new ApiError(413, 'body_too_large', 'The form has too many fields.'),
};

/**
 * The answer to a body-parser error (they carry `type` and `status`): the client's fault, never a
 * 500. A type not in the table with status 400 is still the client's: a generic 400.
 */
function bodyParserError(error: unknown): ApiError | undefined {
  if (typeof error !== 'object' || error === null || !('type' in error) || typeof error.type !== 'string') return undefined;
  if (Object.hasOwn(BODY_ERRORS, error.type)) return BODY_ERRORS[error.type];
  return 'status' in error && error.status === 400 ? invalidRequest('The request body could not be read.') : undefined;
}

/** `404` JSON for a route that does not exist. */
export function notFound(): RequestHandler {
  return (_req, res) => {
    res.status(404).json({ error: 'not_found', message: 'There is no such route.' });
  };
}

/**
 * The JSON error handler, to mount last: an {@link ApiError} or a body-parser error is answered as
 * it is; anything else is logged on `logger` with its details and answered with a fixed 500. Once
 * the headers are out, the error goes on to Express's final handler, which ends the connection.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    let answer = error instanceof ApiError ? error : bodyParserError(error);
    if (answer === undefined) {
      // Anything else is our fault: log what happened, tell the client nothing about it.
      logger.error({ err: error, method: req.method, path: req.path }, 'request failed');
      answer = new ApiError(500, 'internal_error', 'The server could not complete the request.');
    }
    res.status(answer.status).json(answer.toJSON());
  };
}
