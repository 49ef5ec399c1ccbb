/**
 * One exchange with an STS (metadata or token request) over the guarded outbound path
 * (partners/outbound-http.ts), its body read under the same deadline, its failures as
 * {@link StsTokenError}, and the RFC 6749 section 5.2 error of a refusal read from the body.
 */
import { parseStrictJson } from '@s2sauth/protocol';
import {
  describeUrl,
  outboundFailure,
  quoteRemoteText as quote,
  readLimited,
  sendGuarded,
  startDeadline,
  type OutboundHttp,
} from '../partners/outbound-http.js';
import { StsTokenError } from './sts-token-error.js';

/** RFC 6749 section 5.2: the characters of an `error` code. */
const ERROR_CODE = /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,100}$/;

/** A response whose body was read (`undefined`: larger than allowed). */
export interface StsResponse {
  readonly status: number;
  readonly body: Buffer | undefined;
}

/**
 * Sends `init` to `url` and reads at most `maxBytes` of the answer, all within one deadline of
 * `http.timeoutMs`; never follows a redirect. `doing` names the request in messages.
 * @throws StsTokenError `redirect`, `timeout`, `network`.
 */
export async function exchangeWithSts(http: OutboundHttp, url: URL, init: RequestInit, maxBytes: number, doing: string): Promise<StsResponse> {
  const endpoint = describeUrl(url);
  const deadline = startDeadline(http.timeoutMs);
  try {
    const response = await sendGuarded(http.fetch, url, init, deadline);
    return { status: response.status, body: await readLimited(response, maxBytes) };
  } catch (error) {
    const failure = outboundFailure(error, deadline);
    switch (failure.kind) {
      case 'redirect':
        throw new StsTokenError('redirect', `The STS at ${endpoint} answered ${doing} with a redirect (${failure.status}); redirects are not followed.`, {
          endpoint,
          ...(failure.status === undefined ? {} : { status: failure.status }),
        });
      case 'network':
        throw new StsTokenError('network', `The STS at ${endpoint} could not be reached (${doing}): ${failure.message}.`, { endpoint, cause: failure.cause });
      default:
        // No caller signal here: the deadline is the only abort.
        throw new StsTokenError('timeout', `The STS at ${endpoint} did not answer ${doing} within ${http.timeoutMs} ms.`, { endpoint });
    }
  }
}

/** An `sts_error` from a non-200 answer, with the RFC 6749 section 5.2 error when the body is one. */
export function stsError(response: StsResponse, endpoint: string): StsTokenError {
  const body = response.body === undefined ? undefined : readJsonObject(response.body);
  const code = body?.['error'];
  const description = body?.['error_description'];
  if (typeof code !== 'string' || !ERROR_CODE.test(code)) {
    return new StsTokenError('sts_error', `The STS at ${endpoint} refused the token request with ${response.status} and no OAuth error.`, {
      endpoint,
      status: response.status,
    });
  }
  const error = quote(code);
  const errorDescription = typeof description === 'string' ? quote(description) : undefined;
  return new StsTokenError(
    'sts_error',
    `The STS at ${endpoint} refused the token request (${response.status} ${error}${errorDescription === undefined ? '' : `: ${errorDescription}`}).`,
    { endpoint, status: response.status, error, ...(errorDescription === undefined ? {} : { errorDescription }) },
  );
}

/** The body as a strict JSON object, or `undefined`. */
export function readJsonObject(body: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return undefined;
  }
  return isPlainObject(value) ? value : undefined;
}

/** True for an object that is not an array (a JSON object, an options bag). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
