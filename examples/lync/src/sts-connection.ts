/**
 * The authorization server (STS) Lync reaches Exchange through in the cloud and hybrid scenarios
 * (protocol.md section 6; reference-microsoft-s2s.md section 10): instead of self-issued tokens,
 * Lync authenticates to the STS with its OAuth certificate and sends Exchange the STS-issued actor
 * token, wrapped in an outer token it signs itself (protocol.md section 3.2).
 */
import { isRealm } from '@s2sauth/protocol';

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

/** True for `https:`, or `http:` to a literal loopback host (the rule of `StsTokenSource`). */
function isSecure(url: URL): boolean {
  if (url.protocol === 'https:') return true;
  if (url.protocol !== 'http:') return false;
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Checks the `sts` option at start-up, so a mistake is a `TypeError` naming it rather than a
 * failure of the first call to a partner.
 * @throws TypeError naming `options.sts`, `options.sts.metadataUrl` or `options.sts.realm`.
 */
export function checkStsConnection(value: unknown): StsConnection {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('options.sts must be { metadataUrl, realm }.');
  }
  const sts = value as Record<string, unknown>;
  for (const name of Object.keys(sts)) {
    if (!MEMBERS.has(name)) throw new TypeError(`options.sts has no member "${name}" (it takes { metadataUrl, realm }).`);
  }
  const { metadataUrl, realm } = sts;
  const url = typeof metadataUrl === 'string' && URL.canParse(metadataUrl) ? new URL(metadataUrl) : undefined;
  if (url === undefined || url.username !== '' || url.password !== '' || !isSecure(url)) {
    throw new TypeError('options.sts.metadataUrl must be the STS metadata URL: https:, or http: to a loopback address, without credentials.');
  }
  if (typeof realm !== 'string' || !isRealm(realm)) {
    throw new TypeError('options.sts.realm must be the tenant realm the STS issues for: a lowercase GUID or DNS name.');
  }
  // `url` was parsed from `metadataUrl`, so it is a string here.
  return { metadataUrl: metadataUrl as string, realm };
}
