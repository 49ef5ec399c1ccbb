/**
 * Reading a request to the STS token endpoint (protocol.md section 6, RFC 6749 section 4.4 with
 * RFC 7523 client assertions): the headers, the raw form body (at most 16 KiB of printable ASCII,
 * no parameter repeated) and the parameters, checked in the order sts-router.ts lists (steps 1 to
 * 3). Client authentication (step 4) and the grant (step 5) come after.
 */
import { CLIENT_ASSERTION_TYPE, isScopeToken } from '@s2sauth/protocol';
import type { Request } from 'express';
import { reject } from './sts-errors.js';

/** The largest accepted token request body, in bytes (16 KiB; an assertion is far smaller). */
export const MAX_TOKEN_REQUEST_BYTES = 16_384;

const FORM_TYPE = 'application/x-www-form-urlencoded';
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** A token request whose parameters are well-formed; the client is not authenticated yet. */
export interface TokenRequest {
  /** The form's parameters (`client_id`, `client_assertion` and `resource` among them). */
  readonly form: ReadonlyMap<string, string>;
  readonly resource: string;
  readonly delegation: boolean;
  /** The requested scopes without repeats; `undefined` when none were named. */
  readonly scopes: string[] | undefined;
}

/** Thrown when the router sits behind a body parser, a mistake of the application: a 500 from `next`. */
export class BodyAlreadyReadError extends Error {
  constructor() {
    super('stsRouter must be mounted before any body parser: the token request body was already read.');
    this.name = 'BodyAlreadyReadError';
  }
}

/**
 * Reads and checks a token request (steps 1 to 3).
 * @throws Rejection for a request to refuse; BodyAlreadyReadError.
 */
export async function readTokenRequest(req: Request): Promise<TokenRequest> {
  if (req.headers.authorization !== undefined) reject('invalid_client', 'authorization_header');
  if (!isFormContentType(req.headers['content-type'])) reject('invalid_request', 'content_type');
  if (req.headers['content-encoding'] !== undefined) reject('invalid_request', 'content_encoding');
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > MAX_TOKEN_REQUEST_BYTES) reject('invalid_request', 'body_too_large');
  if (req.readableEnded || req.body !== undefined) throw new BodyAlreadyReadError();
  const body = await readBody(req, MAX_TOKEN_REQUEST_BYTES);
  if (body === undefined) reject('invalid_request', 'body_too_large');
  const form = parseForm(body);

  if (form.has('client_secret')) reject('invalid_client', 'client_secret');
  const grantType = form.get('grant_type');
  if (grantType === undefined) reject('invalid_request', 'grant_type_missing');
  if (grantType !== 'client_credentials') reject('unsupported_grant_type', 'grant_type_unsupported');
  const assertionType = form.get('client_assertion_type');
  if (assertionType === undefined || !form.has('client_assertion')) reject('invalid_client', 'client_assertion_missing');
  if (assertionType !== CLIENT_ASSERTION_TYPE) reject('invalid_client', 'client_assertion_type');
  if (!form.has('client_id')) reject('invalid_request', 'client_id_missing');
  const resource = form.get('resource');
  if (resource === undefined) reject('invalid_request', 'resource_missing');
  const delegationText = form.get('delegation');
  if (delegationText !== undefined && delegationText !== 'true') reject('invalid_request', 'delegation_value');
  return { form, resource, delegation: delegationText === 'true', scopes: parseScope(form.get('scope')) };
}

/** `application/x-www-form-urlencoded`, alone or with `charset=utf-8` (any case, optional spaces). */
function isFormContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const [type = '', ...parameters] = header.split(';').map((part) => part.trim().toLowerCase());
  if (type !== FORM_TYPE) return false;
  return parameters.every((parameter) => parameter === 'charset=utf-8' || parameter === 'charset="utf-8"');
}

/** Reads at most `limit` bytes of the body; `undefined` when it is longer. */
function readBody(req: Request, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let done = false;
    const finish = (value: Buffer | undefined): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > limit) {
        // Stop collecting; the response closes the connection instead of draining the rest.
        req.pause();
        finish(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(Buffer.concat(chunks));
    const onError = (error: Error): void => {
      if (done) return;
      done = true;
      reject(error);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** The form's parameters, each at most once and printable ASCII; empty values count as absent (RFC 6749 section 3.1). */
function parseForm(body: Buffer): Map<string, string> {
  const text = body.toString('latin1');
  if (!PRINTABLE_ASCII.test(text)) reject('invalid_request', 'body_not_ascii');
  const parameters = new Map<string, string>();
  const seen = new Set<string>();
  for (const [name, value] of new URLSearchParams(text)) {
    if (!PRINTABLE_ASCII.test(name) || !PRINTABLE_ASCII.test(value)) reject('invalid_request', 'parameter_not_printable');
    if (seen.has(name)) reject('invalid_request', 'parameter_repeated');
    seen.add(name);
    if (value !== '') parameters.set(name, value);
  }
  return parameters;
}

function parseScope(scope: string | undefined): string[] | undefined {
  if (scope === undefined) return undefined;
  const words = scope.split(' ');
  if (!words.every(isScopeToken)) reject('invalid_scope', 'scope_malformed');
  return [...new Set(words)];
}
