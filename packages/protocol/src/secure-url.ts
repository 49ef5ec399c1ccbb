/**
 * Where a token, a client assertion or a metadata request may be sent (protocol.md section 4):
 * `https:`, or plain `http:` to a literal loopback host when the caller allowed it, for local
 * development. One rule for the S2S client, the STS client, the registry and the OAuth servers.
 */

/**
 * True for a literal loopback host as the WHATWG URL parser spells it: `localhost`, `[::1]` or an
 * address of `127.0.0.0/8` (the parser has already turned every IPv4 spelling, such as `127.1` or
 * `0x7f.0.0.1`, into dotted decimal).
 */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** True for `https:`, or `http:` to `localhost`, `127.0.0.0/8` or `[::1]` when `allowLoopbackHttp`. */
export function isSecureUrl(url: URL, allowLoopbackHttp: boolean): boolean {
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && allowLoopbackHttp && isLoopbackHost(url.hostname);
}
