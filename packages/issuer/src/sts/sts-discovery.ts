/**
 * Where an STS is: configured ({@link StsLocation} with `tokenEndpoint` and `issuer`), or read
 * from its metadata document (protocol.md section 6), whose token endpoint must be on the
 * metadata's origin and `https:` (or allowed loopback `http:`).
 */
import { isSecureUrl, MAX_METADATA_BYTES, parseMetadataDocument, stsIssuerId } from '@s2sauth/protocol';
import { describeUrl, quoteRemoteText as quote, type OutboundHttp } from '../partners/outbound-http.js';
import { exchangeWithSts } from './sts-exchange.js';
import { StsTokenError, type StsTokenErrorDetails } from './sts-token-error.js';

/** Where the STS is: its token endpoint and issuer id given, or read from its metadata document. */
export type StsLocation =
  | {
      /** The token endpoint, e.g. `https://accounts.accesscontrol.windows.net/<realm>/tokens/OAuth/2`. */
      readonly tokenEndpoint: string;
      /** The STS issuer id `00000001-0000-0000-c000-000000000000@<realm>`: the assertion's `aud`. */
      readonly issuer: string;
    }
  | {
      /**
       * The STS metadata document (`/metadata/json/1`, protocol.md section 6). Fetched once, on the
       * first token request; its `issuer` and its `OAuth2`/`issuance` endpoint are used. That
       * endpoint must have the same origin (scheme, host, port) as this URL, as ACS serves both
       * from one origin: a document cannot send the assertion elsewhere. A failed
       * fetch, and any token request that fails other than with an OAuth error from the STS, makes
       * the next request fetch it again.
       */
      readonly metadataUrl: string;
    };

/** The STS as used for token requests. */
export interface StsEndpoint {
  readonly tokenEndpoint: URL;
  /** The STS issuer id: the assertion's `aud` and the access token's `iss`. */
  readonly issuer: string;
}

/**
 * Reads the STS metadata document at `url` for `realm`: its issuer must be the STS issuer id of
 * the realm, its OAuth2 issuance endpoint an absolute URL on the same origin without credentials.
 * @throws StsTokenError `discovery_failed`, `insecure_url`, `redirect`, `timeout`, `network`.
 */
export async function discoverSts(http: OutboundHttp, url: URL, realm: string, now: number): Promise<StsEndpoint> {
  const endpoint = describeUrl(url);
  const failed = (what: string, details: Partial<StsTokenErrorDetails> = {}): StsTokenError =>
    new StsTokenError('discovery_failed', `The STS metadata at ${endpoint} ${what}.`, { endpoint, ...details });
  const response = await exchangeWithSts(http, url, { method: 'GET', headers: { accept: 'application/json' } }, MAX_METADATA_BYTES, 'the metadata request');
  if (response.status !== 200) throw failed(`answered ${response.status}, not 200`, { status: response.status });
  if (response.body === undefined) throw failed(`is larger than ${MAX_METADATA_BYTES} bytes`, { status: 200 });
  let metadata;
  try {
    metadata = parseMetadataDocument(response.body, { now });
  } catch (error) {
    // MetadataError messages name what is wrong, never key material.
    throw failed(`cannot be used: ${(error as Error).message}`, { status: 200, cause: error });
  }
  const issuer = stsIssuerId(realm);
  if (metadata.issuer !== issuer) {
    throw failed(
      `names the issuer ${metadata.issuer === undefined ? '(none)' : JSON.stringify(quote(metadata.issuer))}, not the STS issuer id of this realm, ${issuer}`,
    );
  }
  const issuance = metadata.endpoints.find(
    (entry) => entry.protocol.toLowerCase() === 'oauth2' && entry.usage.toLowerCase() === 'issuance',
  );
  const location = issuance?.location;
  if (location === undefined || !URL.canParse(location)) throw failed('lists no OAuth2 issuance endpoint with an absolute URL');
  const tokenEndpoint = new URL(location);
  if (tokenEndpoint.username !== '' || tokenEndpoint.password !== '') throw failed('lists a token endpoint with credentials in its URL');
  if (!isSecureUrl(tokenEndpoint, http.allowLoopbackHttp)) {
    throw new StsTokenError(
      'insecure_url',
      `The STS metadata at ${endpoint} lists the token endpoint ${describeUrl(tokenEndpoint)}, which is not https:; no assertion was sent to it.`,
      { endpoint: describeUrl(tokenEndpoint) },
    );
  }
  if (tokenEndpoint.origin !== url.origin) {
    // The assertion's aud is the STS issuer id, not the endpoint: wherever it goes, it could be
    // replayed at the real STS. ACS serves metadata and token endpoint from one origin.
    throw failed(`lists the token endpoint ${describeUrl(tokenEndpoint)}, on another origin than the metadata; no assertion was sent to it`);
  }
  return { tokenEndpoint, issuer };
}
