/**
 * The options of `stsRouter` (sts-router.ts), their check, and what its parts share once checked
 * ({@link StsContext}); the audit event every decision produces.
 */
import {
  isRealm,
  optionNames,
  refuseUnknownOptions,
  systemClock,
  type Clock,
  type SigningKey,
} from '@s2sauth/protocol';
import type { ClientRecord, ClientStore, ReplayStore } from '@s2sauth/store';
import { CertificateSet } from '../identity/certificate-set.js';
import type { OAuthCertificate } from '../identity/certificate.js';
import type { StsErrorCode } from './sts-errors.js';
import { StsTokenSigner } from './sts-token.js';

/** Default lifetime of an STS actor token, in seconds (one hour, the verifiers' default maximum). */
export const DEFAULT_STS_TOKEN_LIFETIME_SECONDS = 3600;

/**
 * One decision of the STS, for the audit log. Never holds a token, an assertion, a key or a
 * header value: only identifiers and the precise internal reason.
 */
export interface StsAuditEvent {
  readonly decision: 'issue' | 'reject';
  /** The error sent, for a rejection. */
  readonly error?: StsErrorCode;
  /** What exactly failed (e.g. `assertion_replayed`, `host_not_registered`), or `issued`. */
  readonly reason: string;
  readonly realm: string;
  /** `client_id` as sent, once it was a well-formed issuer id. */
  readonly clientId?: string;
  /** `resource` as issued, once the client authenticated. */
  readonly resource?: string;
  /** Scopes put into `scp`. */
  readonly scopes?: readonly string[];
  readonly delegation?: boolean;
  /** `jti` of the verified client assertion. */
  readonly assertionId?: string;
  /** `jti` of the issued token. */
  readonly tokenId?: string;
  readonly status: number;
}

/** Receives every {@link StsAuditEvent}. */
export type StsAuditSink = (event: StsAuditEvent) => void;

/** Options of {@link stsRouter}. */
export interface StsRouterOptions {
  /** The realms this STS issues for (lowercase DNS names or GUIDs); the first one's metadata is the default. */
  readonly realms: readonly string[];
  /** The STS's OAuth certificate(s); each must list every realm among its DNS SANs. */
  readonly certificates: CertificateSet | OAuthCertificate;
  /** The registered clients (service principals), both callers and resources. */
  readonly clients: ClientStore;
  /**
   * Where client assertions are claimed once; share it between STS instances. An error it throws
   * with `status` 503 (a store that cannot write now, e.g. a full disk) is answered 503
   * `temporarily_unavailable`; any other error 500 `server_error`.
   */
  readonly replay: ReplayStore;
  /**
   * Keys of a client registered with a `metadataUrl`, for an assertion naming the key `keyId`
   * (its `x5t`). Called only after the assertion passed the syntax and `typ` checks, only for an
   * enabled client with a `metadataUrl`, and only when none of its pinned certificates has that
   * `x5t`. Anyone can still send such a request, so the implementation MUST cache: keep one key
   * set per client (as `ClientKeySets` does: a `RemoteKeySet` over `fetchMetadata` and
   * `parseMetadataDocument`, which refetches for an unknown key id at most once per 30 s,
   * protocol.md section 4) rather than fetch per request. Without it, only pinned certificates
   * authenticate. A rejection counts as a failed authentication.
   */
  readonly clientKeys?: (client: ClientRecord, keyId: string) => Promise<readonly SigningKey[]>;
  /** Lifetime of issued tokens in seconds, 60 to 86400; default 3600. */
  readonly tokenLifetimeSeconds?: number;
  /**
   * The public base URL the router is reached at (`https://sts.contoso.com`, or with the mount
   * path), used in metadata. Default: from each request's protocol, `Host` and mount path, which
   * is only right when no proxy rewrites them; metadata then carries `Vary: Host`.
   */
  readonly baseUrl?: string;
  /** Longest `Cache-Control: max-age` of the metadata documents, seconds 0 to 86400; default 3600. */
  readonly metadataMaxAgeSeconds?: number;
  /** Time source; default the system clock. */
  readonly clock?: Clock;
  /** Where decisions are written; default none. A sink that throws is ignored: the decision stands. */
  readonly audit?: StsAuditSink;
}

const STS_ROUTER_OPTION_NAMES = optionNames<StsRouterOptions>({
  realms: true,
  certificates: true,
  clients: true,
  replay: true,
  clientKeys: true,
  tokenLifetimeSeconds: true,
  baseUrl: true,
  metadataMaxAgeSeconds: true,
  clock: true,
  audit: true,
});

/** What the parts of the STS share: the options checked, with their defaults. */
export interface StsContext {
  readonly realms: readonly string[];
  readonly certificates: CertificateSet;
  readonly clients: ClientStore;
  readonly replay: ReplayStore;
  readonly clientKeys: StsRouterOptions['clientKeys'];
  readonly clock: Clock;
  /** The public base URL without a trailing slash, when configured. */
  readonly base: string | undefined;
  /** Longest metadata `max-age`, seconds. */
  readonly maxAge: number;
  /** One token signer per realm. */
  readonly signers: ReadonlyMap<string, StsTokenSigner>;
  /** Writes an event to the audit sink; a sink that throws is ignored. */
  readonly record: (event: StsAuditEvent) => void;
}

/**
 * Checks the options of `stsRouter` and fills in the defaults.
 * @throws TypeError for malformed options; `CertificateError` when the certificate that signs now
 *   does not cover every realm or is not valid.
 */
export function readStsRouterOptions(options: StsRouterOptions): StsContext {
  if (typeof options !== 'object' || options === null) throw new TypeError('stsRouter: options must be an object.');
  refuseUnknownOptions('stsRouter', options, STS_ROUTER_OPTION_NAMES);
  const { realms, clients, replay, clientKeys, audit } = options;
  if (!Array.isArray(realms) || realms.length === 0) throw new TypeError('stsRouter: options.realms must be a non-empty array of realms.');
  for (const realm of realms as unknown[]) {
    if (typeof realm !== 'string' || !isRealm(realm)) {
      throw new TypeError('stsRouter: options.realms must hold lowercase DNS names or GUIDs.');
    }
  }
  if (new Set(realms).size !== realms.length) throw new TypeError('stsRouter: options.realms lists a realm twice.');
  if (typeof clients !== 'object' || clients === null || typeof clients.getClient !== 'function') {
    throw new TypeError('stsRouter: options.clients must be a ClientStore.');
  }
  if (typeof replay !== 'object' || replay === null || typeof replay.claim !== 'function') {
    throw new TypeError('stsRouter: options.replay must be a ReplayStore.');
  }
  if (clientKeys !== undefined && typeof clientKeys !== 'function') throw new TypeError('stsRouter: options.clientKeys must be a function.');
  if (audit !== undefined && typeof audit !== 'function') throw new TypeError('stsRouter: options.audit must be a function.');
  const clock = options.clock ?? systemClock;
  if (typeof clock !== 'function') throw new TypeError('stsRouter: options.clock must be a function returning milliseconds.');
  const lifetime = checkTime(options.tokenLifetimeSeconds, 'tokenLifetimeSeconds', 60, 86400, DEFAULT_STS_TOKEN_LIFETIME_SECONDS);
  const maxAge = checkTime(options.metadataMaxAgeSeconds, 'metadataMaxAgeSeconds', 0, 86400, 3600);
  const base = readBaseUrl(options.baseUrl);
  const certificates = CertificateSet.from(options.certificates, clock, 'stsRouter: options.certificates');
  const signers = new Map(realms.map((realm) => [realm, new StsTokenSigner(realm, certificates, lifetime, clock)]));
  const record = (event: StsAuditEvent): void => {
    if (audit === undefined) return;
    try {
      audit(event);
    } catch {
      // An audit sink must not turn a decision into a 500, nor an issued token into a lost one.
    }
  };
  return { realms, certificates, clients, replay, clientKeys, clock, base, maxAge, signers, record };
}

/** `options.baseUrl` without its trailing slashes, checked; `undefined` when not given. */
function readBaseUrl(baseUrl: string | undefined): string | undefined {
  if (baseUrl === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(baseUrl);
  } catch {
    throw new TypeError('stsRouter: options.baseUrl must be an absolute http(s) URL.');
  }
  if ((parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.search !== '' || parsed.hash !== '') {
    throw new TypeError('stsRouter: options.baseUrl must be an absolute http(s) URL without query or fragment.');
  }
  return parsed.href.replace(/\/+$/, '');
}

function checkTime(value: unknown, name: string, min: number, max: number, fallback: number): number {
  const result = value ?? fallback;
  if (typeof result !== 'number' || !Number.isSafeInteger(result) || result < min || result > max) {
    throw new TypeError(`stsRouter: options.${name} must be a whole number of seconds from ${min} to ${max}.`);
  }
  return result;
}
