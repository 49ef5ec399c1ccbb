/**
 * What bench/sts.bench.ts and its server process (bench/sts-server.ts) share: the realm, client
 * grant and resource both STSes issue for, and the IPC messages between the two processes.
 */
import { WellKnownPrincipal } from '@s2sauth/protocol';

/** The realm of the STSes, the client and the resource. */
export const REALM = 'contoso.com';
/** The resource the tokens are for: Exchange at mail.contoso.com. */
export const RESOURCE_PRINCIPAL: string = WellKnownPrincipal.exchange;
export const RESOURCE_HOST = 'mail.contoso.com';
export const RESOURCE_AUDIENCE = `${RESOURCE_PRINCIPAL}/${RESOURCE_HOST}@${REALM}`;
/** The resource indicator oidc-provider is asked for (RFC 8707 wants an absolute URI); it maps to RESOURCE_AUDIENCE. */
export const RESOURCE_URL = `https://${RESOURCE_HOST}`;
/** The one scope the client is granted and asks for. */
export const SCOPE = 'mail.read';

/** What the child tells the parent. */
export type StsServerMessage =
  | {
      readonly type: 'ready';
      readonly sqliteTokenUrl: string;
      readonly memoryTokenUrl: string;
      readonly oidcTokenUrl: string;
      readonly referenceTokenUrl: string;
      readonly clientPrincipal: string;
      readonly clientCertificatePem: string;
      readonly clientKeyPem: string;
    }
  | { readonly type: 'stats'; readonly cpuMicros: number };
