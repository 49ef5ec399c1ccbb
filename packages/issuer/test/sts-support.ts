// Shared by the STS tests: clients with certificates, and client assertions from raw JSON text.
import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { compactJws, createCertificate } from '@s2sauth/test-support/partners';

/** A tenant realm (lowercase GUID), as cloud realms are. */
export const REALM = '9188040d-6c67-4c5b-b112-36a304b66dad';
export const OTHER_REALM = 'contoso.com';
export const STS_ID = `${WellKnownPrincipal.sts}@${REALM}`;
export const EXCHANGE_ID = `${WellKnownPrincipal.exchange}@${REALM}`;
export const LYNC_RESOURCE = `${WellKnownPrincipal.lync}/pool.contoso.com@${REALM}`;
export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A client's signing material. */
export interface TestClient {
  readonly certificate: OAuthCertificate;
  readonly pem: string;
  readonly x5t: string;
  readonly key: KeyObject;
}

export async function createTestClient(): Promise<TestClient> {
  const certificate = await createCertificate(['client.contoso.com']);
  return { certificate, pem: certificate.pem, x5t: certificate.x5t, key: certificate.privateKey };
}

export function newJti(): string {
  return randomBytes(16).toString('base64url');
}

/** The header of a well-formed assertion as raw JSON text. */
export function assertionHeader(client: TestClient, extra = ''): string {
  return `{"typ":"client-authentication+jwt","alg":"RS256","x5t":"${client.x5t}","kid":"${client.x5t}"${extra}}`;
}

/** The claims of a well-formed assertion as an object (for `JSON.stringify`), at `now` seconds. */
export function assertionClaims(clientId: string, now: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const claims: Record<string, unknown> = { iss: clientId, sub: clientId, aud: STS_ID, jti: newJti(), iat: now, exp: now + 300 };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete claims[name];
    else claims[name] = value;
  }
  return claims;
}

/** An assertion from raw header and payload text, signed with `key`. */
export function rawAssertion(headerJson: string, payloadJson: string, key: KeyObject): string {
  return compactJws(headerJson, payloadJson, { key });
}

/** A well-formed assertion by `client` for `clientId` at `now` seconds, with claim overrides. */
export function assertion(client: TestClient, clientId: string, now: number, overrides: Record<string, unknown> = {}): string {
  return rawAssertion(assertionHeader(client), JSON.stringify(assertionClaims(clientId, now, overrides)), client.key);
}
