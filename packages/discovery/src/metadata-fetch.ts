/**
 * Fetching a partner's metadata document (protocol.md section 4, "Fetching").
 *
 * The metadata URL comes from a partner registration, but the host it names is resolved by DNS,
 * which the partner (or whoever controls its DNS) decides. A fetcher that follows the URL blindly
 * is a server-side request forgery tool: it can be pointed at the cloud metadata service
 * (169.254.169.254), at an admin port on loopback, or at anything on the private network. So:
 *
 * - the address is checked when the socket connects, inside the `lookup` hook of
 *   `http(s).request`: the address that is checked is the address that is connected to, and a DNS
 *   answer that changes between a check and the connection (DNS rebinding) cannot slip through;
 * - redirects are never followed (`http.request` does not follow them; any 3xx is refused), so a
 *   permitted host cannot bounce the request elsewhere;
 * - one deadline covers connect, headers and body, and the decoded body is capped, so a slow or
 *   endless answer cannot hold a verifier.
 *
 * Content encoding: the request says `Accept-Encoding: identity`. A server that compresses anyway
 * (some front ends do) is decoded with a streaming zlib decoder (gzip, deflate, br) while the
 * DECODED bytes are counted against the cap, so a compression bomb stops at the cap like any other
 * oversized body; the compressed bytes count against the same cap too. Any other or stacked
 * encoding is refused (`encoding`): we cannot decode it, and guessing would mean reading bytes
 * that were not meant as JSON.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Transform } from 'node:stream';
import { MAX_METADATA_BYTES } from '@s2sauth/protocol';
import { S2SAuthError } from '@s2sauth/protocol';

/** The default deadline for one fetch, connect to last body byte (protocol.md section 4: 5 s). */
export const METADATA_FETCH_TIMEOUT_MS = 5000;

/** Options of {@link fetchMetadata}. */
export interface MetadataFetchOptions {
  /**
   * Permit loopback targets (127.0.0.0/8, ::1), and plain `http:` URLs whose host resolves only
   * to loopback, for local development when the registration says so. Default `false`.
   */
  readonly allowLoopback?: boolean;
  /**
   * Permit private targets: RFC 1918 (10/8, 172.16/12, 192.168/16), CGNAT (100.64/10) and IPv6
   * unique local (fc00::/7), for partners on an internal network. Only over `https:`. Default
   * `false`. Link-local (including 169.254.169.254), unspecified, multicast, broadcast and
   * reserved addresses are never permitted.
   */
  readonly allowPrivateNetworks?: boolean;
  /** Deadline for the whole fetch (connect, headers and body) in ms. Default 5000. */
  readonly timeoutMs?: number;
  /** Cap on the decoded body in bytes. Default 262144 (256 KiB). */
  readonly maxBytes?: number;
  /**
   * Trusted CA certificate(s), PEM, for partners with a private or self-signed TLS certificate.
   * As in `tls.connect`, this replaces the default root CAs for the fetch. Default: Node.js roots.
   */
  readonly ca?: string | readonly string[];
  /**
   * The name resolver, `dns.lookup` by default. Whatever it answers is checked before any
   * connection is made. Tests inject one to simulate DNS.
   */
  readonly lookup?: LookupFunction;
}

/** Why a fetch failed; stable, for programs and the audit log. */
export type MetadataFetchErrorCode =
  | 'url_invalid'
  | 'scheme_not_allowed'
  | 'address_not_allowed'
  | 'redirect'
  | 'status'
  | 'timeout'
  | 'too_large'
  | 'encoding'
  | 'network';

/**
 * A metadata document could not be fetched. The message names the origin and what went wrong,
 * never any part of the response body.
 */
export class MetadataFetchError extends S2SAuthError<MetadataFetchErrorCode> {
  constructor(code: MetadataFetchErrorCode, message: string, options?: { readonly cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * What kind of address an IP address is, for the purpose of deciding whether to connect to it.
 * `public` is anything not in one of the other classes.
 */
export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

type Ranges = { readonly ipv4?: readonly (readonly [string, number])[]; readonly ipv6?: readonly (readonly [string, number])[] };

/**
 * `net.BlockList` does the matching because it parses addresses with the platform's `inet_pton`
 * and compares bits, which is exactly where hand-written address code goes wrong (octal and
 * shortened IPv4 forms, `::` compression, upper case, IPv4 embedded in IPv6). It also matches an
 * IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, `::ffff:7f00:1`) against IPv4 rules, as the Node.js
 * documentation of `blockList.check` shows. For the NAT64 well-known prefix (64:ff9b::/96, RFC 6052)
 * each IPv4 rule is added again under that prefix, so a synthesised address is judged by the IPv4
 * address it reaches.
 */
function blockList(ranges: Ranges): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of ranges.ipv4 ?? []) {
    list.addSubnet(network, prefix, 'ipv4');
    list.addSubnet(`64:ff9b::${network}`, 96 + prefix, 'ipv6');
  }
  for (const [network, prefix] of ranges.ipv6 ?? []) list.addSubnet(network, prefix, 'ipv6');
  return list;
}

// Checked in this order; the first class whose list matches wins (so ::1 is loopback before the
// deprecated IPv4-compatible range ::/96 calls it reserved).
const CLASSES: readonly (readonly [AddressClass, BlockList])[] = [
  ['loopback', blockList({ ipv4: [['127.0.0.0', 8]], ipv6: [['::1', 128]] })],
  ['unspecified', blockList({ ipv4: [['0.0.0.0', 8]], ipv6: [['::', 128]] })],
  [
    'private',
    blockList({
      ipv4: [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10]],
      // fc00::/7 unique local (RFC 4193); 64:ff9b:1::/48 local-use NAT64 (RFC 8215)
      ipv6: [['fc00::', 7], ['64:ff9b:1::', 48]],
    }),
  ],
  ['link-local', blockList({ ipv4: [['169.254.0.0', 16]], ipv6: [['fe80::', 10]] })],
  ['multicast', blockList({ ipv4: [['224.0.0.0', 4]], ipv6: [['ff00::', 8]] })],
  ['broadcast', blockList({ ipv4: [['255.255.255.255', 32]] })],
  [
    'reserved',
    blockList({
      // 240/4 future use; IETF protocol assignments; documentation (TEST-NET-1..3); benchmarking
      ipv4: [['240.0.0.0', 4], ['192.0.0.0', 24], ['192.0.2.0', 24], ['198.51.100.0', 24], ['203.0.113.0', 24], ['198.18.0.0', 15]],
      // IPv4-compatible (deprecated, RFC 4291); discard-only (RFC 6666); documentation; site-local (deprecated)
      ipv6: [['::', 96], ['100::', 64], ['2001:db8::', 32], ['fec0::', 10]],
    }),
  ],
];

/**
 * Classifies an IP address (IPv4, or IPv6 in any textual form, including IPv4-mapped
 * `::ffff:a.b.c.d`). Returns `undefined` when `address` is not an IP address.
 */
export function classifyAddress(address: string): AddressClass | undefined {
  const family = isIP(address);
  if (family === 0) return undefined;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const [name, list] of CLASSES) {
    if (list.check(address, type)) return name;
  }
  return 'public';
}

interface Target {
  readonly url: URL;
  readonly origin: string;
  readonly hostname: string;
  readonly plainHttp: boolean;
}

interface Settings {
  readonly allowLoopback: boolean;
  readonly allowPrivateNetworks: boolean;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly ca: string[] | undefined;
  readonly lookup: LookupFunction;
}

function checkOptions(options: MetadataFetchOptions): Settings {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('fetchMetadata: options must be an object');
  }
  const { allowLoopback = false, allowPrivateNetworks = false, timeoutMs = METADATA_FETCH_TIMEOUT_MS } = options;
  const { maxBytes = MAX_METADATA_BYTES, ca, lookup = dnsLookup as LookupFunction } = options;
  if (typeof allowLoopback !== 'boolean') throw new TypeError('fetchMetadata: options.allowLoopback must be a boolean');
  if (typeof allowPrivateNetworks !== 'boolean') {
    throw new TypeError('fetchMetadata: options.allowPrivateNetworks must be a boolean');
  }
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError('fetchMetadata: options.timeoutMs must be a positive number of milliseconds');
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new TypeError('fetchMetadata: options.maxBytes must be a positive integer');
  }
  const caList = typeof ca === 'string' ? [ca] : ca;
  if (caList !== undefined && !(Array.isArray(caList) && caList.every((c) => typeof c === 'string'))) {
    throw new TypeError('fetchMetadata: options.ca must be a PEM string or an array of PEM strings');
  }
  if (typeof lookup !== 'function') throw new TypeError('fetchMetadata: options.lookup must be a function');
  return { allowLoopback, allowPrivateNetworks, timeoutMs, maxBytes, ca: caList === undefined ? undefined : [...caList], lookup };
}

function parseTarget(url: string, settings: Settings): Target {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MetadataFetchError('url_invalid', 'the metadata URL is not a valid absolute URL');
  }
  const plainHttp = parsed.protocol === 'http:';
  if (parsed.protocol !== 'https:' && !(plainHttp && settings.allowLoopback)) {
    throw new MetadataFetchError(
      'scheme_not_allowed',
      `the metadata URL scheme ${JSON.stringify(parsed.protocol)} is not allowed: https only (http only to loopback, when the registration allows it)`,
    );
  }
  // Credentials in the URL would be sent to whoever answers; a metadata document is public anyway.
  if (parsed.username !== '' || parsed.password !== '') {
    throw new MetadataFetchError('url_invalid', 'the metadata URL must not contain credentials');
  }
  // The WHATWG parser has already turned every IPv4 spelling (0177.1, 2130706433) into dotted
  // decimal and every IPv6 one into its canonical bracketed form.
  const hostname = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  return { url: parsed, origin: parsed.origin, hostname, plainHttp };
}

/** The refusal for connecting to `address`, or `undefined` when the address is acceptable. */
function refusal(address: string, target: Target, settings: Settings): MetadataFetchError | undefined {
  const kind = classifyAddress(address);
  if (target.plainHttp) {
    // Plain http is a development convenience for loopback, nothing else (protocol.md section 4).
    if (kind === 'loopback') return undefined;
    return new MetadataFetchError(
      'scheme_not_allowed',
      `${target.origin}: plain http is allowed only to a loopback address, and the host is ${kind ?? 'not an IP address'}`,
    );
  }
  if (kind === 'public') return undefined;
  if (kind === 'loopback' && settings.allowLoopback) return undefined;
  if (kind === 'private' && settings.allowPrivateNetworks) return undefined;
  return new MetadataFetchError(
    'address_not_allowed',
    `${target.origin}: the host resolves to a ${kind ?? 'non-IP'} address, which is not allowed`,
  );
}

/**
 * Wraps the resolver so that every address it answers is checked before Node.js connects to it.
 * With `all: true` (Node.js asks for every address when it races IPv4 and IPv6) one refused
 * address refuses the host: a name that mixes public and internal addresses is not trustworthy.
 */
function guardedLookup(target: Target, settings: Settings): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    settings.lookup(hostname, options, (error, address, family) => {
      if (error) {
        callback(error, address, family);
        return;
      }
      const addresses: readonly (string | LookupAddress)[] = Array.isArray(address) ? address : [address];
      for (const entry of addresses) {
        const problem = refusal(typeof entry === 'string' ? entry : entry.address, target, settings);
        if (problem) {
          callback(problem, address, family);
          return;
        }
      }
      callback(null, address, family);
    });
  };
}

/** The decoder for a `Content-Encoding`: `undefined` for none needed, `null` for one we refuse. */
function decoderFor(encoding: string): Transform | undefined | null {
  switch (encoding) {
    case '':
    case 'identity':
      return undefined;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      // HTTP "deflate" is the zlib format (RFC 9110 section 8.4.1.2), not raw deflate.
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return null;
  }
}

/**
 * Fetches the metadata document at `url` under the rules of protocol.md section 4: `https:` only
 * (`http:` only to loopback with `allowLoopback`), target address checked at connect time, no
 * redirects, status 200 only, one deadline for the whole exchange (default 5 s), a cap on the
 * decoded body (default 256 KiB).
 *
 * Resolves to the body bytes (decoded, if the server compressed despite `Accept-Encoding:
 * identity`). Rejects with a {@link MetadataFetchError}; throws `TypeError` for bad options.
 */
export async function fetchMetadata(url: string, options: MetadataFetchOptions = {}): Promise<Buffer> {
  if (typeof url !== 'string') throw new TypeError('fetchMetadata: url must be a string');
  const settings = checkOptions(options);
  const target = parseTarget(url, settings);
  // An IP-literal host is never looked up, so the lookup hook would not see it: check it here.
  if (isIP(target.hostname) !== 0) {
    const problem = refusal(target.hostname, target, settings);
    if (problem) throw problem;
  }
  return await exchange(target, settings);
}

/** The request for `target`: no agent (a fresh connection, so every fetch is address-checked), the guarded lookup. */
function requestOptions(target: Target, settings: Settings): RequestOptions {
  return {
    protocol: target.url.protocol,
    hostname: target.hostname,
    path: `${target.url.pathname}${target.url.search}`,
    method: 'GET',
    headers: { Accept: 'application/json', 'Accept-Encoding': 'identity' },
    // A fresh connection every time, so every fetch goes through the address check.
    agent: false,
    lookup: guardedLookup(target, settings),
    ...(target.url.port === '' ? {} : { port: Number(target.url.port) }),
    ...(settings.ca === undefined ? {} : { ca: settings.ca }),
  };
}

/** How one exchange ends, once: the first of a failure or the body wins. */
interface Outcome {
  fail(error: MetadataFetchError): void;
  succeed(body: Buffer): void;
  /** Whether the exchange has already ended. */
  settled(): boolean;
  /** The body decoder, destroyed by a failure. */
  useDecoder(decoder: Transform): void;
}

function exchange(target: Target, settings: Settings): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let settled = false;
    let request: ClientRequest | undefined;
    let decoder: Transform | undefined;

    const outcome: Outcome = {
      fail: (error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        decoder?.destroy();
        request?.destroy();
        reject(error);
      },
      succeed: (body) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request?.destroy();
        resolve(body);
      },
      settled: () => settled,
      useDecoder: (chosen) => {
        decoder = chosen;
      },
    };

    // One deadline for everything: a server that drips one byte at a time is cut off here, not
    // given a fresh idle timeout per chunk.
    const timer = setTimeout(() => {
      outcome.fail(new MetadataFetchError('timeout', `${target.origin}: no complete answer within ${settings.timeoutMs} ms`));
    }, settings.timeoutMs);

    request = (target.plainHttp ? httpRequest : httpsRequest)(requestOptions(target, settings));

    request.on('error', (error: Error) => {
      if (error instanceof MetadataFetchError) {
        outcome.fail(error);
        return;
      }
      const code = (error as NodeJS.ErrnoException).code;
      outcome.fail(new MetadataFetchError('network', `${target.origin}: ${code ?? error.message}`, { cause: error }));
    });

    request.on('response', (response: IncomingMessage) => {
      response.on('error', () => {
        outcome.fail(new MetadataFetchError('network', `${target.origin}: the connection failed while reading the body`));
      });
      readResponse(response, target, settings, outcome);
    });
    request.end();
  });
}

/** Checks the status and headers of `response`, then reads (and decodes) its body under the cap. */
function readResponse(response: IncomingMessage, target: Target, settings: Settings, outcome: Outcome): void {
  const { fail, succeed } = outcome;
  const status = response.statusCode ?? 0;
  if (status >= 300 && status < 400) {
    fail(new MetadataFetchError('redirect', `${target.origin}: answered ${status}; redirects are not followed`));
    return;
  }
  if (status !== 200) {
    fail(new MetadataFetchError('status', `${target.origin}: answered ${status}, expected 200`));
    return;
  }
  const tooLarge = (): MetadataFetchError =>
    new MetadataFetchError('too_large', `${target.origin}: the document is larger than ${settings.maxBytes} bytes`);
  const declared = response.headers['content-length'];
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > settings.maxBytes) {
    fail(tooLarge());
    return;
  }
  const encoding = (response.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decoder = decoderFor(encoding);
  if (decoder === null) {
    fail(new MetadataFetchError('encoding', `${target.origin}: unsupported content encoding ${JSON.stringify(encoding)}`));
    return;
  }
  if (decoder) outcome.useDecoder(decoder);

  const chunks: Buffer[] = [];
  let decodedBytes = 0;
  const collect = (chunk: Buffer): void => {
    decodedBytes += chunk.length;
    if (decodedBytes > settings.maxBytes) {
      fail(tooLarge());
      return;
    }
    chunks.push(chunk);
  };

  let rawBytes = 0;
  response.on('data', (chunk: Buffer) => {
    if (outcome.settled()) return;
    rawBytes += chunk.length;
    if (rawBytes > settings.maxBytes) {
      fail(tooLarge());
      return;
    }
    if (decoder) decoder.write(chunk);
    else collect(chunk);
  });
  response.on('end', () => {
    if (decoder) decoder.end();
    else succeed(Buffer.concat(chunks));
  });
  // `close` without `end`: the server hung up in the middle of the body.
  response.on('close', () => {
    if (!response.complete) {
      fail(new MetadataFetchError('network', `${target.origin}: the connection closed before the body was complete`));
    }
  });
  if (decoder) {
    decoder.on('data', collect);
    decoder.on('end', () => succeed(Buffer.concat(chunks)));
    decoder.on('error', () => {
      fail(new MetadataFetchError('encoding', `${target.origin}: the body is not valid ${encoding} data`));
    });
  }
}
