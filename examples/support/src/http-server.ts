/**
 * What the demo servers (Lync, Exchange, the STS) do before Express sees a request, so that every
 * request Node accepts gets a JSON answer of the same shape `{"error", "message"}`:
 *
 * - {@link requestTarget}: the request-target forms of RFC 9112 section 3.2 other than a path.
 *   The absolute form (`GET http://host/path`, which a server must accept) is rewritten to the
 *   path; `OPTIONS *` is answered 200 with `Allow` and no body; `*` with another method, or
 *   anything else that is not a path, is 400 `invalid_request`;
 * - {@link answerClientErrors}: what Node refuses before there is a request, which it otherwise
 *   answers with a bare status line (a 100 KB header is a bare 431): the same status with a JSON
 *   body, then the connection is closed. `CONNECT` (Node closes the connection without a word when
 *   nobody listens for it) is answered 405.
 */
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RequestHandler } from 'express';
import { clientErrorFor } from './error-handler.js';

/** The methods the demo servers route. */
const ALLOWED = 'GET, HEAD, POST, PUT, DELETE, OPTIONS';

function badTarget(res: Parameters<RequestHandler>[1], message: string): void {
  res.status(400).json({ error: 'invalid_request', message });
}

/** Express middleware to mount first on a server's application; see the file comment. */
export function requestTarget(): RequestHandler {
  return (req, res, next) => {
    const target = req.url;
    if (target.startsWith('/')) {
      next();
      return;
    }
    if (target === '*') {
      if (req.method !== 'OPTIONS') {
        badTarget(res, 'The request target "*" is only for OPTIONS.');
        return;
      }
      res.setHeader('Allow', ALLOWED);
      res.setHeader('Content-Length', '0');
      res.status(200).end();
      return;
    }
    let url: URL | undefined;
    try {
      url = new URL(target);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
      badTarget(res, 'The request target must be a path that starts with "/", or an absolute http URL.');
      return;
    }
    // RFC 9112 section 3.2.2: the target's authority replaces the Host header.
    const path = `${url.pathname}${url.search}`;
    req.url = path;
    req.originalUrl = path;
    req.headers.host = url.host;
    next();
  };
}

/** Node's parser error codes, as the status Node itself would answer them with. */
function statusOf(code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    default:
      return 400;
  }
}

/** What a refusal written on the socket says; its `error` code is the error handler's for the status. */
const MESSAGES: Readonly<Record<number, string>> = {
  400: 'The request is not valid HTTP/1.1.',
  405: 'CONNECT is not supported: this is not a proxy.',
  408: 'The request took too long to arrive.',
  413: 'The request body\'s chunk extensions are too large.',
  431: 'The request\'s header fields are too large: at most 16 KiB in all.',
};

/** A whole HTTP/1.1 response with a JSON error body and `Connection: close`. */
export function rawJsonResponse(status: number): string {
  const body = JSON.stringify({ error: clientErrorFor(status).code, message: MESSAGES[status] ?? MESSAGES[400] });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\n' +
    'Connection: close\r\n\r\n' +
    body
  );
}

/** The part of Node's socket the default `clientError` handler looks at: the response in flight, if any. */
interface HttpSocket extends Duplex {
  readonly _httpMessage?: { readonly headersSent?: boolean } | null;
}

/**
 * Answers what Node refuses before Express (see the file comment) on `server`. Like Node's own
 * handler, nothing is written when a response is already under way on the connection (that would
 * corrupt it): the connection is only closed.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: HttpSocket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    if (socket._httpMessage?.headersSent === true) {
      socket.destroy();
      return;
    }
    // As Node does: the answer, then the connection goes (what the client still sends is not read).
    socket.end(rawJsonResponse(statusOf(error.code)), () => socket.destroy());
  });
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    socket.end(rawJsonResponse(405), () => socket.destroy());
  });
}
