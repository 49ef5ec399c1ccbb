/**
 * The `WWW-Authenticate: Bearer` challenge of protocol.md section 7 (RFC 6750 section 3), in the
 * shape Microsoft's servers use for realm discovery (MS-XOAUTH 3.2.5.4).
 */
import type { BearerErrorName } from './errors.js';

/** What a server says about itself in its challenge, plus the error when there is one. */
export interface ChallengeParams {
  /** The server's realm. Emitted first: TokenHelper-style clients look for the literal `Bearer realm="`. */
  readonly realm: string;
  /** The server's own principal id. */
  readonly clientId: string;
  /** Issuers this server accepts tokens from, `<principal>@<realm>` or `<principal>@*`. */
  readonly trustedIssuers: readonly string[];
  /** The STS token endpoint, when an OAuth server is configured. */
  readonly authorizationUri?: string;
  readonly error?: BearerErrorName;
  readonly errorDescription?: string;
  /** For `insufficient_scope`: the scope(s) needed, space-separated. */
  readonly scope?: string;
}

/** A quoted-string may hold any visible ASCII, space and tab (RFC 9110 section 5.6.4). */
const QUOTABLE = /^[\t\x20-\x7e]*$/;

/** Quotes a value as an RFC 9110 quoted-string; a value that cannot be quoted is a programming error. */
function quote(name: string, value: string): string {
  if (!QUOTABLE.test(value)) {
    throw new TypeError(`The challenge parameter ${name} contains a character that cannot be sent in a header.`);
  }
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Builds the challenge: `Bearer realm="…", client_id="…", trusted_issuers="…"[, …]`. */
export function buildChallenge(params: ChallengeParams): string {
  const parts: Array<[string, string | undefined]> = [
    ['realm', params.realm],
    ['client_id', params.clientId],
    ['trusted_issuers', params.trustedIssuers.join(',')],
    ['authorization_uri', params.authorizationUri],
    ['error', params.error],
    ['error_description', params.errorDescription],
    ['scope', params.scope],
  ];
  return `Bearer ${parts
    .filter((p): p is [string, string] => p[1] !== undefined)
    .map(([name, value]) => `${name}=${quote(name, value)}`)
    .join(', ')}`;
}
