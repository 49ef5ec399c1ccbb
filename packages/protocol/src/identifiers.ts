/**
 * Identifiers of protocol.md section 1: principal ids, realms, issuer ids, audiences and
 * trusted-issuer entries, with their exact comparison rules.
 *
 * Parsers return `undefined` for malformed input rather than throwing: a verifier turns that into
 * its own typed error, a configuration check into a `TypeError`. Nothing is trimmed, lower-cased
 * or Unicode-folded on the way in; malformed is malformed.
 */

/** The well-known application principal ids (docs/protocol.md section 1). */
export const WellKnownPrincipal = {
  /** ACS / the Microsoft Online STS; the principal of any authorization server in this protocol. */
  sts: '00000001-0000-0000-c000-000000000000',
  /** Exchange (on premises and Exchange Online). */
  exchange: '00000002-0000-0ff1-ce00-000000000000',
  /** SharePoint. */
  sharepoint: '00000003-0000-0ff1-ce00-000000000000',
  /** Lync Server 2013 / Skype for Business Server. */
  lync: '00000004-0000-0ff1-ce00-000000000000',
} as const;

/** An issuer id `<principal>@<realm>`, as in `iss`, an actor's `nameid` and `client_id`. */
export interface IssuerId {
  /** Lowercase GUID of the application. */
  readonly principal: string;
  /** Lowercase DNS name or lowercase GUID. */
  readonly realm: string;
}

/** An audience `<principal>/<authority>@<realm>`: one service instance in one realm. */
export interface Audience {
  readonly principal: string;
  /** `host[:port]`; the port only when it is not the scheme's default. Compared case-insensitively. */
  readonly authority: string;
  readonly realm: string;
}

/** A `trusted_issuers` entry of a challenge: `<principal>@<realm>` or `<principal>@*`. */
export interface TrustedIssuer {
  readonly principal: string;
  /** A realm, or `*` for any realm. */
  readonly realm: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_LABEL_ANY_CASE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_LITERAL = /^\[[0-9A-Fa-f:.]{2,45}\]$/;
const PORT = /^[1-9]\d{0,4}$/;

/** True for a lowercase GUID (`8-4-4-4-12` hex digits), the only form a principal id takes. */
export function isPrincipalId(value: string): boolean {
  return GUID.test(value);
}

function isDnsName(value: string, label: RegExp): boolean {
  if (value.length === 0 || value.length > 253) return false;
  return value.split('.').every((part) => label.test(part));
}

/** True for a realm: a lowercase DNS name (`contoso.com`) or a lowercase GUID (a tenant). */
export function isRealm(value: string): boolean {
  return isDnsName(value, DNS_LABEL);
}

/**
 * True for an authority `host[:port]`: a DNS name (any case), an IPv4 address or a bracketed IPv6
 * literal, then optionally a port from 1 to 65535 written without leading zeros.
 */
export function isAuthority(value: string): boolean {
  let host = value;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0) return false;
    host = value.slice(0, close + 1);
    const rest = value.slice(close + 1);
    if (rest !== '' && !(rest.startsWith(':') && isPort(rest.slice(1)))) return false;
    return IPV6_LITERAL.test(host);
  }
  const colon = value.lastIndexOf(':');
  if (colon >= 0) {
    if (!isPort(value.slice(colon + 1))) return false;
    host = value.slice(0, colon);
  }
  return IPV4.test(host) || isDnsName(host, DNS_LABEL_ANY_CASE);
}

function isPort(text: string): boolean {
  return PORT.test(text) && Number(text) <= 65535;
}

/** Splits `a@b` at its only `@`; `undefined` when there is not exactly one. */
function splitAt(value: string): [string, string] | undefined {
  const at = value.indexOf('@');
  if (at < 0 || value.indexOf('@', at + 1) >= 0) return undefined;
  return [value.slice(0, at), value.slice(at + 1)];
}

/** Parses `<principal>@<realm>`. */
export function parseIssuerId(value: string): IssuerId | undefined {
  const parts = splitAt(value);
  if (!parts) return undefined;
  const [principal, realm] = parts;
  return isPrincipalId(principal) && isRealm(realm) ? { principal, realm } : undefined;
}

/** Formats `<principal>@<realm>`. */
export function formatIssuerId(id: IssuerId): string {
  return `${id.principal}@${id.realm}`;
}

/** Parses `<principal>/<authority>@<realm>`. */
export function parseAudience(value: string): Audience | undefined {
  const parts = splitAt(value);
  if (!parts) return undefined;
  const [left, realm] = parts;
  const slash = left.indexOf('/');
  if (slash < 0 || left.indexOf('/', slash + 1) >= 0) return undefined;
  const principal = left.slice(0, slash);
  const authority = left.slice(slash + 1);
  return isPrincipalId(principal) && isAuthority(authority) && isRealm(realm)
    ? { principal, authority, realm }
    : undefined;
}

/** Formats `<principal>/<authority>@<realm>`, with the authority lower-cased. */
export function formatAudience(audience: Audience): string {
  return `${audience.principal}/${audience.authority.toLowerCase()}@${audience.realm}`;
}

/**
 * The authority of a URL as audiences use it: the host, lower-cased, and the port only when it is
 * not the scheme's default (WHATWG URL parsing already drops a default port).
 */
export function authorityOf(url: URL | string): string {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  return parsed.host.toLowerCase();
}

/**
 * Compares two audiences by protocol.md section 1: principal and realm exactly, authority
 * case-insensitively.
 */
export function audiencesEqual(a: Audience, b: Audience): boolean {
  return a.principal === b.principal && a.realm === b.realm && a.authority.toLowerCase() === b.authority.toLowerCase();
}

/** Compares two issuer ids exactly. */
export function issuerIdsEqual(a: IssuerId, b: IssuerId): boolean {
  return a.principal === b.principal && a.realm === b.realm;
}

/** Parses a `trusted_issuers` entry: `<principal>@<realm>` or `<principal>@*`. */
export function parseTrustedIssuer(value: string): TrustedIssuer | undefined {
  const parts = splitAt(value);
  if (!parts) return undefined;
  const [principal, realm] = parts;
  return isPrincipalId(principal) && (realm === '*' || isRealm(realm)) ? { principal, realm } : undefined;
}

/** Formats a `trusted_issuers` entry. */
export function formatTrustedIssuer(entry: TrustedIssuer): string {
  return `${entry.principal}@${entry.realm}`;
}

/** True when `issuer` is covered by a `trusted_issuers` entry (`*` matches every realm). */
export function trustedIssuerCovers(entry: TrustedIssuer, issuer: IssuerId): boolean {
  return entry.principal === issuer.principal && (entry.realm === '*' || entry.realm === issuer.realm);
}

/** The STS issuer id of `realm` (protocol.md section 6): `00000001-0000-0000-c000-000000000000@<realm>`. */
export function stsIssuerId(realm: string): string {
  return `${WellKnownPrincipal.sts}@${realm}`;
}
