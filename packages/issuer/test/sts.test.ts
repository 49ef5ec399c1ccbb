import { once } from 'node:events';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import express from 'express';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { signingKeyFromCertificate, WellKnownPrincipal, type SigningKey } from '@s2sauth/protocol';
import { MemoryStore, SqliteStore, type ClientInput, type ClientRecord, type ClientStore } from '@s2sauth/store';
import { CertificateSet, stsRouter, stsTokenPath, type OAuthCertificate, type StsAuditEvent, type StsRouterOptions } from '@s2sauth/issuer';
import { createCertificate } from '@s2sauth/test-support/partners';
import {
  ASSERTION_TYPE,
  assertion,
  assertionClaims,
  assertionHeader,
  createTestClient,
  EXCHANGE_ID,
  LYNC_RESOURCE,
  OTHER_REALM,
  rawAssertion,
  REALM,
  STS_ID,
  type TestClient,
} from './sts-support.js';

const SHAREPOINT_RESOURCE = `${WellKnownPrincipal.sharepoint}/sp.contoso.com@${REALM}`;
const OTHER_PRINCIPAL = '6a9f2c51-0d4e-4b8a-9c3e-2f1b7d5e8a90';
const METADATA_PRINCIPAL = '1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9';

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

type Store = MemoryStore | SqliteStore;

describe('stsRouter', () => {
  let stsCertificate: OAuthCertificate;
  let exchange: TestClient;
  /** Exchange's credential in OTHER_REALM: one credential per realm (the store refuses a shared one). */
  let exchangeElsewhere: TestClient;
  let other: TestClient;
  let lync: TestClient;
  let now: number;
  let store: Store;
  let events: StsAuditEvent[];
  let server: Server;
  let url: string;
  let metadataKeys: readonly SigningKey[];
  /** The key ids clientKeys was asked for (each call stands for an outbound metadata fetch). */
  let clientKeyCalls: string[];
  /** Makes clientKeys reject, as a metadata fetch that fails. */
  let metadataUnavailable: boolean;
  let folder: string;

  const seconds = (): number => Math.floor(now / 1000);

  function clients(): ClientInput[] {
    return [
      {
        principal: WellKnownPrincipal.exchange,
        realm: REALM,
        displayName: 'Exchange',
        certificates: [exchange.pem],
        hostNames: ['mail.contoso.com'],
        grants: [
          { resource: WellKnownPrincipal.lync, scopes: ['meetings.read', 'meetings.write'], delegation: true },
          { resource: WellKnownPrincipal.sharepoint, scopes: ['sites.read'], delegation: false },
          { resource: OTHER_PRINCIPAL, scopes: [], delegation: false },
        ],
      },
      {
        principal: WellKnownPrincipal.lync,
        realm: REALM,
        certificates: [lync.pem],
        hostNames: ['pool.contoso.com', '*.lync.contoso.com', '127.0.0.1:4402'],
      },
      { principal: WellKnownPrincipal.sharepoint, realm: REALM, hostNames: ['sp.contoso.com'] },
      {
        principal: OTHER_PRINCIPAL,
        realm: REALM,
        certificates: [other.pem],
        hostNames: ['other.contoso.com'],
        grants: [{ resource: WellKnownPrincipal.lync, scopes: ['meetings.read'], delegation: false }],
      },
      {
        principal: METADATA_PRINCIPAL,
        realm: REALM,
        metadataUrl: 'https://meta.contoso.com/metadata/json/1',
        grants: [{ resource: WellKnownPrincipal.lync, scopes: [], delegation: false }],
      },
      { principal: WellKnownPrincipal.exchange, realm: OTHER_REALM, certificates: [exchangeElsewhere.pem], hostNames: ['mail.contoso.com'] },
    ];
  }

  async function start(open: () => Store, overrides: Partial<StsRouterOptions> = {}): Promise<void> {
    store = open();
    for (const client of clients()) store.putClient(client);
    events = [];
    clientKeyCalls = [];
    metadataUnavailable = false;
    const app = express();
    app.use(
      stsRouter({
        realms: [REALM, OTHER_REALM],
        certificates: stsCertificate,
        clients: store,
        replay: store,
        clock: () => now,
        audit: (event) => events.push(event),
        clientKeys: async (client: ClientRecord, keyId: string) => {
          clientKeyCalls.push(keyId);
          if (client.principal !== METADATA_PRINCIPAL || metadataUnavailable) throw new Error('no metadata');
          return metadataKeys;
        },
        ...overrides,
      }),
    );
    server = createServer(app);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async function stop(): Promise<void> {
    server.closeAllConnections();
    server.close();
    store.close();
  }

  async function post(body: string, headers: Record<string, string> = {}, realm = REALM): Promise<Reply> {
    const response = await fetch(`${url}${stsTokenPath(realm)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
      body,
    });
    const text = await response.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON
    }
    return { status: response.status, headers: response.headers, text, json };
  }

  function form(overrides: Record<string, string | undefined> = {}, client: TestClient = exchange, clientId = EXCHANGE_ID): string {
    const params: Record<string, string | undefined> = {
      grant_type: 'client_credentials',
      client_id: clientId,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion(client, clientId, seconds()),
      resource: LYNC_RESOURCE,
      ...overrides,
    };
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) if (value !== undefined) search.append(name, value);
    return search.toString();
  }

  async function jwks(): Promise<JSONWebKeySet> {
    return (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  }

  function expectError(reply: Reply, error: string, status = 400): void {
    expect(reply.status, reply.text).to.equal(status);
    expect(reply.json['error']).to.equal(error);
    // RFC 6749 section 5.2's members, and `message` (the same sentence) like every error body of the servers.
    expect(reply.json).to.have.all.keys('error', 'error_description', 'message');
    expect(reply.json['message']).to.equal(reply.json['error_description']);
    expect(reply.json).to.not.have.property('access_token');
    expect(reply.headers.get('cache-control')).to.equal('no-store');
    expect(reply.headers.get('pragma')).to.equal('no-cache');
    expect(reply.headers.get('www-authenticate')).to.equal(null);
    expect(reply.headers.get('content-type')).to.equal('application/json; charset=utf-8');
    expect(reply.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(reply.headers.get('etag')).to.equal(null);
    expect(events.filter((event) => event.decision === 'issue')).to.deep.equal([]);
  }

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 's2sauth-sts-'));
    [stsCertificate, exchange, exchangeElsewhere, other, lync] = await Promise.all([
      createCertificate([REALM, OTHER_REALM]),
      createTestClient(),
      createTestClient(),
      createTestClient(),
      createTestClient(),
    ]);
  });

  after(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  beforeEach(() => {
    now = Date.now();
    metadataKeys = [signingKeyFromCertificate(lync.certificate.certificate, now)];
  });

  describe('issuing', () => {
    beforeEach(() => start(() => new MemoryStore({ clock: () => now })));
    afterEach(stop);

    it('issues an app-only STS actor token with exactly the protocol claims, verifiable with the STS JWKS', async () => {
      const reply = await post(form({ scope: 'meetings.read' }));
      expect(reply.status, reply.text).to.equal(200);
      expect(reply.headers.get('cache-control')).to.equal('no-store');
      expect(reply.headers.get('pragma')).to.equal('no-cache');
      expect(reply.headers.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(reply.headers.get('x-content-type-options')).to.equal('nosniff');
      expect(reply.headers.get('etag'), 'a no-store answer has no use for an ETag').to.equal(null);
      const body = reply.json;
      expect(Object.keys(body)).to.deep.equal(['token_type', 'access_token', 'expires_in', 'not_before', 'expires_on', 'resource', 'scope']);
      expect(body).to.include({ token_type: 'Bearer', expires_in: 3600, not_before: seconds(), expires_on: seconds() + 3600, resource: LYNC_RESOURCE, scope: 'meetings.read' });

      const token = body['access_token'] as string;
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(await jwks()), {
        issuer: STS_ID,
        audience: LYNC_RESOURCE,
        algorithms: ['RS256'],
        currentDate: new Date(now),
      });
      expect(protectedHeader).to.deep.equal({ typ: 'JWT', alg: 'RS256', x5t: stsCertificate.x5t, kid: stsCertificate.x5t });
      expect(Object.keys(payload)).to.deep.equal(['aud', 'iss', 'nameid', 'identityprovider', 'nbf', 'exp', 'iat', 'jti', 'scp']);
      expect(payload).to.include({
        aud: LYNC_RESOURCE,
        iss: STS_ID,
        nameid: EXCHANGE_ID,
        identityprovider: STS_ID,
        nbf: seconds(),
        iat: seconds(),
        exp: seconds() + 3600,
        scp: 'meetings.read',
      });
      expect(payload.jti).to.match(/^[A-Za-z0-9_-]{22}$/);
      expect(events).to.have.length(1);
      expect(events[0]).to.include({ decision: 'issue', reason: 'issued', realm: REALM, clientId: EXCHANGE_ID, resource: LYNC_RESOURCE, delegation: false, tokenId: payload.jti, status: 200 });
      expect(JSON.stringify(events)).to.not.include(token.split('.')[2]);
    });

    it('issues a delegation token with trustedfordelegation and cnf naming the certificate that signed the assertion', async () => {
      const reply = await post(form({ delegation: 'true' }));
      expect(reply.status, reply.text).to.equal(200);
      const { payload } = await jwtVerify(reply.json['access_token'] as string, createLocalJWKSet(await jwks()), {
        issuer: STS_ID,
        audience: LYNC_RESOURCE,
        currentDate: new Date(now),
      });
      expect(Object.keys(payload)).to.deep.equal([
        'aud', 'iss', 'nameid', 'identityprovider', 'nbf', 'exp', 'iat', 'jti', 'scp', 'trustedfordelegation', 'cnf',
      ]);
      expect(payload['trustedfordelegation']).to.equal('true');
      expect(payload['cnf']).to.deep.equal({ 'x5t#S256': exchange.certificate.x5tS256 });
      expect(payload['scp']).to.equal('meetings.read meetings.write');
      expect(reply.json['scope']).to.equal('meetings.read meetings.write');
    });

    it('grants every granted scope when none is asked for, and a token that grants nothing (scp present and empty) when the grant has none', async () => {
      const all = await post(form());
      expect(all.json['scope']).to.equal('meetings.read meetings.write');
      const none = await post(form({ resource: `${OTHER_PRINCIPAL}/other.contoso.com@${REALM}` }));
      expect(none.status, none.text).to.equal(200);
      expect(none.json['scope']).to.equal('');
      const { payload } = await jwtVerify(none.json['access_token'] as string, createLocalJWKSet(await jwks()), { currentDate: new Date(now) });
      // A verifier reads an absent scp as the partner's whole grant (protocol.md 3.3 step 7).
      expect(payload).to.have.property('scp', '');
      expect(Object.keys(payload)).to.deep.equal(['aud', 'iss', 'nameid', 'identityprovider', 'nbf', 'exp', 'iat', 'jti', 'scp']);
      expect(payload).to.not.have.property('trustedfordelegation');
      expect(payload).to.not.have.property('cnf');
    });

    it('lower-cases the authority, accepts a wildcard host and a registered port, and a charset parameter', async () => {
      for (const [resource, expected] of [
        [`${WellKnownPrincipal.lync}/POOL.Contoso.COM@${REALM}`, LYNC_RESOURCE],
        [`${WellKnownPrincipal.lync}/a.b.lync.contoso.com@${REALM}`, `${WellKnownPrincipal.lync}/a.b.lync.contoso.com@${REALM}`],
        [`${WellKnownPrincipal.lync}/127.0.0.1:4402@${REALM}`, `${WellKnownPrincipal.lync}/127.0.0.1:4402@${REALM}`],
      ] as const) {
        const reply = await post(form({ resource }), { 'Content-Type': 'application/x-www-form-urlencoded; charset=UTF-8' });
        expect(reply.status, reply.text).to.equal(200);
        expect(reply.json['resource']).to.equal(expected);
      }
    });

    it('issues in a second realm with that realm as issuer', async () => {
      const id = `${WellKnownPrincipal.exchange}@${OTHER_REALM}`;
      store.putClient({ principal: WellKnownPrincipal.lync, realm: OTHER_REALM, hostNames: ['pool.contoso.com'] });
      store.putClient({
        principal: WellKnownPrincipal.exchange,
        realm: OTHER_REALM,
        certificates: [exchangeElsewhere.pem],
        grants: [{ resource: WellKnownPrincipal.lync, scopes: [], delegation: false }],
      });
      const claims = assertionClaims(id, seconds(), { aud: `${WellKnownPrincipal.sts}@${OTHER_REALM}` });
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: id,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: rawAssertion(assertionHeader(exchangeElsewhere), JSON.stringify(claims), exchangeElsewhere.key),
        resource: `${WellKnownPrincipal.lync}/pool.contoso.com@${OTHER_REALM}`,
      }).toString();
      const reply = await post(body, {}, OTHER_REALM);
      expect(reply.status, reply.text).to.equal(200);
      const { payload } = await jwtVerify(reply.json['access_token'] as string, createLocalJWKSet(await jwks()), { currentDate: new Date(now) });
      expect(payload.iss).to.equal(`${WellKnownPrincipal.sts}@${OTHER_REALM}`);
      // The assertion of one realm's STS does not authenticate in the other.
      events = [];
      const cross = await post(form({ client_id: id }, exchange, id));
      expectError(cross, 'invalid_client', 401);
    });

    it('authenticates a metadata client with the keys clientKeys returns, and refuses when they are unavailable', async () => {
      const id = `${METADATA_PRINCIPAL}@${REALM}`;
      const ok = await post(form({}, lync, id));
      expect(ok.status, ok.text).to.equal(200);
      expect(clientKeyCalls).to.deep.equal([lync.x5t]);
      metadataKeys = [];
      events = [];
      const refused = await post(form({}, lync, id));
      expectError(refused, 'invalid_client', 401);
      expect(events[0]?.reason).to.equal('assertion_key_unknown');
      metadataUnavailable = true;
      events = [];
      const unavailable = await post(form({}, lync, id));
      expectError(unavailable, 'invalid_client', 401);
      expect(unavailable.text).to.equal(refused.text);
      expect(events[0]?.reason).to.equal('client_keys_unavailable');
    });

    it('uses the pinned certificates of a metadata client first and asks clientKeys only for a key id none of them has', async () => {
      const id = `${METADATA_PRINCIPAL}@${REALM}`;
      store.putClient({ ...clients()[4], certificates: [other.pem] } as ClientInput);
      const pinned = await post(form({}, other, id));
      expect(pinned.status, pinned.text).to.equal(200);
      expect(clientKeyCalls).to.deep.equal([]);
      const fetched = await post(form({}, lync, id));
      expect(fetched.status, fetched.text).to.equal(200);
      expect(clientKeyCalls).to.deep.equal([lync.x5t]);
    });

    it('never asks clientKeys for a client with pinned certificates only', async () => {
      const reply = await post(form({}, lync));
      expectError(reply, 'invalid_client', 401);
      expect(events[0]?.reason).to.equal('assertion_key_unknown');
      expect(clientKeyCalls).to.deep.equal([]);
    });
  });

  describe('refusing', () => {
    beforeEach(() => start(() => new MemoryStore({ clock: () => now })));
    afterEach(stop);

    it('refuses a replayed assertion', async () => {
      const body = form();
      expect((await post(body)).status).to.equal(200);
      events = [];
      const replay = await post(body);
      expectError(replay, 'invalid_client', 401);
      expect(events[0]).to.include({ decision: 'reject', reason: 'assertion_replayed' });
    });

    it('refuses an assertion living longer than 5 minutes', async () => {
      const reply = await post(form({ client_assertion: assertion(exchange, EXCHANGE_ID, seconds(), { exp: seconds() + 301 }) }));
      expectError(reply, 'invalid_client', 401);
      expect(events[0]?.reason).to.equal('assertion_lifetime_too_long');
    });

    const audiences = (base: string): readonly (readonly [string, unknown])[] => [
      ['an array holding the right id', [STS_ID]],
      ["another realm's STS id", `${WellKnownPrincipal.sts}@${OTHER_REALM}`],
      ['the STS id in upper case', STS_ID.toUpperCase()],
      ['the token endpoint URL', `${base}${stsTokenPath(REALM)}`],
      ['the token endpoint URL with a trailing slash', `${base}${stsTokenPath(REALM)}/`],
      ['the token endpoint URL in another case', `${base}${stsTokenPath(REALM)}`.toUpperCase()],
      ['the token endpoint URL with oauth in lower case', `${base}/${REALM}/tokens/oauth/2`],
      ['the STS origin', base],
    ];
    for (const index of [0, 1, 2, 3, 4, 5, 6, 7]) {
      it(`refuses an assertion whose audience is ${audiences('')[index]?.[0]}`, async () => {
        const aud = audiences(url)[index]?.[1];
        const reply = await post(form({ client_assertion: assertion(exchange, EXCHANGE_ID, seconds(), { aud }) }));
        expectError(reply, 'invalid_client', 401);
        expect(events[0]?.reason).to.equal('assertion_audience');
      });
    }

    it('refuses an assertion whose iss is not its sub, or whose iss is not the client_id', async () => {
      const otherId = `${OTHER_PRINCIPAL}@${REALM}`;
      for (const overrides of [{ sub: otherId }, { iss: otherId }]) {
        events = [];
        const reply = await post(form({ client_assertion: assertion(exchange, EXCHANGE_ID, seconds(), overrides) }));
        expectError(reply, 'invalid_client', 401);
      }
    });

    it('refuses an assertion signed by another client, with its own key id or with the victim key id', async () => {
      const withOwnKeyId = assertion(other, EXCHANGE_ID, seconds());
      expectError(await post(form({ client_assertion: withOwnKeyId })), 'invalid_client', 401);
      expect(events[0]?.reason).to.equal('assertion_key_unknown');
      events = [];
      const forged = rawAssertion(assertionHeader(exchange), JSON.stringify(assertionClaims(EXCHANGE_ID, seconds())), other.key);
      expectError(await post(form({ client_assertion: forged })), 'invalid_client', 401);
      expect(events[0]?.reason).to.equal('assertion_signature');
    });

    it('refuses a client secret, alone or beside an assertion', async () => {
      expectError(await post(form({ client_secret: 'hunter2' })), 'invalid_client', 401);
      expectError(await post(form({ client_secret: 'hunter2', client_assertion: undefined, client_assertion_type: undefined })), 'invalid_client', 401);
      expect(events.map((event) => event.reason)).to.deep.equal(['client_secret', 'client_secret']);
    });

    it('refuses an Authorization header, Basic or any other', async () => {
      const basic = `Basic ${Buffer.from(`${EXCHANGE_ID}:secret`).toString('base64')}`;
      expectError(await post(form(), { Authorization: basic }), 'invalid_client', 401);
      expectError(await post(form(), { Authorization: 'Bearer abc' }), 'invalid_client', 401);
    });

    const repeated: readonly (readonly [string, (body: string) => string])[] = [
      ['resource', (body) => `${body}&resource=${encodeURIComponent(SHAREPOINT_RESOURCE)}`],
      ['client_assertion', (body) => `${body}&client_assertion=x.y.z`],
      ['grant_type', (body) => `grant_type=client_credentials&${body}`],
      ['scope, even with an empty value', (body) => `${body}&scope=meetings.read&scope=`],
      ['an unknown parameter', (body) => `${body}&extra=1&extra=2`],
    ];
    for (const [name, build] of repeated) {
      it(`refuses a repeated ${name} and does not consume the assertion`, async () => {
        const body = form();
        expectError(await post(build(body)), 'invalid_request');
        expect(events[0]?.reason).to.equal('parameter_repeated');
        expect((await post(body)).status).to.equal(200);
      });
    }

    it('refuses a resource nobody registered, in another realm, or malformed', async () => {
      for (const resource of [
        `${OTHER_PRINCIPAL.replace('6a', '7a')}/other.contoso.com@${REALM}`,
        `${WellKnownPrincipal.lync}/pool.contoso.com@${OTHER_REALM}`,
        `${WellKnownPrincipal.lync}@${REALM}`,
        LYNC_RESOURCE.toUpperCase(),
      ]) {
        expectError(await post(form({ resource })), 'invalid_target');
      }
      expect(events.map((event) => event.reason)).to.deep.equal(['resource_unknown', 'resource_realm', 'resource_malformed', 'resource_malformed']);
    });

    it('refuses a host the resource is not registered for', async () => {
      for (const host of ['evil.example', 'lync.contoso.com', 'pool.contoso.com:443', 'pool.contoso.com.evil.example', '127.0.0.1:4403', 'xlync.contoso.com']) {
        expectError(await post(form({ resource: `${WellKnownPrincipal.lync}/${host}@${REALM}` })), 'invalid_target');
      }
      expect(new Set(events.map((event) => event.reason))).to.deep.equal(new Set(['host_not_registered']));
    });

    it('refuses a disabled resource as unknown', async () => {
      store.putClient({ principal: WellKnownPrincipal.lync, realm: REALM, hostNames: ['pool.contoso.com'], enabled: false });
      expectError(await post(form()), 'invalid_target');
    });

    it('refuses a scope that is not granted, or malformed', async () => {
      expectError(await post(form({ scope: 'meetings.read meetings.delete' })), 'invalid_scope');
      expectError(await post(form({ scope: 'meetings.read  meetings.write' })), 'invalid_scope');
      expectError(await post(form({ scope: 'Meetings.Read' })), 'invalid_scope');
    });

    it('refuses delegation the grant does not allow, and a delegation value other than true', async () => {
      expectError(await post(form({ resource: SHAREPOINT_RESOURCE, delegation: 'true' })), 'unauthorized_client');
      expect(events[0]?.reason).to.equal('delegation_not_granted');
      for (const value of ['false', 'True', '1', 'yes']) {
        expectError(await post(form({ delegation: value })), 'invalid_request');
      }
    });

    it('refuses a resource the client holds no grant for', async () => {
      const reply = await post(form({ resource: `${WellKnownPrincipal.exchange}/mail.contoso.com@${REALM}` }, other, `${OTHER_PRINCIPAL}@${REALM}`));
      expectError(reply, 'unauthorized_client');
      expect(events[0]?.reason).to.equal('no_grant');
    });

    it('refuses another grant type, and a missing one', async () => {
      for (const grantType of ['authorization_code', 'password', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'Client_Credentials']) {
        expectError(await post(form({ grant_type: grantType })), 'unsupported_grant_type');
      }
      expectError(await post(form({ grant_type: undefined })), 'invalid_request');
    });

    it('refuses another content type, a compressed body, or none', async () => {
      for (const type of ['application/json', 'multipart/form-data; boundary=x', 'text/plain', 'application/x-www-form-urlencoded; charset=latin1', 'application/x-www-form-urlencodedx']) {
        expectError(await post(form(), { 'Content-Type': type }), 'invalid_request');
      }
      expectError(await post(form(), { 'Content-Encoding': 'gzip' }), 'invalid_request');
      const response = await fetch(`${url}${stsTokenPath(REALM)}`, { method: 'POST', body: new Uint8Array(Buffer.from(form())) });
      expect(response.status).to.equal(400);
    });

    it('refuses a missing or odd assertion type, and a missing client_id or resource', async () => {
      expectError(await post(form({ client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' })), 'invalid_client', 401);
      expectError(await post(form({ client_assertion_type: undefined })), 'invalid_client', 401);
      expectError(await post(form({ client_assertion: undefined })), 'invalid_client', 401);
      expectError(await post(form({ client_id: undefined })), 'invalid_request');
      expectError(await post(form({ resource: undefined })), 'invalid_request');
    });

    it('does not fetch a metadata client\'s keys for an assertion that is not a client assertion JWS', async () => {
      const id = `${METADATA_PRINCIPAL}@${REALM}`;
      const typJwt = rawAssertion(assertionHeader(lync).replace('client-authentication+jwt', 'JWT'), JSON.stringify(assertionClaims(id, seconds())), lync.key);
      const unsigned = `${Buffer.from('{"typ":"client-authentication+jwt","alg":"none"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`;
      for (const garbage of ['garbage', 'e30.e30.', '..', unsigned, typJwt]) {
        events = [];
        expectError(await post(form({ client_assertion: garbage }, lync, id)), 'invalid_client', 401);
        expect(events[0]?.reason, garbage.slice(0, 40)).to.be.oneOf(['assertion_malformed', 'assertion_typ']);
      }
      expect(clientKeyCalls).to.deep.equal([]);
    });

    it('refuses a malformed assertion the same way whether or not the client exists', async () => {
      const unknownId = `${METADATA_PRINCIPAL.replace('1b', '2b')}@${REALM}`;
      const known = await post(form({ client_assertion: 'a.b.c' }));
      const unknown = await post(form({ client_assertion: 'a.b.c' }, exchange, unknownId));
      expect(unknown.text).to.equal(known.text);
      expect(events.map((event) => event.reason)).to.deep.equal(['assertion_malformed', 'assertion_malformed']);
    });

    it('answers hostile token requests with 4xx, never 500, and issues nothing', async () => {
      const a = assertion(exchange, EXCHANGE_ID, seconds());
      const start = `grant_type=client_credentials&client_id=${EXCHANGE_ID}&client_assertion_type=${ASSERTION_TYPE}`;
      const bodies = [
        'grant_type=client_credentials&grant_type=client_credentials',
        `${start}&client_assertion=${a}&resource=%ff`,
        `${start}&client_assertion=%00&resource=x`,
        `grant_type=client_credentials&client_id=%E2%80%AE${EXCHANGE_ID}&client_assertion_type=${ASSERTION_TYPE}&client_assertion=a.b.c&resource=x`,
        `${start}&client_assertion=..&resource=${LYNC_RESOURCE}`,
        `${start}&client_assertion=e30.e30.&resource=${LYNC_RESOURCE}`,
        `${start}&client_assertion=${a}&resource=${encodeURIComponent(`${WellKnownPrincipal.lync}/pool.contoso.com:99999@${REALM}`)}`,
        `grant_type=client_credentials&client_id=__proto__%40${REALM}&client_assertion_type=${ASSERTION_TYPE}&client_assertion=${a}&resource=x`,
        'client_id%00=1&grant_type=client_credentials',
        '&&&=&=',
      ];
      for (const body of bodies) {
        const reply = await post(body);
        expect(reply.status, body.slice(0, 80)).to.be.within(400, 499);
      }
      expect(events.filter((event) => event.decision === 'issue')).to.deep.equal([]);
    });

    it('answers an unknown client and a bad signature with byte-identical bodies', async () => {
      const unknownId = `${METADATA_PRINCIPAL.replace('1b', '2b')}@${REALM}`;
      const replies = [
        await post(form({}, exchange, unknownId)),
        await post(form({ client_assertion: rawAssertion(assertionHeader(exchange), JSON.stringify(assertionClaims(EXCHANGE_ID, seconds())), other.key) })),
        await post(form({ client_id: 'not-an-id' })),
        await post(form({ client_id: `${WellKnownPrincipal.exchange}@${OTHER_REALM}` })),
      ];
      store.putClient({ ...clients()[0], enabled: false } as ClientInput);
      replies.push(await post(form()));
      for (const reply of replies) {
        expect(reply.status).to.equal(401);
        expect(reply.text).to.equal(replies[0]?.text);
      }
      expect(events.map((event) => event.reason)).to.deep.equal([
        'client_unknown', 'assertion_signature', 'client_id_malformed', 'client_id_realm', 'client_disabled',
      ]);
    });

    it('refuses a client disabled or changed while its assertion was being verified, and issues nothing', async () => {
      for (const change of ['disabled', 'changed', 'removed'] as const) {
        await stop();
        let reads = 0;
        // The second read of Exchange's record is the one after the signature check.
        const changing: Pick<ClientStore, 'getClient'> = {
          getClient: (principal, realm) => {
            const record = store.getClient(principal, realm);
            if (record === undefined || principal !== WellKnownPrincipal.exchange || realm !== REALM || ++reads < 2) return record;
            if (change === 'removed') return undefined;
            return change === 'disabled' ? { ...record, enabled: false } : { ...record, updatedAt: record.updatedAt + 1 };
          },
        };
        await start(() => new MemoryStore({ clock: () => now }), { clients: changing as ClientStore });
        const reply = await post(form());
        expectError(reply, 'invalid_client', 401);
        expect(events.at(-1), change).to.include({ decision: 'reject', reason: 'client_changed' });
      }
    });

    const hostile: readonly (readonly [string, (c: TestClient, now: number) => [string, string]])[] = [
      ['a duplicate iss member', (c, n) => [assertionHeader(c), `{"iss":"${OTHER_PRINCIPAL}@${REALM}","iss":"${EXCHANGE_ID}","sub":"${EXCHANGE_ID}","aud":"${STS_ID}","jti":"j1","iat":${n},"exp":${n + 60}}`]],
      ['an exp of 1e400', (c, n) => [assertionHeader(c), `{"iss":"${EXCHANGE_ID}","sub":"${EXCHANGE_ID}","aud":"${STS_ID}","jti":"j2","iat":${n},"exp":1e400}`]],
      ['an exp given as a string', (c, n) => [assertionHeader(c), `{"iss":"${EXCHANGE_ID}","sub":"${EXCHANGE_ID}","aud":"${STS_ID}","jti":"j3","iat":${n},"exp":"${n + 60}"}`]],
      ['typ JWT', (c, n) => [assertionHeader(c).replace('client-authentication+jwt', 'JWT'), JSON.stringify(assertionClaims(EXCHANGE_ID, n))]],
      ['typ in another case', (c, n) => [assertionHeader(c).replace('client-authentication+jwt', 'Client-Authentication+JWT'), JSON.stringify(assertionClaims(EXCHANGE_ID, n))]],
      ['no typ', (c, n) => [`{"alg":"RS256","x5t":"${c.x5t}"}`, JSON.stringify(assertionClaims(EXCHANGE_ID, n))]],
      ['alg HS256', (c, n) => [assertionHeader(c).replace('RS256', 'HS256'), JSON.stringify(assertionClaims(EXCHANGE_ID, n))]],
      ['a jku header', (c, n) => [assertionHeader(c, ',"jku":"https://evil.example/keys"'), JSON.stringify(assertionClaims(EXCHANGE_ID, n))]],
      ['an x5c header', (c, n) => [assertionHeader(c, `,"x5c":["${c.certificate.der.toString('base64')}"]`), JSON.stringify(assertionClaims(EXCHANGE_ID, n))]],
      ['no jti', (c, n) => [assertionHeader(c), JSON.stringify(assertionClaims(EXCHANGE_ID, n, { jti: undefined }))]],
      ['an aud with a trailing NUL', (c, n) => [assertionHeader(c), JSON.stringify(assertionClaims(EXCHANGE_ID, n, { aud: `${STS_ID}\u0000` }))]],
      ['an expired exp', (c, n) => [assertionHeader(c), JSON.stringify(assertionClaims(EXCHANGE_ID, n, { iat: n - 400, exp: n - 100 }))]],
      ['an iat far in the future', (c, n) => [assertionHeader(c), JSON.stringify(assertionClaims(EXCHANGE_ID, n, { iat: n + 1000, exp: n + 1200 }))]],
    ];
    for (const [name, build] of hostile) {
      it(`refuses an assertion built from raw JSON with ${name}`, async () => {
        const [header, payload] = build(exchange, seconds());
        const key = name === 'alg HS256' ? exchange.key : exchange.key;
        const token = name === 'alg HS256'
          ? `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}.c2ln`
          : rawAssertion(header, payload, key);
        expectError(await post(form({ client_assertion: token })), 'invalid_client', 401);
      });
    }

    it('refuses a body over 16 KiB, declared or streamed, and a body that is not printable ASCII', async () => {
      const big = `${form()}&padding=${'a'.repeat(17_000)}`;
      expectError(await post(big), 'invalid_request');
      const streamed = await new Promise<Reply>((resolve, reject) => {
        const request = httpRequest(`${url}${stsTokenPath(REALM)}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Transfer-Encoding': 'chunked' },
        });
        request.on('response', (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: new Headers(), text, json: JSON.parse(text) as Record<string, unknown> }));
        });
        request.on('error', reject);
        request.write('a'.repeat(10_000));
        request.write('b'.repeat(10_000));
        request.end();
      });
      expect(streamed.status).to.equal(400);
      expect(streamed.json['error']).to.equal('invalid_request');
      expectError(await post(`${form()}&name=caf%C3%A9`), 'invalid_request');
      expectError(await post(`${form()}&name=café`), 'invalid_request');
    });

    it('answers other methods with 405 and leaves unknown realms and other spellings of the path alone', async () => {
      const get = await fetch(`${url}${stsTokenPath(REALM)}`);
      expect(get.status).to.equal(405);
      expect(get.headers.get('allow')).to.equal('POST');
      expect(get.headers.get('cache-control')).to.equal('no-store');
      for (const path of [`/fabrikam.com/tokens/OAuth/2`, `/${REALM}/tokens/oauth/2`, `/${REALM}/tokens/OAuth/2/`, `/${REALM.toUpperCase()}/tokens/OAuth/2`]) {
        const response = await fetch(`${url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form() });
        expect(response.status, path).to.equal(404);
      }
    });

    it('answers 503 temporarily_unavailable and issues nothing when the replay store says it is unavailable (a full disk)', async () => {
      await stop();
      await start(() => new MemoryStore({ clock: () => now }), {
        replay: {
          claim: () => {
            throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL', status: 503 });
          },
        },
      });
      const refused = await post(form());
      expect(refused.status).to.equal(503);
      expect(refused.json).to.deep.equal({
        error: 'temporarily_unavailable',
        error_description: 'The authorization server cannot issue tokens right now; try again later.',
        message: 'The authorization server cannot issue tokens right now; try again later.',
      });
      expect(refused.text).not.to.contain('disk');
      expect(events.map((event) => [event.decision, event.error, event.status])).to.deep.equal([['reject', 'temporarily_unavailable', 503]]);
    });

    it('answers server_error and issues nothing when its certificate cannot sign', async () => {
      const body = form();
      now += 400 * 86_400_000;
      const reply = await post(body);
      expect(reply.status).to.equal(401); // the client certificate expired too: authentication fails first
      await stop();
      const shortLived = await createCertificate([REALM, OTHER_REALM], { validityDays: 1 });
      now = Date.now();
      await start(() => new MemoryStore({ clock: () => now }), { certificates: shortLived });
      const late = form();
      now += 2 * 86_400_000;
      const fresh = form();
      const refused = await post(fresh);
      expect(refused.status).to.equal(500);
      expect(refused.json).to.deep.equal({
        error: 'server_error',
        error_description: 'The authorization server could not issue a token.',
        message: 'The authorization server could not issue a token.',
      });
      expect(refused.headers.get('cache-control')).to.equal('no-store');
      expect(late).to.be.a('string');
      expect(events.map((event) => event.decision)).to.deep.equal(['reject']);
    });
  });

  for (const [name, open] of [
    ['MemoryStore', () => new MemoryStore({ clock: () => now })],
    ['SqliteStore', () => SqliteStore.open(join(folder, `replay-${Math.random().toString(36).slice(2)}.db`), { clock: () => now })],
  ] as const) {
    describe(`concurrent replay with ${name}`, () => {
      beforeEach(() => start(open));
      afterEach(stop);

      it('gives exactly one 200 for 20 concurrent requests with one assertion', async () => {
        const body = form();
        const replies = await Promise.all(Array.from({ length: 20 }, () => post(body)));
        expect(replies.filter((reply) => reply.status === 200)).to.have.length(1);
        const refused = replies.filter((reply) => reply.status !== 200);
        expect(refused).to.have.length(19);
        for (const reply of refused) expect(reply.json['error']).to.equal('invalid_client');
        expect(events.filter((event) => event.decision === 'issue')).to.have.length(1);
      });
    });
  }

  describe('metadata', () => {
    beforeEach(() => start(() => new MemoryStore({ clock: () => now })));
    afterEach(stop);

    it('publishes the Microsoft document of the first realm with the OAuth2 issuance endpoint', async () => {
      const response = await fetch(`${url}/metadata/json/1`);
      expect(response.status).to.equal(200);
      expect(response.headers.get('cache-control')).to.match(/^public, max-age=\d+$/);
      expect(response.headers.get('vary')).to.equal('Host');
      const document = (await response.json()) as Record<string, unknown>;
      expect(document).to.include({ issuer: STS_ID, realm: REALM, serviceName: WellKnownPrincipal.sts, version: '1.0' });
      expect(document['endpoints']).to.deep.equal([{ location: `${url}${stsTokenPath(REALM)}`, protocol: 'OAuth2', usage: 'issuance' }]);
      expect((document['keys'] as { keyinfo: { x5t: string } }[]).map((key) => key.keyinfo.x5t)).to.deep.equal([stsCertificate.x5t]);
    });

    it('publishes each realm by path or by query, and nothing for an unknown realm', async () => {
      for (const path of [`/${OTHER_REALM}/metadata/json/1`, `/metadata/json/1?realm=${OTHER_REALM}`]) {
        const document = (await (await fetch(`${url}${path}`)).json()) as Record<string, unknown>;
        expect(document['issuer']).to.equal(`${WellKnownPrincipal.sts}@${OTHER_REALM}`);
      }
      expect((await fetch(`${url}/metadata/json/1?realm=fabrikam.com`)).status).to.equal(404);
    });

    it('publishes RFC 8414 documents and the JWKS', async () => {
      const first = (await (await fetch(`${url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
      expect(first).to.deep.equal({
        issuer: `${url}/${REALM}`,
        token_endpoint: `${url}${stsTokenPath(REALM)}`,
        jwks_uri: `${url}/.well-known/jwks.json`,
        grant_types_supported: ['client_credentials'],
        response_types_supported: [],
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
        token_endpoint_auth_signing_alg_values_supported: ['RS256'],
      });
      const second = (await (await fetch(`${url}/.well-known/oauth-authorization-server/${OTHER_REALM}`)).json()) as Record<string, unknown>;
      expect(second['token_endpoint']).to.equal(`${url}${stsTokenPath(OTHER_REALM)}`);
      const keys = await jwks();
      expect(keys.keys.map((key) => key.kid)).to.deep.equal([stsCertificate.x5t]);
      expect(keys.keys[0]).to.not.have.property('d');
    });

    it('uses the configured base URL and then does not vary by Host', async () => {
      await stop();
      await start(() => new MemoryStore({ clock: () => now }), { baseUrl: 'https://sts.contoso.com/' });
      const response = await fetch(`${url}/metadata/json/1`);
      expect(response.headers.get('vary')).to.equal(null);
      const document = (await response.json()) as { endpoints: { location: string }[] };
      expect(document.endpoints[0]?.location).to.equal(`https://sts.contoso.com${stsTokenPath(REALM)}`);
    });

    it('lowers max-age to what is left before a staged certificate signs', async () => {
      await stop();
      const next = await createCertificate([REALM, OTHER_REALM]);
      const set = new CertificateSet({ current: stsCertificate, clock: () => now });
      set.stageNext(next, now + 60_000);
      await start(() => new MemoryStore({ clock: () => now }), { certificates: set });
      const response = await fetch(`${url}/metadata/json/1`);
      expect(response.headers.get('cache-control')).to.equal('public, max-age=60');
    });
  });

  describe('options', () => {
    const base = (): StsRouterOptions => ({ realms: [REALM], certificates: stsCertificate, clients: new MemoryStore(), replay: new MemoryStore() });
    const bad: readonly (readonly [string, () => unknown, RegExp])[] = [
      ['no options', () => stsRouter(undefined as never), /options must be an object/],
      ['no realms', () => stsRouter({ ...base(), realms: [] }), /options\.realms must be a non-empty array/],
      ['a realm in upper case', () => stsRouter({ ...base(), realms: ['Contoso.com'] }), /options\.realms must hold/],
      ['a realm twice', () => stsRouter({ ...base(), realms: [REALM, REALM] }), /twice/],
      ['a client store without getClient', () => stsRouter({ ...base(), clients: {} as never }), /options\.clients/],
      ['a replay store without claim', () => stsRouter({ ...base(), replay: {} as never }), /options\.replay/],
      ['clientKeys that is not a function', () => stsRouter({ ...base(), clientKeys: 'x' as never }), /options\.clientKeys/],
      ['audit that is not a function', () => stsRouter({ ...base(), audit: 'x' as never }), /options\.audit/],
      ['a clock that is not a function', () => stsRouter({ ...base(), clock: 5 as never }), /options\.clock/],
      ['a lifetime of 30 seconds', () => stsRouter({ ...base(), tokenLifetimeSeconds: 30 }), /tokenLifetimeSeconds/],
      ['a fractional max-age', () => stsRouter({ ...base(), metadataMaxAgeSeconds: 1.5 }), /metadataMaxAgeSeconds/],
      ['a base URL that is not a URL', () => stsRouter({ ...base(), baseUrl: 'sts.contoso.com' }), /baseUrl/],
      ['a base URL with a query', () => stsRouter({ ...base(), baseUrl: 'https://sts.contoso.com/?a=1' }), /baseUrl/],
      ['a base URL of another scheme', () => stsRouter({ ...base(), baseUrl: 'ftp://sts.contoso.com/' }), /baseUrl/],
      ['certificates of another kind', () => stsRouter({ ...base(), certificates: 'pem' as never }), /options\.certificates/],
      ['a certificate that does not cover a realm', () => stsRouter({ ...base(), realms: [REALM, 'fabrikam.com'] }), /fabrikam\.com/],
      ['a misspelt option name', () => stsRouter({ ...base(), tokenLifetime: 60 } as never), /^stsRouter: unknown option "tokenLifetime"; the options are realms, /],
    ];
    for (const [name, call, message] of bad) {
      it(`refuses ${name} with a TypeError`, () => {
        expect(call).to.throw(TypeError, message);
      });
    }

    it('keeps its decisions when the audit sink throws: a token is issued and a refusal keeps its status', async () => {
      await start(() => new MemoryStore({ clock: () => now }), {
        audit: () => {
          throw new Error('audit log is down');
        },
      });
      try {
        const issued = await post(form());
        expect(issued.status, issued.text).to.equal(200);
        expect(issued.json['access_token']).to.be.a('string');
        const refused = await post(form({ client_assertion: 'garbage' }));
        expect(refused.status).to.equal(401);
        expect(refused.json['error']).to.equal('invalid_client');
        const target = await post(form({ resource: `${WellKnownPrincipal.lync}/elsewhere.example.net@${REALM}` }));
        expect(target.status).to.equal(400);
        expect(target.json['error']).to.equal('invalid_target');
      } finally {
        await stop();
      }
    });

    it('works without an audit sink and answers 500 through Express when mounted after a body parser', async () => {
      const app = express();
      app.use(express.urlencoded({ extended: false }));
      app.use(stsRouter(base()));
      let seen: unknown;
      app.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        seen = error;
        res.status(500).end();
      });
      const local = createServer(app).listen(0, '127.0.0.1');
      await once(local, 'listening');
      try {
        const response = await fetch(`http://127.0.0.1:${(local.address() as AddressInfo).port}${stsTokenPath(REALM)}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        });
        expect(response.status).to.equal(500);
        expect(String(seen)).to.match(/before any body parser/);
      } finally {
        local.close();
      }
    });
  });
});
