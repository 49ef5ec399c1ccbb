import { Agent, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { after, before, beforeEach, describe, it } from 'mocha';
import type { NextFunction, Request, Response } from 'express';
import passport from 'passport';
import { Strategy as BearerStrategy } from 'passport-http-bearer';
import { BearerError, WellKnownPrincipal } from '@s2sauth/protocol';
import { MemoryStore } from '@s2sauth/store';
import { createCertificate, createPartner, type TestPartner } from '@s2sauth/test-support/partners';
import type { AuditEvent } from '../src/audit.js';
import { s2sAuth, s2sErrorHandler } from '../src/express.js';
import { requireScope } from '../src/guards.js';
import { S2SBearerStrategy, type S2SBearerStrategyOptions } from '../src/passport.js';
import type { S2SPrincipal } from '../src/principal.js';
import { PartnerRegistry } from '../src/registry.js';
import { createVerifier, type Verifier } from '../src/verifier.js';
import { describeWithExpress } from './express-versions.js';

const OWN = WellKnownPrincipal.exchange;
const AUDIENCE = `${OWN}/mail.contoso.com@contoso.com`;
const START = Date.UTC(2030, 0, 15, 12, 0, 0);

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

describeWithExpress('S2SBearerStrategy', (express) => {
  let now = START;
  const clock = (): number => now;
  let lync: TestPartner;
  let metadataDown: TestPartner;
  let downServer: Awaited<ReturnType<TestPartner['serveMetadata']>>;
  let store: MemoryStore;
  let registry: PartnerRegistry;
  let verifier: Verifier;
  let events: AuditEvent[];
  let server: Server;
  let port: number;
  let ran: string[];
  let authInfo: unknown;
  let user: unknown;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });

  before(async () => {
    const certificateOptions = { notBefore: new Date(START - 86_400_000), validityDays: 366 };
    lync = await createPartner({ principal: WellKnownPrincipal.lync, identity: 'microsoft.lync', certificate: await createCertificate(['contoso.com'], certificateOptions) });
    metadataDown = await createPartner({ identity: 'down', certificate: await createCertificate(['contoso.com'], certificateOptions) });
    downServer = await metadataDown.serveMetadata();
    store = new MemoryStore({ clock });
    registry = new PartnerRegistry({ store, clock });
    await registry.add({ identity: lync.identity, applicationId: lync.principal, realm: 'contoso.com', certificate: lync.certificate.pem, scopes: ['contacts.read'] });
    await registry.add({ identity: 'down', metadataUrl: downServer.url, allowLoopback: true });
    // The partner's metadata answered once at registration; from now on it is down.
    downServer.respondWith('down', 500);
    events = [];
    verifier = createVerifier({ principal: OWN, realms: 'contoso.com', authorities: ['mail.contoso.com'], registry, clock, audit: (event) => events.push(event) });

    const authenticator = new passport.Passport();
    authenticator.use(new S2SBearerStrategy({ verifier }));
    authenticator.use('anonymous-fallback', new BearerStrategy((_token, done) => done(null, false)));
    const app = express();
    app.use(express.urlencoded({ extended: false }));
    const handler = (name: string) => (req: Request, res: Response) => {
      ran.push(name);
      authInfo = req.authInfo;
      user = req.user;
      res.cookie('sid', 'x');
      res.json({ partner: req.s2s?.partner });
    };
    app.all('/express/contacts', s2sAuth({ verifier }), requireScope('contacts.write'), handler('express'));
    // failWithError: the 401 without a token goes to s2sErrorHandler, which answers it as s2sAuth does.
    app.all('/passport/contacts', authenticator.authenticate('s2s', { session: false, failWithError: true }), requireScope('contacts.write'), handler('passport'));
    app.all('/passport-plain/contacts', authenticator.authenticate('s2s', { session: false }), requireScope('contacts.write'), handler('passport-plain'));
    app.all('/express/open', s2sAuth({ verifier }), handler('express-open'));
    app.all('/passport/open', authenticator.authenticate('s2s', { session: false, failWithError: true }), handler('passport-open'));
    app.get('/callback', (req, res, next) => {
      authenticator.authenticate('s2s', { session: false }, (error: unknown, principal: unknown) => {
        if (error instanceof BearerError) {
          res.status(299).json({ code: error.code, status: error.status });
          return;
        }
        if (error) {
          next(error);
          return;
        }
        res.json({ principal: principal !== false });
      })(req, res, next);
    });
    // A chain: without an s2s token, Passport goes on to the next strategy.
    app.get(
      '/chain',
      authenticator.authenticate(['s2s', 'anonymous-fallback'], { session: false }),
      handler('chain'),
    );
    app.get(
      '/chain-guarded',
      (req, res, next) => {
        authenticator.authenticate('s2s', { session: false }, (error: unknown) => {
          if (error) next(error);
          else next(); // let an unauthenticated request reach the guard
        })(req, res, next);
      },
      requireScope('contacts.read'),
      handler('chain-guarded'),
    );
    app.use(s2sErrorHandler());
    app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
      res.status(500).send(`unexpected: ${error.message}`);
    });
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    agent.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await downServer.close();
    verifier.close();
    registry.close();
    store.close();
  });

  beforeEach(() => {
    now = START;
    ran = [];
    events = [];
    authInfo = undefined;
    user = undefined;
  });

  /** Sends raw headers (duplicates included) with node:http. */
  function send(method: string, path: string, headers: readonly string[] = [], body?: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const raw = ['Host', `127.0.0.1:${port}`, ...headers];
      if (body !== undefined) raw.push('Content-Type', 'application/x-www-form-urlencoded', 'Content-Length', String(Buffer.byteLength(body)));
      const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: raw, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  const token = (overrides: Record<string, unknown> = {}, partner: TestPartner = lync): string =>
    partner.mint(partner.actorClaims(AUDIENCE, Math.floor(now / 1000), overrides));

  const AUTH_HEADERS = ['www-authenticate', 'x-ms-diagnostics', 'retry-after', 'set-cookie', 'cache-control', 'content-type'] as const;

  describe('gives the same answers as s2sAuth', () => {
    const cases: ReadonlyArray<[string, () => { method?: string; path?: string; headers?: string[]; body?: string }]> = [
      ['a valid token without the scope the route needs (403)', () => ({ headers: ['Authorization', `Bearer ${token()}`] })],
      ['a valid token with the scope (200)', () => ({ headers: ['Authorization', `Bearer ${token({ scp: 'contacts.read' })}`], path: 'open' })],
      ['an expired token (401)', () => ({ headers: ['Authorization', `Bearer ${token({ nbf: 1, iat: 1, exp: 2 })}`] })],
      ['a token for another audience (401 with x-ms-diagnostics)', () => ({ headers: ['Authorization', `Bearer ${token({ aud: `${OWN}/other.contoso.com@contoso.com` })}`] })],
      ['a token for another realm (401 with x-ms-diagnostics)', () => ({ headers: ['Authorization', `Bearer ${token({ aud: `${OWN}/mail.contoso.com@fabrikam.com` })}`] })],
      ['a token signed with alg none (401)', () => ({ headers: ['Authorization', `Bearer ${lync.mintRaw('{"alg":"none"}', '{}', { sign: 'none' })}`] })],
      ['a token whose partner keys are unavailable (503)', () => ({ headers: ['Authorization', `Bearer ${token({}, metadataDown)}`] })],
      ['no Authorization header (401 challenge)', () => ({})],
      ['an empty Bearer (401 challenge)', () => ({ headers: ['Authorization', 'Bearer'] })],
      ['a Basic credential (401 challenge)', () => ({ headers: ['Authorization', 'Basic dXNlcjpwYXNz'] })],
      ['two Authorization headers (400)', () => ({ headers: ['Authorization', `Bearer ${token()}`, 'authorization', `Bearer ${token()}`] })],
      ['a token in the query (400)', () => ({ path: `contacts?access_token=${token()}` })],
      ['a token in the query next to the header (400)', () => ({ path: `contacts?access_token=x`, headers: ['Authorization', `Bearer ${token()}`] })],
      ['a token in a form body (400)', () => ({ method: 'POST', body: `access_token=${token()}` })],
      ['a malformed header (400)', () => ({ headers: ['Authorization', `Bearer ${token()} extra`] })],
      ['an oversized header (400)', () => ({ headers: ['Authorization', `Bearer ${'a'.repeat(9000)}`] })],
    ];

    for (const [what, make] of cases) {
      it(`for ${what}`, async () => {
        const input = make();
        const path = input.path ?? 'contacts';
        const viaExpress = await send(input.method ?? 'GET', `/express/${path}`, input.headers, input.body);
        const viaPassport = await send(input.method ?? 'GET', `/passport/${path}`, input.headers, input.body);
        expect(viaPassport.status).to.equal(viaExpress.status);
        expect([400, 401, 403, 503, 200]).to.include(viaExpress.status);
        for (const name of AUTH_HEADERS) {
          expect(viaPassport.headers[name], name).to.deep.equal(viaExpress.headers[name]);
        }
        expect(viaExpress.headers['set-cookie']).to.equal(undefined);
        if (viaExpress.status !== 401 || viaExpress.body !== '') {
          expect(viaPassport.body).to.equal(viaExpress.body);
        }
      });
    }

    it('answers no token with the same status, challenge and JSON body (failWithError); without failWithError Passport writes its own short body', async () => {
      const viaExpress = await send('GET', '/express/contacts');
      const viaPassport = await send('GET', '/passport/contacts');
      const viaPlainPassport = await send('GET', '/passport-plain/contacts');
      expect(viaExpress.status).to.equal(401);
      expect(viaPassport.status).to.equal(401);
      expect(viaPlainPassport.status).to.equal(401);
      expect(viaPassport.headers['www-authenticate']).to.equal(viaExpress.headers['www-authenticate']);
      expect(viaPlainPassport.headers['www-authenticate']).to.equal(viaExpress.headers['www-authenticate']);
      const match = /^Bearer realm="contoso.com", client_id="([^"]+)", trusted_issuers="([^"]+)"$/.exec(String(viaExpress.headers['www-authenticate']));
      expect(match?.[1]).to.equal(OWN);
      expect(match?.[2]?.split(',').sort()).to.deep.equal([`${WellKnownPrincipal.lync}@contoso.com`, metadataDown.issuerId].sort());
      expect(viaExpress.headers['content-type']).to.equal('application/json; charset=utf-8');
      expect(JSON.parse(viaExpress.body)).to.have.all.keys('error', 'message');
      expect(JSON.parse(viaExpress.body)).to.have.property('error', 'token_required');
      expect(viaPassport.body).to.equal(viaExpress.body);
      expect(viaPassport.headers['content-type']).to.equal(viaExpress.headers['content-type']);
      expect(viaPlainPassport.body).to.equal('Unauthorized');
      expect(ran).to.deep.equal([]);
    });

    it('runs neither route handler for a refused request', async () => {
      await send('GET', '/express/contacts', ['Authorization', `Bearer ${token()}`]);
      await send('GET', '/passport/contacts', ['Authorization', `Bearer ${token()}`]);
      expect(ran).to.deep.equal([]);
    });

    it('audits an extraction failure once through either integration', async () => {
      await send('GET', '/express/contacts?access_token=x');
      await send('GET', '/passport/contacts?access_token=x');
      expect(events.map((e) => [e.code, e.path])).to.deep.equal([
        ['token_in_query', '/express/contacts'],
        ['token_in_query', '/passport/contacts'],
      ]);
    });
  });

  describe('on success', () => {
    it('sets req.s2s, req.user and req.authInfo, and drops the cookie', async () => {
      const answer = await send('GET', '/passport/open', ['Authorization', `Bearer ${token({ scp: 'contacts.read' })}`]);
      expect(answer.status).to.equal(200);
      expect(JSON.parse(answer.body)).to.deep.equal({ partner: 'microsoft.lync' });
      expect(answer.headers['set-cookie']).to.equal(undefined);
      expect(ran).to.deep.equal(['passport-open']);
      expect(user).to.deep.include({ partner: 'microsoft.lync', applicationId: lync.principal });
      expect(authInfo).to.deep.equal({ scope: ['contacts.read'] });
    });
  });

  describe('with a reused token', () => {
    it('answers from the verification cache as on the first call: principal, scopes, no cookie, one audit event each', async () => {
      const reused = token({ scp: 'contacts.read' });
      for (const round of [1, 2]) {
        ran.length = 0;
        const answer = await send('GET', '/passport/open', ['Authorization', `Bearer ${reused}`]);
        expect(answer.status, `call ${round}`).to.equal(200);
        expect(JSON.parse(answer.body)).to.deep.equal({ partner: 'microsoft.lync' });
        expect(answer.headers['set-cookie']).to.equal(undefined);
        expect(ran).to.deep.equal(['passport-open']);
        expect(authInfo).to.deep.equal({ scope: ['contacts.read'] });
      }
      expect(events.map((e) => [e.decision, e.cached, e.path])).to.deep.equal([
        ['accept', false, '/passport/open'],
        ['accept', true, '/passport/open'],
      ]);
    });
  });

  describe('with Passport features', () => {
    it('hands a BearerError to a custom callback', async () => {
      const answer = await send('GET', '/callback', ['Authorization', `Bearer ${token({ aud: 'x' })}`]);
      expect(answer.status).to.equal(299);
      expect(JSON.parse(answer.body)).to.deep.equal({ code: 'audience_invalid', status: 401 });
    });

    it('hands a request without a token to the next strategy of a chain', async () => {
      const answer = await send('GET', '/chain');
      expect(answer.status).to.equal(401);
      // Both strategies failed: Passport sends both challenges, ours first.
      expect(answer.headers['www-authenticate']).to.match(/^Bearer realm="contoso.com", client_id=.*, Bearer realm="Users"$/);
    });

    it('lets a guard answer with the server challenge and audit when Passport let an unauthenticated request through', async () => {
      const answer = await send('GET', '/chain-guarded');
      expect(answer.status).to.equal(401);
      expect(answer.headers['www-authenticate']).to.match(/^Bearer realm="contoso.com", client_id="/);
      expect(ran).to.deep.equal([]);
      expect(events.at(-1)).to.include({ decision: 'reject', status: 401, path: '/chain-guarded' });
    });

    it('works with the verifier passed to the verify callback of passport-http-bearer', async () => {
      const strategy = new S2SBearerStrategy({ verifier, name: 'custom' });
      expect(strategy.name).to.equal('custom');
      expect(strategy).to.be.instanceOf(BearerStrategy);
      const verify = (strategy as unknown as { _verify: (req: unknown, token: string, done: (e: unknown, p?: unknown, i?: unknown) => void) => void })._verify;
      const accepted = await new Promise<unknown[]>((resolve) => verify({ method: 'GET', url: '/' }, token(), (...args) => resolve(args)));
      expect(accepted[0]).to.equal(null);
      expect((accepted[1] as S2SPrincipal).partner).to.equal('microsoft.lync');
      const refused = await new Promise<unknown[]>((resolve) => verify({ method: 'GET', url: '/' }, 'x', (...args) => resolve(args)));
      expect(refused[0]).to.be.instanceOf(BearerError);
    });
  });

  describe('called as Passport calls it', () => {
    it('turns an exception from the rest of the chain into error(), not an unhandled rejection', async () => {
      const strategy = Object.create(new S2SBearerStrategy({ verifier })) as S2SBearerStrategy & {
        success: () => void;
        error: (error: unknown) => void;
      };
      const errors: unknown[] = [];
      const done = new Promise<void>((resolve) => {
        strategy.success = () => {
          throw new Error('thrown by the route');
        };
        strategy.error = (error: unknown) => {
          errors.push(error);
          resolve();
        };
      });
      const authorization = `Bearer ${token()}`;
      strategy.authenticate({ method: 'GET', url: '/x', headers: { authorization }, rawHeaders: ['Authorization', authorization] } as unknown as Request);
      await done;
      expect((errors[0] as Error).message).to.equal('thrown by the route');
    });
  });

  describe('options', () => {
    it('refuses missing options, a missing verifier, a bad name and unknown options', () => {
      expect(() => new S2SBearerStrategy(undefined as unknown as S2SBearerStrategyOptions)).to.throw(TypeError, /needs options/);
      expect(() => new S2SBearerStrategy({} as S2SBearerStrategyOptions)).to.throw(TypeError, /"verifier" must be a verifier/);
      expect(() => new S2SBearerStrategy({ verifier, name: '' })).to.throw(TypeError, /"name"/);
      expect(() => new S2SBearerStrategy({ verifier, skip: true } as unknown as S2SBearerStrategyOptions)).to.throw(
        TypeError,
        'new S2SBearerStrategy: unknown option "skip"; the options are verifier, name. Verification cannot be turned off.',
      );
    });

    it("is named 's2s' by default and uses the verifier it is given", () => {
      const strategy = new S2SBearerStrategy({ verifier });
      expect(strategy.name).to.equal('s2s');
      expect(strategy.verifier).to.equal(verifier);
    });
  });

  describe('when the challenge cannot be built', () => {
    it('still fails with a bare Bearer challenge', async () => {
      const broken = { ...verifier, challenge: () => ({ realm: 'bad\nrealm', clientId: OWN, trustedIssuers: [] }) } as Verifier;
      const failing = { ...verifier, challenge: (): never => { throw new Error('closed'); } } as Verifier;
      const authenticator = new passport.Passport();
      authenticator.use('broken', new S2SBearerStrategy({ verifier: broken }));
      authenticator.use('failing', new S2SBearerStrategy({ verifier: failing }));
      const app = express();
      app.get('/broken', authenticator.authenticate('broken', { session: false }), (_req, res) => res.send('ran'));
      app.get('/failing', authenticator.authenticate('failing', { session: false }), (_req, res) => res.send('ran'));
      const local = await new Promise<Server>((resolve) => {
        const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
      });
      try {
        const localPort = (local.address() as AddressInfo).port;
        for (const path of ['/broken', '/failing']) {
          const answer = await new Promise<{ status: number; challenge: unknown }>((resolve, reject) => {
            httpRequest({ host: '127.0.0.1', port: localPort, path, agent: false }, (res) => {
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] }));
            })
              .on('error', reject)
              .end();
          });
          expect(answer, path).to.deep.equal({ status: 401, challenge: 'Bearer' });
        }
      } finally {
        await new Promise<void>((resolve) => local.close(() => resolve()));
      }
    });
  });
});
