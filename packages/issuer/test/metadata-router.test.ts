import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { createLocalJWKSet, jwtVerify } from 'jose';
import request from 'supertest';
import { parseMetadataDocument, WellKnownPrincipal } from '@s2sauth/protocol';
import { OAuthCertificate } from '../src/identity/certificate.js';
import { CertificateSet } from '../src/identity/certificate-set.js';
import { metadataRouter, type MetadataRouterOptions } from '../src/identity/metadata-router.js';
import { TokenIssuer } from '../src/identity/token-issuer.js';

const HOUR = 3_600_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2032, 2, 1);
const LYNC = WellKnownPrincipal.lync;
const REALM = 'contoso.com';
const JSON_TYPE = 'application/json; charset=utf-8';
const PUBLIC_JWK_MEMBERS = ['alg', 'e', 'kid', 'kty', 'n', 'use', 'x5c', 'x5t', 'x5t#S256'];

describe('metadataRouter', () => {
  /** Valid T0 .. T0 + 365 days. */
  let current: OAuthCertificate;
  /** Valid T0 .. T0 + 730 days. */
  let successor: OAuthCertificate;

  let now: number;
  const clock = (): number => now;
  const servers: Server[] = [];

  /** Serves the router on 127.0.0.1 on an ephemeral port. */
  async function serve(options: Partial<MetadataRouterOptions> & Pick<MetadataRouterOptions, 'certificates'>): Promise<Server> {
    const app = express();
    app.use(metadataRouter({ principal: LYNC, realm: REALM, clock, ...options }));
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    servers.push(server);
    return server;
  }

  function x5tsOf(body: { keys: Array<{ keyinfo?: { x5t: string }; kid?: string }> }): string[] {
    return body.keys.map((key) => key.keyinfo?.x5t ?? (key.kid as string));
  }

  before(async () => {
    [current, successor] = await Promise.all([
      OAuthCertificate.create({ realms: [REALM], notBefore: new Date(T0), validityDays: 365 }),
      OAuthCertificate.create({ realms: [REALM], notBefore: new Date(T0), validityDays: 730 }),
    ]);
  });

  beforeEach(() => {
    now = T0 + 30 * DAY;
  });

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  });

  describe('GET /metadata/json/1', () => {
    it('serves the Microsoft document as JSON with caching headers', async () => {
      const server = await serve({ certificates: current });
      expect((server.address() as AddressInfo).address).to.equal('127.0.0.1');
      const res = await request(server).get('/metadata/json/1').expect(200);
      expect(res.headers['content-type']).to.equal(JSON_TYPE);
      expect(res.headers['cache-control']).to.equal('public, max-age=3600');
      expect(res.headers['etag']).to.match(/^"[A-Za-z0-9_-]{43}"$/);
      expect(res.headers['x-content-type-options']).to.equal('nosniff');
      expect(res.headers).not.to.have.property('set-cookie');

      const body = res.body as Record<string, unknown>;
      expect(Object.keys(body).sort()).to.deep.equal(
        ['allowedAudiences', 'endpoints', 'id', 'issuer', 'keys', 'name', 'realm', 'serviceName', 'version'],
      );
      expect(body).to.include({ version: '1.0', realm: REALM, serviceName: LYNC, issuer: `${LYNC}@${REALM}`, name: LYNC });
      expect(body['id']).to.be.a('string');
      expect(body['allowedAudiences']).to.deep.equal([`${LYNC}@${REALM}`]);
      expect(body['endpoints']).to.deep.equal([]);
      expect(body['keys']).to.deep.equal([
        { usage: 'signing', keyinfo: { x5t: current.x5t }, keyvalue: { type: 'x509Certificate', value: current.der.toString('base64') } },
      ]);
    });

    it('is read back by the protocol metadata parser', async () => {
      const res = await request(await serve({ certificates: current })).get('/metadata/json/1').expect(200);
      const parsed = parseMetadataDocument(res.text, { now });
      expect(parsed.issuer).to.equal(`${LYNC}@${REALM}`);
      expect(parsed.keys.map((key) => key.x5t)).to.deep.equal([current.x5t]);
    });

    it('lists the name and endpoints given', async () => {
      const endpoints = [{ location: 'https://sts.contoso.com/contoso.com/tokens/OAuth/2', protocol: 'OAuth2', usage: 'issuance' }];
      const res = await request(await serve({ certificates: current, name: 'Lync pool', endpoints })).get('/metadata/json/1').expect(200);
      expect(res.body).to.include({ name: 'Lync pool' });
      expect(res.body.endpoints).to.deep.equal(endpoints);
    });

    it('answers HEAD with the headers and no body', async () => {
      const server = await serve({ certificates: current });
      const get = await request(server).get('/metadata/json/1').expect(200);
      const head = await request(server).head('/metadata/json/1').expect(200);
      expect(head.headers['content-type']).to.equal(JSON_TYPE);
      expect(head.headers['cache-control']).to.equal('public, max-age=3600');
      expect(head.headers['etag']).to.equal(get.headers['etag']);
      expect(head.headers['content-length']).to.equal(get.headers['content-length']);
      expect(head.text ?? '').to.equal('');
    });

    it('answers a matching If-None-Match with 304', async () => {
      const server = await serve({ certificates: current });
      const first = await request(server).get('/metadata/json/1').expect(200);
      const second = await request(server).get('/metadata/json/1').set('If-None-Match', first.headers['etag'] as string).expect(304);
      expect(second.text ?? '').to.equal('');
      await request(server).get('/metadata/json/1').set('If-None-Match', '"something-else"').expect(200);
    });

    it('serves the same bytes for repeated requests', async () => {
      const server = await serve({ certificates: current });
      const a = await request(server).get('/metadata/json/1');
      const b = await request(server).get('/metadata/json/1');
      expect(b.text).to.equal(a.text);
      expect(b.headers['etag']).to.equal(a.headers['etag']);
    });

    it('does not answer other methods', async () => {
      await request(await serve({ certificates: current })).post('/metadata/json/1').expect(404);
    });
  });

  describe('options', () => {
    it('refuses an unknown option name at start-up', () => {
      expect(() => metadataRouter({ principal: LYNC, realm: REALM, certificates: current, clock, maxAge: 60 } as never)).to.throw(
        TypeError,
        'metadataRouter: unknown option "maxAge"; the options are principal, realm, name, certificates, endpoints, maxAgeSeconds, clock.',
      );
    });
  });

  describe('GET /.well-known/jwks.json', () => {
    it('serves public RSA keys only, named by thumbprint', async () => {
      const res = await request(await serve({ certificates: current })).get('/.well-known/jwks.json').expect(200);
      expect(res.headers['content-type']).to.equal(JSON_TYPE);
      expect(res.headers['cache-control']).to.equal('public, max-age=3600');
      expect(res.headers['etag']).to.match(/^"[A-Za-z0-9_-]{43}"$/);
      expect(Object.keys(res.body)).to.deep.equal(['keys']);
      const [jwk] = res.body.keys as Array<Record<string, unknown>>;
      expect(Object.keys(jwk as object).sort()).to.deep.equal(PUBLIC_JWK_MEMBERS);
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']) expect(jwk).not.to.have.property(secret);
      expect(jwk).to.include({ kty: 'RSA', use: 'sig', alg: 'RS256', kid: current.x5t, x5t: current.x5t, 'x5t#S256': current.x5tS256, e: 'AQAB' });
      expect(jwk?.['x5c']).to.deep.equal([current.der.toString('base64')]);
    });

    it('lets an independent verifier check the tokens the issuer signs', async () => {
      const res = await request(await serve({ certificates: current })).get('/.well-known/jwks.json').expect(200);
      const issuer = new TokenIssuer({ principal: LYNC, realm: REALM, certificates: current, clock });
      const audience = `${WellKnownPrincipal.exchange}/mail.contoso.com@${REALM}`;
      const { token } = issuer.issueAppOnly({ audience });
      const { payload } = await jwtVerify(token, createLocalJWKSet(res.body), { algorithms: ['RS256'], audience, currentDate: new Date(now) });
      expect(payload.iss).to.equal(`${LYNC}@${REALM}`);
    });

    it('answers HEAD and If-None-Match', async () => {
      const server = await serve({ certificates: current });
      const get = await request(server).get('/.well-known/jwks.json').expect(200);
      const head = await request(server).head('/.well-known/jwks.json').expect(200);
      expect(head.headers['etag']).to.equal(get.headers['etag']);
      expect(head.headers['content-type']).to.equal(JSON_TYPE);
      await request(server).get('/.well-known/jwks.json').set('If-None-Match', get.headers['etag'] as string).expect(304);
    });
  });

  describe('rollover', () => {
    it('lists the current and the staged certificate, then the new one first and the previous one', async () => {
      const set = new CertificateSet({ current, clock });
      const server = await serve({ certificates: set });
      const before = await request(server).get('/metadata/json/1');
      expect(x5tsOf(before.body)).to.deep.equal([current.x5t]);

      const effectiveAt = now + 2 * DAY;
      set.stageNext(successor, effectiveAt);
      const staged = await request(server).get('/metadata/json/1');
      expect(x5tsOf(staged.body)).to.deep.equal([current.x5t, successor.x5t]);
      expect(staged.headers['etag']).not.to.equal(before.headers['etag']);
      const stagedJwks = await request(server).get('/.well-known/jwks.json');
      expect(x5tsOf(stagedJwks.body)).to.deep.equal([current.x5t, successor.x5t]);

      now = effectiveAt;
      const rolled = await request(server).get('/metadata/json/1');
      expect(x5tsOf(rolled.body)).to.deep.equal([successor.x5t, current.x5t]);
      const rolledJwks = await request(server).get('/.well-known/jwks.json');
      expect(x5tsOf(rolledJwks.body)).to.deep.equal([successor.x5t, current.x5t]);
      for (const jwk of rolledJwks.body.keys as object[]) expect(Object.keys(jwk).sort()).to.deep.equal(PUBLIC_JWK_MEMBERS);

      set.removePrevious();
      const removed = await request(server).get('/metadata/json/1');
      expect(x5tsOf(removed.body)).to.deep.equal([successor.x5t]);
      const removedJwks = await request(server).get('/.well-known/jwks.json');
      expect(x5tsOf(removedJwks.body)).to.deep.equal([successor.x5t]);
    });

    it('drops the previous certificate once it has expired', async () => {
      const set = new CertificateSet({ current: successor, previous: current, clock });
      const server = await serve({ certificates: set });
      expect(x5tsOf((await request(server).get('/metadata/json/1')).body)).to.deep.equal([successor.x5t, current.x5t]);
      now = current.notAfter + 1;
      expect(x5tsOf((await request(server).get('/metadata/json/1')).body)).to.deep.equal([successor.x5t]);
    });

    it('shortens max-age to the time left before the staged certificate takes effect', async () => {
      const set = new CertificateSet({ current, clock });
      const server = await serve({ certificates: set });
      set.stageNext(successor, now + 10 * 60_000 + 999);
      const res = await request(server).get('/metadata/json/1');
      expect(res.headers['cache-control']).to.equal('public, max-age=600');
      const jwks = await request(server).get('/.well-known/jwks.json');
      expect(jwks.headers['cache-control']).to.equal('public, max-age=600');
    });

    it('shortens max-age to the time left before a published certificate expires', async () => {
      const server = await serve({ certificates: current });
      now = current.notAfter - 90_000;
      expect((await request(server).get('/metadata/json/1')).headers['cache-control']).to.equal('public, max-age=90');
    });

    it('sends max-age=0 and no keys when every certificate has expired', async () => {
      const server = await serve({ certificates: current });
      now = current.notAfter + HOUR;
      const res = await request(server).get('/metadata/json/1').expect(200);
      expect(res.headers['cache-control']).to.equal('public, max-age=0');
      expect(res.body.keys).to.deep.equal([]);
      expect((await request(server).get('/.well-known/jwks.json')).body).to.deep.equal({ keys: [] });
    });

    it('keeps serving the latest certificates after the set changes several times', async () => {
      const set = new CertificateSet({ current, clock });
      const server = await serve({ certificates: set });
      set.stageNext(successor, now + DAY);
      await request(server).get('/metadata/json/1');
      now += DAY;
      set.removePrevious();
      set.stageNext(current, now + HOUR, { force: true });
      expect(x5tsOf((await request(server).get('/.well-known/jwks.json')).body)).to.deep.equal([successor.x5t, current.x5t]);
    });
  });

  describe('options', () => {
    it('reads the system clock when no clock is given', async () => {
      const live = await OAuthCertificate.create({ realms: [REALM] });
      const app = express();
      app.use(metadataRouter({ principal: LYNC, realm: REALM, certificates: live }));
      const server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      servers.push(server);
      const res = await request(server).get('/.well-known/jwks.json').expect(200);
      expect(x5tsOf(res.body)).to.deep.equal([live.x5t]);
      expect(res.headers['cache-control']).to.equal('public, max-age=3600');
    });

    it('uses the max-age given', async () => {
      const server = await serve({ certificates: current, maxAgeSeconds: 120 });
      expect((await request(server).get('/metadata/json/1')).headers['cache-control']).to.equal('public, max-age=120');
      const zero = await serve({ certificates: current, maxAgeSeconds: 0 });
      expect((await request(zero).get('/.well-known/jwks.json')).headers['cache-control']).to.equal('public, max-age=0');
    });

    const bad: Array<[string, unknown, RegExp]> = [
      ['no options', null, /options must be an object/],
      ['a negative max-age', { maxAgeSeconds: -1 }, /options\.maxAgeSeconds/],
      ['a fractional max-age', { maxAgeSeconds: 1.5 }, /options\.maxAgeSeconds/],
      ['a max-age above one day', { maxAgeSeconds: 86401 }, /options\.maxAgeSeconds/],
      ['a max-age as text', { maxAgeSeconds: '60' }, /options\.maxAgeSeconds/],
      ['a clock that is not a function', { clock: 1 }, /options\.clock/],
      ['certificates as PEM', { certificates: 'pem' }, /options\.certificates/],
      ['an uppercase principal', { principal: LYNC.toUpperCase() }, /principal/],
      ['a malformed realm', { realm: 'Contoso.com' }, /realm/],
      ['a malformed endpoint', { endpoints: [{ location: 'https://x' }] }, /endpoints/],
    ];
    for (const [what, override, pattern] of bad) {
      it(`refuses ${what}`, () => {
        const options = override === null ? null : { principal: LYNC, realm: REALM, certificates: current, clock, ...(override as object) };
        expect(() => metadataRouter(options as never)).to.throw(TypeError, pattern);
      });
    }
  });
});
