import type { Server } from 'node:http';
import { expect } from 'chai';
import { after, before, beforeEach, describe, it } from 'mocha';
import type { RequestHandler } from 'express';
import request from 'supertest';
import { WellKnownPrincipal, type ChallengeParams } from '@s2sauth/protocol';
import type { AuditEvent } from '../src/audit.js';
import { s2sAuth } from '../src/express.js';
import { requireAppOnly, requireScope, requireUser } from '../src/guards.js';
import type { S2SPrincipal } from '../src/principal.js';
import type { Verifier } from '../src/verifier.js';
import { describeWithExpress } from './express-versions.js';

const OWN = WellKnownPrincipal.exchange;
const CHALLENGE: ChallengeParams = { realm: 'contoso.com', clientId: OWN, trustedIssuers: [`${WellKnownPrincipal.lync}@contoso.com`] };
const PLAIN = `Bearer realm="contoso.com", client_id="${OWN}", trusted_issuers="${WellKnownPrincipal.lync}@contoso.com"`;

const APP_ONLY: S2SPrincipal = Object.freeze({
  partner: 'microsoft.lync',
  applicationId: WellKnownPrincipal.lync,
  realm: 'contoso.com',
  issuer: `${WellKnownPrincipal.lync}@contoso.com`,
  audience: `${OWN}/mail.contoso.com@contoso.com`,
  scopes: ['contacts.read', 'calendar.read'],
  tokenId: 'jti-1',
  trust: 'certificate',
  expiresAt: Date.UTC(2030, 0, 1),
});
const WITH_USER: S2SPrincipal = Object.freeze({ ...APP_ONLY, user: { nameid: 'alice@contoso.com' } });
const { tokenId: _tokenId, ...NO_JTI } = APP_ONLY;

describeWithExpress('guards', (express) => {
  let server: Server;
  let events: AuditEvent[];
  let ran: string[];

  /** Tokens "app" and "user" verify to the principals above; anything else is a plain 401 from the fake. */
  const verifier = {
    verify: (token: string) => Promise.resolve(token === 'user' ? WITH_USER : token === 'no-jti' ? NO_JTI : APP_ONLY),
    verifyCached: () => undefined,
    challenge: () => CHALLENGE,
    options: { audit: (event: AuditEvent) => events.push(event) },
    close: () => undefined,
  } as unknown as Verifier;

  before(async () => {
    const app = express();
    const route = (path: string, ...guards: RequestHandler[]): void => {
      app.get(path, s2sAuth({ verifier }), ...guards, (req, res) => {
        ran.push(path);
        res.json({ partner: req.s2s?.partner });
      });
    };
    route('/contacts', requireScope('contacts.read'));
    route('/both', requireScope('contacts.read', 'calendar.read'));
    route('/write', requireScope('contacts.read', 'contacts.write', 'contacts.write'));
    route('/user', requireUser());
    route('/app', requireAppOnly());
    route('/stacked', requireUser(), requireScope('calendar.read'));
    // Guards without s2sAuth: a forgotten authentication must still fail closed.
    app.get('/unauthenticated', requireScope('contacts.read'), (_req, res) => {
      ran.push('/unauthenticated');
      res.send('ran');
    });
    // A principal set by something other than s2sAuth is not trusted.
    app.get(
      '/forged',
      (req, _res, next) => {
        req.s2s = APP_ONLY;
        next();
      },
      requireScope('contacts.read'),
      (_req, res) => {
        ran.push('/forged');
        res.send('ran');
      },
    );
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    events = [];
    ran = [];
  });

  const call = (path: string, token = 'app') => request(server).get(path).set('Authorization', `Bearer ${token}`);

  describe('requireScope', () => {
    it('lets a call with the scope through', async () => {
      const res = await call('/contacts');
      expect(res.status).to.equal(200);
      expect(ran).to.deep.equal(['/contacts']);
    });

    it('lets a call through that has all of several scopes', async () => {
      expect((await call('/both')).status).to.equal(200);
    });

    it('refuses a call that lacks one of the scopes with 403 insufficient_scope naming every needed scope', async () => {
      const res = await call('/write');
      expect(res.status).to.equal(403);
      expect(res.headers['www-authenticate']).to.equal(
        `${PLAIN}, error="insufficient_scope", error_description="The access token does not grant the scope this resource requires.", scope="contacts.read contacts.write"`,
      );
      expect(res.headers['x-ms-diagnostics']).to.equal(undefined);
      expect(res.body).to.deep.equal({
        error: 'insufficient_scope',
        error_description: 'The access token does not grant the scope this resource requires.',
        message: 'The access token does not grant the scope this resource requires.',
      });
      expect(ran).to.deep.equal([]);
    });

    it('audits a missing scope with the partner and the precise missing scope', async () => {
      await call('/write');
      const reject = events.find((e) => e.decision === 'reject');
      expect(reject).to.deep.include({
        decision: 'reject',
        code: 'scope_insufficient',
        status: 403,
        partner: 'microsoft.lync',
        applicationId: WellKnownPrincipal.lync,
        tokenId: 'jti-1',
        method: 'GET',
        path: '/write',
      });
      expect(reject?.reason).to.include('"contacts.write"');
      expect(reject?.reason).not.to.include('contacts.read contacts.write');
    });

    it('audits a missing scope of a token without a jti', async () => {
      expect((await call('/write', 'no-jti')).status).to.equal(403);
      expect(events.at(-1)).not.to.have.property('tokenId');
    });

    it('answers 401 with the plain challenge when no s2sAuth ran before it', async () => {
      const res = await request(server).get('/unauthenticated');
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.equal('Bearer');
      expect(ran).to.deep.equal([]);
    });

    it('does not trust a req.s2s that s2sAuth did not set', async () => {
      const res = await request(server).get('/forged');
      expect(res.status).to.equal(401);
      expect(ran).to.deep.equal([]);
    });

    it('refuses to be set up without a scope', () => {
      expect(() => requireScope()).to.throw(TypeError, /at least one scope/);
    });

    it('refuses a scope that is not an RFC 6749 scope token', () => {
      for (const bad of ['', 'two words', 'quo"te', 'back\\slash', 'caf\u00e9', 42 as unknown as string]) {
        expect(() => requireScope(bad), String(bad)).to.throw(TypeError, /is not a scope/);
      }
    });
  });

  describe('requireUser', () => {
    it('lets a call with a user context through', async () => {
      expect((await call('/user', 'user')).status).to.equal(200);
    });

    it('refuses an app-only call with 403 insufficient_scope and no scope parameter', async () => {
      const res = await call('/user');
      expect(res.status).to.equal(403);
      expect(res.headers['www-authenticate']).to.equal(
        `${PLAIN}, error="insufficient_scope", error_description="The access token does not grant the scope this resource requires."`,
      );
      expect(ran).to.deep.equal([]);
      expect(events.at(-1)).to.include({ decision: 'reject', code: 'scope_insufficient', status: 403 });
    });

    it('checks the scope after the user in a stack of guards', async () => {
      expect((await call('/stacked')).status).to.equal(403);
      expect((await call('/stacked', 'user')).status).to.equal(200);
    });
  });

  describe('requireAppOnly', () => {
    it('lets an app-only call through', async () => {
      expect((await call('/app')).status).to.equal(200);
    });

    it('refuses a call with a user context with 403', async () => {
      const res = await call('/app', 'user');
      expect(res.status).to.equal(403);
      expect(res.headers['www-authenticate']).not.to.include('scope=');
      expect(events.at(-1)?.reason).to.include('user context');
      expect(ran).to.deep.equal([]);
    });
  });
});
