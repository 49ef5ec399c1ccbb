/**
 * The authorization server (STS) a demo server reaches its partner through in the cloud and
 * hybrid scenarios (protocol.md section 6): the server authenticates to it with its OAuth
 * certificate and sends the partner the STS-issued actor token, wrapped in an outer token it signs
 * itself (protocol.md section 3.2).
 */
import { isRealm, isSecureUrl } from '@s2sauth/protocol';

/** Where the STS is and the realm it knows this server in. */
export interface StsConnection {
  /**
   * The STS's Microsoft metadata document for the tenant, e.g.
   * `http://127.0.0.1:4400/<tenant>/metadata/json/1`: `https:`, or `http:` to a loopback host.
   * Read on the first call to a partner, not at start-up.
   */
  readonly metadataUrl: string;
  /**
   * The tenant realm (a GUID in the cloud) the STS issues for: the client id is
   * `<own principal>@<realm>`, partners are addressed in this realm, and the server's verifier
   * accepts tokens for it besides its own realms.
   */
  readonly realm: string;
}

const MEMBERS = new Set(['metadataUrl', 'realm']);

/**
 * Checks the `sts` option at start-up, so a mistake is a `TypeError` naming it rather than a
 * failure of the first call to a partner. The metadata URL follows the STS client's rule
 * (`isSecureUrl` with loopback http allowed) and carries no credentials.
 *
 * @param prefix what the messages start with, e.g. `"startExchange: "`.
 * @throws TypeError naming `options.sts`, `options.sts.metadataUrl` or `options.sts.realm`.
 */
export function checkStsConnection(value: unknown, prefix = ''): StsConnection {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${prefix}options.sts must be { metadataUrl, realm }.`);
  }
  const sts = value as Record<string, unknown>;
  for (const name of Object.keys(sts)) {
    if (!MEMBERS.has(name)) throw new TypeError(`${prefix}options.sts has no member "${name}" (it takes { metadataUrl, realm }).`);
  }
  const { metadataUrl, realm } = sts;
  const url = typeof metadataUrl === 'string' && URL.canParse(metadataUrl) ? new URL(metadataUrl) : undefined;
  if (url === undefined || url.username !== '' || url.password !== '' || !isSecureUrl(url, true)) {
    throw new TypeError(`${prefix}options.sts.metadataUrl must be the STS metadata URL: https:, or http: to a loopback address, without credentials.`);
  }
  if (typeof realm !== 'string' || !isRealm(realm)) {
    throw new TypeError(`${prefix}options.sts.realm must be the tenant realm the STS issues for: a lowercase GUID or DNS name.`);
  }
  // `url` was parsed from `metadataUrl`, so it is a string here.
  return { metadataUrl: metadataUrl as string, realm };
}
