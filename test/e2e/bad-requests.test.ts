/**
 * A probe of bad requests against a running `npm start` (issue 9, definition of done): the demo
 * is started as `npm start` starts it (node with tsx on examples/demo/src/main.ts), on premises
 * (Lync and Exchange, with valid tokens minted from the servers' own certificates in the data
 * folder) and with `--scenario cloud` (the STS as well). Every answer must be below 500 and, for
 * an error, JSON `{error, message}`; afterwards every server still answers `/healthz` with 200.
 *
 * The requests are written on a raw socket, so that what `fetch` refuses to send (a `*` or an
 * absolute URL as the request target, `CONNECT`, a body that lies about its encoding) is sent as
 * a careless or hostile client would.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CertificateSet, OAuthCertificate, TokenIssuer } from '@s2sauth/issuer';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { removeTemporaryFolders, temporaryFolder } from './support/data-folders.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(root, 'examples', 'demo', 'src', 'main.ts');
const PASSWORD = 'probe password 9';
const ALICE = 'alice@contoso.com';

interface Demo {
  readonly child: ChildProcess;
  readonly urls: Readonly<Record<'lync' | 'exchange' | 'sts', string | undefined>>;
  /** Standard error so far: logs, where a 500 would have left "request failed". */
  readonly stderr: () => string;
  readonly stop: () => Promise<void>;
}

/** Starts `npm start`'s command with free ports and resolves at its `Ready:` line. */
async function startDemo(dataDir: string, scenario: 'onprem' | 'cloud'): Promise<Demo> {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_V8_COVERAGE: '', S2SAUTH_DEMO_PASSWORD: PASSWORD };
  delete env['INIT_CWD'];
  const args = [MAIN, '--data', dataDir, '--scenario', scenario, '--lync-port', '0', '--exchange-port', '0', '--sts-port', '0'];
  const child = spawn(process.execPath, ['--conditions=s2sauth-source', '--import=tsx', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const match = /^Ready: .*$/m.exec(stdout);
      if (match !== null) resolve(match[0]);
    };
    child.stdout?.on('data', check);
    void exited.then((code) => reject(new Error(`the demo exited (${code}) before it was ready: ${stderr}`)));
  });
  const url = (name: string): string | undefined => new RegExp(`${name} (http://[0-9.]+:[0-9]+)`).exec(line)?.[1];
  return {
    child,
    urls: { lync: url('Lync'), exchange: url('Exchange'), sts: url('STS') },
    stderr: () => stderr,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Sends `head` (request line and headers, without the blank line) and `body` on a new connection; reads until it closes. */
function raw(baseUrl: string, head: string, body: Buffer | string = ''): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The server may close while the client is still sending (a 431): what arrived is the answer.
    socket.on('error', (error) => (chunks.length > 0 ? undefined : reject(error)));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      const lines = text.slice(0, end < 0 ? text.length : end).split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      let payload = end < 0 ? '' : text.slice(end + 4);
      if (headers['transfer-encoding'] === 'chunked') payload = dechunk(payload);
      resolve({ status, headers, body: payload });
    });
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const length = bytes.length > 0 || /^(POST|PUT|DELETE) /.test(head) ? `\r\nContent-Length: ${bytes.length}` : '';
    socket.write(`${head}\r\nHost: ${hostname}:${port}${length}\r\nConnection: close\r\n\r\n`);
    // Not end(): a half-closed connection may be dropped before a slow answer (a sign-in) is written.
    socket.write(bytes);
  });
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, eol), 16);
    if (!(size > 0)) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

/** What a probe found wrong, one line each: an empty list is the pass. */
function problems(what: string, answer: RawAnswer, expected?: number): string[] {
  const found: string[] = [];
  if (answer.status === 0 || answer.status >= 500) found.push(`${what}: status ${answer.status}`);
  if (expected !== undefined && answer.status !== expected) found.push(`${what}: status ${answer.status}, expected ${expected}`);
  if (answer.status >= 400) {
    if (!(answer.headers['content-type'] ?? '').startsWith('application/json')) found.push(`${what}: content-type ${answer.headers['content-type']}`);
    try {
      const body = JSON.parse(answer.body) as Record<string, unknown>;
      if (typeof body['error'] !== 'string' || typeof body['message'] !== 'string') found.push(`${what}: body ${answer.body}`);
    } catch {
      found.push(`${what}: not JSON: ${answer.body.slice(0, 80)}`);
    }
  }
  return found;
}

/** `{"username", "password"}` as a plain body that claims to be compressed. */
const LOGIN = JSON.stringify({ username: ALICE, password: PASSWORD });
const JSON_TYPE = 'Content-Type: application/json';

/** The probes every server gets, with the status each must get (undefined: any 2xx-4xx with the JSON rule). */
async function commonProbes(base: string, postPath: string, auth: string): Promise<string[]> {
  const found: string[] = [];
  const probe = async (what: string, head: string, body?: Buffer | string, expected?: number): Promise<void> => {
    found.push(...problems(`${base} ${what}`, await raw(base, head, body), expected));
  };
  for (const encoding of ['gzip', 'deflate', 'br']) {
    await probe(`POST ${postPath} claiming ${encoding}`, `POST ${postPath} HTTP/1.1\r\n${JSON_TYPE}\r\nContent-Encoding: ${encoding}${auth}`, LOGIN, 400);
  }
  await probe(`POST ${postPath} in an unsupported encoding`, `POST ${postPath} HTTP/1.1\r\n${JSON_TYPE}\r\nContent-Encoding: x-unknown${auth}`, LOGIN);
  await probe(`POST ${postPath} as text/plain`, `POST ${postPath} HTTP/1.1\r\nContent-Type: text/plain${auth}`, 'hello');
  await probe(`POST ${postPath} with a JSON array`, `POST ${postPath} HTTP/1.1\r\n${JSON_TYPE}${auth}`, '[1,2]');
  await probe(`POST ${postPath} with broken JSON`, `POST ${postPath} HTTP/1.1\r\n${JSON_TYPE}${auth}`, '{"a":');
  await probe(`POST ${postPath} with binary garbage`, `POST ${postPath} HTTP/1.1\r\n${JSON_TYPE}; charset=latin9${auth}`, Buffer.from([0xff, 0xfe, 0x00, 0x81]));
  await probe('OPTIONS *', 'OPTIONS * HTTP/1.1', undefined, 200);
  await probe('GET *', 'GET * HTTP/1.1', undefined, 400);
  await probe('DELETE *', 'DELETE * HTTP/1.1', undefined, 400);
  await probe('GET in absolute form', `GET ${base}/healthz HTTP/1.1`, undefined, 200);
  await probe('GET an unknown route in absolute form', `GET ${base}/nowhere HTTP/1.1`, undefined, 404);
  await probe('GET a request target that is not a path', 'GET nowhere HTTP/1.1', undefined, 400);
  await probe('CONNECT', `CONNECT ${new URL(base).host} HTTP/1.1`, undefined, 405);
  await probe('GET an unknown route', 'GET /nowhere/%ZZ HTTP/1.1', undefined, 404);
  await probe('GET with a 20 KB header', `GET /healthz HTTP/1.1\r\nX-Filler: ${'a'.repeat(20_000)}`, undefined, 431);
  await probe('GET with a 100 KB header', `GET /healthz HTTP/1.1\r\nX-Filler: ${'a'.repeat(100_000)}`, undefined, 431);
  await probe('a request that is not HTTP', 'HELLO there', undefined, 400);
  return found;
}

/** Lync's and Exchange's token-related probes on a partner route. */
async function tokenProbes(base: string, path: string): Promise<string[]> {
  const found: string[] = [];
  for (const [what, header, expected] of [
    ['no token', '', 401],
    ['a garbage token', '\r\nAuthorization: Bearer abc.def.ghi', 401],
    ['two tokens', '\r\nAuthorization: Bearer abc\r\nAuthorization: Bearer def', 400],
    ['a 9 KB token', `\r\nAuthorization: Bearer ${'A'.repeat(9000)}`, 400],
    ['a Basic credential', '\r\nAuthorization: Basic dXNlcjpwYXNz', 401],
  ] as const) {
    const answer = await raw(base, `GET ${path} HTTP/1.1${header}`);
    found.push(...problems(`${base} GET ${path} with ${what}`, answer, expected));
    if (what === 'a 9 KB token' && !answer.body.includes('too large')) found.push(`${base} ${what}: ${answer.body}`);
    if (expected === 401 && !(answer.headers['www-authenticate'] ?? '').startsWith('Bearer realm=')) found.push(`${base} ${what}: no challenge`);
  }
  return found;
}

/** A token as Lync (or Exchange) from its certificate in the data folder, for `audience`, acting for alice. */
async function tokenFrom(serverDir: string, principal: string, audience: string, scopes: string[]): Promise<string> {
  const certificate = await OAuthCertificate.load(join(serverDir, 'oauth-cert.pem'), join(serverDir, 'oauth-key.pem'));
  const issuer = new TokenIssuer({ principal, realm: 'contoso.com', certificates: new CertificateSet({ current: certificate }) });
  return issuer.issueForUser({ audience, scopes }, { nameid: ALICE, smtp: ALICE, sip: `sip:${ALICE}` }).token;
}

/** Signs alice in at `base` and returns the cookie header line. */
async function signIn(base: string): Promise<string> {
  const answer = await raw(base, `POST /login HTTP/1.1\r\n${JSON_TYPE}`, LOGIN);
  expect(answer.status, answer.body).to.equal(200);
  const cookie = (answer.headers['set-cookie'] ?? '').split(';')[0];
  return `\r\nCookie: ${cookie}`;
}

async function expectHealthy(urls: readonly (string | undefined)[]): Promise<void> {
  for (const url of urls) {
    if (url === undefined) continue;
    const answer = await fetch(`${url}/healthz`);
    expect(answer.status, url).to.equal(200);
  }
}

describe('bad requests against a running npm start get no 5xx, and JSON {error, message}', function () {
  this.timeout(120_000);

  after(removeTemporaryFolders);

  it('on premises: Lync and Exchange, signed in and with valid tokens', async () => {
    const dataDir = await temporaryFolder();
    const demo = await startDemo(dataDir, 'onprem');
    try {
      const lync = demo.urls.lync as string;
      const exchange = demo.urls.exchange as string;
      const found: string[] = [];
      found.push(...(await commonProbes(lync, '/login', '')), ...(await commonProbes(exchange, '/login', '')));
      found.push(...(await tokenProbes(lync, '/api/conferences')), ...(await tokenProbes(exchange, '/api/ucs/contacts')));

      // Signed in at Lync: malformed percent-encodings in route parameters.
      const cookie = await signIn(lync);
      for (const [what, head, expected] of [
        ['GET /me/conversations/%E0%A4%A', 'GET /me/conversations/%E0%A4%A HTTP/1.1', 400],
        ['DELETE /me/contacts/%ZZ', 'DELETE /me/contacts/%ZZ HTTP/1.1', 400],
        ['POST /me/contacts claiming gzip', `POST /me/contacts HTTP/1.1\r\n${JSON_TYPE}\r\nContent-Encoding: gzip`, 400],
        ['OPTIONS * with a cookie', 'OPTIONS * HTTP/1.1', 200],
      ] as const) {
        found.push(...problems(`${lync} ${what} (signed in)`, await raw(lync, `${head}${cookie}`, head.startsWith('POST') ? '{"name":"x"}' : ''), expected));
      }

      // A valid token from Lync's own certificate: Exchange's partner routes with bad input.
      const exchangeAudience = `${WellKnownPrincipal.exchange}/${new URL(exchange).host}@contoso.com`;
      const toExchange = await tokenFrom(join(dataDir, 'onprem', 'lync'), WellKnownPrincipal.lync, exchangeAudience, ['contacts.read', 'contacts.write']);
      const bearer = `\r\nAuthorization: Bearer ${toExchange}`;
      expect((await raw(exchange, `GET /api/ucs/contacts HTTP/1.1${bearer}`)).status, 'the valid token is accepted').to.equal(200);
      found.push(...(await commonProbes(exchange, '/api/ucs/contacts', bearer)));
      found.push(...problems('Exchange DELETE /api/ucs/contacts/%E0%A4%A', await raw(exchange, `DELETE /api/ucs/contacts/%E0%A4%A HTTP/1.1${bearer}`), 400));
      found.push(...problems('Exchange PUT /api/ucs/contacts/%ZZ', await raw(exchange, `PUT /api/ucs/contacts/%ZZ HTTP/1.1\r\n${JSON_TYPE}${bearer}`, '{}'), 400));

      // And Lync's partner route with a valid token from Exchange's certificate.
      const lyncAudience = `${WellKnownPrincipal.lync}/${new URL(lync).host}@contoso.com`;
      const toLync = await tokenFrom(join(dataDir, 'onprem', 'exchange'), WellKnownPrincipal.exchange, lyncAudience, ['conferences.read', 'conferences.write']);
      const lyncBearer = `\r\nAuthorization: Bearer ${toLync}`;
      expect((await raw(lync, `GET /api/conferences HTTP/1.1${lyncBearer}`)).status, 'the valid token is accepted').to.equal(200);
      found.push(...(await commonProbes(lync, '/api/conferences', lyncBearer)));

      expect(found).to.deep.equal([]);
      expect(demo.stderr()).not.to.contain('request failed');
      await expectHealthy([lync, exchange]);
    } finally {
      await demo.stop();
    }
  });

  it('in the cloud scenario: the STS, Lync and Exchange', async () => {
    const dataDir = await temporaryFolder();
    const demo = await startDemo(dataDir, 'cloud');
    try {
      const sts = demo.urls.sts as string;
      const tenant = (await readFile(join(dataDir, 'cloud', 'tenant'), 'utf8')).trim();
      const tokenPath = `/${tenant}/tokens/OAuth/2`;
      const found: string[] = [];
      for (const base of [sts, demo.urls.lync as string, demo.urls.exchange as string]) {
        found.push(...(await commonProbes(base, base === sts ? tokenPath : '/login', '')));
      }
      found.push(...(await tokenProbes(demo.urls.lync as string, '/api/conferences')), ...(await tokenProbes(demo.urls.exchange as string, '/api/ucs/contacts')));
      for (const [what, head, body, expected] of [
        ['GET the token endpoint', `GET ${tokenPath} HTTP/1.1`, '', 405],
        ['POST the token endpoint with a form of nonsense', `POST ${tokenPath} HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded`, 'grant_type=password', 400],
        ['GET an unknown tenant', 'GET /00000000-0000-0000-0000-000000000000/metadata/json/1 HTTP/1.1', '', 404],
        ['GET a malformed percent-encoding', `GET /${tenant}/metadata/json/%E0%A4%A HTTP/1.1`, '', 404],
      ] as const) {
        found.push(...problems(`STS ${what}`, await raw(sts, head, body), expected));
      }
      expect(found).to.deep.equal([]);
      expect(demo.stderr()).not.to.contain('request failed');
      await expectHealthy([sts, demo.urls.lync, demo.urls.exchange]);
    } finally {
      await demo.stop();
    }
  });
});
