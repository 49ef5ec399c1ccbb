/**
 * The last stop of every request that failed, for the Lync and Exchange servers and the STS: a
 * JSON body `{"error", "message"}` with the right status, and never a stack trace, an exception
 * message or any internal state. The rule is general, not a list of cases:
 *
 * - an {@link ApiError} is answered as it is;
 * - a storage fault (disk full, I/O error, read-only file) is 503 `storage_unavailable`, logged
 *   once per outage (storage-health.ts);
 * - any other error that carries a 4xx `status` or `statusCode` (body-parser, zlib through
 *   body-parser, the router's `URIError`, Passport, http-errors) is the client's: that status, a
 *   code and a fixed sentence chosen here;
 * - anything else is a 500 logged here with its details and answered with one fixed sentence.
 */
import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { ApiError, invalidRequest } from './api-error.js';
import { isStorageFault, storageUnavailable, type StorageHealth } from './storage-health.js';

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

/** The code and sentence of a 4xx that has no more specific answer. */
const CLIENT_STATUS: Readonly<Record<number, readonly [code: string, message: string]>> = {
  400: ['invalid_request', 'The request is malformed.'],
  401: ['unauthorized', 'The request needs credentials.'],
  403: ['forbidden', 'The request is not allowed.'],
  404: ['not_found', 'There is no such route.'],
  405: ['method_not_allowed', 'The method is not allowed here.'],
  408: ['request_timeout', 'The request took too long to arrive.'],
  411: ['length_required', 'The request body needs a Content-Length.'],
  413: ['body_too_large', 'The request body is too large.'],
  414: ['uri_too_long', 'The request URL is too long.'],
  415: ['unsupported_media_type', 'The request body\'s type or encoding is not supported.'],
  429: ['too_many_requests', 'Too many requests; try again later.'],
  431: ['header_too_large', 'The request\'s header fields are too large.'],
};

/** zlib's and brotli's error codes, as body-parser passes them on with status 400. */
const DECOMPRESSION_CODE = /^(Z_|ERR__ERROR_|ERR_BROTLI)/;

/** A number 400-499 in the error's `status` or `statusCode` (the conventions of http-errors and Node). */
function clientStatus(error: object): number | undefined {
  for (const name of ['status', 'statusCode'] as const) {
    const value: unknown = (error as Record<string, unknown>)[name];
    if (typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 499) return value;
  }
  return undefined;
}

/** The answer for a bare 4xx status: the table's, or one made from Node's reason phrase. */
export function clientErrorFor(status: number): ApiError {
  const known = CLIENT_STATUS[status];
  if (known !== undefined) return new ApiError(status, known[0], known[1]);
  const phrase = STATUS_CODES[status] ?? 'Client Error';
  return new ApiError(status, phrase.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, ''), `The request was refused: ${phrase}.`);
}

/** The client's fault, as an answer; undefined for anything that is not. */
function clientError(error: unknown): ApiError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const type = 'type' in error && typeof error.type === 'string' ? error.type : undefined;
  if (type !== undefined && Object.hasOwn(BODY_ERRORS, type)) return BODY_ERRORS[type];
  const status = clientStatus(error);
  if (status === undefined) return undefined;
  if (error instanceof URIError) return invalidRequest('The request URL has a malformed percent-encoding.');
  if ('code' in error && typeof error.code === 'string' && DECOMPRESSION_CODE.test(error.code)) {
    return new ApiError(status, 'invalid_body_encoding', 'The request body is not encoded as its Content-Encoding header says.');
  }
  if (type !== undefined && status === 400) return invalidRequest('The request body could not be read.');
  return clientErrorFor(status);
}

/** `404` JSON for a route that does not exist. */
export function notFound(): RequestHandler {
  return (_req, res) => {
    res.status(404).json({ error: 'not_found', message: 'There is no such route.' });
  };
}

/** Options of {@link errorHandler}. */
export interface ErrorHandlerOptions {
  /** Records storage faults for `/healthz` and logs each outage once; without it, every fault is logged. */
  readonly storage?: StorageHealth;
}

/**
 * The JSON error handler, to mount last (see the file comment for the rule). Once the headers
 * are out, the error goes on to Express's final handler, which ends the connection.
 */
export function errorHandler(logger: Logger, options: ErrorHandlerOptions = {}): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    let answer = error instanceof ApiError ? error : clientError(error);
    if (answer === undefined && isStorageFault(error)) {
      if (options.storage !== undefined) {
        answer = options.storage.fault(error);
      } else {
        logger.error({ err: error, method: req.method, path: req.path }, 'storage unavailable');
        answer = storageUnavailable(error);
      }
    }
    if (answer === undefined) {
      // Anything else is our fault: log what happened, tell the client nothing about it.
      logger.error({ err: error, method: req.method, path: req.path }, 'request failed');
      answer = new ApiError(500, 'internal_error', 'The server could not complete the request.');
    }
    res.status(answer.status).json(answer.toJSON());
  };
}
