import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { getDefaultAutoSelectFamily, setDefaultAutoSelectFamily, type AddressInfo, type LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { MAX_METADATA_BYTES } from '@s2sauth/protocol';
import {
  classifyAddress,
  fetchMetadata,
  MetadataFetchError,
  type MetadataFetchErrorCode,
  type MetadataFetchOptions,
} from '../src/metadata-fetch.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

interface TestServer {
  readonly server: Server;
  readonly port: number;
  /** TCP connections accepted so far. */
  connections: number;
  /** HTTP requests received so far. */
  requests: number;
  /** Headers of the last request. */
  lastHeaders: IncomingMessage['headers'] | undefined;
  handler: Handler;
}

const DOCUMENT = '{"id":"_00000002-0000-0ff1-ce00-000000000000","version":"1.0","keys":[]}';

function track(server: Server, handler: Handler): Promise<TestServer> {
  const state: TestServer = { server, port: 0, connections: 0, requests: 0, lastHeaders: undefined, handler };
  server.on('connection', () => {
    state.connections += 1;
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    state.requests += 1;
    state.lastHeaders = request.headers;
    state.handler(request, response);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve(Object.assign(state, { port: (server.address() as AddressInfo).port }));
    });
  });
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A resolver that answers every name with fixed addresses, as a hostile DNS server could. */
function fakeDns(...addresses: string[]): LookupFunction & { calls: number } {
  const lookup = (
    _hostname: string,
    options: LookupOptions,
    callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    lookup.calls += 1;
    const entries = addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    if (options.all) callback(null, entries);
    else if (addresses.length === 1 && entries[0]) callback(null, entries[0].address, entries[0].family);
    // A multi-address answer is only safe to give when every address will be checked.
    else callback(new Error('fakeDns: a multi-address answer needs all: true'), '', 4);
  };
  lookup.calls = 0;
  return lookup;
}

async function failure(promise: Promise<unknown>): Promise<MetadataFetchError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(MetadataFetchError);
    return error as MetadataFetchError;
  }
  throw new Error('expected the fetch to fail, and it succeeded');
}

async function expectCode(promise: Promise<unknown>, code: MetadataFetchErrorCode): Promise<MetadataFetchError> {
  const error = await failure(promise);
  expect(error.code, error.message).to.equal(code);
  return error;
}

describe('metadata-fetch', () => {
  let directory: string;
  let ca: string;
  let https: TestServer;
  let http: TestServer;
  let elsewhere: TestServer;

  const ok: Handler = (_request, response) => {
    response.setHeader('Content-Type', 'application/json');
    response.end(DOCUMENT);
  };

  before(async () => {
    directory = mkdtempSync(join(tmpdir(), 's2sauth-fetch-'));
    const keyPath = join(directory, 'key.pem');
    const certPath = join(directory, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
        '-keyout', keyPath, '-out', certPath, '-subj', '/CN=metadata.test',
        '-addext', 'subjectAltName=DNS:metadata.test,DNS:localhost,IP:127.0.0.1,IP:::1',
      ],
      { stdio: 'ignore' },
    );
    ca = readFileSync(certPath, 'utf8');
    https = await track(createHttpsServer({ key: readFileSync(keyPath), cert: ca }), ok);
    http = await track(createHttpServer(), ok);
    elsewhere = await track(createHttpServer(), ok);
  });

  after(async () => {
    await Promise.all([close(https.server), close(http.server), close(elsewhere.server)]);
    rmSync(directory, { recursive: true, force: true });
  });

  beforeEach(() => {
    for (const server of [https, http, elsewhere]) {
      server.handler = ok;
      server.connections = 0;
      server.requests = 0;
      server.lastHeaders = undefined;
    }
  });

  const httpsUrl = (host = 'metadata.test'): string => `https://${host}:${https.port}/metadata/json/1`;
  const httpUrl = (host = '127.0.0.1'): string => `http://${host}:${http.port}/metadata/json/1`;
  // The test servers are on loopback; a hostname resolved to loopback stands for "a partner".
  const partner = (extra: MetadataFetchOptions = {}): MetadataFetchOptions => ({
    ca,
    allowLoopback: true,
    lookup: fakeDns('127.0.0.1'),
    ...extra,
  });

  describe('successful fetches', () => {
    it('fetches a document over https from a server trusted through `ca`', async () => {
      const body = await fetchMetadata(httpsUrl(), partner());
      expect(body.toString('utf8')).to.equal(DOCUMENT);
      expect(https.lastHeaders?.accept).to.equal('application/json');
      expect(https.lastHeaders?.['accept-encoding']).to.equal('identity');
      expect(https.lastHeaders?.host).to.equal(`metadata.test:${https.port}`);
    });

    it('accepts `ca` as an array of PEM strings', async () => {
      const body = await fetchMetadata(httpsUrl(), partner({ ca: [ca] }));
      expect(body.toString('utf8')).to.equal(DOCUMENT);
    });

    it('fetches plain http from a loopback address when allowLoopback is set', async () => {
      const body = await fetchMetadata(httpUrl(), { allowLoopback: true });
      expect(body.toString('utf8')).to.equal(DOCUMENT);
    });

    it('fetches plain http from a name that resolves to loopback when allowLoopback is set', async () => {
      const lookup = fakeDns('127.0.0.1');
      const body = await fetchMetadata(httpUrl('dev.partner.test'), { allowLoopback: true, lookup });
      expect(body.toString('utf8')).to.equal(DOCUMENT);
      expect(lookup.calls).to.equal(1);
    });

    it('reads an IPv4 address in a numeric spelling as the address it is (2130706433 is 127.0.0.1)', async () => {
      const body = await fetchMetadata(httpUrl('2130706433'), { allowLoopback: true });
      expect(body.toString('utf8')).to.equal(DOCUMENT);
    });

    it('accepts a body of exactly maxBytes', async () => {
      https.handler = (_request, response) => response.end('x'.repeat(1000));
      const body = await fetchMetadata(httpsUrl(), partner({ maxBytes: 1000 }));
      expect(body.length).to.equal(1000);
    });

    it('sends the path and query of the URL', async () => {
      let seen = '';
      https.handler = (request, response) => {
        seen = request.url ?? '';
        response.end(DOCUMENT);
      };
      await fetchMetadata(`https://metadata.test:${https.port}/metadata/json/1?realm=contoso.com#ignored`, partner());
      expect(seen).to.equal('/metadata/json/1?realm=contoso.com');
    });
  });

  describe('URLs and schemes', () => {
    it('refuses a string that is not an absolute URL', async () => {
      await expectCode(fetchMetadata('metadata/json/1'), 'url_invalid');
    });

    it('refuses a URL with credentials in it', async () => {
      await expectCode(fetchMetadata(`https://user:secret@metadata.test:${https.port}/`, partner()), 'url_invalid');
      await expectCode(fetchMetadata(`https://user@metadata.test:${https.port}/`, partner()), 'url_invalid');
      expect(https.connections).to.equal(0);
    });

    it('does not put the credentials of a refused URL in the message', async () => {
      const error = await failure(fetchMetadata('https://user:hunter2@metadata.test/'));
      expect(error.message).to.not.contain('hunter2');
    });

    for (const url of ['ftp://metadata.test/', 'file:///etc/passwd', 'data:application/json,{}', 'ws://127.0.0.1/']) {
      it(`refuses the scheme of ${url}`, async () => {
        await expectCode(fetchMetadata(url, { allowLoopback: true }), 'scheme_not_allowed');
      });
    }

    it('refuses plain http without allowLoopback, even to loopback, without connecting', async () => {
      await expectCode(fetchMetadata(httpUrl()), 'scheme_not_allowed');
      expect(http.connections).to.equal(0);
    });

    it('refuses plain http to a name that resolves to a public address, even with allowLoopback', async () => {
      await expectCode(fetchMetadata(httpUrl('partner.test'), { allowLoopback: true, lookup: fakeDns('203.0.114.7') }), 'scheme_not_allowed');
    });

    it('refuses plain http to a private address, even with allowLoopback and allowPrivateNetworks', async () => {
      const options = { allowLoopback: true, allowPrivateNetworks: true, lookup: fakeDns('10.0.0.1') };
      await expectCode(fetchMetadata(httpUrl('partner.test'), options), 'scheme_not_allowed');
      await expectCode(fetchMetadata('http://10.0.0.1/', options), 'scheme_not_allowed');
    });
  });

  describe('target addresses', () => {
    it('refuses a loopback address over https without allowLoopback, without connecting', async () => {
      await expectCode(fetchMetadata(httpsUrl('127.0.0.1'), { ca }), 'address_not_allowed');
      await expectCode(fetchMetadata(`https://[::1]:${https.port}/`, { ca }), 'address_not_allowed');
      expect(https.connections).to.equal(0);
    });

    it('refuses a name that resolves to loopback without allowLoopback, without connecting', async () => {
      await expectCode(fetchMetadata(httpsUrl(), { ca, lookup: fakeDns('127.0.0.1') }), 'address_not_allowed');
      await expectCode(fetchMetadata(httpsUrl('localhost'), { ca }), 'address_not_allowed');
      expect(https.connections).to.equal(0);
    });

    it('refuses a name that resolves to the IPv4-mapped form of loopback, without connecting', async () => {
      await expectCode(fetchMetadata(httpsUrl(), { ca, lookup: fakeDns('::ffff:127.0.0.1') }), 'address_not_allowed');
      await expectCode(fetchMetadata(`https://[::ffff:127.0.0.1]:${https.port}/`, { ca }), 'address_not_allowed');
      expect(https.connections).to.equal(0);
    });

    const refused: readonly (readonly [string, string])[] = [
      ['a private address', '10.0.0.1'],
      ['a 172.16/12 address', '172.16.0.1'],
      ['a 192.168/16 address', '192.168.1.1'],
      ['a CGNAT address', '100.64.0.1'],
      ['an IPv6 unique local address', 'fd00::1'],
      ['the cloud metadata address', '169.254.169.254'],
      ['the IPv4-mapped cloud metadata address', '::ffff:169.254.169.254'],
      ['the NAT64 form of the cloud metadata address', '64:ff9b::a9fe:a9fe'],
      ['an IPv6 link-local address', 'fe80::1'],
      ['the unspecified IPv4 address', '0.0.0.0'],
      ['the unspecified IPv6 address', '::'],
      ['a multicast address', '224.0.0.1'],
      ['an IPv6 multicast address', 'ff02::1'],
      ['the broadcast address', '255.255.255.255'],
      ['a reserved address', '240.0.0.1'],
      ['the IPv4-mapped form of a private address', '::ffff:10.0.0.1'],
    ];
    for (const [description, address] of refused) {
      it(`refuses a name that resolves to ${description} (${address})`, async () => {
        const lookup = fakeDns(address);
        await expectCode(fetchMetadata('https://partner.test/metadata/json/1', { lookup, timeoutMs: 2000 }), 'address_not_allowed');
        expect(lookup.calls).to.equal(1);
      });

      it(`refuses ${description} written as the host (${address})`, async () => {
        const host = address.includes(':') ? `[${address}]` : address;
        await expectCode(fetchMetadata(`https://${host}/metadata/json/1`, { timeoutMs: 2000 }), 'address_not_allowed');
      });
    }

    it('refuses link-local, unspecified and multicast addresses even with every allow option', async () => {
      const options = { allowLoopback: true, allowPrivateNetworks: true, timeoutMs: 2000 };
      for (const address of ['169.254.169.254', 'fe80::1', '0.0.0.0', '::', '224.0.0.1', '::ffff:169.254.169.254']) {
        await expectCode(fetchMetadata('https://partner.test/', { ...options, lookup: fakeDns(address) }), 'address_not_allowed');
      }
    });

    it('refuses loopback with allowPrivateNetworks alone, without connecting', async () => {
      await expectCode(fetchMetadata(httpsUrl(), { ca, allowPrivateNetworks: true, lookup: fakeDns('127.0.0.1') }), 'address_not_allowed');
      expect(https.connections).to.equal(0);
    });

    it('refuses a private address with allowLoopback alone', async () => {
      await expectCode(fetchMetadata('https://partner.test/', { allowLoopback: true, lookup: fakeDns('10.0.0.1') }), 'address_not_allowed');
    });

    it('refuses a name when any one of its addresses is refused, even if the others are allowed', async () => {
      // 10.0.0.1 is acceptable with allowPrivateNetworks, the link-local one is not: nothing is connected.
      const lookup = fakeDns('10.0.0.1', '169.254.169.254');
      await expectCode(fetchMetadata('https://partner.test/', { allowPrivateNetworks: true, lookup }), 'address_not_allowed');
      const mixed = fakeDns('127.0.0.1', '203.0.114.7', '::ffff:127.0.0.1');
      await expectCode(fetchMetadata(httpsUrl(), { ca, lookup: mixed }), 'address_not_allowed');
      expect(https.connections).to.equal(0);
    });

    it('checks the address also when Node.js asks the resolver for a single address', async () => {
      // Without address family racing Node.js asks for one address (`all: false`).
      const previous = getDefaultAutoSelectFamily();
      setDefaultAutoSelectFamily(false);
      try {
        await expectCode(fetchMetadata(httpsUrl(), { ca, lookup: fakeDns('127.0.0.1') }), 'address_not_allowed');
        expect(https.connections).to.equal(0);
        const body = await fetchMetadata(httpsUrl(), partner());
        expect(body.toString('utf8')).to.equal(DOCUMENT);
      } finally {
        setDefaultAutoSelectFamily(previous);
      }
    });

    it('refuses an answer from the resolver that is not an IP address', async () => {
      await expectCode(fetchMetadata(httpUrl('dev.test'), { allowLoopback: true, lookup: fakeDns('nonsense') }), 'scheme_not_allowed');
      await expectCode(fetchMetadata('https://partner.test/', { lookup: fakeDns('not-an-address') }), 'address_not_allowed');
    });

    it('reports a resolver failure as a network error', async () => {
      const lookup: LookupFunction = (_hostname, _options, callback) => {
        callback(Object.assign(new Error('getaddrinfo ENOTFOUND partner.test'), { code: 'ENOTFOUND' }), '', 4);
      };
      const error = await expectCode(fetchMetadata('https://partner.test/', { lookup }), 'network');
      expect(error.message).to.contain('ENOTFOUND');
    });
  });

  describe('answers', () => {
    for (const status of [301, 302, 303, 307, 308]) {
      it(`refuses a ${status} redirect and never contacts its target`, async () => {
        https.handler = (_request, response) => {
          response.writeHead(status, { Location: `http://127.0.0.1:${elsewhere.port}/metadata/json/1` });
          response.end();
        };
        await expectCode(fetchMetadata(httpsUrl(), partner()), 'redirect');
        expect(https.requests).to.equal(1);
        expect(elsewhere.connections).to.equal(0);
        expect(elsewhere.requests).to.equal(0);
      });
    }

    for (const status of [204, 404, 500, 503]) {
      it(`refuses status ${status} without quoting the body`, async () => {
        https.handler = (_request, response) => {
          response.statusCode = status;
          response.end(status === 204 ? undefined : 'SECRET-BODY-TEXT');
        };
        const error = await expectCode(fetchMetadata(httpsUrl(), partner()), 'status');
        expect(error.message).to.contain(String(status));
        expect(error.message).to.not.contain('SECRET-BODY-TEXT');
      });
    }

    it('refuses a body announced larger than maxBytes by Content-Length before reading it', async () => {
      https.handler = (_request, response) => {
        // Headers only: a reader that waited for the body would run into the deadline instead.
        response.writeHead(200, { 'Content-Length': String(MAX_METADATA_BYTES + 1) });
        response.flushHeaders();
      };
      await expectCode(fetchMetadata(httpsUrl(), partner({ timeoutMs: 2000 })), 'too_large');
    });

    it('refuses a chunked body that grows past maxBytes', async () => {
      let stopped = false;
      https.handler = (_request, response) => {
        const chunk = Buffer.alloc(16 * 1024, 0x20);
        const write = (): void => {
          if (response.destroyed || response.writableEnded) {
            stopped = true;
            return;
          }
          response.write(chunk, () => setImmediate(write));
        };
        response.on('close', () => {
          stopped = true;
        });
        response.writeHead(200, { 'Content-Type': 'application/json' });
        write();
      };
      await expectCode(fetchMetadata(httpsUrl(), partner()), 'too_large');
      await waitFor(() => stopped);
    });

    it('refuses a chunked body one byte over a custom maxBytes', async () => {
      https.handler = (_request, response) => {
        response.write('x'.repeat(600));
        response.end('x'.repeat(401));
      };
      await expectCode(fetchMetadata(httpsUrl(), partner({ maxBytes: 1000 })), 'too_large');
    });

    it('reports a connection closed in the middle of the body as a network error', async () => {
      https.handler = (_request, response) => {
        response.writeHead(200, { 'Content-Length': '1000' });
        response.write('{"id":');
        setTimeout(() => response.socket?.destroy(), 20);
      };
      await expectCode(fetchMetadata(httpsUrl(), partner()), 'network');
    });

    it('reports a refused connection as a network error', async () => {
      const closed = await track(createHttpServer(), ok);
      const port = closed.port;
      await close(closed.server);
      await expectCode(fetchMetadata(`http://127.0.0.1:${port}/`, { allowLoopback: true }), 'network');
    });

    it('reports an untrusted TLS certificate as a network error', async () => {
      const error = await expectCode(fetchMetadata(httpsUrl(), { allowLoopback: true, lookup: fakeDns('127.0.0.1') }), 'network');
      expect(error.cause).to.be.instanceOf(Error);
    });
  });

  describe('the deadline', () => {
    it('cuts off a server that never sends headers', async () => {
      https.handler = () => {
        // never answers
      };
      const error = await expectCode(fetchMetadata(httpsUrl(), partner({ timeoutMs: 300 })), 'timeout');
      expect(error.message).to.contain('300 ms');
    });

    it('cuts off a body that drips in slowly, at the deadline rather than per chunk', async () => {
      let closed = false;
      https.handler = (_request, response) => {
        response.writeHead(200, { 'Content-Type': 'application/json' });
        let ticks = 0;
        // Drips for 3 s in all, a byte every 30 ms: never idle long, always too slow.
        const timer = setInterval(() => {
          ticks += 1;
          if (ticks > 100) {
            clearInterval(timer);
            response.end('}');
          } else {
            response.write(' ');
          }
        }, 30);
        response.on('close', () => {
          closed = true;
          clearInterval(timer);
        });
      };
      await expectCode(fetchMetadata(httpsUrl(), partner({ timeoutMs: 300 })), 'timeout');
      await waitFor(() => closed);
    });
  });

  describe('content encoding', () => {
    const encoders: readonly (readonly [string, (data: Buffer) => Buffer])[] = [
      ['gzip', (data) => gzipSync(data)],
      ['x-gzip', (data) => gzipSync(data)],
      ['deflate', (data) => deflateSync(data)],
      ['br', (data) => brotliCompressSync(data)],
    ];
    for (const [encoding, encode] of encoders) {
      it(`decodes a ${encoding} body sent despite Accept-Encoding: identity`, async () => {
        https.handler = (_request, response) => {
          response.writeHead(200, { 'Content-Encoding': encoding });
          response.end(encode(Buffer.from(DOCUMENT)));
        };
        const body = await fetchMetadata(httpsUrl(), partner());
        expect(body.toString('utf8')).to.equal(DOCUMENT);
      });
    }

    it('accepts Content-Encoding: identity, in any case', async () => {
      https.handler = (_request, response) => {
        response.writeHead(200, { 'Content-Encoding': ' Identity ' });
        response.end(DOCUMENT);
      };
      expect((await fetchMetadata(httpsUrl(), partner())).toString('utf8')).to.equal(DOCUMENT);
    });

    it('stops a compression bomb at maxBytes of decoded data', async () => {
      // 16 MiB of spaces compresses to about 16 KiB: small on the wire, far over the cap decoded.
      const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x20));
      expect(bomb.length).to.be.below(MAX_METADATA_BYTES);
      https.handler = (_request, response) => {
        response.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Length': String(bomb.length) });
        response.end(bomb);
      };
      await expectCode(fetchMetadata(httpsUrl(), partner()), 'too_large');
    });

    it('refuses an encoding it cannot decode', async () => {
      for (const encoding of ['zstd', 'compress', 'gzip, br']) {
        https.handler = (_request, response) => {
          response.writeHead(200, { 'Content-Encoding': encoding });
          response.end(DOCUMENT);
        };
        await expectCode(fetchMetadata(httpsUrl(), partner()), 'encoding');
      }
    });

    it('refuses a body that is not valid data of its declared encoding', async () => {
      https.handler = (_request, response) => {
        response.writeHead(200, { 'Content-Encoding': 'gzip' });
        response.end(DOCUMENT);
      };
      await expectCode(fetchMetadata(httpsUrl(), partner()), 'encoding');
    });
  });

  describe('options', () => {
    const bad: readonly (readonly [string, unknown])[] = [
      ['allowLoopback', { allowLoopback: 'yes' }],
      ['allowPrivateNetworks', { allowPrivateNetworks: 1 }],
      ['timeoutMs', { timeoutMs: 0 }],
      ['timeoutMs', { timeoutMs: Number.POSITIVE_INFINITY }],
      ['maxBytes', { maxBytes: 1.5 }],
      ['maxBytes', { maxBytes: -1 }],
      ['ca', { ca: 42 }],
      ['ca', { ca: ['pem', 42] }],
      ['lookup', { lookup: 'dns' }],
      ['options', null],
    ];
    for (const [name, options] of bad) {
      it(`throws a TypeError naming ${name} for ${JSON.stringify(options)}`, async () => {
        const error = await fetchMetadata('https://partner.test/', options as MetadataFetchOptions).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error, 'no TypeError').to.be.instanceOf(TypeError);
        expect((error as TypeError).message).to.contain(name);
      });
    }

    it('throws a TypeError when the URL is not a string', async () => {
      const error = await fetchMetadata(42 as unknown as string).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error, 'no TypeError').to.be.instanceOf(TypeError);
    });
  });

  describe('classifyAddress', () => {
    const table: readonly (readonly [string, ReturnType<typeof classifyAddress>])[] = [
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback'],
      ['::1', 'loopback'],
      ['0:0:0:0:0:0:0:1', 'loopback'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['::FFFF:127.0.0.1', 'loopback'],
      ['10.1.2.3', 'private'],
      ['172.31.255.255', 'private'],
      ['172.32.0.1', 'public'],
      ['192.168.0.1', 'private'],
      ['100.64.0.1', 'private'],
      ['100.127.255.255', 'private'],
      ['100.128.0.1', 'public'],
      ['fc00::1', 'private'],
      ['fdff::1', 'private'],
      ['64:ff9b:1::a00:1', 'private'],
      ['::ffff:192.168.0.1', 'private'],
      ['64:ff9b::a00:1', 'private'],
      ['169.254.169.254', 'link-local'],
      ['fe80::1', 'link-local'],
      ['febf::1', 'link-local'],
      ['0.0.0.0', 'unspecified'],
      ['0.1.2.3', 'unspecified'],
      ['::', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['239.255.255.255', 'multicast'],
      ['ff02::1', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['240.0.0.1', 'reserved'],
      ['192.0.2.1', 'reserved'],
      ['198.18.0.1', 'reserved'],
      ['2001:db8::1', 'reserved'],
      ['::127.0.0.1', 'reserved'],
      ['fec0::1', 'reserved'],
      ['8.8.8.8', 'public'],
      ['::ffff:8.8.8.8', 'public'],
      ['64:ff9b::808:808', 'public'],
      ['2606:4700:4700::1111', 'public'],
      ['localhost', undefined],
      ['127.1', undefined],
      ['', undefined],
    ];
    for (const [address, expected] of table) {
      it(`classifies ${JSON.stringify(address)} as ${String(expected)}`, () => {
        expect(classifyAddress(address)).to.equal(expected);
      });
    }
  });
});

/** Waits until `condition` holds (the test's timeout bounds the wait). */
async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}
