/**
 * Interoperability: a third-party authorization server, oidc-provider 8 (panva), issuing RS256 JWT
 * access tokens (RFC 9068) with the client credentials grant, registered with our verifier as an
 * OAuth server (protocol.md section 5) through a small adapter, over real HTTP with `s2sAuth`.
 *
 * Set-up (support/): oidc-provider on 127.0.0.1:0 with `clientCredentials`, `resourceIndicators`
 * (`getResourceServerInfo` → `accessTokenFormat: 'jwt'`, RS256), one client per test principal
 * authenticating with `private_key_jwt` (RS256, its JWKS made from its OAuth certificate, client
 * id `<principal>@<realm>`), and one signing key whose JWK carries the STS certificate in `x5c`.
 * The adapter (support/metadata-adapter.ts) reads oidc-provider's discovery document and JWKS and
 * serves them as the Microsoft `/metadata/json/1` document of an STS (issuer
 * `00000001-0000-0000-c000-000000000000@contoso.com`, the certificates, the token endpoint as the
 * `OAuth2` issuance endpoint), which `registry.addOAuthServer` registers; the client's principal is
 * a partner with `useOAuthServer: true`.
 *
 * Where oidc-provider's own token differs from protocol.md section 3.1, and the mapping used
 * (all through oidc-provider's documented hooks; details and reasons in README.md):
 *
 * | protocol.md | oidc-provider 8.8 emits | our verifier on the difference | mapping |
 * |---|---|---|---|
 * | `iss` = STS issuer id `00000001-…@<realm>` | its issuer URL (the Provider refuses a non-URL issuer) | `issuer_invalid` | `formats.customizers.jwt` rewrites `iss` (+ `identityprovider`) |
 * | `aud` = `<principal>/<authority>@<realm>`, one string | the resource indicator, which must be an absolute URI | `audience_invalid` | `getResourceServerInfo` returns `audience` |
 * | `nameid` = client id | none (`sub` and `client_id` = client id) | `claim_missing` | `extraTokenClaims` adds `nameid` = client id |
 * | `nbf` required | none (`iat`, `exp` only) | `claim_missing` | customizer sets `nbf` = `iat` |
 * | header `x5t` and/or `kid` = SHA-1 certificate thumbprint | `kid` = RFC 7638 JWK thumbprint, no `x5t` | `key_unknown` | customizer sets header `kid` = `x5t` (or configure the JWK's `kid` as its x5t) |
 * | scopes in `scp` | scopes in `scope` | IGNORED: scopes = the partner's whole grant (wider than the token) | `extraTokenClaims` copies them to `scp` (`""` when none) |
 * | header `typ` `JWT` | `at+jwt` (RFC 9068) | accepted (typ is not checked) | none needed |
 * | `trustedfordelegation` + `cnf` for user context | neither (its `cnf` is only mTLS/DPoP binding) | user context refused (`delegation_not_allowed`) | none: no user context through oidc-provider |
 * | assertion `aud` = STS issuer id | must be its issuer URL or token endpoint | n/a (its side) | clients sign for its token endpoint |
 *
 * No mapping weakens the product: every check of protocol.md 3.3 runs unchanged, and the tests
 * below switch each mapping off in turn and assert the exact refusal.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createVerifier, PartnerRegistry, s2sAuth, type AuditEvent, type Verifier } from '@s2sauth/middleware';
import { formatAudience, formatIssuerId, WellKnownPrincipal } from '@s2sauth/protocol';
import { MemoryStore } from '@s2sauth/store';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { compactJws, createCertificate, decodePayload } from '@s2sauth/test-support/partners';
import { startMetadataAdapter, type MetadataAdapter } from './support/metadata-adapter.js';
import {
  fullMapping,
  noMapping,
  signProviderAssertion,
  startOidcProviderSts,
  type OidcProviderSts,
  type ProtocolMapping,
} from './support/oidc-provider-sts.js';

const REALM = 'contoso.com';
const OWN = WellKnownPrincipal.lync;
const EXCHANGE = WellKnownPrincipal.exchange;
const STS_ISSUER = formatIssuerId({ principal: WellKnownPrincipal.sts, realm: REALM });
const SCOPES = 'contacts.read contacts.write';

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly challenge: string | null;
  readonly diagnostics: string | null;
}

function headerOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('interop: oidc-provider as an OAuth server (client credentials, JWT access tokens)', function () {
  let stsCertificate: OAuthCertificate;
  let clientCertificate: OAuthCertificate;
  let strangerCertificate: OAuthCertificate;
  const clientPrincipal = randomUUID();
  const strangerPrincipal = randomUUID(); // a client of oidc-provider that is no partner of ours
  const clientId = formatIssuerId({ principal: clientPrincipal, realm: REALM });
  const strangerId = formatIssuerId({ principal: strangerPrincipal, realm: REALM });

  let op: OidcProviderSts;
  let adapter: MetadataAdapter;
  let store: MemoryStore;
  let registry: PartnerRegistry;
  let verifier: Verifier;
  let api: Server;
  let apiUrl: string;
  let ourAudience: string;
  const events: AuditEvent[] = [];

  before(async function () {
    this.timeout(60_000);
    [stsCertificate, clientCertificate, strangerCertificate] = await Promise.all([
      createCertificate([REALM]),
      createCertificate([REALM]),
      createCertificate([REALM]),
    ]);

    api = createServer();
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const authority = `127.0.0.1:${(api.address() as AddressInfo).port}`;
    apiUrl = `http://${authority}`;
    ourAudience = formatAudience({ principal: OWN, authority, realm: REALM });

    op = await startOidcProviderSts({
      realm: REALM,
      signingCertificate: stsCertificate,
      clients: [
        { principal: clientPrincipal, certificate: clientCertificate },
        { principal: strangerPrincipal, certificate: strangerCertificate },
      ],
      resourceServers: [
        { url: apiUrl, principal: OWN, scope: SCOPES },
        // Another audience: Exchange, and our own principal at a host we are not addressed by.
        { url: 'https://mail.contoso.com', principal: EXCHANGE, scope: 'mail.read' },
        { url: 'https://lync.fabrikam.com', principal: OWN, scope: SCOPES },
      ],
    });
    adapter = await startMetadataAdapter(op.discoveryUrl, REALM);

    store = new MemoryStore();
    registry = new PartnerRegistry({ store });
    await registry.addOAuthServer({ identity: 'oidc-provider', metadataUrl: adapter.url, allowLoopback: true });
    await registry.add({
      identity: 'interop-client',
      applicationId: clientPrincipal,
      realm: REALM,
      useOAuthServer: true,
      trustLevel: 'full',
      scopes: ['contacts.read', 'contacts.write'],
    });
    verifier = createVerifier({ principal: OWN, realms: REALM, authorities: [authority], registry, audit: (event) => events.push(event) });
    const app = express();
    app.get('/api/whoami', s2sAuth({ verifier }), (req, res) => {
      res.json({ ...req.s2s });
    });
    api.on('request', app);
  });

  after(async () => {
    verifier?.close();
    registry?.close();
    store?.close();
    await Promise.all([adapter?.close(), op?.close(), new Promise((resolve) => (api ? api.close(resolve) : resolve(undefined)))]);
  });

  beforeEach(() => {
    Object.assign(op.mapping, fullMapping());
    events.length = 0;
  });

  /** A token from oidc-provider's token endpoint (client credentials, private_key_jwt). */
  async function tokenFrom(resource: string, scope?: string, who: { id: string; certificate: OAuthCertificate } = { id: clientId, certificate: clientCertificate }): Promise<string> {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: who.id,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: signProviderAssertion(who.certificate, who.id, op.tokenEndpoint),
      resource,
      ...(scope === undefined ? {} : { scope }),
    });
    const response = await fetch(op.tokenEndpoint, { method: 'POST', body: form });
    const body = (await response.json()) as Record<string, unknown>;
    expect(response.status, JSON.stringify(body)).to.equal(200);
    expect(body['token_type']).to.equal('Bearer');
    return body['access_token'] as string;
  }

  /** A token for our API with `mapping` changed; `scope` null asks for none. */
  async function tokenWith(mapping: Partial<ProtocolMapping>, scope: string | null = 'contacts.read'): Promise<string> {
    Object.assign(op.mapping, mapping);
    return tokenFrom(apiUrl, scope ?? undefined);
  }

  async function call(token: string | undefined): Promise<Answer> {
    const response = await fetch(`${apiUrl}/api/whoami`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    const text = await response.text();
    return {
      status: response.status,
      body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
      challenge: response.headers.get('www-authenticate'),
      diagnostics: response.headers.get('x-ms-diagnostics'),
    };
  }

  /** Asserts a 401 invalid_token answer whose audited reason code is `code`. */
  function expectRefused(answer: Answer, code: string): void {
    expect(answer.status, JSON.stringify(answer.body)).to.equal(401);
    expect(answer.body['error']).to.equal('invalid_token');
    expect(answer.challenge).to.include('error="invalid_token"');
    const decision = events.at(-1);
    expect(decision?.decision).to.equal('reject');
    expect(decision?.code, decision?.reason).to.equal(code);
  }

  describe('registration through standard metadata and the adapter', () => {
    it('registers oidc-provider as an OAuth server from the Microsoft document the adapter builds from its JWKS', () => {
      const [server] = registry.listOAuthServers();
      expect(server?.identity).to.equal('oidc-provider');
      expect(server?.issuer).to.equal(STS_ISSUER);
      expect(server?.realm).to.equal(REALM);
      expect(server?.authorizationUri).to.equal(op.tokenEndpoint);
      expect(adapter.requests).to.be.greaterThan(0);
    });

    it("advertises oidc-provider's token endpoint and the STS issuer in the challenge", async () => {
      const answer = await call(undefined);
      expect(answer.status).to.equal(401);
      expect(answer.challenge).to.include(`trusted_issuers="${STS_ISSUER}"`);
      expect(answer.challenge).to.include(`authorization_uri="${op.tokenEndpoint}"`);
    });
  });

  describe('the closest faithful mapping', () => {
    it('accepts a token for our audience as an app-only call trusted through the OAuth server', async () => {
      const token = await tokenFrom(apiUrl, 'contacts.read');
      const claims = decodePayload(token);
      expect(claims['iss']).to.equal(STS_ISSUER);
      expect(claims['aud']).to.equal(ourAudience);
      expect(claims['nameid']).to.equal(clientId);
      expect(headerOf(token)).to.include({ alg: 'RS256', typ: 'at+jwt', kid: stsCertificate.x5t, x5t: stsCertificate.x5t });

      const answer = await call(token);
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      expect(answer.body).to.deep.include({
        trust: 'oauthServer',
        partner: 'interop-client',
        applicationId: clientPrincipal,
        realm: REALM,
        issuer: STS_ISSUER,
        audience: ourAudience,
        scopes: ['contacts.read'],
        tokenId: claims['jti'],
      });
      expect(answer.body).to.not.have.property('user');
      expect(events.at(-1)).to.include({ decision: 'accept', partner: 'interop-client' });
    });

    it("refuses oidc-provider's token for another principal's audience (Exchange)", async () => {
      const token = await tokenFrom('https://mail.contoso.com', 'mail.read');
      expect(decodePayload(token)['aud']).to.equal(formatAudience({ principal: EXCHANGE, authority: 'mail.contoso.com', realm: REALM }));
      const answer = await call(token);
      expectRefused(answer, 'audience_invalid');
      expect(answer.diagnostics).to.match(/^2000003;/);
    });

    it('refuses a token for our principal at a host this server is not addressed by', async () => {
      const token = await tokenFrom('https://lync.fabrikam.com', 'contacts.read');
      expect(decodePayload(token)['aud']).to.equal(formatAudience({ principal: OWN, authority: 'lync.fabrikam.com', realm: REALM }));
      expectRefused(await call(token), 'audience_invalid');
    });

    it('refuses a token oidc-provider issued to a client that is not our partner', async () => {
      const token = await tokenFrom(apiUrl, 'contacts.read', { id: strangerId, certificate: strangerCertificate });
      expect(decodePayload(token)['nameid']).to.equal(strangerId);
      expectRefused(await call(token), 'issuer_unknown');
    });

    it('refuses a user context over an oidc-provider token: it cannot grant delegation (no trustedfordelegation, no cnf)', async () => {
      const actor = await tokenFrom(apiUrl, 'contacts.read');
      const claims = decodePayload(actor);
      expect(claims).to.not.have.property('trustedfordelegation');
      expect(claims).to.not.have.property('cnf');
      const header = `{"typ":"JWT","alg":"RS256","x5t":"${clientCertificate.x5t}","kid":"${clientCertificate.x5t}","x5c":["${clientCertificate.der.toString('base64')}"]}`;
      const payload = JSON.stringify({
        aud: claims['aud'],
        iss: claims['nameid'],
        nbf: claims['nbf'],
        exp: claims['exp'],
        nameid: 'alice@contoso.com',
        nii: 'urn:office:idp:activedirectory',
        actortoken: actor,
      });
      expectRefused(await call(compactJws(header, payload, { key: clientCertificate.privateKey })), 'delegation_not_allowed');
    });
  });

  describe("each difference of oidc-provider's own token shape, with its mapping switched off", () => {
    it("refuses oidc-provider's unmapped token (iss is its URL, aud the resource URL, no nameid or nbf, kid a JWK thumbprint)", async () => {
      const token = await tokenWith(noMapping());
      const claims = decodePayload(token);
      expect(claims['iss']).to.equal(op.issuer);
      expect(claims['aud']).to.equal(apiUrl);
      expect(claims).to.include({ sub: clientId, client_id: clientId, scope: 'contacts.read' });
      expect(claims).to.not.have.any.keys('nameid', 'nbf', 'scp');
      expect(headerOf(token)).to.not.have.property('x5t');
      expect(headerOf(token)['kid']).to.not.equal(stsCertificate.x5t);
      // The unverified iss is read first, only to pick a trust: a URL is no issuer id.
      expectRefused(await call(token), 'issuer_invalid');
    });

    it('refuses iss = the provider URL (oidc-provider requires a URL issuer; only the customizer can write the issuer id)', async () => {
      expectRefused(await call(await tokenWith({ issuer: false })), 'issuer_invalid');
    });

    it('refuses aud = the resource indicator URL (RFC 8707 resources are absolute URIs, our audiences are not)', async () => {
      const token = await tokenWith({ audience: false });
      expect(decodePayload(token)['aud']).to.equal(apiUrl);
      expectRefused(await call(token), 'audience_invalid');
    });

    it('refuses a token without nameid (oidc-provider names the client in sub and client_id only)', async () => {
      expectRefused(await call(await tokenWith({ nameid: false })), 'claim_missing');
    });

    it('refuses a token without nbf (oidc-provider sets iat and exp only)', async () => {
      expectRefused(await call(await tokenWith({ notBefore: false })), 'claim_missing');
    });

    it("refuses kid = oidc-provider's RFC 7638 JWK thumbprint: keys are found by certificate thumbprint only", async () => {
      expectRefused(await call(await tokenWith({ keyId: false })), 'key_unknown');
    });

    it("ignores oidc-provider's scope claim: without scp the partner's whole grant applies, hence the scp mapping", async () => {
      const token = await tokenWith({ scp: false });
      expect(decodePayload(token)['scope']).to.equal('contacts.read');
      const answer = await call(token);
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      expect(answer.body['scopes']).to.deep.equal(['contacts.read', 'contacts.write']);
    });

    it('grants no scope when oidc-provider granted none (scp "")', async () => {
      const answer = await call(await tokenWith({}, null));
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      expect(answer.body['scopes']).to.deep.equal([]);
    });

    it('accepts the RFC 9068 header typ at+jwt and the typ JWT of protocol.md alike', async () => {
      const jwt = await tokenWith({ typJwt: true });
      expect(headerOf(jwt)['typ']).to.equal('JWT');
      expect((await call(jwt)).status).to.equal(200);
      const atJwt = await tokenWith({ typJwt: false });
      expect(headerOf(atJwt)['typ']).to.equal('at+jwt');
      expect((await call(atJwt)).status).to.equal(200);
    });
  });
});
