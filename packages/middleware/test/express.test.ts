import type { Server } from 'node:http';
import { expect } from 'chai';
import { afterEach, before, beforeEach, describe, it } from 'mocha';
import type { Express, NextFunction, Request, Response } from 'express';
import request from 'supertest';
import { InvalidTokenError, KeysUnavailableError, WellKnownPrincipal, type ChallengeParams } from '@s2sauth/protocol';
import { MemoryStore } from '@s2sauth/store';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { createCertificate, createPartner, type TestPartner } from '@s2sauth/test-support/partners';
import type { AuditEvent } from '../src/audit.js';
import { requestInfo, s2sAuth, s2sErrorHandler, sendBearerChallenge, sendBearerError, type S2SAuthOptions } from '../src/express.js';
import type { S2SPrincipal } from '../src/principal.js';
import { PartnerRegistry } from '../src/registry.js';
import { createVerifier, type Verifier, type VerifierOptions } from '../src/verifier.js';
import { describeWithExpress } from './express-versions.js';

const OWN = WellKnownPrincipal.exchange;
const AUDIENCE = `${OWN}/mail.contoso.com@contoso.com`;
const START = Date.UTC(2030, 0, 15, 12, 0, 0);

/** Starts `app` on 127.0.0.1 at an ephemeral port. */
function listen(app: Express): Promise<Server> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** A verifier stand-in whose decisions the test dictates. */
function fakeVerifier(
  verify: (token: string) => Promise<S2SPrincipal>,
  options: { challenge?: () => ChallengeParams; audit?: (event: AuditEvent) => void } = {},
): Verifier {
  return {
    verify,
    verifyCached: () => undefined,
    challenge: options.challenge ?? (() => ({ realm: 'contoso.com', clientId: OWN, trustedIssuers: ['a@contoso.com'] })),
    options: { audit: options.audit ?? false },
    close: () => undefined,
  } as unknown as Verifier;
}

describeWithExpress('s2sAuth', (express) => {
  let now = START;
  const clock = (): number => now;
  let lync: TestPartner;
  let store: MemoryStore;
  let registry: PartnerRegistry;
  let events: AuditEvent[];
  let verifierOptions: VerifierOptions;

  before(async () => {
    const certificate: OAuthCertificate = await createCertificate(['contoso.com'], { notBefore: new Date(START - 86_400_000), validityDays: 366 });
    lync = await createPartner({ principal: WellKnownPrincipal.lync, identity: 'microsoft.lync', certificate });
  });

  beforeEach(async () => {
    now = START;
    events = [];
    store = new MemoryStore({ clock });
    registry = new PartnerRegistry({ store, clock });
    await registry.add({ identity: lync.identity, applicationId: lync.principal, realm: lync.realm, certificate: lync.certificate.pem, scopes: ['contacts.read'] });
    verifierOptions = {
      principal: OWN,
      realms: 'contoso.com',
      authorities: ['mail.contoso.com'],
      registry,
      clock,
      audit: (event) => events.push(event),
    };
  });

  afterEach(() => {
    registry.close();
    store.close();
  });

  const token = (overrides: Record<string, unknown> = {}): string => lync.mint(lync.actorClaims(AUDIENCE, Math.floor(now / 1000), overrides));
  const challenge = `Bearer realm="contoso.com", client_id="${OWN}", trusted_issuers="${WellKnownPrincipal.lync}@contoso.com"`;

  describe('options', () => {
    it('refuses to start without options', () => {
      expect(() => s2sAuth(undefined as unknown as S2SAuthOptions)).to.throw(TypeError, /needs options/);
      expect(() => s2sAuth(null as unknown as S2SAuthOptions)).to.throw(TypeError, /needs options/);
    });

    it('refuses an option that would switch verification off', () => {
      expect(() => s2sAuth({ ...verifierOptions, disabled: true } as unknown as S2SAuthOptions)).to.throw(TypeError, /"disabled".*cannot be turned off/);
      expect(() => s2sAuth({ ...verifierOptions, verify: false } as unknown as S2SAuthOptions)).to.throw(TypeError, /"verify".*cannot be turned off/);
      // The shared message style (refuseUnknownOptions), with the hint where to leave it off.
      expect(() => s2sAuth({ ...verifierOptions, disabled: true } as unknown as S2SAuthOptions)).to.throw(
        TypeError,
        /^s2sAuth: unknown option "disabled"; the options are principal, .*\. Verification cannot be turned off: leave s2sAuth off the routes that must be public\.$/,
      );
    });

    it('refuses an unknown, misspelt option', () => {
      expect(() => s2sAuth({ ...verifierOptions, clockSkew: 10 } as unknown as S2SAuthOptions)).to.throw(TypeError, /unknown option "clockSkew"/);
      expect(() => s2sAuth({ ...verifierOptions, clockSkew: 10 } as unknown as S2SAuthOptions)).to.throw(
        TypeError,
        's2sAuth: unknown option "clockSkew"; the options are principal, realms, authorities, registry, clockSkewSeconds, maxLifetimeSeconds, clock, cache, audit, resolveUser. Or give { verifier } alone, a verifier made by createVerifier().',
      );
    });

    it('refuses a verifier that is not one', () => {
      expect(() => s2sAuth({ verifier: {} as Verifier })).to.throw(TypeError, /"verifier" must be a verifier/);
    });

    it('refuses other options next to a verifier', () => {
      const verifier = createVerifier(verifierOptions);
      // "No other option is allowed next to verifier", in the shared message style.
      expect(() => s2sAuth({ verifier, realms: 'x' } as unknown as S2SAuthOptions)).to.throw(
        TypeError,
        's2sAuth: unknown option "realms"; the options are verifier. With "verifier", configure the verifier instead.',
      );
    });

    it("passes on createVerifier's TypeError for bad verifier options", () => {
      expect(() => s2sAuth({ ...verifierOptions, principal: 'not-a-guid' })).to.throw(TypeError, /options\.principal/);
    });

    it('creates a verifier from verifier options and exposes it', () => {
      const middleware = s2sAuth(verifierOptions);
      expect(middleware.verifier.options.principal).to.equal(OWN);
      expect(middleware).to.be.a('function');
    });

    it('uses the verifier it is given', () => {
      const verifier = createVerifier(verifierOptions);
      expect(s2sAuth({ verifier }).verifier).to.equal(verifier);
    });
  });

  describe('with a real verifier over HTTP', () => {
    let server: Server;
    let seen: S2SPrincipal[];

    beforeEach(async () => {
      seen = [];
      const app = express();
      app.use(express.urlencoded({ extended: false }));
      app.use('/api', s2sAuth(verifierOptions));
      app.all('/api/contacts', (req, res) => {
        seen.push(req.s2s as S2SPrincipal);
        res.json({ partner: req.s2s?.partner });
      });
      app.get('/api/cookie', (req, res) => {
        res.cookie('sid', 'session');
        res.setHeader('Set-Cookie', 'a=b');
        res.appendHeader('set-cookie', 'c=d');
        res.json({ ok: true });
      });
      app.get('/api/cookie-writehead-object', (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Set-Cookie': ['x=y'] });
        res.end('ok');
      });
      app.get('/api/cookie-writehead-array', (_req, res) => {
        res.writeHead(200, ['Content-Type', 'text/plain', 'SET-COOKIE', 'x=y']);
        res.end('ok');
      });
      app.get('/api/throws', () => {
        throw new Error('route failure');
      });
      app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
        res.status(500).json({ appError: error.message });
      });
      server = await listen(app);
    });

    afterEach(async () => {
      await close(server);
    });

    it('lets a valid token through with the principal on req.s2s', async () => {
      const res = await request(server).get('/api/contacts').set('Authorization', `Bearer ${token()}`);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ partner: 'microsoft.lync' });
      expect(seen).to.have.length(1);
      expect(seen[0]).to.deep.include({ partner: 'microsoft.lync', applicationId: lync.principal, realm: 'contoso.com' });
      expect(events.map((e) => e.decision)).to.deep.equal(['accept']);
      expect(events[0]).to.include({ method: 'GET', path: '/api/contacts' });
    });

    it('answers a request without a token with 401 and the challenge, realm first and no error', async () => {
      const res = await request(server).get('/api/contacts');
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.equal(challenge);
      // A JSON body for people (the challenge header carries no error, RFC 6750 section 3.1).
      expect(res.headers['content-type']).to.equal('application/json; charset=utf-8');
      expect(JSON.parse(res.text)).to.deep.equal({
        error: 'token_required',
        message: 'This resource needs a bearer token in the Authorization header; WWW-Authenticate names the realm and the trusted issuers.',
      });
      expect(seen).to.have.length(0);
    });

    it('answers an empty Bearer (realm discovery) with the same challenge', async () => {
      const res = await request(server).get('/api/contacts').set('Authorization', 'Bearer');
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.equal(challenge);
    });

    it('answers a Basic credential with the challenge', async () => {
      const res = await request(server).get('/api/contacts').set('Authorization', 'Basic dXNlcjpwYXNz');
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.equal(challenge);
    });

    it('answers an invalid token with 401 invalid_token and a fixed description, never the reason', async () => {
      const res = await request(server).get('/api/contacts').set('Authorization', `Bearer ${token({ aud: `${OWN}/evil.example@contoso.com` })}`);
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.equal(
        `${challenge}, error="invalid_token", error_description="The access token is not meant for this resource."`,
      );
      expect(res.headers['x-ms-diagnostics']).to.equal('2000003;reason="The audience claim value is invalid.";error_category="invalid_resource"');
      expect(res.headers['content-type']).to.equal('application/json; charset=utf-8');
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(res.body).to.deep.equal({
        error: 'invalid_token',
        error_description: 'The access token is not meant for this resource.',
        message: 'The access token is not meant for this resource.',
      });
      expect(res.text).not.to.include('authority');
      expect(seen).to.have.length(0);
      expect(events[0]).to.include({ decision: 'reject', code: 'audience_invalid' });
    });

    it('answers a token in the query with 400 and audits it without the query string', async () => {
      const res = await request(server).get(`/api/contacts?access_token=${token()}`);
      expect(res.status).to.equal(400);
      expect(res.body).to.deep.equal({
        error: 'invalid_request',
        error_description: 'The request must carry exactly one bearer token, in the Authorization header.',
        message: 'The request must carry exactly one bearer token, in the Authorization header.',
      });
      expect(res.headers['www-authenticate']).to.match(/^Bearer realm="contoso.com", .*error="invalid_request"/);
      expect(events).to.have.length(1);
      expect(events[0]).to.deep.include({ decision: 'reject', code: 'token_in_query', status: 400, method: 'GET', path: '/api/contacts' });
      expect(JSON.stringify(events)).not.to.include('access_token=');
    });

    it('answers a token in a form body next to the header with 400', async () => {
      const res = await request(server)
        .post('/api/contacts')
        .set('Authorization', `Bearer ${token()}`)
        .type('form')
        .send({ access_token: token() });
      expect(res.status).to.equal(400);
      expect(events[0]).to.include({ code: 'token_in_body' });
      expect(seen).to.have.length(0);
    });

    it('answers a HEAD request without a token with 401 and the challenge', async () => {
      const res = await request(server).head('/api/contacts');
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.equal(challenge);
    });

    it('drops every cookie a bearer-authenticated route tries to set', async () => {
      const res = await request(server).get('/api/cookie').set('Authorization', `Bearer ${token()}`);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ ok: true });
      expect(res.headers['set-cookie']).to.equal(undefined);
    });

    it('drops cookies passed to writeHead as an object or as a raw array', async () => {
      for (const path of ['/api/cookie-writehead-object', '/api/cookie-writehead-array']) {
        const res = await request(server).get(path).set('Authorization', `Bearer ${token()}`);
        expect(res.status, path).to.equal(200);
        expect(res.text).to.equal('ok');
        expect(res.headers['content-type']).to.equal('text/plain');
        expect(res.headers['set-cookie'], path).to.equal(undefined);
      }
    });

    it("leaves a route's own errors to the application's error handler", async () => {
      const res = await request(server).get('/api/throws').set('Authorization', `Bearer ${token()}`);
      expect(res.status).to.equal(500);
      expect(res.body).to.deep.equal({ appError: 'route failure' });
    });
  });

  describe('cookies set around the middleware', () => {
    it('drops a cookie that a session middleware mounted before s2sAuth adds while the headers are written', async () => {
      const app = express();
      // What express-session does with on-headers: set the cookie at the last moment.
      app.use((_req, res, next) => {
        const writeHead = res.writeHead;
        res.writeHead = function (this: Response, ...args: unknown[]) {
          this.setHeader('Set-Cookie', 'connect.sid=s%3Aabc');
          return Reflect.apply(writeHead, this, args) as Response;
        } as typeof res.writeHead;
        next();
      });
      app.use(s2sAuth(verifierOptions));
      app.get('/x', (_req, res) => {
        res.send('ok');
      });
      const server = await listen(app);
      try {
        const accepted = await request(server).get('/x').set('Authorization', `Bearer ${token()}`);
        expect(accepted.status).to.equal(200);
        expect(accepted.headers['set-cookie']).to.equal(undefined);
        const refused = await request(server).get('/x');
        expect(refused.status).to.equal(401);
        expect(refused.headers['set-cookie']).to.equal(undefined);
      } finally {
        await close(server);
      }
    });

    it('removes a cookie already set on the response before s2sAuth ran', async () => {
      const app = express();
      app.use((_req, res, next) => {
        res.cookie('early', '1');
        next();
      });
      app.use(s2sAuth(verifierOptions));
      app.get('/x', (_req, res) => {
        res.send('ok');
      });
      const server = await listen(app);
      try {
        const res = await request(server).get('/x').set('Authorization', `Bearer ${token()}`);
        expect(res.status).to.equal(200);
        expect(res.headers['set-cookie']).to.equal(undefined);
      } finally {
        await close(server);
      }
    });

    it('keeps cookies on routes that s2sAuth does not cover', async () => {
      const app = express();
      app.get('/public', (_req, res) => {
        res.cookie('pref', 'dark').send('ok');
      });
      app.use('/api', s2sAuth(verifierOptions));
      const server = await listen(app);
      try {
        const res = await request(server).get('/public');
        expect(res.headers['set-cookie']).to.deep.equal(['pref=dark; Path=/']);
      } finally {
        await close(server);
      }
    });
  });

  describe('failures of the verifier itself', () => {
    async function call(verifier: Verifier, authorization = 'Bearer abc.def.ghi'): Promise<request.Response> {
      const app = express();
      app.use(s2sAuth({ verifier }));
      app.get('/x', (_req, res) => {
        res.send('ran');
      });
      const server = await listen(app);
      try {
        return await request(server).get('/x').set('Authorization', authorization);
      } finally {
        await close(server);
      }
    }

    it("answers from the verifier's cache without a promise, and verifies what the cache does not know", async () => {
      const principal = { partner: 'cached-partner', scopes: [] } as unknown as S2SPrincipal;
      let verifyCalls = 0;
      const verifier: Verifier = {
        ...fakeVerifier(() => {
          verifyCalls++;
          return Promise.reject(new InvalidTokenError('token_expired', 'x'));
        }),
        verifyCached: (token: string) => (token === 'abc.def.ghi' ? principal : undefined),
      };
      const app = express();
      app.get('/x', s2sAuth({ verifier }), (req, res) => {
        res.cookie('c', '1').send(req.s2s?.partner);
      });
      const server = await listen(app);
      try {
        const hit = await request(server).get('/x').set('Authorization', 'Bearer abc.def.ghi');
        expect([hit.status, hit.text, hit.headers['set-cookie'], verifyCalls]).to.deep.equal([200, 'cached-partner', undefined, 0]);
        const miss = await request(server).get('/x').set('Authorization', 'Bearer abc.def.ghj');
        expect([miss.status, miss.body.error, verifyCalls]).to.deep.equal([401, 'invalid_token', 1]);
      } finally {
        await close(server);
      }
    });

    it('answers an unexpected error of the verifier with 401 invalid_token, audited, never 500', async () => {
      const audited: AuditEvent[] = [];
      const verifier = fakeVerifier(() => Promise.reject(new RangeError('bug')), { audit: (event) => audited.push(event) });
      const res = await call(verifier);
      expect(res.status).to.equal(401);
      expect(res.body.error).to.equal('invalid_token');
      expect(res.text).not.to.include('bug');
      expect(audited).to.have.length(1);
      expect(audited[0]).to.include({ decision: 'reject', code: 'verification_failed', status: 401 });
      expect(res.headers['x-ms-diagnostics'], 'an internal error is not an invalid signature').to.equal(undefined);
    });

    it('answers a verifier that throws synchronously with 401', async () => {
      const verifier = fakeVerifier(() => {
        throw new Error('sync');
      });
      expect((await call(verifier)).status).to.equal(401);
    });

    it('answers 503 with Retry-After when the keys are unavailable', async () => {
      const verifier = fakeVerifier(() => Promise.reject(new KeysUnavailableError('metadata down', 120)));
      const res = await call(verifier);
      expect(res.status).to.equal(503);
      expect(res.headers['retry-after']).to.equal('120');
      // RFC 6750 has no error for a 503 (the challenge carries none); the body names RFC 6749's.
      expect(res.body).to.deep.equal({
        error: 'temporarily_unavailable',
        error_description: "The signing keys of the token's issuer are temporarily unavailable.",
        message: "The signing keys of the token's issuer are temporarily unavailable.",
      });
      expect(res.headers['www-authenticate']).to.equal('Bearer realm="contoso.com", client_id="' + OWN + '", trusted_issuers="a@contoso.com"');
    });

    it('still refuses when the challenge cannot be built', async () => {
      const broken = fakeVerifier(() => Promise.reject(new InvalidTokenError('token_expired', 'old')), {
        challenge: () => {
          throw new Error('registry closed');
        },
      });
      const refused = await call(broken);
      expect(refused.status).to.equal(401);
      expect(refused.headers['www-authenticate']).to.equal('Bearer error="invalid_token"');
      const challenged = await call(broken, 'Bearer');
      expect(challenged.status).to.equal(401);
      expect(challenged.headers['www-authenticate']).to.equal('Bearer');
    });

    it('still refuses when the challenge has a value that cannot be sent in a header', async () => {
      const odd = fakeVerifier(() => Promise.reject(new InvalidTokenError('token_expired', 'old')), {
        challenge: () => ({ realm: 'contoso.com\n', clientId: OWN, trustedIssuers: [] }),
      });
      const refused = await call(odd);
      expect(refused.status).to.equal(401);
      expect(refused.headers['www-authenticate']).to.equal('Bearer error="invalid_token"');
      expect((await call(odd, 'Basic x')).headers['www-authenticate']).to.equal('Bearer');
    });

    it('keeps a failing audit sink from changing the answer', async () => {
      const verifier = fakeVerifier(() => Promise.reject(new Error('x')), {
        audit: () => {
          throw new Error('disk full');
        },
      });
      expect((await call(verifier)).status).to.equal(401);
      expect((await call(verifier, 'Bearer a b')).status).to.equal(400);
    });
  });

  describe('s2sErrorHandler', () => {
    it('answers a BearerError thrown by a route after s2sAuth with the server challenge', async () => {
      const app = express();
      app.use(s2sAuth(verifierOptions));
      app.get('/x', () => {
        throw new InvalidTokenError('user_invalid', 'the user left');
      });
      app.use(s2sErrorHandler());
      const server = await listen(app);
      try {
        const res = await request(server).get('/x').set('Authorization', `Bearer ${token()}`);
        expect(res.status).to.equal(401);
        expect(res.headers['www-authenticate']).to.match(/^Bearer realm="contoso.com", client_id=.*error="invalid_token"/);
        expect(res.headers['x-ms-diagnostics']).to.match(/^2000005;/);
        expect(res.text).not.to.include('the user left');
      } finally {
        await close(server);
      }
    });

    it('answers a BearerError of a route without s2sAuth with the error alone, and passes other errors on', async () => {
      const app = express();
      app.get('/bearer', () => {
        throw new InvalidTokenError('token_expired', 'old');
      });
      app.get('/other', () => {
        throw new Error('other');
      });
      app.use(s2sErrorHandler());
      app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
        res.status(500).send(`app: ${error.message}`);
      });
      const server = await listen(app);
      try {
        const bearer = await request(server).get('/bearer');
        expect(bearer.status).to.equal(401);
        expect(bearer.headers['www-authenticate']).to.equal('Bearer error="invalid_token"');
        const other = await request(server).get('/other');
        expect(other.status).to.equal(500);
        expect(other.text).to.equal('app: other');
      } finally {
        await close(server);
      }
    });

    it('passes a BearerError on when the response has already started', async () => {
      const app = express();
      app.get('/x', (_req, res, next) => {
        res.writeHead(200);
        res.write('partial');
        next(new InvalidTokenError('token_expired', 'late'));
      });
      app.use(s2sErrorHandler());
      let passed: unknown;
      app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
        passed = error;
        res.end();
      });
      const server = await listen(app);
      try {
        const res = await request(server).get('/x');
        expect(res.status).to.equal(200);
        expect(passed).to.be.instanceOf(InvalidTokenError);
      } finally {
        await close(server);
      }
    });
  });

  describe('response writers', () => {
    /** A response stand-in that records what is written. */
    function recorder(headersSent: boolean) {
      const written = { ended: 0, headers: new Map<string, unknown>() };
      const res = {
        headersSent,
        statusCode: 200,
        setHeader(name: string, value: unknown) {
          written.headers.set(name.toLowerCase(), value);
          return res;
        },
        end() {
          written.ended += 1;
        },
      };
      return { res: res as unknown as Response, written };
    }

    it('only ends a response whose headers were already sent', () => {
      const a = recorder(true);
      sendBearerError(a.res, new InvalidTokenError('token_expired', 'x'), undefined);
      const b = recorder(true);
      sendBearerChallenge(b.res, undefined);
      for (const { written } of [a, b]) {
        expect(written.ended).to.equal(1);
        expect(written.headers.size).to.equal(0);
      }
    });

    it('neither rejects nor throws when writing the answer fails, and ends the connection instead', async () => {
      const verifier = fakeVerifier(() => Promise.reject(new InvalidTokenError('token_expired', 'x')));
      const middleware = s2sAuth({ verifier });
      let destroyed = 0;
      const res = {
        headersSent: false,
        statusCode: 200,
        setHeader() {
          throw new Error('socket gone');
        },
        appendHeader() {},
        writeHead() {},
        removeHeader() {},
        end() {},
        destroy() {
          destroyed += 1;
        },
      };
      const req = { method: 'GET', url: '/x', headers: { authorization: 'Bearer a.b.c' }, rawHeaders: ['Authorization', 'Bearer a.b.c'] };
      let nextCalls = 0;
      middleware(req as unknown as Request, res as unknown as Response, () => {
        nextCalls += 1;
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(destroyed).to.equal(1);
      expect(nextCalls).to.equal(0);
    });

    it('hands an error thrown by the next handler to next(err)', async () => {
      const principal = { partner: 'p', scopes: [] } as unknown as S2SPrincipal;
      const middleware = s2sAuth({ verifier: fakeVerifier(() => Promise.resolve(principal)) });
      const { res } = recorder(false);
      Object.assign(res, { appendHeader: res.setHeader, writeHead: () => res, removeHeader: () => undefined });
      const req = { method: 'GET', url: '/x', headers: {}, rawHeaders: ['Authorization', 'Bearer a.b.c'] } as unknown as Request;
      const calls: unknown[] = [];
      await new Promise<void>((resolve) => {
        middleware(req, res, (error?: unknown) => {
          calls.push(error);
          if (calls.length === 1) throw new Error('thrown by the route');
          resolve();
        });
      });
      expect(req.s2s).to.equal(principal);
      expect(calls[0]).to.equal(undefined);
      expect((calls[1] as Error).message).to.equal('thrown by the route');
    });

    it('audits the method and the path without the query string', () => {
      const info = (req: object) => requestInfo(req as never);
      expect(info({ method: 'POST', url: '/a?b=1?c', originalUrl: '/api/a?b=1?c' })).to.deep.equal({ method: 'POST', path: '/api/a' });
      expect(info({ method: 'GET', url: '/a' })).to.deep.equal({ method: 'GET', path: '/a' });
      expect(info({ url: '?x' })).to.deep.equal({ method: 'GET', path: '' });
      expect(info({})).to.deep.equal({ method: 'GET', path: '/' });
    });
  });
});

