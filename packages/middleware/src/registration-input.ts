/**
 * Registration input: what an administrator gives to register or change a partner application
 * (`New-`/`Set-CsPartnerApplication`) or an OAuth server (`New-`/`Set-CsOAuthServer`), and its
 * validation into a registration the aggregates (partners.ts, oauth-server.ts) can store. Every
 * refusal is a `PartnerRegistryError` `invalid` naming the field.
 */
import {
  type Clock,
  isLoopbackHost,
  isPrincipalId,
  isRealm,
  isScopeToken,
  MetadataError,
  type SigningKey,
  signingKeyFromCertificate,
} from '@s2sauth/protocol';
import { TRUST_LEVELS, type OAuthServerRecord, type PartnerApplication, type PartnerKeySource, type TrustLevel } from '@s2sauth/store';
import { invalid } from './registry-error.js';

/**
 * A partner application as an administrator registers it (`New-CsPartnerApplication`). Exactly one
 * key source: `metadataUrl`, `certificate` or `useOAuthServer: true`.
 */
export interface PartnerApplicationInput {
  /** The registration's name, e.g. `microsoft.exchange`: 1 to 64 of `a-z 0-9 . _ -`. */
  readonly identity: string;
  /**
   * The partner's principal id (lowercase GUID). Required with `certificate` and `useOAuthServer`;
   * with `metadataUrl` it defaults to the document's `serviceName` (or the principal of its `issuer`).
   */
  readonly applicationId?: string;
  /**
   * The partner's realm (lowercase DNS name or GUID). Required with `certificate` and
   * `useOAuthServer`; with `metadataUrl` it defaults to the document's `realm` (or the realm of its `issuer`).
   */
  readonly realm?: string;
  /** The partner's `/metadata/json/1` URL: `https:`, or `http:` to a loopback host with `allowLoopback`. */
  readonly metadataUrl?: string;
  /** The partner's signing certificate(s), PEM or standard base64 DER (at most 20). */
  readonly certificate?: string | readonly string[];
  /**
   * The partner's actor tokens are issued by a trusted OAuth server (STS) registered for its realm
   * (or for `*`); such a partner is never resolved for self-issued tokens.
   */
  readonly useOAuthServer?: boolean;
  /** With `metadataUrl`: allow a loopback host, and plain `http:` to it (development only). Default false. */
  readonly allowLoopback?: boolean;
  /** Default `full`, as in Lync (protocol.md section 5 for what each level allows). */
  readonly trustLevel?: TrustLevel;
  /** Scopes granted to the partner: RFC 6749 scope tokens (no spaces), each once. Default none. */
  readonly scopes?: readonly string[];
  /** Default true. */
  readonly enabled?: boolean;
  /** Accept unsigned (`alg` `none`) outer tokens from this partner, as Microsoft servers send them. Default false. */
  readonly acceptUnsignedUserContext?: boolean;
}

/** Changes to a registration (`Set-CsPartnerApplication`); a key source given here replaces the old one. */
export type PartnerApplicationChanges = Partial<Omit<PartnerApplicationInput, 'identity'>>;

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

/** A validated partner registration, before the store stamps it; a metadata source may leave the ids open. */
export interface Registration {
  readonly identity: string;
  readonly applicationId: string | undefined;
  readonly realm: string | undefined;
  readonly keySource: PartnerKeySource;
  readonly trustLevel: TrustLevel;
  readonly scopes: readonly string[];
  readonly enabled: boolean;
  readonly acceptUnsignedUserContext: boolean;
}

/** A validated OAuth server registration; `realm` stays open when the document is to name it. */
export interface ServerRegistration<Realm extends string | undefined = string> {
  readonly identity: string;
  readonly metadataUrl: string;
  readonly realm: Realm;
  readonly allowLoopback: boolean;
  readonly enabled: boolean;
}

/** The realm of an OAuth server trusted for every realm this server serves. */
export const ANY_REALM = '*';

/** Lync-style identities: `microsoft.exchange`, `contoso-crm_2`. */
const IDENTITY = /^[a-z0-9._-]{1,64}$/;
/** As many certificates as a metadata document may list (protocol.md section 4). */
const MAX_CERTIFICATES = 20;

const OAUTH_SERVER_FIELDS: ReadonlySet<string> = new Set(['identity', 'metadataUrl', 'realm', 'allowLoopback', 'enabled']);

/** The fields of an input that make up its key source. */
const SOURCE_FIELDS = ['metadataUrl', 'certificate', 'useOAuthServer', 'allowLoopback'] as const;

const INPUT_FIELDS: ReadonlySet<string> = new Set([
  'identity',
  'applicationId',
  'realm',
  'metadataUrl',
  'certificate',
  'useOAuthServer',
  'allowLoopback',
  'trustLevel',
  'scopes',
  'enabled',
  'acceptUnsignedUserContext',
]);

function optionalBoolean(value: unknown, field: string): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw invalid(field, 'must be true or false');
  return value;
}

function checkIdentity(value: unknown): string {
  if (typeof value !== 'string' || !IDENTITY.test(value)) {
    throw invalid('identity', 'must be 1 to 64 lowercase letters, digits, dots, dashes or underscores, like microsoft.exchange');
  }
  return value;
}

function checkApplicationId(value: unknown): string {
  if (typeof value !== 'string' || !isPrincipalId(value)) {
    throw invalid('applicationId', 'must be a principal id, a lowercase GUID like 00000002-0000-0ff1-ce00-000000000000');
  }
  return value;
}

function checkRealm(value: unknown): string {
  if (typeof value !== 'string' || !isRealm(value)) {
    throw invalid('realm', 'must be a lowercase DNS name (like contoso.com) or a lowercase GUID');
  }
  return value;
}

function checkTrustLevel(value: unknown): TrustLevel {
  if (!TRUST_LEVELS.includes(value as TrustLevel)) throw invalid('trustLevel', `must be one of ${TRUST_LEVELS.join(', ')}`);
  return value as TrustLevel;
}

function checkScopes(value: unknown): string[] {
  if (!Array.isArray(value)) throw invalid('scopes', 'must be an array of scope names');
  const seen = new Set<string>();
  for (const scope of value as unknown[]) {
    if (typeof scope !== 'string' || !isScopeToken(scope)) {
      throw invalid('scopes', 'each scope must be one whole word of visible ASCII characters, without spaces, quotes or backslashes');
    }
    if (seen.has(scope)) throw invalid('scopes', `the scope ${scope} is listed twice`);
    seen.add(scope);
  }
  return [...seen];
}

function checkMetadataUrl(value: unknown, allowLoopback: boolean): string {
  if (typeof value !== 'string') throw invalid('metadataUrl', 'must be a URL');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid('metadataUrl', 'is not a valid absolute URL');
  }
  if (url.username !== '' || url.password !== '') throw invalid('metadataUrl', 'must not contain credentials');
  if (url.protocol === 'https:') {
    if (isLoopbackHost(url.hostname) && !allowLoopback) {
      throw invalid('metadataUrl', 'names a loopback host; set allowLoopback for local development');
    }
    return value;
  }
  if (url.protocol === 'http:' && allowLoopback && isLoopbackHost(url.hostname)) return value;
  throw invalid('metadataUrl', 'must be an https URL (plain http only to a loopback host, with allowLoopback)');
}

/** The certificates as PEM, each checked as a signing certificate valid at `now`. */
function checkCertificates(value: unknown, now: number): string[] {
  const list: unknown[] = typeof value === 'string' ? [value] : Array.isArray(value) ? (value as unknown[]) : [];
  if (list.length === 0) throw invalid('certificate', 'must be a PEM or base64 DER certificate, or a non-empty list of them');
  if (list.length > MAX_CERTIFICATES) throw invalid('certificate', `at most ${MAX_CERTIFICATES} certificates`);
  const pems = new Map<string, string>();
  list.forEach((entry, index) => {
    if (typeof entry !== 'string') throw invalid('certificate', `entry ${index} is not a string`);
    let key: SigningKey;
    try {
      key = signingKeyFromCertificate(entry, now);
    } catch (error) {
      if (error instanceof MetadataError) throw invalid('certificate', `entry ${index}: ${error.message}`);
      throw error;
    }
    pems.set(key.x5t, key.certificate.toString());
  });
  return [...pems.values()];
}

/**
 * Checks every field of a partner's `input`; `applicationId`/`realm` may stay open for a metadata
 * source. With `keptSource` the key source fields are not looked at and `keptSource` is used as is.
 * `clock` dates the check of pinned certificates.
 */
export function validatePartner(input: PartnerApplicationInput, clock: Clock, keptSource?: PartnerKeySource): Registration {
  for (const name of Object.keys(input)) {
    if (!INPUT_FIELDS.has(name)) throw invalid(name, 'is not a field of a partner application');
  }
  const identity = checkIdentity(input.identity);
  const keySource = keptSource ?? validateKeySource(input, clock);
  const needsIds = keySource.kind !== 'metadata';
  if (needsIds && input.applicationId === undefined) throw invalid('applicationId', 'is required with a certificate or an OAuth server');
  if (needsIds && input.realm === undefined) throw invalid('realm', 'is required with a certificate or an OAuth server');
  return {
    identity,
    applicationId: input.applicationId === undefined ? undefined : checkApplicationId(input.applicationId),
    realm: input.realm === undefined ? undefined : checkRealm(input.realm),
    keySource,
    trustLevel: input.trustLevel === undefined ? 'full' : checkTrustLevel(input.trustLevel),
    scopes: input.scopes === undefined ? [] : checkScopes(input.scopes),
    enabled: optionalBoolean(input.enabled, 'enabled') ?? true,
    acceptUnsignedUserContext: optionalBoolean(input.acceptUnsignedUserContext, 'acceptUnsignedUserContext') ?? false,
  };
}

function validateKeySource(input: PartnerApplicationInput, clock: Clock): PartnerKeySource {
  const allowLoopback = optionalBoolean(input.allowLoopback, 'allowLoopback') ?? false;
  const useOAuthServer = optionalBoolean(input.useOAuthServer, 'useOAuthServer') ?? false;
  const sources = [input.metadataUrl !== undefined, input.certificate !== undefined, useOAuthServer].filter(Boolean).length;
  if (sources !== 1) {
    throw invalid('keySource', 'give exactly one of metadataUrl, certificate or useOAuthServer');
  }
  if (input.allowLoopback !== undefined && input.metadataUrl === undefined) {
    throw invalid('allowLoopback', 'applies only to a metadataUrl');
  }
  if (input.metadataUrl !== undefined) {
    const metadataUrl = checkMetadataUrl(input.metadataUrl, allowLoopback);
    return allowLoopback ? { kind: 'metadata', metadataUrl, allowLoopback } : { kind: 'metadata', metadataUrl };
  }
  if (input.certificate !== undefined) {
    return { kind: 'certificate', certificates: checkCertificates(input.certificate, clock()) };
  }
  return { kind: 'oauthServer' };
}

/** The input `changes` turn the partner `existing` into. */
function mergedInput(existing: PartnerApplication, changes: PartnerApplicationChanges): PartnerApplicationInput {
  const base: Record<string, unknown> = {
    identity: existing.identity,
    applicationId: existing.applicationId,
    realm: existing.realm,
    trustLevel: existing.trustLevel,
    scopes: existing.scopes,
    enabled: existing.enabled,
    acceptUnsignedUserContext: existing.acceptUnsignedUserContext,
  };
  const source = existing.keySource;
  const replacesSource = changes.metadataUrl !== undefined || changes.certificate !== undefined || changes.useOAuthServer === true;
  if (source.kind === 'metadata') {
    // allowLoopback belongs to the URL: kept when only the URL changes, dropped with the source.
    if (!replacesSource) base['metadataUrl'] = source.metadataUrl;
    if (!replacesSource || changes.metadataUrl !== undefined) base['allowLoopback'] = source.allowLoopback ?? false;
  } else if (!replacesSource) {
    if (source.kind === 'certificate') base['certificate'] = source.certificates;
    else base['useOAuthServer'] = true;
  }
  return { ...base, ...changes } as PartnerApplicationInput;
}

/** `changes` applied to the partner `existing`, checked; a key source left alone is kept verbatim. */
export function changedPartner(existing: PartnerApplication, changes: PartnerApplicationChanges, clock: Clock): Registration {
  const touchesSource = SOURCE_FIELDS.some((name) => Object.hasOwn(changes, name));
  // A change that leaves the key source alone keeps it verbatim: disabling a partner must work
  // even when its pinned certificate has expired or its metadata endpoint is down.
  return validatePartner(mergedInput(existing, changes), clock, touchesSource ? undefined : existing.keySource);
}

/** Checks every field of an OAuth server's `input`; the realm stays open when not given. */
export function validateServer(input: OAuthServerRegistrationInput): ServerRegistration<string | undefined> {
  for (const name of Object.keys(input)) {
    if (!OAUTH_SERVER_FIELDS.has(name)) throw invalid(name, 'is not a field of an OAuth server');
  }
  const identity = checkIdentity(input.identity);
  const allowLoopback = optionalBoolean(input.allowLoopback, 'allowLoopback') ?? false;
  const metadataUrl = checkMetadataUrl(input.metadataUrl, allowLoopback);
  const realm = input.realm === undefined || input.realm === ANY_REALM ? input.realm : checkRealm(input.realm);
  return { identity, metadataUrl, realm, allowLoopback, enabled: optionalBoolean(input.enabled, 'enabled') ?? true };
}

/** `changes` applied to the OAuth server `existing`, checked. */
export function changedServer(existing: OAuthServerRecord, changes: OAuthServerChanges): ServerRegistration {
  const merged = validateServer({
    identity: existing.identity,
    metadataUrl: existing.metadataUrl,
    realm: existing.realm,
    allowLoopback: existing.allowLoopback === true,
    enabled: existing.enabled,
    ...changes,
  });
  return { ...merged, realm: merged.realm ?? existing.realm };
}
