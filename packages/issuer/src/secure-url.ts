/**
 * Where a token or a client assertion may be sent: `https:`, or plain `http:` to a literal loopback
 * host when the caller allowed it (protocol.md section 4, for local development). One rule for the
 * S2S client and the STS client.
 */

/** True for `https:`, or `http:` to `localhost`, `127.0.0.0/8` or `[::1]` when `allowLoopbackHttp`. */
export function isSecureUrl(url: URL, allowLoopbackHttp: boolean): boolean {
  if (url.protocol === 'https:') return true;
  if (url.protocol !== 'http:' || !allowLoopbackHttp) return false;
  // WHATWG URL parsing has already turned every IPv4 spelling (127.1, 0x7f.0.0.1) into dotted decimal.
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
