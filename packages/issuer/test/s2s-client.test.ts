import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express, { type Request as ExpressRequest, type Response as ExpressResponse } from 'express';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { buildJwks, WellKnownPrincipal } from '@s2sauth/protocol';
import { OAuthCertificate } from '../src/identity/certificate.js';
import {
  S2SClient,
  S2SClientError,
  type FetchFunction,
  type PartnerEndpoint,
  type PartnerTargetOptions,
  type S2SClientErrorCode,
  type S2SClientOptions,
  type TokenSource,
} from '../src/index.js';
import { TokenIssuer, type ActorTokenRequest, type IssuedToken, type UserContext } from '../src/identity/token-issuer.js';

const HOUR = 3_600_000;
const SECOND = 1000;
/** Start of the test certificate's validity; the clock starts an hour later. */
const T0 = Date.UTC(2031, 5, 1);

const LYNC = WellKnownPrincipal.lync;
const EXCHANGE = WellKnownPrincipal.exchange;
const SHAREPOINT = WellKnownPrincipal.sharepoint;
const REALM = 'contoso.com';
const ISSUER_ID = `${LYNC}@${REALM}`;
const ALICE: UserContext = { nameid: 'alice@contoso.com', smtp: 'alice@contoso.com', sip: 'alice@contoso.com' };

/** The challenge protocol.md section 7 prescribes for an Exchange-like partner that trusts us. */
const CHALLENGE = `Bearer realm="${REALM}", client_id="${EXCHANGE}", trusted_issuers="${ISSUER_ID}"`;

/** One request as the partner saw it. */
interface Recorded {
  readonly method: string;
  readonly path: string;
  /** Every Authorization header value, from the raw headers (Node keeps only one in `headers`). */
  readonly authorization: string[];
  readonly cookie: string[];
  readonly headers: ExpressRequest['headers'];
  /** The token, when the request carried one. */
  readonly token?: string;
}

type Handler = (req: ExpressRequest, res: ExpressResponse, recorded: Recorded) => void;

/** A local partner application that records every request and answers as the test says. */
interface PartnerServer {
  readonly url: string;
  readonly requests: Recorded[];
  /** Requests that carried a token. */
  readonly tokens: () => string[];
  handle(handler: Handler): void;
  close(): Promise<void>;
}

/** Answers the way an s2sauth-protected partner does: challenge without a token, 200 with one. */
const acceptAll: Handler = (_req, res, recorded) => {
  if (recorded.token === undefined) {
    res.status(401).set('www-authenticate', CHALLENGE).end();
  } else {
    res.json({ ok: true });
  }
};

async function startPartner(): Promise<PartnerServer> {
  const requests: Recorded[] = [];
  let handler: Handler = acceptAll;
  const app = express();
  app.use((req, res) => {
    const authorization: string[] = [];
    const cookie: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = (req.rawHeaders[i] as string).toLowerCase();
      const value = req.rawHeaders[i + 1] as string;
      if (name === 'authorization') authorization.push(value);
      if (name === 'cookie') cookie.push(value);
    }
    const match = /^Bearer (\S+)$/.exec(authorization[0] ?? '');
    const recorded: Recorded = {
      method: req.method,
      path: req.originalUrl,
      authorization,
      cookie,
      headers: req.headers,
      ...(match ? { token: match[1] as string } : {}),
    };
    requests.push(recorded);
    handler(req, res, recorded);
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    tokens: () => requests.flatMap((r) => (r.token === undefined ? [] : [r.token])),
    handle(next) {
      handler = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A token source that counts what it signs; optionally holds each mint until released. */
class CountingIssuer implements TokenSource {
  appOnly = 0;
  forUser = 0;
  readonly requests: ActorTokenRequest[] = [];
  constructor(private readonly inner: TokenIssuer) {}
  get issuerId(): string {
    return this.inner.issuerId;
  }
  get signatures(): number {
    return this.appOnly + this.forUser;
  }
  issueAppOnly(request: ActorTokenRequest): IssuedToken {
    this.appOnly += 1;
    this.requests.push(request);
    return this.inner.issueAppOnly(request);
  }
  issueForUser(request: ActorTokenRequest, user: UserContext): IssuedToken {
    this.forUser += 1;
    this.requests.push(request);
    return this.inner.issueForUser(request, user);
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

async function expectClientError(promise: Promise<unknown>, code: S2SClientErrorCode): Promise<S2SClientError> {
  const error = await rejection(promise);
  expect(error, String(error)).to.be.instanceOf(S2SClientError);
  expect((error as S2SClientError).code, (error as Error).message).to.equal(code);
  return error as S2SClientError;
}

function expectThrownClientError(action: () => unknown, code: S2SClientErrorCode): S2SClientError {
  try {
    action();
  } catch (error) {
    expect(error).to.be.instanceOf(S2SClientError);
    expect((error as S2SClientError).code).to.equal(code);
    return error as S2SClientError;
  }
  throw new Error(`expected an S2SClientError ${code}`);
}

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('S2SClient', () => {
  let certificate: OAuthCertificate;
  let now: number;
  const clock = (): number => now;
  let issuer: CountingIssuer;
  let partner: PartnerServer;
  let other: PartnerServer;

  function client(extra: Partial<S2SClientOptions> = {}): S2SClient {
    return new S2SClient({ issuer, clock, allowLoopbackHttp: true, ...extra });
  }

  function exchange(s2s: S2SClient, extra: Partial<PartnerTargetOptions> = {}): PartnerEndpoint {
    return s2s.partner({ principal: EXCHANGE, baseUrl: partner.url, ...extra });
  }

  function audienceOf(server: PartnerServer, principal: string = EXCHANGE): string {
    return `${principal}/${new URL(server.url).host}@${REALM}`;
  }

  /** Verifies with jose against our own JWKS (an independent implementation). */
  async function verify(token: string, audience: string): Promise<JWTPayload> {
    const jwks = createLocalJWKSet(buildJwks([certificate.certificate]) as never);
    const { payload } = await jwtVerify(token, jwks, {
      algorithms: ['RS256'],
      audience,
      issuer: ISSUER_ID,
      currentDate: new Date(now),
    });
    return payload;
  }

  /** A fetch stand-in that records calls and answers 200, for URLs no test server can have. */
  function fakeFetch(answer: () => Response = () => new Response('{}', { status: 200 })): FetchFunction & { calls: [URL, RequestInit][] } {
    const calls: [URL, RequestInit][] = [];
    const fetchFunction = (url: URL, init: RequestInit): Promise<Response> => {
      calls.push([url, init]);
      return Promise.resolve(answer());
    };
    return Object.assign(fetchFunction, { calls });
  }

  before(async () => {
    certificate = await OAuthCertificate.create({ realms: [REALM], notBefore: new Date(T0), validityDays: 365 });
    [partner, other] = await Promise.all([startPartner(), startPartner()]);
  });

  after(async () => {
    await Promise.all([partner.close(), other.close()]);
  });

  beforeEach(() => {
    now = T0 + HOUR + 123;
    issuer = new CountingIssuer(new TokenIssuer({ principal: LYNC, realm: REALM, certificates: certificate, clock }));
    partner.requests.length = 0;
    other.requests.length = 0;
    partner.handle(acceptAll);
    other.handle(acceptAll);
  });

  describe('options', () => {
    const cases: [string, unknown, RegExp][] = [
      ['options that are not an object', undefined, /options must be an object/],
      ['an issuer without issue methods', { issuer: { issuerId: ISSUER_ID } }, /options\.issuer must be a TokenIssuer/],
      ['a null issuer', { issuer: null }, /options\.issuer must be a TokenIssuer/],
      ['an issuer id that is not <principal>@<realm>', { issuer: { issuerId: 'lync', issueAppOnly() {}, issueForUser() {} } }, /issuerId/],
      ['an issuer without an issuer id', { issuer: { issueAppOnly() {}, issueForUser() {} } }, /issuerId/],
      ['a timeout of zero', { timeoutMs: 0 }, /options\.timeoutMs/],
      ['a timeout that is not a number', { timeoutMs: '5' }, /options\.timeoutMs/],
      ['a timeout beyond what timers allow', { timeoutMs: 2 ** 31 }, /options\.timeoutMs/],
      ['an allowLoopbackHttp that is not a boolean', { allowLoopbackHttp: 'yes' }, /allowLoopbackHttp/],
      ['a fetch that is not a function', { fetch: {} }, /options\.fetch/],
      ['a clock that is not a function', { clock: 1 }, /options\.clock/],
      ['a negative renewal margin', { renewBeforeSeconds: -5 }, /renewBeforeSeconds/],
      ['a cache bound of zero', { maxCachedTokens: 0 }, /maxEntries/],
      ['a misspelt option name', { allowLoopbackHTTP: true }, /^new S2SClient: unknown option "allowLoopbackHTTP"; the options are issuer, /],
    ];
    for (const [name, extra, pattern] of cases) {
      it(`refuses ${name} with a TypeError`, () => {
        const options = extra === undefined ? undefined : { issuer, ...(extra as object) };
        expect(() => new S2SClient(options as unknown as S2SClientOptions)).to.throw(TypeError, pattern);
      });
    }

    it('exposes the issuer id partners see', () => {
      expect(client().issuerId).to.equal(ISSUER_ID);
    });

    it('works with the real TokenIssuer and the global fetch by default', async () => {
      const s2s = new S2SClient({ issuer: new TokenIssuer({ principal: LYNC, realm: REALM, certificates: certificate, clock }), clock, allowLoopbackHttp: true });
      const response = await exchange(s2s, { realm: REALM }).fetch('/');
      expect(response.status).to.equal(200);
    });
  });

  describe('partner()', () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['options that are not an object', { self: null }, /partner options must be an object/],
      ['a principal that is not a lowercase GUID', { principal: EXCHANGE.toUpperCase() }, /options\.principal/],
      ['a base URL that is not a URL', { baseUrl: 'mail.contoso.com' }, /options\.baseUrl must be an absolute URL/],
      ['a base URL with credentials', { baseUrl: 'https://user:secret@mail.contoso.com' }, /user name or password/],
      ['a realm that is not a realm', { realm: 'Contoso.com' }, /options\.realm must be/],
      ['a realm other than the issuer’s', { realm: 'fabrikam.com' }, /not the issuer's realm contoso\.com/],
      ['a discovery path on another origin', { discoveryPath: 'https://elsewhere.example/' }, /discoveryPath must stay on the origin/],
      ['a discovery path that is not a string', { discoveryPath: 7 }, /discoveryPath must be a path/],
      ['a timeout that is negative', { timeoutMs: -1 }, /options\.timeoutMs/],
      ['an infinite timeout', { timeoutMs: Infinity }, /options\.timeoutMs/],
      ['a misspelt option name', { discoverypath: '/x' }, /^S2SClient\.partner: unknown option "discoverypath"; the options are principal, baseUrl, realm, discoveryPath, timeoutMs\.$/],
    ];
    for (const [name, extra, pattern] of cases) {
      it(`refuses ${name} with a TypeError`, () => {
        const options = 'self' in extra ? extra['self'] : { principal: EXCHANGE, baseUrl: 'https://mail.contoso.com', ...extra };
        expect(() => client().partner(options as PartnerTargetOptions)).to.throw(TypeError, pattern);
      });
    }

    for (const baseUrl of ['http://mail.contoso.com', 'http://10.0.0.5:8080', 'http://[fe80::1]/', 'ftp://mail.contoso.com', 'http://127.0.0.1.nip.io']) {
      it(`refuses ${baseUrl} before anything is minted or sent`, async () => {
        const fetchFunction = fakeFetch();
        const s2s = client({ fetch: fetchFunction });
        const error = expectThrownClientError(() => s2s.partner({ principal: EXCHANGE, baseUrl }), 'insecure_url');
        expect(error.message).to.match(/is not an https: URL/);
        expect(error.target).to.equal(new URL(baseUrl).origin);
        expect(fetchFunction.calls).to.have.length(0);
        expect(issuer.signatures).to.equal(0);
      });
    }

    it('refuses http to loopback by default (allowLoopbackHttp defaults to false)', () => {
      const fetchFunction = fakeFetch();
      const s2s = new S2SClient({ issuer, clock, fetch: fetchFunction });
      const error = expectThrownClientError(() => exchange(s2s), 'insecure_url');
      expect(error.message).to.equal(`${new URL(partner.url).origin} is not an https: URL; tokens are never sent over it.`);
      expect(fetchFunction.calls).to.have.length(0);
      expect(issuer.signatures).to.equal(0);
    });

    it('refuses http to loopback too when allowLoopbackHttp is false', () => {
      const fetchFunction = fakeFetch();
      const s2s = client({ fetch: fetchFunction, allowLoopbackHttp: false });
      const error = expectThrownClientError(() => exchange(s2s), 'insecure_url');
      expect(error.message).not.to.match(/allowed only/);
      expect(fetchFunction.calls).to.have.length(0);
    });

    it('accepts http to localhost, 127.0.0.0/8 and [::1], and names their authority with the port', () => {
      const s2s = client({ fetch: fakeFetch() });
      const authorities = ['http://localhost:8080', 'http://127.3.4.5:81/', 'http://[::1]:4402', 'http://127.1'].map(
        (baseUrl) => s2s.partner({ principal: EXCHANGE, baseUrl }).authority,
      );
      expect(authorities).to.deep.equal(['localhost:8080', '127.3.4.5:81', '[::1]:4402', '127.0.0.1']);
    });

    it('puts the authority with a non-default port, lower-cased, into the audience of an https call', async () => {
      const fetchFunction = fakeFetch();
      const s2s = client({ fetch: fetchFunction });
      const endpoint = s2s.partner({ principal: EXCHANGE, baseUrl: new URL('https://Mail.Contoso.com:8443/ews/'), realm: REALM });
      expect(endpoint.origin).to.equal('https://mail.contoso.com:8443');
      await endpoint.fetch('exchange.asmx');
      const [[url, init]] = fetchFunction.calls as [[URL, RequestInit]];
      expect(url.href).to.equal('https://mail.contoso.com:8443/ews/exchange.asmx');
      expect(init.redirect).to.equal('manual');
      const token = /^Bearer (.+)$/.exec(new Headers(init.headers).get('authorization') ?? '')?.[1] as string;
      const payload = await verify(token, `${EXCHANGE}/mail.contoso.com:8443@${REALM}`);
      expect(payload['aud']).to.equal(`${EXCHANGE}/mail.contoso.com:8443@${REALM}`);
    });

    it('leaves the default https port out of the audience', async () => {
      const fetchFunction = fakeFetch();
      const endpoint = client({ fetch: fetchFunction }).partner({ principal: EXCHANGE, baseUrl: 'https://mail.contoso.com:443', realm: REALM });
      await endpoint.fetch('/');
      const token = new Headers(fetchFunction.calls[0]?.[1].headers).get('authorization')?.slice('Bearer '.length) as string;
      expect(payloadOf(token)['aud']).to.equal(`${EXCHANGE}/mail.contoso.com@${REALM}`);
    });
  });

  describe('calls', () => {
    it('sends an app-only call with exactly one Bearer header, no cookie, and a token for the partner', async () => {
      const response = await exchange(client(), { realm: REALM }).fetch('/api/archive?x=1', { method: 'PUT', body: 'transcript' });
      expect(response.status).to.equal(200);
      expect(await response.json()).to.deep.equal({ ok: true });
      expect(partner.requests).to.have.length(1);
      const [request] = partner.requests as [Recorded];
      expect(request.method).to.equal('PUT');
      expect(request.path).to.equal('/api/archive?x=1');
      expect(request.authorization).to.have.length(1);
      expect(request.cookie).to.deep.equal([]);
      const payload = await verify(request.token as string, audienceOf(partner));
      expect(payload['nameid']).to.equal(ISSUER_ID);
      expect(payload).not.to.have.property('trustedfordelegation');
      expect(payload).not.to.have.property('scp');
    });

    it('calls on behalf of a user with an outer token wrapping a delegation actor token', async () => {
      await exchange(client(), { realm: REALM }).fetch('/api/ucs/contacts', { user: ALICE, scopes: ['contacts.read'] });
      const [request] = partner.requests as [Recorded];
      expect(request.authorization).to.have.length(1);
      expect(request.cookie).to.deep.equal([]);
      const outer = await verify(request.token as string, audienceOf(partner));
      expect(outer).to.include({ nameid: 'alice@contoso.com', smtp: 'alice@contoso.com', sip: 'alice@contoso.com' });
      const actor = await verify(outer['actortoken'] as string, audienceOf(partner));
      expect(actor).to.include({ trustedfordelegation: 'true', scp: 'contacts.read', nameid: ISSUER_ID });
      expect(issuer.forUser).to.equal(1);
    });

    it('reuses the cached token for repeated calls, signing once', async () => {
      const endpoint = exchange(client(), { realm: REALM });
      for (let i = 0; i < 5; i += 1) await endpoint.fetch('/api/ucs/contacts', { user: ALICE, scopes: ['contacts.read'] });
      expect(issuer.signatures).to.equal(1);
      expect(new Set(partner.tokens()).size).to.equal(1);
      expect(partner.tokens()).to.have.length(5);
    });

    it('shares tokens between endpoint handles of one client', async () => {
      const s2s = client();
      await exchange(s2s, { realm: REALM }).fetch('/a');
      await exchange(s2s, { realm: REALM }).fetch('/b');
      expect(issuer.signatures).to.equal(1);
    });

    it('renews a token shortly before it expires', async () => {
      const endpoint = exchange(client({ renewBeforeSeconds: 300 }), { realm: REALM });
      await endpoint.fetch('/');
      now += HOUR - 301 * SECOND;
      await endpoint.fetch('/');
      expect(issuer.signatures).to.equal(1);
      now += 2 * SECOND;
      await endpoint.fetch('/');
      expect(issuer.signatures).to.equal(2);
      const [first, , renewed] = partner.tokens() as [string, string, string];
      expect(renewed).not.to.equal(first);
      await verify(renewed, audienceOf(partner));
    });

    it('never renews earlier than half a token’s lifetime', async () => {
      issuer = new CountingIssuer(new TokenIssuer({ principal: LYNC, realm: REALM, certificates: certificate, clock, lifetimeSeconds: 120 }));
      const endpoint = exchange(client({ renewBeforeSeconds: 3000 }), { realm: REALM });
      await endpoint.fetch('/');
      now += 59 * SECOND;
      await endpoint.fetch('/');
      expect(issuer.signatures).to.equal(1);
      now += 2 * SECOND;
      await endpoint.fetch('/');
      expect(issuer.signatures).to.equal(2);
    });

    it('mints separate tokens per user and per scope set, but not per scope order', async () => {
      const endpoint = exchange(client(), { realm: REALM });
      await endpoint.fetch('/', { user: ALICE, scopes: ['contacts.read', 'calendar.read'] });
      await endpoint.fetch('/', { user: ALICE, scopes: ['calendar.read', 'contacts.read', 'calendar.read'] });
      expect(issuer.signatures).to.equal(1);
      expect(payloadOf(payloadOf(partner.tokens()[0] as string)['actortoken'] as string)['scp']).to.equal('calendar.read contacts.read');
      await endpoint.fetch('/', { user: { ...ALICE, nameid: 'bob@contoso.com' }, scopes: ['contacts.read', 'calendar.read'] });
      await endpoint.fetch('/', { user: ALICE, scopes: ['contacts.read'] });
      await endpoint.fetch('/', { user: ALICE });
      await endpoint.fetch('/', { user: ALICE, scopes: [] });
      await endpoint.fetch('/', { scopes: ['contacts.read'] });
      await endpoint.fetch('/');
      expect(issuer.signatures).to.equal(7);
      expect(new Set(partner.tokens()).size).to.equal(7);
    });

    it('keeps separate tokens per partner application at one origin', async () => {
      const s2s = client();
      await exchange(s2s, { realm: REALM }).fetch('/');
      await s2s.partner({ principal: SHAREPOINT, baseUrl: partner.url, realm: REALM }).fetch('/');
      const [first, second] = partner.tokens() as [string, string];
      expect(payloadOf(first)['aud']).to.equal(audienceOf(partner));
      expect(payloadOf(second)['aud']).to.equal(audienceOf(partner, SHAREPOINT));
    });

    it('shares one mint between concurrent calls for the same token', async () => {
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let mints = 0;
      const slow: TokenSource = {
        issuerId: ISSUER_ID,
        issueAppOnly: async (request) => {
          mints += 1;
          await gate;
          return issuer.issueAppOnly(request);
        },
        issueForUser: (request, user) => issuer.issueForUser(request, user),
      };
      const endpoint = exchange(client({ issuer: slow }), { realm: REALM });
      const calls = [endpoint.fetch('/1'), endpoint.fetch('/2'), endpoint.fetch('/3')];
      release();
      const responses = await Promise.all(calls);
      expect(responses.map((r) => r.status)).to.deep.equal([200, 200, 200]);
      expect(mints).to.equal(1);
      expect(new Set(partner.tokens()).size).to.equal(1);
    });

    it('passes on a TypeError for scopes that are not scope words, and sends nothing', async () => {
      const error = await rejection(exchange(client(), { realm: REALM }).fetch('/', { scopes: ['contacts read'] }));
      expect(error).to.be.instanceOf(TypeError);
      expect(partner.requests).to.have.length(0);
    });

    it('forgets everything on clear()', async () => {
      const s2s = client();
      await exchange(s2s, { realm: REALM }).fetch('/');
      s2s.clear();
      await exchange(s2s, { realm: REALM }).fetch('/');
      expect(issuer.signatures).to.equal(2);
    });
  });

  describe('the request', () => {
    it('sends a json value with its content type, defaulting the method to POST', async () => {
      partner.handle((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => res.json({ got: Buffer.concat(chunks).toString('utf8'), type: req.headers['content-type'] }));
      });
      const answer = await exchange(client(), { realm: REALM }).json('/api/meetings', { json: { subject: 'sync' } });
      expect(answer).to.deep.equal({ got: '{"subject":"sync"}', type: 'application/json' });
      expect(partner.requests[0]?.method).to.equal('POST');
      expect(partner.requests[0]?.headers['accept']).to.equal('application/json');
    });

    it('keeps the caller’s headers and content type', async () => {
      await exchange(client(), { realm: REALM }).json('/', {
        json: [1],
        headers: [['content-type', 'application/vnd.contoso+json'], ['x-request-id', 'r1'], ['accept', 'text/plain']],
      });
      const [request] = partner.requests as [Recorded];
      expect(request.headers['content-type']).to.equal('application/vnd.contoso+json');
      expect(request.headers['x-request-id']).to.equal('r1');
      expect(request.headers['accept']).to.equal('text/plain');
    });

    const invalid: [string, Record<string, unknown>, RegExp][] = [
      ['options that are not an object', { self: 5 }, /options must be an object/],
      ['both json and body', { json: {}, body: 'x' }, /json and options\.body/],
      ['a body on GET', { method: 'GET', body: 'x' }, /cannot carry a body/],
      ['a json body on HEAD', { method: 'head', json: 1 }, /cannot carry a body/],
      ['a method that is not a token', { method: 'GET /' }, /options\.method/],
      ['the CONNECT method', { method: 'connect' }, /options\.method/],
      ['a method that is not a string', { method: 1 }, /options\.method/],
      ['an Authorization header', { headers: { Authorization: 'Basic eDp5' } }, /may not set authorization/],
      ['a Cookie header', { headers: { cookie: 'session=1' } }, /may not set cookie/],
      ['headers that are not valid', { headers: { 'bad header': 'x' } }, /options\.headers must be valid/],
      ['a user that is not an object', { user: 'alice' }, /options\.user/],
      ['scopes that are not an array', { scopes: 'contacts.read' }, /options\.scopes/],
      ['a json value JSON cannot represent', { json: () => 1 }, /options\.json/],
      ['a signal that is not an AbortSignal', { signal: {} }, /options\.signal/],
      ['a timeout that is not positive', { timeoutMs: 0 }, /options\.timeoutMs/],
      ['an idempotency key with a space', { method: 'POST', idempotencyKey: 'a b' }, /options\.idempotencyKey/],
      ['an idempotency key of 256 characters', { method: 'POST', idempotencyKey: 'a'.repeat(256) }, /options\.idempotencyKey/],
      ['an Idempotency-Key header', { method: 'POST', headers: { 'Idempotency-Key': 'k1' } }, /options\.idempotencyKey/],
    ];
    for (const [name, options, pattern] of invalid) {
      it(`refuses ${name} with a TypeError, sending and minting nothing`, async () => {
        const endpoint = exchange(client(), { realm: REALM });
        const error = await rejection(endpoint.fetch('/', ('self' in options ? options['self'] : options) as never));
        expect(error).to.be.instanceOf(TypeError);
        expect((error as Error).message).to.match(pattern);
        expect(partner.requests).to.have.length(0);
        expect(issuer.signatures).to.equal(0);
      });
    }

    it('refuses a path that is not a string', async () => {
      expect(await rejection(exchange(client(), { realm: REALM }).fetch(5 as never))).to.be.instanceOf(TypeError);
    });

    for (const path of ['//127.0.0.2/steal', 'https://mail.contoso.com/', 'http://127.0.0.1:1/x', '//user:pw@127.0.0.1/']) {
      it(`refuses the path ${path}, which leaves the partner, before minting or sending`, async () => {
        const fetchFunction = fakeFetch();
        const endpoint = client({ fetch: fetchFunction }).partner({ principal: EXCHANGE, baseUrl: 'http://127.0.0.1', realm: REALM });
        const error = await expectClientError(endpoint.fetch(path), 'invalid_url');
        expect(error.message).to.contain('http://127.0.0.1');
        expect(fetchFunction.calls).to.have.length(0);
        expect(issuer.signatures).to.equal(0);
      });
    }
  });

  describe('Idempotency-Key', () => {
    const keyOf = (request: Recorded | undefined): unknown => request?.headers['idempotency-key'];

    it('sends one new key per call of a method that is not safe, as a Structured Fields string, and none with GET, HEAD or OPTIONS', async () => {
      const endpoint = exchange(client(), { realm: REALM });
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'GET', 'HEAD', 'OPTIONS']) await endpoint.fetch('/api/ucs/contacts', { method });
      await endpoint.fetch('/api/ucs/contacts', { json: { displayName: 'Bob' } });
      const keys = partner.requests.map(keyOf);
      for (const key of [...keys.slice(0, 4), keys[7]]) expect(key).to.match(/^"[0-9a-f-]{36}"$/);
      expect(new Set([...keys.slice(0, 4), keys[7]]).size).to.equal(5);
      expect(keys.slice(4, 7)).to.deep.equal([undefined, undefined, undefined]);
    });

    it('sends the caller\'s key, with any method, so a repeated logical call carries the same key', async () => {
      const endpoint = exchange(client(), { realm: REALM });
      await endpoint.fetch('/api/archive', { json: { n: 1 }, idempotencyKey: 'transcript-42' });
      await endpoint.fetch('/api/archive', { json: { n: 1 }, idempotencyKey: 'transcript-42' });
      await endpoint.fetch('/api/archive', { method: 'GET', idempotencyKey: 'k:1' });
      expect(partner.requests.map(keyOf)).to.deep.equal(['"transcript-42"', '"transcript-42"', '"k:1"']);
    });

    it('sends the same key again on the retry after a refused token', async () => {
      const endpoint = exchange(client(), { realm: REALM });
      await endpoint.fetch('/api/ucs/contacts', { user: ALICE });
      const revoked = new Set(partner.tokens());
      partner.handle((_req, res, recorded) => {
        if (recorded.token !== undefined && !revoked.has(recorded.token)) return void res.json({ ok: true });
        res.status(401).set('www-authenticate', `${CHALLENGE}, error="invalid_token"`).end();
      });
      expect(await endpoint.json('/api/ucs/contacts', { user: ALICE, json: { displayName: 'Bob' } })).to.deep.equal({ ok: true });
      const [refused, retried] = partner.requests.slice(1);
      expect(refused?.token).not.to.equal(retried?.token);
      expect(keyOf(refused)).to.match(/^"[0-9a-f-]{36}"$/);
      expect(keyOf(retried)).to.equal(keyOf(refused));
    });
  });

  describe('realm discovery', () => {
    it('discovers the realm once per target with an empty Bearer request, then calls with a token', async () => {
      const s2s = client();
      await exchange(s2s).fetch('/api/ucs/contacts');
      await exchange(s2s).fetch('/api/ucs/contacts');
      expect(partner.requests.map((r) => [r.method, r.path, r.authorization])).to.deep.equal([
        ['GET', '/api/ucs/contacts', ['Bearer']],
        ['GET', '/api/ucs/contacts', [`Bearer ${partner.tokens()[0]}`]],
        ['GET', '/api/ucs/contacts', [`Bearer ${partner.tokens()[0]}`]],
      ]);
      await verify(partner.tokens()[0] as string, audienceOf(partner));
      expect(await exchange(s2s).realm()).to.equal(REALM);
      expect(partner.requests).to.have.length(3);
    });

    it('discovers with GET and no body even for a POST call', async () => {
      await exchange(client()).fetch('/api/archive', { json: { message: 'hi' } });
      const [discovery, call] = partner.requests as [Recorded, Recorded];
      expect(discovery.method).to.equal('GET');
      expect(discovery.headers['content-length']).to.equal(undefined);
      expect(call.method).to.equal('POST');
    });

    it('shares one discovery between concurrent calls', async () => {
      const endpoint = exchange(client());
      await Promise.all([endpoint.fetch('/1'), endpoint.fetch('/2'), endpoint.realm()]);
      expect(partner.requests.filter((r) => r.token === undefined)).to.have.length(1);
    });

    it('asks at discoveryPath when one is configured', async () => {
      const endpoint = exchange(client(), { discoveryPath: '/_vti_bin/client.svc' });
      await endpoint.fetch('/api/contacts');
      expect(partner.requests.map((r) => r.path)).to.deep.equal(['/_vti_bin/client.svc', '/api/contacts']);
    });

    it('asks at / when realm() is called without a discoveryPath', async () => {
      expect(await exchange(client()).realm()).to.equal(REALM);
      expect(partner.requests.map((r) => r.path)).to.deep.equal(['/']);
    });

    it('refuses realm() options that are not an object', async () => {
      expect(await rejection(exchange(client()).realm(null as never))).to.be.instanceOf(TypeError);
    });

    it('returns a configured realm without asking', async () => {
      expect(await exchange(client(), { realm: REALM }).realm()).to.equal(REALM);
      expect(partner.requests).to.have.length(0);
    });

    it('reads a SharePoint-style challenge: no spaces, URL entries, a wildcard trusted issuer and authorization_uri', async () => {
      partner.handle((_req, res, recorded) => {
        if (recorded.token !== undefined) return void res.end('ok');
        res
          .status(401)
          .set(
            'www-authenticate',
            `Bearer realm="${REALM}",client_id="${SHAREPOINT}",trusted_issuers="00000001-0000-0000-c000-000000000000@*,D3776938-3DBA-481F-A652-4BEDFCAB7CD8@*,https://sts.windows.net/*/,${LYNC}@*",authorization_uri="https://login.windows.net/common/oauth2/authorize"`,
          )
          .end();
      });
      const endpoint = client().partner({ principal: SHAREPOINT, baseUrl: partner.url });
      expect((await endpoint.fetch('/_api/web')).status).to.equal(200);
      expect(payloadOf(partner.tokens()[0] as string)['aud']).to.equal(audienceOf(partner, SHAREPOINT));
    });

    it('reads an Exchange-style challenge without a realm, joined with Negotiate, as this server’s realm', async () => {
      partner.handle((_req, res, recorded) => {
        if (recorded.token !== undefined) return void res.end('ok');
        res
          .status(401)
          .append('www-authenticate', `Bearer client_id="${EXCHANGE}", trusted_issuers="${ISSUER_ID}", token_types="app_asserted_user_v1 service_asserted_app_v1", error="invalid_token"`)
          .append('www-authenticate', 'Negotiate')
          .append('www-authenticate', 'Basic realm="autodiscover.contoso.com"')
          .end();
      });
      expect(await exchange(client()).realm()).to.equal(REALM);
    });

    it('reports a partner that does not trust this server, naming both, before minting anything', async () => {
      partner.handle((_req, res) => {
        res.status(401).set('www-authenticate', `Bearer realm="${REALM}", client_id="${EXCHANGE}", trusted_issuers="00000001-0000-0000-c000-000000000000@*,${SHAREPOINT}@${REALM}"`).end();
      });
      const error = await expectClientError(exchange(client()).fetch('/api/ucs/contacts', { user: ALICE }), 'not_trusted');
      expect(error.message).to.equal(
        `${partner.url} does not trust ${ISSUER_ID} as a token issuer (it trusts: 00000001-0000-0000-c000-000000000000@*, ${SHAREPOINT}@${REALM}).`,
      );
      expect(error.target).to.equal(partner.url);
      expect(error.status).to.equal(401);
      expect(error.challenge?.clientId).to.equal(EXCHANGE);
      expect(issuer.signatures).to.equal(0);
      expect(partner.requests).to.have.length(1);
    });

    it('lists at most ten trusted issuers in the message', async () => {
      const many = Array.from({ length: 12 }, (_, i) => `0000000${i % 10}-0000-0000-c000-00000000000${i % 10}@*`).join(',');
      partner.handle((_req, res) => void res.status(401).set('www-authenticate', `Bearer realm="${REALM}", trusted_issuers="${many}"`).end());
      const error = await expectClientError(exchange(client()).realm(), 'not_trusted');
      expect(error.message).to.match(/and 2 more\)\.$/);
    });

    it('asks again after a discovery failed', async () => {
      partner.handle((_req, res) => void res.status(401).set('www-authenticate', `Bearer realm="${REALM}", trusted_issuers="${SHAREPOINT}@*"`).end());
      const endpoint = exchange(client());
      await expectClientError(endpoint.realm(), 'not_trusted');
      partner.handle(acceptAll);
      expect(await endpoint.realm()).to.equal(REALM);
      expect(partner.requests).to.have.length(2);
    });

    const failures: [string, number, string | undefined, S2SClientErrorCode, RegExp][] = [
      ['a challenge from another application', 401, `Bearer realm="${REALM}", client_id="${SHAREPOINT}"`, 'wrong_principal', new RegExp(`is the application ${SHAREPOINT}, not the configured partner ${EXCHANGE}`)],
      ['a partner in another realm', 401, `Bearer realm="fabrikam.com", client_id="${EXCHANGE}", trusted_issuers="${LYNC}@*"`, 'realm_mismatch', /is in the realm fabrikam\.com, but .* issues tokens for contoso\.com only/],
      ['a realm that is not a realm', 401, 'Bearer realm="Contoso.COM"', 'discovery_failed', /not a lowercase DNS name or GUID: Contoso\.COM/],
      ['a 401 without a Bearer challenge', 401, 'Negotiate, Basic realm="x"', 'discovery_failed', /with 401 but no Bearer challenge/],
      ['a 401 without any challenge', 401, undefined, 'discovery_failed', /with 401 but no Bearer challenge/],
      ['a 200', 200, undefined, 'discovery_failed', /with 200, not 401 with a Bearer challenge; configure/],
      ['a 404', 404, CHALLENGE, 'discovery_failed', /with 404/],
    ];
    for (const [name, status, challenge, code, pattern] of failures) {
      it(`reports ${code} for ${name}`, async () => {
        partner.handle((_req, res) => {
          if (challenge !== undefined) res.set('www-authenticate', challenge);
          res.status(status).end();
        });
        const error = await expectClientError(exchange(client()).fetch('/api/ucs/contacts'), code);
        expect(error.message).to.match(pattern);
        expect(error.status).to.equal(status);
        expect(issuer.signatures).to.equal(0);
      });
    }
  });

  describe('a refused token', () => {
    /** Refuses the tokens in `revoked` the way a verifier does. */
    function refusing(revoked: Set<string>, challenge = `${CHALLENGE}, error="invalid_token", error_description="The token is not valid."`): Handler {
      return (_req, res, recorded) => {
        if (recorded.token !== undefined && !revoked.has(recorded.token)) return void res.json({ ok: true });
        res.status(401).set('www-authenticate', challenge).end();
      };
    }

    it('drops a refused cached token, mints a new one and retries once', async () => {
      const endpoint = exchange(client(), { realm: REALM });
      await endpoint.fetch('/api/ucs/contacts', { user: ALICE });
      const revoked = new Set(partner.tokens());
      partner.handle(refusing(revoked));
      const answer = await endpoint.json('/api/ucs/contacts', { user: ALICE, json: { page: 2 } });
      expect(answer).to.deep.equal({ ok: true });
      expect(issuer.signatures).to.equal(2);
      const [first, refused, retried] = partner.tokens() as [string, string, string];
      expect(refused).to.equal(first);
      expect(retried).not.to.equal(first);
      expect(partner.requests[2]?.method).to.equal('POST');
      await endpoint.fetch('/api/ucs/contacts', { user: ALICE });
      expect(partner.tokens()[3]).to.equal(retried);
    });

    it('gives up with unauthorized after exactly two attempts, without the token in the error', async () => {
      const endpoint = exchange(client(), { realm: REALM });
      await endpoint.fetch('/api/ucs/contacts');
      partner.handle(refusing({ has: () => true } as unknown as Set<string>));
      partner.requests.length = 0;
      const error = await expectClientError(endpoint.fetch('/api/ucs/contacts?secret=1'), 'unauthorized');
      expect(partner.requests).to.have.length(2);
      expect(error.status).to.equal(401);
      expect(error.challenge?.error).to.equal('invalid_token');
      expect(error.message).to.equal(
        `${partner.url} refused the token for GET /api/ucs/contacts (401 invalid_token: The token is not valid.), also a newly minted one.`,
      );
      const text = `${error.message} ${JSON.stringify(error)} ${String(error.cause)}`;
      for (const token of partner.tokens()) expect(text).not.to.contain(token);
    });

    it('does not retry when the refused token was minted for this call', async () => {
      partner.handle(refusing({ has: () => true } as unknown as Set<string>));
      const error = await expectClientError(exchange(client(), { realm: REALM }).fetch('/'), 'unauthorized');
      expect(partner.requests).to.have.length(1);
      expect(error.message).not.to.contain('newly minted');
      expect(issuer.signatures).to.equal(1);
      await expectClientError(exchange(client(), { realm: REALM }).fetch('/'), 'unauthorized');
      expect(issuer.signatures).to.equal(2);
    });

    it('does not retry a streamed body, and says so', async () => {
      const endpoint = exchange(client(), { realm: REALM });
      await endpoint.fetch('/');
      partner.handle(refusing(new Set(partner.tokens())));
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('streamed'));
          controller.close();
        },
      });
      const error = await expectClientError(endpoint.fetch('/upload', { method: 'POST', body }), 'unauthorized');
      expect(error.message).to.contain('the body is a stream, so the call was not retried');
      expect(partner.requests).to.have.length(2);
      await endpoint.fetch('/');
      expect(issuer.signatures).to.equal(2);
    });

    it('names the diagnostics and a missing trust in the unauthorized message, and discovers again next time', async () => {
      const s2s = client();
      await exchange(s2s).fetch('/');
      partner.handle((_req, res) => {
        res
          .status(401)
          .set('www-authenticate', `Bearer realm="${REALM}", client_id="${EXCHANGE}", trusted_issuers="${SHAREPOINT}@*", error="invalid_token"`)
          .set('x-ms-diagnostics', '2000003;reason="The audience claim value is invalid.";error_category="invalid_resource"')
          .end();
      });
      const error = await expectClientError(exchange(s2s).fetch('/'), 'unauthorized');
      expect(error.message).to.contain('diagnostics: 2000003;reason="The audience claim value is invalid.";error_category="invalid_resource"');
      expect(error.message).to.contain(`it does not trust ${ISSUER_ID} as a token issuer (it trusts: ${SHAREPOINT}@*)`);
      partner.requests.length = 0;
      await expectClientError(exchange(s2s).fetch('/'), 'not_trusted');
      expect(partner.requests).to.have.length(1);
    });

    it('removes token-like text from the partner text it quotes', async () => {
      const s2s = client();
      const echoed = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiIwMDAwMDAwMi0wMDAwLTBmZjEtY2UwMC0wMDAwMDAwMDAwMDAifQ';
      partner.handle((_req, res) => {
        res
          .status(401)
          .set('www-authenticate', `Bearer realm="${REALM}", client_id="${EXCHANGE}", error="invalid_token", error_description="bad ${echoed}"`)
          .set('x-ms-diagnostics', `2000001;reason="The token ${echoed} is invalid."`)
          .end();
      });
      const error = await expectClientError(exchange(s2s, { realm: REALM }).fetch('/'), 'unauthorized');
      expect(error.message).to.contain('invalid_token: bad [removed]');
      expect(error.message).to.contain('diagnostics: 2000001;reason="The token [removed] is invalid."');
      expect(error.message).not.to.contain(echoed.slice(0, 40));
    });

    it('reports a 401 without any challenge plainly', async () => {
      partner.handle((_req, res) => void res.status(401).end());
      const error = await expectClientError(exchange(client(), { realm: REALM }).fetch('/x'), 'unauthorized');
      expect(error.message).to.equal(`${partner.url} refused the token for GET /x (401).`);
      expect(error).not.to.have.property('challenge');
    });
  });

  describe('json()', () => {
    it('returns undefined for an empty 2xx body', async () => {
      partner.handle((_req, res) => void res.status(204).end());
      expect(await exchange(client(), { realm: REALM }).json('/')).to.equal(undefined);
    });

    it('reports a status other than 2xx with the partner’s challenge', async () => {
      partner.handle((_req, res) => {
        res.status(403).set('www-authenticate', `Bearer error="insufficient_scope", error_description="The token does not grant the scope this needs.", scope="contacts.write"`).json({ error: 'x' });
      });
      const error = await expectClientError(exchange(client(), { realm: REALM }).json('/api/ucs/contacts', { method: 'DELETE' }), 'status');
      expect(error.status).to.equal(403);
      expect(error.challenge?.scope).to.equal('contacts.write');
      expect(error.message).to.equal(
        `${partner.url} answered DELETE /api/ucs/contacts with 403 insufficient_scope: The token does not grant the scope this needs. (scope contacts.write).`,
      );
    });

    it('reports a status without a challenge', async () => {
      partner.handle((_req, res) => void res.status(500).send('boom'));
      const error = await expectClientError(exchange(client(), { realm: REALM }).json('/'), 'status');
      expect(error.message).to.equal(`${partner.url} answered GET / with 500.`);
      expect(error).not.to.have.property('challenge');
    });

    it('reports a body that is not JSON', async () => {
      partner.handle((_req, res) => void res.type('json').send('{"a":'));
      const error = await expectClientError(exchange(client(), { realm: REALM }).json('/'), 'invalid_json');
      expect(error.status).to.equal(200);
      expect(error.cause).to.be.instanceOf(SyntaxError);
    });

    it('quotes partner text without control characters and at bounded length', async () => {
      // Words, not one run: a run of 40 or more base64 characters is removed as token-like.
      const long = 'x '.repeat(150);
      partner.handle((_req, res) => void res.status(400).set('www-authenticate', `Bearer error="invalid_request", error_description="a\tb${long}"`).end());
      const error = await expectClientError(exchange(client(), { realm: REALM }).json('/'), 'status');
      expect(error.message).to.contain('a b');
      expect(error.message).not.to.contain('\t');
      expect(error.message).to.contain('x…');
    });
  });

  describe('transport', () => {
    it('does not follow a redirect: the redirect target receives nothing', async () => {
      partner.handle((_req, res) => void res.redirect(307, `${other.url}/steal`));
      const error = await expectClientError(exchange(client(), { realm: REALM }).fetch('/api/ucs/contacts'), 'redirect');
      expect(error.status).to.equal(307);
      expect(error.message).to.contain('redirects are not followed with a token');
      expect(partner.requests).to.have.length(1);
      expect(other.requests).to.have.length(0);
    });

    it('does not follow a redirect during realm discovery', async () => {
      partner.handle((_req, res) => void res.redirect(302, `${other.url}/`));
      await expectClientError(exchange(client()).realm(), 'redirect');
      expect(other.requests).to.have.length(0);
    });

    it('passes a 304 on as a response', async () => {
      partner.handle((_req, res) => void res.status(304).end());
      const response = await exchange(client(), { realm: REALM }).fetch('/', { headers: { 'if-none-match': '"1"' } });
      expect(response.status).to.equal(304);
    });

    it('times out on a partner that never answers', async () => {
      partner.handle(() => undefined);
      const error = await expectClientError(exchange(client(), { realm: REALM }).fetch('/hang', { timeoutMs: 50 }), 'timeout');
      expect(error.message).to.equal(`${partner.url} did not answer in time (GET /hang).`);
    });

    it('times out on a partner that never answers the discovery request', async () => {
      partner.handle(() => undefined);
      await expectClientError(exchange(client(), { timeoutMs: 50 }).fetch('/'), 'timeout');
    });

    it('times out a caller waiting on a slower discovery without failing the discovery', async () => {
      let answer: () => void = () => undefined;
      let arrived: () => void = () => undefined;
      const discoveryArrived = new Promise<void>((resolve) => (arrived = resolve));
      partner.handle((req, res, recorded) => {
        if (recorded.token !== undefined) return void res.end('ok');
        answer = () => void acceptAll(req, res, recorded);
        arrived();
      });
      const endpoint = exchange(client());
      const slow = endpoint.realm();
      const error = await expectClientError(endpoint.fetch('/', { timeoutMs: 30 }), 'timeout');
      expect(error.message).to.contain('(realm discovery)');
      await discoveryArrived;
      answer();
      expect(await slow).to.equal(REALM);
    });

    it('times out while the body of json() is being read', async () => {
      // Like undici: the body stream fails with the signal's reason when the deadline passes.
      const fetchFunction = fakeFetch();
      const slowBody: FetchFunction = (url, init) => {
        void fetchFunction(url, init);
        const signal = init.signal as AbortSignal;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"partial":'));
            signal.addEventListener('abort', () => controller.error(signal.reason), { once: true });
          },
        });
        return Promise.resolve(new Response(body, { status: 200, headers: { 'content-type': 'application/json' } }));
      };
      const endpoint = client({ fetch: slowBody }).partner({ principal: EXCHANGE, baseUrl: 'https://mail.contoso.com', realm: REALM });
      const error = await expectClientError(endpoint.json('/', { timeoutMs: 50 }), 'timeout');
      expect(error.message).to.equal('https://mail.contoso.com did not answer in time (reading the answer to GET /).');
    });

    it('stops when the caller’s signal aborts', async () => {
      partner.handle(() => undefined);
      const controller = new AbortController();
      const call = exchange(client(), { realm: REALM }).fetch('/', { signal: controller.signal });
      setImmediate(() => controller.abort());
      const error = await expectClientError(call, 'aborted');
      expect(error.message).to.contain('was aborted');
    });

    it('stops at once for a signal that has already aborted', async () => {
      const error = await expectClientError(exchange(client()).realm({ signal: AbortSignal.abort() }), 'aborted');
      expect(error.message).to.contain('(realm discovery)');
    });

    it('reports a partner that cannot be reached as a network error', async () => {
      const closed = await startPartner();
      await closed.close();
      const error = await expectClientError(client().partner({ principal: EXCHANGE, baseUrl: closed.url, realm: REALM }).fetch('/'), 'network');
      expect(error.message).to.equal(`${closed.url} could not be reached (GET /): ECONNREFUSED.`);
    });

    it('reports a failed fetch without an errno by its message', async () => {
      const failing = (): Promise<Response> => Promise.reject(new TypeError('fetch failed', { cause: new Error('bad port') }));
      const plain = (): Promise<Response> => Promise.reject(new Error('socket hang up'));
      const odd = (): Promise<Response> => Promise.reject('nope');
      const messages: string[] = [];
      for (const fetchFunction of [failing, plain, odd]) {
        const endpoint = client({ fetch: fetchFunction }).partner({ principal: EXCHANGE, baseUrl: 'https://mail.contoso.com', realm: REALM });
        messages.push((await expectClientError(endpoint.fetch('/'), 'network')).message);
      }
      expect(messages).to.deep.equal([
        'https://mail.contoso.com could not be reached (GET /): bad port.',
        'https://mail.contoso.com could not be reached (GET /): socket hang up.',
        'https://mail.contoso.com could not be reached (GET /): unknown error.',
      ]);
    });

    it('passes a minting failure on as it is', async () => {
      const broken: TokenSource = {
        issuerId: ISSUER_ID,
        issueAppOnly: () => Promise.reject(new RangeError('STS unavailable')),
        issueForUser: () => Promise.reject(new RangeError('STS unavailable')),
      };
      const error = await rejection(exchange(client({ issuer: broken }), { realm: REALM }).fetch('/'));
      expect(error).to.be.instanceOf(RangeError);
      expect(partner.requests).to.have.length(0);
    });

    it('ignores a body that cannot be cancelled', async () => {
      const body = new ReadableStream<Uint8Array>({
        cancel() {
          throw new Error('cannot cancel');
        },
      });
      const fetchFunction = fakeFetch(() => new Response(body, { status: 302, headers: { location: 'https://elsewhere.example/' } }));
      const endpoint = client({ fetch: fetchFunction }).partner({ principal: EXCHANGE, baseUrl: 'https://mail.contoso.com', realm: REALM });
      await expectClientError(endpoint.fetch('/'), 'redirect');
    });
  });
});
