/**
 * A failed token request to the authorization server (STS) as the answer a demo server gives its
 * own user, the same for Lync and Exchange: the STS said no (`sts_refused`, with its RFC 6749
 * `error`, e.g. `invalid_client` for a client disabled or unknown there, `unauthorized_client` for
 * a missing grant), did not answer in time (`sts_timeout`), or could not be used (`sts_unavailable`:
 * unreachable, a 5xx, a broken answer). Only the first needs an administrator of the STS.
 */
import type { StsTokenError } from '@s2sauth/issuer';
import { ApiError } from './api-error.js';

/** RFC 6749 section 5.2 / 4.1.2.1 codes that mean the STS failed, not that it refused. */
const STS_FAULTS: ReadonlySet<string> = new Set(['server_error', 'temporarily_unavailable']);

/** True when the STS answered the token request with a 4xx and an RFC 6749 `error`: it refused. */
export function isStsRefusal(error: StsTokenError): boolean {
  return error.code === 'sts_error' && error.status !== undefined && error.status >= 400 && error.status <= 499 && error.error !== undefined && !STS_FAULTS.has(error.error);
}

/**
 * The answer to a failed token request of `caller` (e.g. `Lync`) for `target` (e.g. `Exchange`):
 * 502 `sts_refused`, 504 `sts_timeout` or 502 `sts_unavailable`, with the STS error's message
 * (which never holds a token or an assertion).
 */
export function stsFailure(error: StsTokenError, caller: string, target: string): ApiError {
  if (error.code === 'timeout') {
    return new ApiError(504, 'sts_timeout', `The authorization server did not answer ${caller}'s token request for ${target} in time. ${error.message}`, { cause: error });
  }
  if (isStsRefusal(error)) {
    return new ApiError(
      502,
      'sts_refused',
      `The authorization server refused ${caller} a token for ${target} (${error.error ?? ''}); an administrator must check ${caller}'s client registration there (enabled, its certificate, a grant for ${target}). ${error.message}`,
      { cause: error },
    );
  }
  return new ApiError(502, 'sts_unavailable', `${caller} could not get a token for ${target} from the authorization server. ${error.message}`, { cause: error });
}
