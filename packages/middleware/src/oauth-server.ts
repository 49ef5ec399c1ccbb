/**
 * Trusted OAuth servers (STSes), protocol.md section 5, with the administrative surface of Lync's
 * `New-`, `Set-`, `Get-` and `Remove-CsOAuthServer` (reference-microsoft-s2s.md section 8.1). The
 * registrations live in the same store as partner applications and are managed through
 * `PartnerRegistry` (`addOAuthServer`, `updateOAuthServer`, ...), so one registry, one revision
 * and one change feed cover every trust a verifier has.
 *
 * This file holds what an OAuth server is and the rules that are the same wherever they are
 * applied: what its metadata document must say, which registered server an actor token's `iss`
 * selects, and which of its endpoints is the token endpoint a challenge advertises.
 *
 * Selecting a server by `iss` follows the same rule as for partners (go-spiffe: the unverified
 * issuer only picks one pinned trust): an STS issuer id `00000001-0000-0000-c000-000000000000@R`
 * selects the server registered for realm `R` if there is one, else the server registered for
 * `*`, and never more than one. The token's key then comes from that server's key set only.
 */
import {
  isSecureUrl,
  type MetadataEndpoint,
  type ParsedMetadata,
  parseIssuerId,
  stsIssuerId,
  WellKnownPrincipal,
} from '@s2sauth/protocol';
import type { OAuthServerRecord } from '@s2sauth/store';
import type { KeySet } from '@s2sauth/discovery';

/** The realm of an OAuth server trusted for every realm this server serves. */
export const ANY_REALM = '*';

/** An OAuth server as an administrator registers it (`New-CsOAuthServer`). */
export interface OAuthServerRegistrationInput {
  /** The registration's name, e.g. `microsoft.sts`: 1 to 64 of `a-z 0-9 . _ -`. */
  readonly identity: string;
  /**
   * The STS's `/metadata/json/1` URL: `https:`, or `http:` to a loopback host with `allowLoopback`.
   * It must answer at registration, like `New-CsOAuthServer -MetadataUrl`.
   */
  readonly metadataUrl: string;
  /**
   * The realm the server is trusted for (a lowercase DNS name or GUID), or `*` for every realm
   * this server serves. Default: the realm of the document's `issuer`. With a realm, the
   * document's issuer must be `00000001-0000-0000-c000-000000000000@<realm>`.
   */
  readonly realm?: string;
  /** Allow a loopback host, and plain `http:` to it (development only). Default false. */
  readonly allowLoopback?: boolean;
  /** Default true. */
  readonly enabled?: boolean;
}

/** Changes to an OAuth server (`Set-CsOAuthServer`); the document is fetched again when the URL, realm or `allowLoopback` change. */
export type OAuthServerChanges = Partial<Omit<OAuthServerRegistrationInput, 'identity'>>;

/** A registered OAuth server as the registry reports it. */
export interface OAuthServer extends OAuthServerRecord {
  /**
   * The STS token endpoint (the document's endpoint with protocol `OAuth2` and usage `issuance`),
   * when this process has read the server's document (at registration, or when its keys loaded).
   */
  readonly authorizationUri?: string;
}

/** A registered OAuth server and its keys, as the verifier uses them. */
export interface ResolvedOAuthServer {
  readonly server: OAuthServerRecord;
  /** The server's own key set; the only place an STS-issued actor token's key may come from. */
  readonly keys: KeySet;
}

/**
 * What is wrong with an STS metadata document for a registration with `realm` (a realm, `*`, or
 * `undefined` for "the document's"), or the issuer id it states when nothing is: the document
 * must state an `issuer` of the STS principal, in `realm` unless that is `*`, and its `realm` and
 * `serviceName`, when present, must agree with that issuer.
 */
export function checkStsMetadata(
  metadata: ParsedMetadata,
  realm: string | undefined,
): { readonly issuer: string; readonly realm: string } | { readonly problem: string; readonly invalid: boolean } {
  if (metadata.issuer === undefined) return { problem: 'the document states no issuer', invalid: true };
  const issuer = parseIssuerId(metadata.issuer);
  if (issuer === undefined) return { problem: 'the document\'s issuer is not "<principal>@<realm>"', invalid: true };
  if (issuer.principal !== WellKnownPrincipal.sts) {
    return { problem: `the document's issuer is not an STS issuer (${WellKnownPrincipal.sts}@<realm>)`, invalid: false };
  }
  if (realm !== undefined && realm !== ANY_REALM && issuer.realm !== realm) {
    return { problem: `the document's issuer is not ${stsIssuerId(realm)}`, invalid: false };
  }
  if (metadata.realm !== undefined && metadata.realm !== issuer.realm) {
    return { problem: 'the document\'s realm is not the realm of its issuer', invalid: false };
  }
  if (metadata.serviceName !== undefined && metadata.serviceName !== WellKnownPrincipal.sts) {
    return { problem: `the document's serviceName is not ${WellKnownPrincipal.sts}`, invalid: false };
  }
  return { issuer: metadata.issuer, realm: issuer.realm };
}

function isIssuanceEndpoint(endpoint: MetadataEndpoint): boolean {
  // Member values are read case-insensitively, as the keys' `usage` (protocol.md section 4).
  return endpoint.protocol.toLowerCase() === 'oauth2' && endpoint.usage.toLowerCase() === 'issuance';
}

/**
 * The token endpoint a document advertises: the first endpoint with protocol `OAuth2` and usage
 * `issuance` whose location is an `https:` URL (or `http:` to a loopback host when
 * `allowLoopback`), normalized; `undefined` when there is none. What is returned goes into
 * challenges unescaped, so anything that is not a plain absolute URL is ignored.
 */
export function authorizationUriOf(metadata: ParsedMetadata, allowLoopback: boolean): string | undefined {
  for (const endpoint of metadata.endpoints) {
    if (!isIssuanceEndpoint(endpoint)) continue;
    let url: URL;
    try {
      url = new URL(endpoint.location);
    } catch {
      continue;
    }
    if (url.username !== '' || url.password !== '' || url.hash !== '') continue;
    if (isSecureUrl(url, allowLoopback)) return url.href;
  }
  return undefined;
}

/**
 * The one server an STS issuer in `realm` selects among `servers`: the server registered for
 * `realm`, else the one registered for `*`; `undefined` when there is none, `'ambiguous'` when two
 * registrations would answer (the registry refuses to create that; another writer to the store might).
 * Disabled servers are selected too: a disabled server refuses its tokens, it does not hand them
 * to another server.
 */
export function selectOAuthServer<Server extends OAuthServerRecord>(servers: readonly Server[], realm: string): Server | 'ambiguous' | undefined {
  const exact = servers.filter((server) => server.realm === realm);
  const candidates = exact.length > 0 ? exact : servers.filter((server) => server.realm === ANY_REALM);
  if (candidates.length > 1) return 'ambiguous';
  return candidates[0];
}
