/**
 * Matching a resource's authority against the host names (SPNs) its principal is registered with
 * at the STS (docs/protocol.md section 6; as in Azure ACS, which accepts
 * `00000002-…/*.contoso.com`, and the bare domain must be added separately).
 *
 * The rules, decided here once:
 * - Comparison is case-insensitive (authorities are, protocol.md section 1).
 * - `host[:port]` without `*` matches exactly that authority: same host, same port. A pattern
 *   without a port matches only an authority without one (the scheme's default port), so
 *   registering `mail.contoso.com` does not admit `mail.contoso.com:8443`, another service.
 * - `*.domain[:port]` matches a DNS host one or more labels below `domain` (`a.contoso.com`,
 *   `a.b.contoso.com`), never `domain` itself; the port rule is the same. `domain` needs at least
 *   two labels (`*.com` matches nothing), and `*` appears nowhere else (`a*.contoso.com`, `*`,
 *   `*.*.com` match nothing). IP addresses never match a wildcard.
 */
import { isAuthority } from '@s2sauth/protocol';

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** Splits a valid authority into lower-case host and port text (`''` when absent). */
function split(authority: string): { readonly host: string; readonly port: string } {
  const lower = authority.toLowerCase();
  if (lower.startsWith('[')) {
    const close = lower.indexOf(']');
    return { host: lower.slice(0, close + 1), port: lower.slice(close + 2) };
  }
  const colon = lower.lastIndexOf(':');
  return colon < 0 ? { host: lower, port: '' } : { host: lower.slice(0, colon), port: lower.slice(colon + 1) };
}

/**
 * True when `authority` (`host[:port]` of a resource audience) matches the registered host name
 * `pattern` by the rules above. Malformed input on either side matches nothing.
 */
export function hostNameMatches(pattern: string, authority: string): boolean {
  if (typeof pattern !== 'string' || typeof authority !== 'string' || !isAuthority(authority)) return false;
  const target = split(authority);
  if (!pattern.startsWith('*.')) {
    if (pattern.includes('*') || !isAuthority(pattern)) return false;
    const registered = split(pattern);
    return registered.host === target.host && registered.port === target.port;
  }
  const rest = pattern.slice(2);
  if (rest.includes('*') || !isAuthority(rest) || rest.startsWith('[')) return false;
  const registered = split(rest);
  if (registered.port !== target.port) return false;
  if (registered.host.split('.').length < 2 || IPV4.test(registered.host)) return false;
  if (target.host.startsWith('[') || IPV4.test(target.host)) return false;
  const suffix = `.${registered.host}`;
  return target.host.length > suffix.length && target.host.endsWith(suffix);
}
