import { randomBytes, verify as verifySignature } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express, { type Response as ExpressResponse } from 'express';
import { buildMetadataDocument, parseJws, signingKeyFromCertificate, WellKnownPrincipal, x5tS256, type ParsedJws } from '@s2sauth/protocol';
import { CertificateSet } from '../src/identity/certificate-set.js';
import { OAuthCertificate } from '../src/identity/certificate.js';
import { verifyClientAssertion } from '../src/sts/client-assertion.js';
import { signClientAssertion } from '../src/sts/client-assertion-signer.js';
import { Rs256Signer } from '../src/identity/jws-signer.js';
import { MemoryStore } from '@s2sauth/store';
import { S2SClient, type FetchFunction } from '../src/index.js';
import { stsRouter } from '../src/sts/sts-router.js';
import { StsTokenError, StsTokenSource, type StsTokenErrorCode, type StsTokenSourceOptions } from '../src/index.js';
import type { UserContext } from '../src/identity/token-issuer.js';

const HOUR = 3_600_000;
const SECOND = 1000;
/** Start of the test certificates' validity; the clock starts an hour later. */
const T0 = Date.UTC(2031, 5, 1);

const STS = WellKnownPrincipal.sts;
const EXCHANGE = WellKnownPrincipal.exchange;
/** An Exchange Online style tenant realm. */
const REALM = 'f8cdef31-a31e-4b4a-93e4-5f571e91255a';
const STS_ISSUER = `${STS}@${REALM}`;
const CLIENT_ID = `${EXCHANGE}@${REALM}`;
const AUDIENCE = `${EXCHANGE}/outlook.office365.com@${REALM}`;
const OTHER_AUDIENCE = `${EXCHANGE}/mail.contoso.com@${REALM}`;
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ALICE: UserContext = { nameid: 'alice@contoso.com', smtp: 'alice@contoso.com', sip: 'alice@contoso.com' };
const BOB: UserContext = { nameid: 'bob@contoso.com', nii: 'urn:federation:MicrosoftOnline', upn: 'bob@contoso.com' };

/** One token request as the fake STS saw it, after its checks passed. */
interface TokenRequest {
  readonly params: [string, string][];
  readonly form: URLSearchParams;
  readonly assertion: ParsedJws;
  readonly clientCertificate: OAuthCertificate;
  /** The access token the STS answered with (default answer only). */
  issued?: string;
}

/** What an answer hook gets: the checked request and a way to mint tokens and responses. */
interface TokenContext {
  readonly request: TokenRequest;
  /** The claims the STS would put in the access token. */
  readonly claims: Record<string, unknown>;
  mint(claims: Record<string, unknown>): string;
  /** The success body the STS would send, for `claims` (default the above). */
  body(claims?: Record<string, unknown>): Record<string, unknown>;
}

type Answer = (context: TokenContext, res: ExpressResponse) => void;

/**
 * A fake STS: checks every token request strictly (protocol.md section 6) and answers with an
 * access token signed by its own certificate. A request that fails a check is answered 400 and
 * recorded in `problems`, which every test expects empty.
 */
interface FakeSts {
  readonly origin: string;
  readonly tokenEndpoint: string;
  readonly metadataUrl: string;
  readonly requests: TokenRequest[];
  readonly problems: string[];
  metadataRequests: number;
  lifetime: number;
  answer: Answer | undefined;
  metadata: ((res: ExpressResponse) => void) | undefined;
  close(): Promise<void>;
}

const seenJtis = new Set<string>();

async function startSts(stsCertificate: OAuthCertificate, clients: readonly OAuthCertificate[], clock: () => number): Promise<FakeSts> {
  const app = express();
  let origin = '';
  const sts: FakeSts = {
    origin: '',
    tokenEndpoint: '',
    metadataUrl: '',
    requests: [],
    problems: [],
    metadataRequests: 0,
    lifetime: 3600,
    answer: undefined,
    metadata: undefined,
    close: async () => undefined,
  };
  app.get('/metadata/json/1', (_req, res) => {
    sts.metadataRequests += 1;
    if (sts.metadata) return sts.metadata(res);
    res.json(
      buildMetadataDocument({
        principal: STS,
        realm: REALM,
        certificates: [stsCertificate.certificate],
        endpoints: [{ location: `${origin}/${REALM}/tokens/OAuth/2`, protocol: 'OAuth2', usage: 'issuance' }],
      }),
    );
  });
  app.post('/:realm/tokens/OAuth/2', express.text({ type: () => true }), (req, res) => {
    const problem = (text: string): void => {
      sts.problems.push(text);
      res.status(400).json({ error: 'invalid_request', error_description: `fake STS check failed: ${text}` });
    };
    if (req.params['realm'] !== REALM) return problem('realm in path');
    if (req.headers['content-type'] !== 'application/x-www-form-urlencoded') return problem(`content-type ${req.headers['content-type']}`);
    if (!String(req.headers['accept']).includes('application/json')) return problem('accept');
    if (req.headers['authorization'] !== undefined || req.headers['cookie'] !== undefined) return problem('credentials in headers');
    const form = new URLSearchParams(req.body as string);
    const params = [...form];
    const names = params.map(([name]) => name);
    if (new Set(names).size !== names.length) return problem('a parameter sent twice');
    const allowed = new Set(['grant_type', 'client_id', 'client_assertion_type', 'client_assertion', 'resource', 'scope', 'delegation']);
    if (!names.every((name) => allowed.has(name))) return problem(`unexpected parameter in ${names.join(',')}`);
    if (form.get('grant_type') !== 'client_credentials') return problem('grant_type');
    if (form.get('client_id') !== CLIENT_ID) return problem('client_id');
    if (form.get('client_assertion_type') !== ASSERTION_TYPE) return problem('client_assertion_type');
    if (form.has('delegation') && form.get('delegation') !== 'true') return problem('delegation');
    let assertion: ParsedJws;
    try {
      assertion = parseJws(form.get('client_assertion') ?? '');
    } catch {
      return problem('assertion syntax');
    }
    const clientCertificate = clients.find((candidate) => candidate.x5t === assertion.header.x5t);
    if (!clientCertificate) return problem('assertion x5t names no registered certificate');
    if (
      JSON.stringify(assertion.header) !==
      JSON.stringify({ typ: 'client-authentication+jwt', alg: 'RS256', x5t: clientCertificate.x5t, kid: clientCertificate.x5t })
    ) {
      return problem('assertion header');
    }
    if (!verifySignature('sha256', Buffer.from(assertion.signingInput), clientCertificate.publicKey, assertion.signature)) {
      return problem('assertion signature');
    }
    const claims = assertion.payload;
    if (Object.keys(claims).join(',') !== 'iss,sub,aud,jti,iat,exp') return problem(`assertion claims ${Object.keys(claims).join(',')}`);
    if (claims['iss'] !== CLIENT_ID || claims['sub'] !== CLIENT_ID) return problem('assertion iss/sub');
    if (claims['aud'] !== STS_ISSUER) return problem('assertion aud');
    const nowSeconds = Math.floor(clock() / 1000);
    if (claims['iat'] !== nowSeconds || claims['exp'] !== nowSeconds + 300) return problem('assertion iat/exp');
    const jti = claims['jti'];
    if (typeof jti !== 'string' || !/^[A-Za-z0-9_-]{22}$/.test(jti)) return problem('assertion jti');
    if (seenJtis.has(jti)) return problem('assertion replayed');
    seenJtis.add(jti);

    const request: TokenRequest = { params, form, assertion, clientCertificate };
    sts.requests.push(request);
    const resource = form.get('resource') ?? '';
    const scope = form.get('scope');
    const accessClaims: Record<string, unknown> = {
      aud: resource,
      iss: STS_ISSUER,
      nameid: CLIENT_ID,
      identityprovider: STS_ISSUER,
      nbf: nowSeconds,
      exp: nowSeconds + sts.lifetime,
      iat: nowSeconds,
      jti: randomBytes(16).toString('base64url'),
      ...(scope === null ? {} : { scp: scope }),
      ...(form.get('delegation') === 'true'
        ? { trustedfordelegation: 'true', cnf: { 'x5t#S256': clientCertificate.x5tS256 } }
        : {}),
    };
    const signer = new Rs256Signer(stsCertificate.privateKey, { typ: 'JWT', alg: 'RS256', x5t: stsCertificate.x5t, kid: stsCertificate.x5t });
    const context: TokenContext = {
      request,
      claims: accessClaims,
      mint: (claims) => signer.sign(claims),
      body: (claims = accessClaims) => {
        const token = signer.sign(claims);
        request.issued = token;
        return {
          token_type: 'Bearer',
          access_token: token,
          expires_in: sts.lifetime,
          not_before: claims['nbf'],
          expires_on: claims['exp'],
          resource,
          ...(scope === null ? {} : { scope }),
        };
      },
    };
    res.set('cache-control', 'no-store').set('pragma', 'no-cache');
    if (sts.answer) return sts.answer(context, res);
    res.json(context.body());
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(sts, {
    origin,
    tokenEndpoint: `${origin}/${REALM}/tokens/OAuth/2`,
    metadataUrl: `${origin}/metadata/json/1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

async function expectStsError(promise: Promise<unknown>, code: StsTokenErrorCode): Promise<StsTokenError> {
  const error = await rejection(promise);
  expect(error, String(error)).to.be.instanceOf(StsTokenError);
  expect((error as StsTokenError).code, (error as Error).message).to.equal(code);
  return error as StsTokenError;
}

/** A fetch stand-in that records calls and answers as told. */
function fakeFetch(answer: (url: URL) => Response | Promise<Response>): FetchFunction & { calls: URL[] } {
  const calls: URL[] = [];
  const fn = async (url: URL): Promise<Response> => {
    calls.push(url);
    return answer(url);
  };
  return Object.assign(fn, { calls });
}

function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

describe('StsTokenSource', () => {
  let client: OAuthCertificate;
  let nextClient: OAuthCertificate;
  let stsCertificate: OAuthCertificate;
  let now: number;
  const clock = (): number => now;
  let sts: FakeSts;

  function source(extra: Partial<StsTokenSourceOptions> = {}): StsTokenSource {
    return new StsTokenSource({
      principal: EXCHANGE,
      realm: REALM,
      certificates: client,
      sts: { tokenEndpoint: sts.tokenEndpoint, issuer: STS_ISSUER },
      clock,
      // The fake STS listens on 127.0.0.1 over plain http.
      allowLoopbackHttp: true,
      ...extra,
    });
  }

  /** A source whose STS is a fetch stand-in answering every token request with `answer`. */
  function fetchSource(answer: (url: URL) => Response | Promise<Response>, extra: Partial<StsTokenSourceOptions> = {}) {
    const fetch = fakeFetch(answer);
    return { fetch, source: source({ sts: { tokenEndpoint: 'https://sts.example.net/t/tokens/OAuth/2', issuer: STS_ISSUER }, fetch, ...extra }) };
  }

  before(async () => {
    [client, nextClient, stsCertificate] = await Promise.all([
      // The client certificate names the on-premises domain, not the tenant: the STS trusts it by registration.
      OAuthCertificate.create({ realms: ['contoso.com'], notBefore: new Date(T0), validityDays: 365 }),
      OAuthCertificate.create({ realms: ['contoso.com'], notBefore: new Date(T0), validityDays: 365 }),
      OAuthCertificate.create({ realms: ['accesscontrol.example.net'], notBefore: new Date(T0), validityDays: 365 }),
    ]);
  });

  beforeEach(async () => {
    now = T0 + HOUR;
    sts = await startSts(stsCertificate, [client, nextClient], clock);
  });

  afterEach(async () => {
    await sts.close();
    expect(sts.problems, 'requests the fake STS refused').to.deep.equal([]);
  });

  describe('options', () => {
    const cases: [string, (base: StsTokenSourceOptions) => unknown, RegExp][] = [
      ['options that are not an object', () => null, /options must be an object/],
      ['a principal that is not a GUID', (b) => ({ ...b, principal: 'exchange' }), /options\.principal/],
      ['a realm that is not lowercase', (b) => ({ ...b, realm: 'Contoso.com' }), /options\.realm/],
      ['no certificate', (b) => ({ ...b, certificates: 'pem' }), /options\.certificates/],
      ['a clock that is not a function', (b) => ({ ...b, clock: 1 }), /options\.clock/],
      ['a non-boolean allowLoopbackHttp', (b) => ({ ...b, allowLoopbackHttp: 'yes' }), /options\.allowLoopbackHttp/],
      ['a zero timeout', (b) => ({ ...b, timeoutMs: 0 }), /options\.timeoutMs/],
      ['a NaN timeout', (b) => ({ ...b, timeoutMs: Number.NaN }), /options\.timeoutMs/],
      ['a fetch that is not a function', (b) => ({ ...b, fetch: {} }), /options\.fetch/],
      ['a misspelt option name', (b) => ({ ...b, allowLoopbackHTTP: true }), /^new StsTokenSource: unknown option "allowLoopbackHTTP"; the options are principal, /],
      ['no sts', (b) => ({ ...b, sts: undefined }), /options\.sts must be/],
      ['an sts that is an array', (b) => ({ ...b, sts: [] }), /options\.sts must be/],
      ['an empty sts', (b) => ({ ...b, sts: {} }), /not both or neither/],
      ['both sts forms', (b) => ({ ...b, sts: { tokenEndpoint: 'https://sts.example.net/t', issuer: STS_ISSUER, metadataUrl: 'https://sts.example.net/m' } }), /not both or neither/],
      ['an issuer of another realm', (b) => ({ ...b, sts: { tokenEndpoint: 'https://sts.example.net/t', issuer: `${STS}@contoso.com` } }), /options\.sts\.issuer/],
      ['an issuer that is not the STS principal', (b) => ({ ...b, sts: { tokenEndpoint: 'https://sts.example.net/t', issuer: CLIENT_ID } }), /options\.sts\.issuer/],
      ['no issuer', (b) => ({ ...b, sts: { tokenEndpoint: 'https://sts.example.net/t' } }), /options\.sts\.issuer/],
      ['a token endpoint that is not a URL', (b) => ({ ...b, sts: { tokenEndpoint: '/tokens/OAuth/2', issuer: STS_ISSUER } }), /options\.sts\.tokenEndpoint must be an absolute URL/],
      ['a token endpoint with credentials', (b) => ({ ...b, sts: { tokenEndpoint: 'https://u:p@sts.example.net/t', issuer: STS_ISSUER } }), /without credentials/],
      ['a token endpoint with a fragment', (b) => ({ ...b, sts: { tokenEndpoint: 'https://sts.example.net/t#x', issuer: STS_ISSUER } }), /fragment/],
      ['a metadata URL that is not a string', (b) => ({ ...b, sts: { metadataUrl: 42 } }), /options\.sts\.metadataUrl/],
      ['plain http to a host that is not loopback', (b) => ({ ...b, sts: { tokenEndpoint: 'http://sts.example.net/t', issuer: STS_ISSUER } }), /must be https:/],
      ['plain http metadata to a host that is not loopback', (b) => ({ ...b, sts: { metadataUrl: 'http://sts.example.net/metadata/json/1' } }), /options\.sts\.metadataUrl must be https:/],
      ['plain http to loopback by default (allowLoopbackHttp defaults to false)', (b) => b, /must be https:/],
      ['plain http metadata to loopback by default', (b) => ({ ...b, sts: { metadataUrl: 'http://127.0.0.1:9/metadata/json/1' } }), /options\.sts\.metadataUrl must be https:/],
    ];
    for (const [name, make, message] of cases) {
      it(`refuses ${name} with a TypeError`, () => {
        const fetch = fakeFetch(() => jsonResponse({}));
        const base: StsTokenSourceOptions = {
          principal: EXCHANGE,
          realm: REALM,
          certificates: client,
          sts: { tokenEndpoint: sts.tokenEndpoint, issuer: STS_ISSUER },
          clock,
          fetch,
        };
        expect(() => new StsTokenSource(make(base) as StsTokenSourceOptions)).to.throw(TypeError, message);
        expect(fetch.calls).to.have.length(0);
      });
    }

    it('refuses a certificate that cannot sign now', () => {
      now = T0 + 400 * 24 * HOUR;
      expect(() => source()).to.throw(/expired/);
    });

    it('uses the system clock by default, so a certificate valid only from 2031 cannot sign', () => {
      const { clock: _dropped, ...options } = {
        principal: EXCHANGE,
        realm: REALM,
        certificates: client,
        sts: { metadataUrl: sts.metadataUrl },
        allowLoopbackHttp: true,
        clock,
      };
      expect(() => new StsTokenSource(options)).to.throw(/not yet valid|not valid/);
    });

    it('names itself <principal>@<realm>, the client id', () => {
      expect(source().issuerId).to.equal(CLIENT_ID);
    });

    it('accepts https and loopback token endpoints, and a CertificateSet', () => {
      const set = new CertificateSet({ current: client, clock });
      expect(source({ certificates: set, sts: { tokenEndpoint: 'https://sts.example.net/t', issuer: STS_ISSUER } }).issuerId).to.equal(CLIENT_ID);
      expect(source({ sts: { tokenEndpoint: 'http://localhost:1/t', issuer: STS_ISSUER } }).issuerId).to.equal(CLIENT_ID);
      expect(source({ sts: { tokenEndpoint: 'http://[::1]:1/t', issuer: STS_ISSUER } }).issuerId).to.equal(CLIENT_ID);
    });
  });

  describe('app-only tokens', () => {
    it('sends exactly the contract parameters and returns the access token as issued', async () => {
      const issued = await source().issueAppOnly({ audience: AUDIENCE });
      expect(sts.requests).to.have.length(1);
      const request = sts.requests[0] as TokenRequest;
      expect(request.params.map(([name]) => name)).to.deep.equal([
        'grant_type',
        'client_id',
        'client_assertion_type',
        'client_assertion',
        'resource',
      ]);
      expect(request.form.get('resource')).to.equal(AUDIENCE);
      expect(request.assertion.header).to.deep.equal({ typ: 'client-authentication+jwt', alg: 'RS256', x5t: client.x5t, kid: client.x5t });
      expect(issued.token).to.equal(request.issued);
      const payload = parseJws(issued.token).payload;
      expect(payload['trustedfordelegation']).to.equal(undefined);
      expect(issued.jti).to.equal(payload['jti']);
      expect(issued.notBefore).to.equal(Math.floor(now / SECOND) * SECOND);
      expect(issued.expiresAt).to.equal(Math.floor(now / SECOND) * SECOND + HOUR);
    });

    it('signs a new assertion with a new jti for every request', async () => {
      const tokens = source();
      await tokens.issueAppOnly({ audience: AUDIENCE });
      await tokens.issueAppOnly({ audience: OTHER_AUDIENCE });
      now += 10 * SECOND;
      await tokens.issueAppOnly({ audience: AUDIENCE, scopes: ['a'] });
      const jtis = sts.requests.map((r) => r.assertion.payload['jti']);
      expect(jtis).to.have.length(3);
      expect(new Set(jtis).size).to.equal(3);
      const assertions = sts.requests.map((r) => r.form.get('client_assertion'));
      expect(new Set(assertions).size).to.equal(3);
    });

    it('accepts the audience as an object and an upper-case authority', async () => {
      const tokens = source();
      await tokens.issueAppOnly({ audience: { principal: EXCHANGE, authority: 'Outlook.Office365.com', realm: REALM } });
      expect(sts.requests[0]?.form.get('resource')).to.equal(AUDIENCE);
    });

    it('sends requested scopes as one space-separated set and accepts an scp within them', async () => {
      const issued = await source().issueAppOnly({ audience: AUDIENCE, scopes: ['mail.read', 'contacts.read', 'mail.read'] });
      expect(sts.requests[0]?.form.get('scope')).to.equal('contacts.read mail.read');
      expect(parseJws(issued.token).payload['scp']).to.equal('contacts.read mail.read');
    });

    it('accepts a narrower scp than requested', async () => {
      sts.answer = (context, res) => res.json(context.body({ ...context.claims, scp: 'contacts.read' }));
      const issued = await source().issueAppOnly({ audience: AUDIENCE, scopes: ['mail.read', 'contacts.read'] });
      expect(parseJws(issued.token).payload['scp']).to.equal('contacts.read');
    });

    it('refuses an scp broader than requested', async () => {
      sts.answer = (context, res) => res.json(context.body({ ...context.claims, scp: 'contacts.read mail.send' }));
      const error = await expectStsError(source().issueAppOnly({ audience: AUDIENCE, scopes: ['contacts.read'] }), 'invalid_response');
      expect(error.message).to.match(/scp/);
    });

    it('sends an empty scope list as scope= and accepts only an empty scp', async () => {
      const tokens = source();
      const issued = await tokens.issueAppOnly({ audience: AUDIENCE, scopes: [] });
      expect(sts.requests[0]?.form.has('scope')).to.equal(true);
      expect(sts.requests[0]?.form.get('scope')).to.equal('');
      expect(parseJws(issued.token).payload['scp']).to.equal('');

      // A token without scp would grant the whole registration: more than "nothing".
      sts.answer = (context, res) => {
        const { scp: _dropped, ...claims } = context.claims;
        res.json(context.body(claims));
      };
      await expectStsError(tokens.issueAppOnly({ audience: OTHER_AUDIENCE, scopes: [] }), 'invalid_response');
    });

    it('passes an invalid_scope answer on as an STS error', async () => {
      sts.answer = (_context, res) => res.status(400).json({ error: 'invalid_scope', error_description: 'No requested scope is granted.' });
      const error = await expectStsError(source().issueAppOnly({ audience: AUDIENCE, scopes: [] }), 'sts_error');
      expect(error.error).to.equal('invalid_scope');
      expect(error.status).to.equal(400);
    });

    it('accepts a response with numbers as digit strings, as ACS sends them', async () => {
      sts.answer = (context, res) => {
        const claims = { ...context.claims, nbf: String(context.claims['nbf']), exp: String(context.claims['exp']) };
        const body = context.body(claims);
        res.json({ ...body, token_type: 'bearer', expires_in: '3600', not_before: String(body['not_before']), expires_on: String(body['expires_on']) });
      };
      const issued = await source().issueAppOnly({ audience: AUDIENCE });
      expect(issued.expiresAt).to.equal(Math.floor(now / SECOND) * SECOND + HOUR);
    });

    it('uses a hash of the access token as jti when the STS sends none', async () => {
      sts.answer = (context, res) => {
        const { jti: _dropped, ...claims } = context.claims;
        res.json(context.body(claims));
      };
      const issued = await source().issueAppOnly({ audience: AUDIENCE });
      expect(issued.jti).to.match(/^[A-Za-z0-9_-]{43}$/);
    });

    it('keeps an access token until shortly before it expires, then gets a new one', async () => {
      const tokens = source();
      const first = await tokens.issueAppOnly({ audience: AUDIENCE });
      const expiresAt = first.expiresAt;
      now = expiresAt - 301 * SECOND;
      expect((await tokens.issueAppOnly({ audience: AUDIENCE })).token).to.equal(first.token);
      expect(sts.requests).to.have.length(1);
      now = expiresAt - 299 * SECOND;
      const renewed = await tokens.issueAppOnly({ audience: AUDIENCE });
      expect(renewed.token).to.not.equal(first.token);
      expect(sts.requests).to.have.length(2);
    });

    it('renews a short-lived token at half its lifetime', async () => {
      sts.lifetime = 120;
      const tokens = source();
      const first = await tokens.issueAppOnly({ audience: AUDIENCE });
      now += 59 * SECOND;
      await tokens.issueAppOnly({ audience: AUDIENCE });
      expect(sts.requests).to.have.length(1);
      now += 2 * SECOND;
      expect((await tokens.issueAppOnly({ audience: AUDIENCE })).token).to.not.equal(first.token);
      expect(sts.requests).to.have.length(2);
    });

    it('forgets its tokens on clear()', async () => {
      const tokens = source();
      await tokens.issueAppOnly({ audience: AUDIENCE });
      tokens.clear();
      await tokens.issueAppOnly({ audience: AUDIENCE });
      expect(sts.requests).to.have.length(2);
    });

    it('does not keep a failure: the next call asks again', async () => {
      sts.answer = (_context, res) => res.status(503).send('busy');
      const tokens = source();
      const error = await expectStsError(tokens.issueAppOnly({ audience: AUDIENCE }), 'sts_error');
      expect(error.error).to.equal(undefined);
      expect(error.status).to.equal(503);
      sts.answer = undefined;
      await tokens.issueAppOnly({ audience: AUDIENCE });
      expect(sts.requests).to.have.length(2);
    });
  });

  describe('user context', () => {
    it('asks for delegation and wraps the access token in an outer token signed with the client certificate', async () => {
      const issued = await source().issueForUser({ audience: AUDIENCE, scopes: ['mail.read'] }, ALICE);
      const request = sts.requests[0] as TokenRequest;
      expect(request.params.map(([name]) => name)).to.deep.equal([
        'grant_type',
        'client_id',
        'client_assertion_type',
        'client_assertion',
        'resource',
        'scope',
        'delegation',
      ]);
      expect(request.form.get('delegation')).to.equal('true');

      const outer = parseJws(issued.token, { allowX5c: true });
      expect(outer.header).to.deep.equal({
        typ: 'JWT',
        alg: 'RS256',
        x5t: client.x5t,
        kid: client.x5t,
        x5c: [client.der.toString('base64')],
      });
      expect(verifySignature('sha256', Buffer.from(outer.signingInput), client.publicKey, outer.signature)).to.equal(true);

      const actorToken = outer.payload['actortoken'] as string;
      expect(actorToken).to.equal(request.issued);
      const actor = parseJws(actorToken);
      expect(verifySignature('sha256', Buffer.from(actor.signingInput), stsCertificate.publicKey, actor.signature)).to.equal(true);
      // The verifier's rule (protocol.md 3.2): the x5c certificate's SHA-256 thumbprint is the actor's cnf.
      const x5c = Buffer.from((outer.header.x5c as readonly string[])[0] as string, 'base64');
      expect(x5tS256(x5c)).to.equal((actor.payload['cnf'] as Record<string, unknown>)['x5t#S256']);
      expect(actor.payload['trustedfordelegation']).to.equal('true');

      const nowSeconds = Math.floor(now / SECOND);
      expect(outer.payload).to.deep.equal({
        aud: AUDIENCE,
        iss: CLIENT_ID,
        nbf: nowSeconds,
        exp: nowSeconds + 3600,
        nameid: 'alice@contoso.com',
        nii: 'urn:office:idp:activedirectory',
        smtp: 'alice@contoso.com',
        sip: 'alice@contoso.com',
        actortoken: actorToken,
      });
      expect(issued.jti).to.equal(actor.payload['jti']);
      expect(issued.expiresAt).to.equal((nowSeconds + 3600) * SECOND);
      expect(issued.notBefore).to.equal(nowSeconds * SECOND);
    });

    it('shares one access token between users, with one request in flight, and renews it near expiry', async () => {
      const tokens = source();
      const [alice, bob] = await Promise.all([
        tokens.issueForUser({ audience: AUDIENCE }, ALICE),
        tokens.issueForUser({ audience: AUDIENCE }, BOB),
      ]);
      expect(sts.requests).to.have.length(1);
      expect(alice.token).to.not.equal(bob.token);
      const bobOuter = parseJws(bob.token, { allowX5c: true }).payload;
      expect(bobOuter['actortoken']).to.equal(parseJws(alice.token, { allowX5c: true }).payload['actortoken']);
      expect(bobOuter['nii']).to.equal('urn:federation:MicrosoftOnline');
      expect(bobOuter['upn']).to.equal('bob@contoso.com');

      now += 30 * 60 * SECOND;
      const later = await tokens.issueForUser({ audience: AUDIENCE }, ALICE);
      expect(sts.requests).to.have.length(1);
      // The outer token never outlives the access token.
      expect(later.expiresAt).to.equal(alice.expiresAt);

      now = alice.expiresAt - 299 * SECOND;
      const renewed = await tokens.issueForUser({ audience: AUDIENCE }, BOB);
      expect(sts.requests).to.have.length(2);
      expect(parseJws(renewed.token, { allowX5c: true }).payload['actortoken']).to.equal(sts.requests[1]?.issued);
    });

    it('keeps app-only and delegation tokens apart', async () => {
      const tokens = source();
      await tokens.issueAppOnly({ audience: AUDIENCE });
      await tokens.issueForUser({ audience: AUDIENCE }, ALICE);
      expect(sts.requests.map((r) => r.form.get('delegation'))).to.deep.equal([null, 'true']);
    });

    it('caps the outer token at the requested lifetime', async () => {
      const issued = await source().issueForUser({ audience: AUDIENCE, lifetimeSeconds: 600 }, ALICE);
      const outer = parseJws(issued.token, { allowX5c: true }).payload;
      expect((outer['exp'] as number) - (outer['nbf'] as number)).to.equal(600);
      expect(issued.expiresAt - issued.notBefore).to.equal(600 * SECOND);
    });

    it('starts the outer token no earlier than the access token', async () => {
      sts.answer = (context, res) => {
        const nbf = (context.claims['nbf'] as number) + 100;
        res.json(context.body({ ...context.claims, nbf }));
      };
      const issued = await source().issueForUser({ audience: AUDIENCE, lifetimeSeconds: 60 }, ALICE);
      const outer = parseJws(issued.token, { allowX5c: true }).payload;
      expect(outer['nbf']).to.equal(Math.floor(now / SECOND) + 100);
      expect(outer['exp']).to.equal(Math.floor(now / SECOND) + 160);
    });

    it('signs with the certificate that signs now, after a rollover, and binds the outer token to it', async () => {
      const set = new CertificateSet({ current: client, next: { certificate: nextClient, effectiveAt: T0 + 2 * HOUR }, clock });
      const tokens = source({ certificates: set });
      const before = await tokens.issueForUser({ audience: AUDIENCE }, ALICE);
      expect(parseJws(before.token, { allowX5c: true }).header.x5t).to.equal(client.x5t);
      now = T0 + 2 * HOUR;
      const after = await tokens.issueForUser({ audience: AUDIENCE }, ALICE);
      expect(sts.requests).to.have.length(2);
      expect(sts.requests[1]?.assertion.header.x5t).to.equal(nextClient.x5t);
      const outer = parseJws(after.token, { allowX5c: true });
      expect(outer.header.x5c).to.deep.equal([nextClient.der.toString('base64')]);
      const actor = parseJws(outer.payload['actortoken'] as string);
      expect((actor.payload['cnf'] as Record<string, unknown>)['x5t#S256']).to.equal(nextClient.x5tS256);
    });

    it('refuses an access token without cnf when delegation was asked for', async () => {
      sts.answer = (context, res) => {
        const { cnf: _dropped, ...claims } = context.claims;
        res.json(context.body(claims));
      };
      const error = await expectStsError(source().issueForUser({ audience: AUDIENCE }, ALICE), 'invalid_response');
      expect(error.message).to.match(/cnf/);
    });

    it('refuses an access token whose cnf names another certificate', async () => {
      sts.answer = (context, res) => res.json(context.body({ ...context.claims, cnf: { 'x5t#S256': nextClient.x5tS256 } }));
      await expectStsError(source().issueForUser({ audience: AUDIENCE }, ALICE), 'invalid_response');
    });

    it('refuses an access token without trustedfordelegation when delegation was asked for', async () => {
      sts.answer = (context, res) => res.json(context.body({ ...context.claims, trustedfordelegation: 'True' }));
      const error = await expectStsError(source().issueForUser({ audience: AUDIENCE }, ALICE), 'invalid_response');
      expect(error.message).to.match(/trustedfordelegation/);
    });
  });

  describe('request checks', () => {
    const cases: [string, (tokens: StsTokenSource) => Promise<unknown>, RegExp][] = [
      ['a request that is not an object', (t) => t.issueAppOnly(null as never), /request must be an object/],
      ['delegation on an app-only token', (t) => t.issueAppOnly({ audience: AUDIENCE, delegation: true }), /request\.delegation/],
      ['delegation false with a user', (t) => t.issueForUser({ audience: AUDIENCE, delegation: false }, ALICE), /request\.delegation/],
      ['extra claims', (t) => t.issueAppOnly({ audience: AUDIENCE, claims: { x: 1 } }), /request\.claims/],
      ['a malformed audience', (t) => t.issueAppOnly({ audience: 'outlook.office365.com' }), /request\.audience must be/],
      ['an audience object with missing parts', (t) => t.issueAppOnly({ audience: { principal: EXCHANGE } as never }), /request\.audience must be/],
      ['an audience in another realm', (t) => t.issueAppOnly({ audience: `${EXCHANGE}/mail.contoso.com@contoso.com` }), /realm contoso\.com/],
      ['scopes that are not an array', (t) => t.issueAppOnly({ audience: AUDIENCE, scopes: 'mail.read' as never }), /request\.scopes must be an array/],
      ['a scope with a space', (t) => t.issueAppOnly({ audience: AUDIENCE, scopes: ['mail read'] }), /scope words/],
      ['a zero lifetime', (t) => t.issueForUser({ audience: AUDIENCE, lifetimeSeconds: 0 }, ALICE), /lifetimeSeconds/],
      ['a user that is not an object', (t) => t.issueForUser({ audience: AUDIENCE }, 'alice' as never), /user must be an object/],
      ['a user without nameid', (t) => t.issueForUser({ audience: AUDIENCE }, { nameid: '' }), /user\.nameid/],
      ['an nii with a control character', (t) => t.issueForUser({ audience: AUDIENCE }, { nameid: 'a', nii: 'x\ny' }), /user\.nii/],
      ['an smtp that is not a string', (t) => t.issueForUser({ audience: AUDIENCE }, { nameid: 'a', smtp: 1 as never }), /user\.smtp/],
    ];
    for (const [name, call, message] of cases) {
      it(`refuses ${name} with a TypeError before asking the STS`, async () => {
        const error = await rejection(call(source()));
        expect(error).to.be.instanceOf(TypeError);
        expect((error as Error).message).to.match(message);
        expect(sts.requests).to.have.length(0);
      });
    }
  });

  describe('STS answers', () => {
    it('carries the RFC 6749 error of the STS, never the assertion', async () => {
      let assertion = '';
      sts.answer = (context, res) => {
        assertion = context.request.form.get('client_assertion') ?? '';
        res.status(401).json({ error: 'invalid_client', error_description: `Client assertion ${assertion} has an invalid\r\nsignature.` });
      };
      const error = await expectStsError(source().issueAppOnly({ audience: AUDIENCE }), 'sts_error');
      expect(error.status).to.equal(401);
      expect(error.error).to.equal('invalid_client');
      expect(error.errorDescription).to.equal('Client assertion [removed] has an invalid  signature.');
      expect(error.message).to.include('invalid_client');
      expect(assertion).to.have.length.above(100);
      const everything = JSON.stringify({ message: error.message, description: error.errorDescription, stack: error.stack });
      for (const segment of assertion.split('.')) expect(everything).to.not.include(segment);
      expect(error.endpoint).to.equal(sts.tokenEndpoint);
    });

    it('bounds a long error description', async () => {
      sts.answer = (_context, res) => res.status(400).json({ error: 'invalid_target', error_description: 'x '.repeat(500) });
      const error = await expectStsError(source().issueAppOnly({ audience: AUDIENCE }), 'sts_error');
      expect(error.error).to.equal('invalid_target');
      expect(error.errorDescription).to.have.length(201);
    });

    it('reports an error answer whose error is not an RFC 6749 code as a bare STS error', async () => {
      sts.answer = (_context, res) => res.status(400).json({ error: 'bad "quote"' });
      const error = await expectStsError(source().issueAppOnly({ audience: AUDIENCE }), 'sts_error');
      expect(error.error).to.equal(undefined);
      expect(error.message).to.match(/400 and no OAuth error/);
    });

    it('reports an error answer without a description', async () => {
      sts.answer = (_context, res) => res.status(400).json({ error: 'unauthorized_client' });
      const error = await expectStsError(source().issueAppOnly({ audience: AUDIENCE }), 'sts_error');
      expect(error.error).to.equal('unauthorized_client');
      expect('errorDescription' in error).to.equal(false);
    });

    it('refuses a response whose resource is not the requested audience', async () => {
      sts.answer = (context, res) => res.json({ ...context.body(), resource: OTHER_AUDIENCE });
      const error = await expectStsError(source().issueAppOnly({ audience: AUDIENCE }), 'invalid_response');
      expect(error.message).to.match(/resource/);
    });

    type Shape = [string, (context: TokenContext) => unknown, RegExp];
    const shapes: Shape[] = [
      ['a body that is a JSON array', () => [], /not a JSON object/],
      ['a token_type other than Bearer', (c) => ({ ...c.body(), token_type: 'mac' }), /token_type/],
      ['no token_type', (c) => ({ ...c.body(), token_type: undefined }), /token_type/],
      ['no access_token', (c) => ({ ...c.body(), access_token: '' }), /no access_token/],
      ['an expires_in that is not a number', (c) => ({ ...c.body(), expires_in: '1h' }), /expires_in/],
      ['an expires_on that is negative', (c) => ({ ...c.body(), expires_on: -1 }), /expires_on/],
      ['a scope that is not a string', (c) => ({ ...c.body(), scope: ['a'] }), /scope that is not a string/],
      ['no resource', (c) => ({ ...c.body(), resource: undefined }), /resource/],
      ['an access token that is not a JWS', (c) => ({ ...c.body(), access_token: 'opaque-token' }), /not a well-formed RS256 JWS/],
      ['an access token for another audience', (c) => c.body({ ...c.claims, aud: OTHER_AUDIENCE }), /aud/],
      ['an access token with an array aud', (c) => c.body({ ...c.claims, aud: [c.claims['aud']] }), /aud/],
      ['an access token from another issuer', (c) => c.body({ ...c.claims, iss: `${STS}@contoso.com` }), /iss/],
      ['an access token for another client', (c) => c.body({ ...c.claims, nameid: `${WellKnownPrincipal.lync}@${REALM}` }), /nameid/],
      ['an access token without exp', (c) => c.body({ ...c.claims, exp: undefined }), /numeric nbf and exp/],
      ['an access token whose exp is not after nbf', (c) => c.body({ ...c.claims, exp: c.claims['nbf'] }), /exp is not after/],
      [
        'an expired access token',
        (c) => c.body({ ...c.claims, nbf: (c.claims['nbf'] as number) - 7200, exp: (c.claims['nbf'] as number) - 10 }),
        /already expired/,
      ],
      [
        'an access token valid only in the future',
        (c) => c.body({ ...c.claims, nbf: (c.claims['nbf'] as number) + 301, exp: (c.claims['nbf'] as number) + 3600 }),
        /future/,
      ],
    ];
    for (const [name, make, message] of shapes) {
      it(`refuses ${name}`, async () => {
        sts.answer = (context, res) => res.type('application/json').send(JSON.stringify(make(context)));
        const error = await expectStsError(source().issueAppOnly({ audience: AUDIENCE }), 'invalid_response');
        expect(error.message).to.match(message);
        expect(error.status).to.equal(200);
      });
    }

    it('refuses a body with a duplicate member', async () => {
      sts.answer = (context, res) => {
        const text = JSON.stringify(context.body());
        res.type('application/json').send(`${text.slice(0, -1)},"token_type":"Bearer"}`);
      };
      await expectStsError(source().issueAppOnly({ audience: AUDIENCE }), 'invalid_response');
    });

    it('refuses a body that is not UTF-8', async () => {
      sts.answer = (_context, res) => res.type('application/json').send(Buffer.from([0x7b, 0xff, 0x7d]));
      await expectStsError(source().issueAppOnly({ audience: AUDIENCE }), 'invalid_response');
    });

    it('refuses a 2xx other than 200', async () => {
      sts.answer = (context, res) => res.status(201).json(context.body());
      const error = await expectStsError(source().issueAppOnly({ audience: AUDIENCE }), 'sts_error');
      expect(error.status).to.equal(201);
    });

    it('refuses an empty body', async () => {
      const { source: tokens } = fetchSource(() => new Response(null, { status: 200 }));
      await expectStsError(tokens.issueAppOnly({ audience: AUDIENCE }), 'invalid_response');
    });

    it('stops reading a response larger than 64 KiB', async () => {
      const { source: tokens } = fetchSource(() => new Response('x'.repeat(70_000), { status: 200 }));
      const error = await expectStsError(tokens.issueAppOnly({ audience: AUDIENCE }), 'invalid_response');
      expect(error.message).to.match(/more than 65536 bytes/);
    });

    it('reports a large error body as a bare STS error', async () => {
      const { source: tokens } = fetchSource(() => new Response('x'.repeat(70_000), { status: 500 }));
      const error = await expectStsError(tokens.issueAppOnly({ audience: AUDIENCE }), 'sts_error');
      expect(error.status).to.equal(500);
    });
  });

  describe('transport', () => {
    it('does not follow a redirect', async () => {
      let followed = 0;
      const elsewhere = express();
      elsewhere.use((_req, res) => {
        followed += 1;
        res.json({});
      });
      const server: Server = await new Promise((resolve) => {
        const listening = elsewhere.listen(0, '127.0.0.1', () => resolve(listening));
      });
      try {
        const target = `http://127.0.0.1:${(server.address() as AddressInfo).port}/steal`;
        sts.answer = (_context, res) => res.redirect(307, target);
        const error = await expectStsError(source().issueAppOnly({ audience: AUDIENCE }), 'redirect');
        expect(error.status).to.equal(307);
        expect(followed).to.equal(0);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('treats an opaque redirect as a redirect', async () => {
      const { source: tokens } = fetchSource(() => ({ type: 'opaqueredirect', status: 0, body: null }) as unknown as Response);
      await expectStsError(tokens.issueAppOnly({ audience: AUDIENCE }), 'redirect');
    });

    it('gives up when the STS does not answer in time', async () => {
      sts.answer = () => undefined; // never answers
      const error = await expectStsError(source({ timeoutMs: 200 }).issueAppOnly({ audience: AUDIENCE }), 'timeout');
      expect(error.message).to.match(/within 200 ms/);
    });

    it('gives up when the body does not arrive in time', async () => {
      sts.answer = (_context, res) => {
        res.status(200).type('application/json').write('{"token_type":');
      };
      await expectStsError(source({ timeoutMs: 200 }).issueAppOnly({ audience: AUDIENCE }), 'timeout');
    });

    it('reports an STS that cannot be reached', async () => {
      const endpoint = sts.tokenEndpoint;
      await sts.close();
      const error = await expectStsError(source({ sts: { tokenEndpoint: endpoint, issuer: STS_ISSUER } }).issueAppOnly({ audience: AUDIENCE }), 'network');
      expect(error.message).to.match(/could not be reached/);
    });

    it('reports a fetch failure without a cause by its message, and a non-error by "unknown error"', async () => {
      const failing = fetchSource(() => Promise.reject(new Error('boom')));
      expect((await expectStsError(failing.source.issueAppOnly({ audience: AUDIENCE }), 'network')).message).to.match(/boom/);
      const odd = fetchSource(() => Promise.reject('odd' as unknown as Error));
      expect((await expectStsError(odd.source.issueAppOnly({ audience: AUDIENCE }), 'network')).message).to.match(/unknown error/);
    });
  });

  describe('metadata discovery', () => {
    it('finds the token endpoint and issuer in the STS metadata, once', async () => {
      const tokens = source({ sts: { metadataUrl: sts.metadataUrl } });
      await Promise.all([tokens.issueAppOnly({ audience: AUDIENCE }), tokens.issueAppOnly({ audience: OTHER_AUDIENCE })]);
      await tokens.issueForUser({ audience: AUDIENCE }, ALICE);
      expect(sts.metadataRequests).to.equal(1);
      expect(sts.requests).to.have.length(3);
      expect(sts.requests[0]?.assertion.payload['aud']).to.equal(STS_ISSUER);
    });

    it('reads the metadata again after a failure', async () => {
      sts.metadata = (res) => res.status(503).end();
      const tokens = source({ sts: { metadataUrl: sts.metadataUrl } });
      const error = await expectStsError(tokens.issueAppOnly({ audience: AUDIENCE }), 'discovery_failed');
      expect(error.status).to.equal(503);
      sts.metadata = undefined;
      await tokens.issueAppOnly({ audience: AUDIENCE });
      expect(sts.metadataRequests).to.equal(2);
    });

    it('reads the metadata again after a token request fails other than with an OAuth error', async () => {
      const tokens = source({ sts: { metadataUrl: sts.metadataUrl } });
      sts.answer = (_context, res) => res.status(400).json({ error: 'invalid_target' });
      await expectStsError(tokens.issueAppOnly({ audience: AUDIENCE }), 'sts_error');
      sts.answer = (_context, res) => res.status(404).end();
      await expectStsError(tokens.issueAppOnly({ audience: AUDIENCE }), 'sts_error');
      expect(sts.metadataRequests).to.equal(1);
      sts.answer = undefined;
      await tokens.issueAppOnly({ audience: AUDIENCE });
      expect(sts.metadataRequests).to.equal(2);
    });

    it('reads the metadata again after clear()', async () => {
      const tokens = source({ sts: { metadataUrl: sts.metadataUrl } });
      await tokens.issueAppOnly({ audience: AUDIENCE });
      tokens.clear();
      await tokens.issueAppOnly({ audience: AUDIENCE });
      expect(sts.metadataRequests).to.equal(2);
    });

    const documents: [string, () => unknown, RegExp][] = [
      ['of another realm', () => metadata({ realm: 'contoso.com' }), /names the issuer/],
      ['without an issuance endpoint', () => metadata({ endpoints: [{ location: sts.tokenEndpoint, protocol: 'OAuth2', usage: 'metadata' }] }), /no OAuth2 issuance endpoint/],
      ['with a relative endpoint', () => metadata({ endpoints: [{ location: '/t/tokens/OAuth/2', protocol: 'oauth2', usage: 'Issuance' }] }), /no OAuth2 issuance endpoint/],
      ['with credentials in the endpoint', () => metadata({ endpoints: [{ location: 'https://u:p@sts.example.net/t', protocol: 'OAuth2', usage: 'issuance' }] }), /credentials/],
      ['without keys', () => ({ ...metadata({}), keys: [] }), /cannot be used: .*no signing key/],
      ['without an issuer', () => ({ ...metadata({}), issuer: undefined }), /names the issuer \(none\)/],
    ];
    function metadata(options: { realm?: string; endpoints?: { location: string; protocol: string; usage: string }[] }): Record<string, unknown> {
      const realm = options.realm ?? REALM;
      return buildMetadataDocument({
        principal: STS,
        realm,
        certificates: [stsCertificate.certificate],
        endpoints: options.endpoints ?? [{ location: sts.tokenEndpoint, protocol: 'OAuth2', usage: 'issuance' }],
      }) as unknown as Record<string, unknown>;
    }
    for (const [name, make, message] of documents) {
      it(`refuses metadata ${name}`, async () => {
        sts.metadata = (res) => res.json(make());
        const error = await expectStsError(source({ sts: { metadataUrl: sts.metadataUrl } }).issueAppOnly({ audience: AUDIENCE }), 'discovery_failed');
        expect(error.message).to.match(message);
        expect(sts.requests).to.have.length(0);
      });
    }

    it('refuses metadata larger than 256 KiB', async () => {
      sts.metadata = (res) => res.type('application/json').send(' '.repeat(300_000));
      const error = await expectStsError(source({ sts: { metadataUrl: sts.metadataUrl } }).issueAppOnly({ audience: AUDIENCE }), 'discovery_failed');
      expect(error.message).to.match(/larger than 262144/);
    });

    it('refuses a metadata URL that redirects', async () => {
      sts.metadata = (res) => res.redirect(302, 'https://sts.example.net/metadata/json/1');
      await expectStsError(source({ sts: { metadataUrl: sts.metadataUrl } }).issueAppOnly({ audience: AUDIENCE }), 'redirect');
    });

    it('refuses an insecure token endpoint from the metadata before sending anything to it', async () => {
      const document = metadata({ endpoints: [{ location: 'http://sts.example.net/t/tokens/OAuth/2', protocol: 'OAuth2', usage: 'issuance' }] });
      const fetch = fakeFetch(() => jsonResponse(document));
      const tokens = source({ sts: { metadataUrl: 'https://sts.example.net/metadata/json/1?realm=x' }, fetch });
      const error = await expectStsError(tokens.issueAppOnly({ audience: AUDIENCE }), 'insecure_url');
      expect(error.endpoint).to.equal('http://sts.example.net/t/tokens/OAuth/2');
      expect(fetch.calls.map(String)).to.deep.equal(['https://sts.example.net/metadata/json/1?realm=x']);
    });

    /** The URLs a default-options source asks when an https metadata document names `tokenEndpoint`. */
    async function urlsAsked(tokenEndpoint: string, code: StsTokenErrorCode): Promise<string[]> {
      const document = metadata({ endpoints: [{ location: tokenEndpoint, protocol: 'OAuth2', usage: 'issuance' }] });
      const fetch = fakeFetch((url) =>
        String(url).startsWith('https://sts.example.net/metadata') ? jsonResponse(document) : jsonResponse({ error: 'invalid_client' }, 401),
      );
      const tokens = new StsTokenSource({
        principal: EXCHANGE,
        realm: REALM,
        certificates: client,
        sts: { metadataUrl: 'https://sts.example.net/metadata/json/1' },
        clock,
        fetch,
      });
      await expectStsError(tokens.issueAppOnly({ audience: AUDIENCE }), code);
      return fetch.calls.map(String);
    }

    it('does not send an assertion to an http loopback endpoint named by an https metadata document with default options', async () => {
      expect(await urlsAsked('http://127.0.0.1:9/t/tokens/OAuth/2', 'insecure_url')).to.deep.equal(['https://sts.example.net/metadata/json/1']);
    });

    it('does not send an assertion to a token endpoint on another origin than the metadata document', async () => {
      for (const other of [
        'https://collector.example.net/t/tokens/OAuth/2',
        'https://sts.example.net:8443/t/tokens/OAuth/2',
        'https://sub.sts.example.net/t/tokens/OAuth/2',
      ]) {
        expect(await urlsAsked(other, 'discovery_failed'), other).to.deep.equal(['https://sts.example.net/metadata/json/1']);
      }
    });

    it('refuses a loopback token endpoint on another origin than a loopback metadata URL even when loopback http is allowed', async () => {
      const elsewhere = new URL(sts.tokenEndpoint);
      elsewhere.hostname = 'localhost';
      sts.metadata = (res) => res.json(metadata({ endpoints: [{ location: elsewhere.href, protocol: 'OAuth2', usage: 'issuance' }] }));
      const error = await expectStsError(source({ sts: { metadataUrl: sts.metadataUrl } }).issueAppOnly({ audience: AUDIENCE }), 'discovery_failed');
      expect(error.message).to.match(/another origin/);
      expect(sts.requests).to.have.length(0);
    });

    it('sends to an explicitly configured token endpoint without reading any metadata', async () => {
      const { fetch, source: tokens } = fetchSource(() => jsonResponse({ error: 'invalid_client' }, 401));
      await expectStsError(tokens.issueAppOnly({ audience: AUDIENCE }), 'sts_error');
      expect(fetch.calls.map(String)).to.deep.equal(['https://sts.example.net/t/tokens/OAuth/2']);
    });
  });

  describe('with S2SClient', () => {
    it('sends one Bearer header carrying the outer token', async () => {
      const seen: { authorization: string[] }[] = [];
      const partner = express();
      partner.use((req, res) => {
        const authorization: string[] = [];
        for (let i = 0; i < req.rawHeaders.length; i += 2) {
          if ((req.rawHeaders[i] as string).toLowerCase() === 'authorization') authorization.push(req.rawHeaders[i + 1] as string);
        }
        seen.push({ authorization });
        res.json({ ok: true });
      });
      const server: Server = await new Promise((resolve) => {
        const listening = partner.listen(0, '127.0.0.1', () => resolve(listening));
      });
      try {
        const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const s2s = new S2SClient({ issuer: source(), clock, allowLoopbackHttp: true });
        const endpoint = s2s.partner({ principal: EXCHANGE, baseUrl, realm: REALM });
        expect(await endpoint.json('/ews/contacts', { user: ALICE })).to.deep.equal({ ok: true });
        expect(await endpoint.json('/ews/contacts', { user: BOB })).to.deep.equal({ ok: true });
        expect(seen).to.have.length(2);
        expect(sts.requests).to.have.length(1);
        const [authorization] = seen[0]?.authorization ?? [];
        expect(seen[0]?.authorization).to.have.length(1);
        const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1] as string;
        const outer = parseJws(token, { allowX5c: true });
        expect(outer.header.x5c).to.deep.equal([client.der.toString('base64')]);
        expect(outer.payload['aud']).to.equal(`${EXCHANGE}/${new URL(baseUrl).host}@${REALM}`);
        expect(outer.payload['actortoken']).to.equal(sts.requests[0]?.issued);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  describe('against the s2sauth STS', () => {
    it('gets app-only and delegation tokens from stsRouter through its metadata', async () => {
      const lync = WellKnownPrincipal.lync;
      const realStsCertificate = await OAuthCertificate.create({ realms: [REALM], notBefore: new Date(T0), validityDays: 365 });
      const store = new MemoryStore({ clock });
      store.putClient({
        principal: EXCHANGE,
        realm: REALM,
        certificates: [client.pem],
        hostNames: ['mail.contoso.com'],
        grants: [{ resource: lync, scopes: ['meetings.read', 'meetings.write'], delegation: true }],
      });
      store.putClient({ principal: lync, realm: REALM, hostNames: ['pool.contoso.com'] });
      const app = express();
      app.use(stsRouter({ realms: [REALM], certificates: realStsCertificate, clients: store, replay: store, clock }));
      const server: Server = await new Promise((resolve) => {
        const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
      });
      try {
        const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const tokens = source({ sts: { metadataUrl: `${origin}/metadata/json/1` } });
        const audience = `${lync}/pool.contoso.com@${REALM}`;
        const appOnly = await tokens.issueAppOnly({ audience, scopes: ['meetings.read'] });
        const actor = parseJws(appOnly.token);
        expect(verifySignature('sha256', Buffer.from(actor.signingInput), realStsCertificate.publicKey, actor.signature)).to.equal(true);
        expect(actor.payload['scp']).to.equal('meetings.read');

        const user = await tokens.issueForUser({ audience }, ALICE);
        const outer = parseJws(user.token, { allowX5c: true });
        const delegated = parseJws(outer.payload['actortoken'] as string);
        expect((delegated.payload['cnf'] as Record<string, unknown>)['x5t#S256']).to.equal(client.x5tS256);

        const refused = await expectStsError(tokens.issueAppOnly({ audience: `${lync}/elsewhere.example.net@${REALM}` }), 'sts_error');
        expect(refused.error).to.equal('invalid_target');
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        store.close();
      }
    });
  });

  describe('signClientAssertion', () => {
    it('signs a one-use assertion with the certificate key', () => {
      const token = signClientAssertion(client, { clientId: CLIENT_ID, audience: STS_ISSUER, now, lifetimeSeconds: 60 });
      const parsed = parseJws(token);
      expect(verifySignature('sha256', Buffer.from(parsed.signingInput), client.publicKey, parsed.signature)).to.equal(true);
      expect((parsed.payload['exp'] as number) - (parsed.payload['iat'] as number)).to.equal(60);
    });

    it('is accepted by the STS verifier, once', async () => {
      const token = signClientAssertion(client, { clientId: CLIENT_ID, audience: STS_ISSUER, now });
      const claimed = new Set<string>();
      const replay = { claim: (issuer: string, jti: string) => !claimed.has(`${issuer} ${jti}`) && Boolean(claimed.add(`${issuer} ${jti}`)) };
      const options = { clientId: CLIENT_ID, audience: STS_ISSUER, keys: [signingKeyFromCertificate(client.certificate, now)], replay, now };
      expect((await verifyClientAssertion(token, options)).key.x5tS256).to.equal(client.x5tS256);
      expect(await verifyClientAssertion(token, options).then(() => 'accepted', () => 'refused')).to.equal('refused');
    });

    it('refuses a lifetime above five minutes and a time that is not a number', () => {
      expect(() => signClientAssertion(client, { clientId: CLIENT_ID, audience: STS_ISSUER, now, lifetimeSeconds: 301 })).to.throw(TypeError);
      expect(() => signClientAssertion(client, { clientId: CLIENT_ID, audience: STS_ISSUER, now: Number.NaN })).to.throw(TypeError);
      expect(() => signClientAssertion(client, { clientId: CLIENT_ID, audience: STS_ISSUER, now: '1' as never })).to.throw(TypeError);
      expect(() => signClientAssertion(client, { clientId: CLIENT_ID, audience: STS_ISSUER, now, lifetimeSeconds: 1.5 })).to.throw(TypeError);
    });
  });
});
