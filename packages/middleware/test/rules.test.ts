/**
 * The named rule suite: one test per rule of protocol.md sections 3.3, 4 and 5, through real HTTP
 * against an Express application protected by s2sAuth. Every refusal asserts the status, the
 * `WWW-Authenticate` challenge, the audited failure code, that the route handler did not run, and
 * that nothing was written (the handler writes to an in-memory store). Tokens are built from raw
 * JSON text, so duplicate members, `1e400` and odd types reach the verifier unchanged.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { after, afterEach, before, beforeEach, describe, it } from 'mocha';
import type { RequestHandler } from 'express';
import { WellKnownPrincipal, type FailureCode } from '@s2sauth/protocol';
import { MemoryStore, type TrustLevel } from '@s2sauth/store';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { createCertificate, createPartner, type MetadataServer, type TestPartner } from '@s2sauth/test-support/partners';
import type { AuditEvent } from '../src/audit.js';
import { s2sAuth } from '../src/express.js';
import { requireScope } from '../src/guards.js';
import type { S2SPrincipal } from '../src/principal.js';
import { PartnerRegistry } from '../src/registry.js';
import { createVerifier, type Verifier } from '../src/verifier.js';
import { describeWithExpress } from './express-versions.js';

const OWN = WellKnownPrincipal.exchange;
const AUDIENCE = `${OWN}/mail.contoso.com@contoso.com`;
const START = Date.UTC(2030, 0, 15, 12, 0, 0);
const DAY = 86_400_000;

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A JSON object's text from raw member texts, in order: `{ aud: '"x"', exp: '1e400' }`. */
function json(members: Record<string, string | undefined>): string {
  return `{${Object.entries(members)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => `"${name}":${value}`)
    .join(',')}}`;
}

describeWithExpress('protocol rules through s2sAuth', (express) => {
  let now = START;
  const clock = (): number => now;
  const seconds = (): number => Math.floor(now / 1000);

  // Partner A, registered by metadata with full trust and the contacts scopes.
  let lync: TestPartner;
  let lyncMetadata: MetadataServer;
  // Partner B, registered by certificate with full trust and no scopes.
  let sharepoint: TestPartner;
  let crm: TestPartner; // trust level "application"
  let portal: TestPartner; // trust level "user"
  let legacy: TestPartner; // full trust, accepts unsigned user context (as Microsoft servers send it)
  let retired: TestPartner; // disabled
  let stranger: TestPartner; // registered nowhere, with its own metadata server
  let strangerMetadata: MetadataServer;
  let attacker: OAuthCertificate; // a key nobody trusts

  let store: MemoryStore;
  let registry: PartnerRegistry;
  let verifier: Verifier;
  let events: AuditEvent[];
  let written: Map<string, S2SPrincipal>;
  let ran: number;
  let current: RequestHandler;
  let server: Server;
  let port: number;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });

  before(async () => {
    const certificate = (): Promise<OAuthCertificate> =>
      createCertificate(['contoso.com'], { notBefore: new Date(START - DAY), validityDays: 366 });
    lync = await createPartner({ principal: WellKnownPrincipal.lync, identity: 'microsoft.lync', certificate: await certificate() });
    sharepoint = await createPartner({ principal: WellKnownPrincipal.sharepoint, identity: 'microsoft.sharepoint', certificate: await certificate() });
    crm = await createPartner({ identity: 'contoso.crm', certificate: await certificate() });
    portal = await createPartner({ identity: 'contoso.portal', certificate: await certificate() });
    legacy = await createPartner({ identity: 'legacy.exchange', certificate: await certificate() });
    retired = await createPartner({ identity: 'retired.app', certificate: await certificate() });
    stranger = await createPartner({ identity: 'stranger', certificate: await certificate() });
    attacker = await certificate();
    lyncMetadata = await lync.serveMetadata();
    strangerMetadata = await stranger.serveMetadata();

    const app = express();
    app.use(express.urlencoded({ extended: false }));
    // The middleware is rebuilt for each test (fresh registry); the application stays.
    app.use((req, res, next) => current(req, res, next));
    const handler: RequestHandler = (req, res) => {
      ran += 1;
      const principal = req.s2s as S2SPrincipal;
      written.set(principal.tokenId ?? String(written.size), principal);
      res.cookie('sid', 'should-never-be-sent');
      res.json({ partner: principal.partner, user: principal.user ?? null, scopes: principal.scopes });
    };
    app.all('/contacts', handler);
    app.all('/contacts/write', requireScope('contacts.write'), handler);
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    agent.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await lyncMetadata.close();
    await strangerMetadata.close();
  });

  beforeEach(async () => {
    now = START;
    events = [];
    written = new Map();
    ran = 0;
    lyncMetadata.respondWith();
    store = new MemoryStore({ clock });
    registry = new PartnerRegistry({ store, clock });
    await registry.add({ identity: lync.identity, metadataUrl: lyncMetadata.url, allowLoopback: true, scopes: ['contacts.read', 'contacts.write'] });
    const byCertificate = (partner: TestPartner, trustLevel: TrustLevel, more: { enabled?: boolean; acceptUnsignedUserContext?: boolean } = {}) =>
      registry.add({
        identity: partner.identity,
        applicationId: partner.principal,
        realm: partner.realm,
        certificate: partner.certificate.pem,
        trustLevel,
        scopes: ['contacts.read'],
        ...more,
      });
    await byCertificate(sharepoint, 'full');
    await byCertificate(crm, 'application');
    await byCertificate(portal, 'user');
    await byCertificate(legacy, 'full', { acceptUnsignedUserContext: true });
    await byCertificate(retired, 'full', { enabled: false });
    verifier = createVerifier({
      principal: OWN,
      realms: ['contoso.com', 'fabrikam.com'],
      authorities: ['mail.contoso.com'],
      registry,
      clock,
      audit: (event) => events.push(event),
    });
    current = s2sAuth({ verifier });
  });

  afterEach(() => {
    verifier.close();
    registry.close();
    store.close();
  });

  // ---- tokens from raw JSON text ----

  /** The raw header text of a signed token of `partner` (x5t and kid of its certificate), members replaced by raw text. */
  function headerOf(partner: TestPartner, overrides: Record<string, string | undefined> = {}): string {
    const x5t = `"${partner.certificate.x5t}"`;
    return json({ typ: '"JWT"', alg: '"RS256"', x5t, kid: x5t, ...overrides });
  }

  /** The raw payload text of an actor token of `partner` for our audience, valid now, members replaced by raw text. */
  function actorOf(partner: TestPartner, overrides: Record<string, string | undefined> = {}): string {
    const s = seconds();
    const id = `"${partner.issuerId}"`;
    return json({
      aud: `"${AUDIENCE}"`,
      iss: id,
      nameid: id,
      nbf: String(s),
      exp: String(s + 600),
      iat: String(s),
      jti: `"${randomBytes(16).toString('base64url')}"`,
      ...overrides,
    });
  }

  /** A signed actor token of `partner`. */
  function actor(partner: TestPartner, overrides: Record<string, string | undefined> = {}, header: Record<string, string | undefined> = {}): string {
    return partner.mintRaw(headerOf(partner, header), actorOf(partner, overrides));
  }

  /** An outer token of `partner` over `actorToken` for user alice, signed by `partner` unless `unsigned`. */
  function outer(partner: TestPartner, actorToken: string, overrides: Record<string, string | undefined> = {}, unsigned = false): string {
    const s = seconds();
    const payload = json({
      aud: `"${AUDIENCE}"`,
      iss: `"${partner.issuerId}"`,
      nbf: String(s),
      exp: String(s + 600),
      nameid: '"alice@contoso.com"',
      nii: '"urn:office:idp:activedirectory"',
      actortoken: `"${actorToken}"`,
      ...overrides,
    });
    return unsigned ? partner.mintRaw('{"typ":"JWT","alg":"none"}', payload, { sign: 'none' }) : partner.mintRaw(headerOf(partner), payload);
  }

  /** A user-context token: outer over an actor trusted for delegation. */
  function userToken(partner: TestPartner, delegation = '"true"', unsigned = false): string {
    return outer(partner, actor(partner, { trustedfordelegation: delegation }), {}, unsigned);
  }

  // ---- HTTP ----

  /** Sends a request with raw headers (duplicates included) and an optional form body. */
  function send(options: { path?: string; method?: string; headers?: readonly string[]; body?: string } = {}): Promise<Answer> {
    const raw = ['Host', `127.0.0.1:${port}`, ...(options.headers ?? [])];
    if (options.body !== undefined) {
      raw.push('Content-Type', 'application/x-www-form-urlencoded', 'Content-Length', String(Buffer.byteLength(options.body)));
    }
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/contacts', headers: raw, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(options.body);
    });
  }

  const withToken = (token: string, path?: string): Promise<Answer> =>
    send({ headers: ['Authorization', `Bearer ${token}`], ...(path === undefined ? {} : { path }) });

  /** The server's own challenge parameters, as every answer must start. */
  function challengePrefix(): string {
    const issuers = [lync, sharepoint, crm, portal, legacy]
      .map((p) => ({ identity: p.identity, id: p.issuerId }))
      .sort((a, b) => (a.identity < b.identity ? -1 : 1))
      .map((p) => p.id);
    return `Bearer realm="contoso.com", client_id="${OWN}", trusted_issuers="${issuers.join(',')}"`;
  }

  const DESCRIPTIONS: Record<string, string> = {
    invalid_request: 'The request must carry exactly one bearer token, in the Authorization header.',
    // Issue 9: a header over the limit says so, not "exactly one bearer token".
    header_too_large: 'The Authorization header is too large: at most 8192 characters.',
  };

  interface Expected {
    readonly status: 400 | 401 | 403 | 503;
    readonly code: FailureCode;
    /** The Exchange diagnostic code, or null for none. */
    readonly diagnostic?: number | null;
    readonly scope?: string;
  }

  /** Asserts a refusal: status, challenge, error body, audited code, no handler, nothing written, no cookie. */
  function expectRefused(answer: Answer, expected: Expected): void {
    expect(answer.status, answer.body).to.equal(expected.status);
    const challenge = String(answer.headers['www-authenticate']);
    expect(challenge.startsWith(challengePrefix()), challenge).to.equal(true);
    const error = { 400: 'invalid_request', 401: 'invalid_token', 403: 'insufficient_scope', 503: undefined }[expected.status];
    const body = JSON.parse(answer.body) as Record<string, unknown>;
    if (error === undefined) {
      expect(challenge).to.equal(challengePrefix());
      // The challenge has no error (RFC 6750); the body does, like every error body: error, message.
      expect(body).to.have.all.keys('error', 'error_description', 'message');
      expect(body).to.have.property('error', 'temporarily_unavailable');
    } else {
      expect(challenge).to.include(`, error="${error}", error_description="`);
      expect(body).to.have.property('error', error);
    }
    expect(body['message']).to.equal(body['error_description']);
    if (error === 'invalid_request') expect(body['error_description']).to.equal(DESCRIPTIONS[expected.code] ?? DESCRIPTIONS.invalid_request);
    if (expected.scope !== undefined) expect(challenge.endsWith(`, scope="${expected.scope}"`), challenge).to.equal(true);
    if (expected.diagnostic === null) expect(answer.headers['x-ms-diagnostics']).to.equal(undefined);
    else if (expected.diagnostic !== undefined) expect(String(answer.headers['x-ms-diagnostics'])).to.match(new RegExp(`^${expected.diagnostic};reason="[^"]+";error_category="[a-z_]+"$`));
    const rejects = events.filter((e) => e.decision === 'reject');
    expect(rejects.map((e) => e.code)).to.include(expected.code);
    expect(ran, 'the route handler ran').to.equal(0);
    expect(written.size, 'something was written').to.equal(0);
    expect(answer.headers['set-cookie']).to.equal(undefined);
  }

  /** Asserts an acceptance: 200, the handler ran once, one entry written, no cookie. */
  function expectAccepted(answer: Answer): Record<string, unknown> {
    expect(answer.status, answer.body).to.equal(200);
    expect(ran).to.equal(1);
    expect(written.size).to.equal(1);
    expect(answer.headers['set-cookie']).to.equal(undefined);
    return JSON.parse(answer.body) as Record<string, unknown>;
  }

  describe('controls', () => {
    it('accepts a valid app-only token of a full-trust partner (the harness works)', async () => {
      expect(expectAccepted(await withToken(actor(lync)))).to.deep.include({ partner: 'microsoft.lync', user: null });
    });

    it('accepts a valid user-context token of a full-trust partner', async () => {
      expect(expectAccepted(await withToken(userToken(lync)))).to.deep.include({ user: { nameid: 'alice@contoso.com', nii: 'urn:office:idp:activedirectory' } });
    });
  });

  describe('3.3 step 1: exactly one bearer token, in the Authorization header', () => {
    it('answers a request without a token with 401 and the challenge: realm first, client_id, trusted_issuers, no error', async () => {
      const answer = await send();
      expect(answer.status).to.equal(401);
      expect(answer.headers['www-authenticate']).to.equal(challengePrefix());
      expect(ran).to.equal(0);
      expect(written.size).to.equal(0);
    });

    it('answers an empty Bearer (realm discovery) with 401 and the same challenge', async () => {
      const answer = await send({ headers: ['Authorization', 'Bearer'] });
      expect(answer.status).to.equal(401);
      expect(answer.headers['www-authenticate']).to.equal(challengePrefix());
      expect(ran).to.equal(0);
    });

    it('refuses two Authorization headers with 400, even when the first is valid', async () => {
      const answer = await send({ headers: ['Authorization', `Bearer ${actor(lync)}`, 'Authorization', `Bearer ${actor(sharepoint)}`] });
      expectRefused(answer, { status: 400, code: 'multiple_credentials', diagnostic: null });
    });

    it('refuses a token in the query with 400', async () => {
      expectRefused(await send({ path: `/contacts?access_token=${actor(lync)}` }), { status: 400, code: 'token_in_query' });
    });

    it('refuses a token in the form body with 400, also next to a valid header', async () => {
      const answer = await send({ method: 'POST', headers: ['Authorization', `Bearer ${actor(lync)}`], body: `access_token=${actor(lync)}` });
      expectRefused(answer, { status: 400, code: 'token_in_body' });
    });

    it('refuses an Authorization header over 8 KiB with 400', async () => {
      expectRefused(await send({ headers: ['Authorization', `Bearer ${'A'.repeat(8200)}`] }), { status: 400, code: 'header_too_large' });
    });

    it('refuses a comma-separated list of credentials with 400', async () => {
      expectRefused(await send({ headers: ['Authorization', `Bearer ${actor(lync)}, Bearer ${actor(lync)}`] }), { status: 400, code: 'malformed_authorization' });
    });
  });

  describe('3.3 step 2: strict syntax', () => {
    for (const spelling of ['none', 'None', 'NONE', 'nOnE']) {
      it(`refuses an actor token with alg "${spelling}"`, async () => {
        const token = lync.mintRaw(headerOf(lync, { alg: `"${spelling}"` }), actorOf(lync), { sign: 'none' });
        expectRefused(await withToken(token), { status: 401, code: 'token_unsupported_alg' });
      });

      it(`refuses an alg "${spelling}" token that carries a signature anyway`, async () => {
        const signed = actor(lync);
        const [, , signature] = signed.split('.');
        const unsigned = lync.mintRaw(json({ typ: '"JWT"', alg: `"${spelling}"` }), actorOf(lync), { sign: 'none' });
        expectRefused(await withToken(`${unsigned}${signature}`), { status: 401, code: spelling === 'none' ? 'token_segments' : 'token_unsupported_alg' });
      });
    }

    it("refuses HS256 signed with the partner's certificate DER bytes as the secret", async () => {
      const token = lync.mintRaw(headerOf(lync, { alg: '"HS256"' }), actorOf(lync), { sign: 'hs256', key: lync.certificate.der });
      expectRefused(await withToken(token), { status: 401, code: 'token_unsupported_alg' });
    });

    it("refuses HS256 signed with the partner's certificate base64 text and PEM as the secret", async () => {
      for (const secret of [lync.certificate.der.toString('base64'), lync.certificate.pem]) {
        const token = lync.mintRaw(headerOf(lync, { alg: '"HS256"' }), actorOf(lync), { sign: 'hs256', key: secret });
        const answer = await withToken(token);
        expectRefused(answer, { status: 401, code: 'token_unsupported_alg' });
      }
    });

    const embedded: ReadonlyArray<[string, string]> = [
      ['jwk', '{"kty":"RSA","n":"AQAB","e":"AQAB"}'],
      ['x5c', '["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]'],
      ['jku', '"https://attacker.example/jwks.json"'],
      ['x5u', '"https://attacker.example/cert.pem"'],
    ];
    for (const [name, value] of embedded) {
      it(`refuses an embedded or remote key in the header (${name})`, async () => {
        // Signed with the attacker's key, whose certificate/key the header would point to.
        const token = lync.mintRaw(headerOf(lync, { [name]: value }), actorOf(lync), { key: attacker.privateKey });
        const answer = await withToken(token);
        expectRefused(answer, { status: 401, code: name === 'x5c' ? 'token_x5c_not_allowed' : 'token_forbidden_header' });
      });
    }

    it('refuses a crit header parameter', async () => {
      expectRefused(await withToken(actor(lync, {}, { crit: '["exp"]' })), { status: 401, code: 'token_forbidden_header' });
    });

    it('refuses duplicate claim members (no "last one wins")', async () => {
      const payload = actorOf(lync).replace(/^\{/, `{"aud":"${OWN}/evil.example@contoso.com",`);
      expectRefused(await withToken(lync.mintRaw(headerOf(lync), payload)), { status: 401, code: 'token_duplicate_member' });
    });

    it('refuses a kid and an x5t that name different certificates', async () => {
      expectRefused(await withToken(actor(lync, {}, { kid: `"${sharepoint.certificate.x5t}"` })), { status: 401, code: 'token_key_id_mismatch' });
    });

    it('refuses invalid UTF-8 in the payload', async () => {
      const header = Buffer.from(headerOf(lync)).toString('base64url');
      const payload = Buffer.concat([Buffer.from(actorOf(lync).slice(0, -1)), Buffer.from(',"x":"\xff"}', 'latin1')]).toString('base64url');
      const token = `${header}.${payload}.${Buffer.from('sig').toString('base64url')}`;
      expectRefused(await withToken(token), { status: 401, code: 'token_utf8' });
    });
  });

  describe('3.3 step 4: the actor token, its one partner, its key, its claims', () => {
    it('refuses a token signed by partner B that claims to be partner A (diagnostic 2000000)', async () => {
      const token = sharepoint.mintRaw(headerOf(sharepoint), actorOf(lync));
      expectRefused(await withToken(token), { status: 401, code: 'key_unknown', diagnostic: 2000000 });
    });

    it("refuses an attacker's key under partner A's x5t (diagnostic 2000000)", async () => {
      const token = lync.mintRaw(headerOf(lync), actorOf(lync), { key: attacker.privateKey });
      expectRefused(await withToken(token), { status: 401, code: 'signature_invalid', diagnostic: 2000000 });
    });

    it('refuses a token whose payload was changed after signing (diagnostic 2000000)', async () => {
      const [h, , s] = actor(lync).split('.');
      const payload = Buffer.from(actorOf(lync, { scp: '"contacts.write everything"' })).toString('base64url');
      expectRefused(await withToken(`${h}.${payload}.${s}`), { status: 401, code: 'signature_invalid', diagnostic: 2000000 });
    });

    it('refuses a token of an unregistered issuer without fetching anything', async () => {
      const before = strangerMetadata.requests;
      expectRefused(await withToken(actor(stranger)), { status: 401, code: 'issuer_unknown' });
      expect(strangerMetadata.requests).to.equal(before);
    });

    it('refuses a token without exp', async () => {
      expectRefused(await withToken(actor(lync, { exp: undefined })), { status: 401, code: 'claim_missing' });
    });

    for (const [what, exp, code] of [
      ['a non-numeric string', '"soon"', 'claim_type'],
      ['a boolean', 'true', 'claim_type'],
      ['an 11-digit string', '"10000000000"', 'claim_type'],
      ['null', 'null', 'claim_type'],
    ] as const) {
      it(`refuses an exp that is ${what}`, async () => {
        expectRefused(await withToken(actor(lync, { exp })), { status: 401, code });
      });
    }

    it('refuses an infinite exp (1e400)', async () => {
      expectRefused(await withToken(actor(lync, { exp: '1e400' })), { status: 401, code: 'token_json' });
    });

    it('refuses an expired token beyond the clock skew', async () => {
      const s = seconds();
      expectRefused(await withToken(actor(lync, { nbf: String(s - 1200), iat: String(s - 1200), exp: String(s - 301) })), { status: 401, code: 'token_expired', diagnostic: null });
    });

    it('refuses a future nbf beyond the clock skew', async () => {
      const s = seconds();
      expectRefused(await withToken(actor(lync, { nbf: String(s + 301), exp: String(s + 900) })), { status: 401, code: 'token_not_yet_valid' });
    });

    it('refuses a future iat beyond the clock skew', async () => {
      expectRefused(await withToken(actor(lync, { iat: String(seconds() + 301) })), { status: 401, code: 'token_issued_in_future' });
    });

    it('refuses a lifetime longer than the maximum (exp - nbf over 1 h)', async () => {
      const s = seconds();
      expectRefused(await withToken(actor(lync, { nbf: String(s), iat: String(s), exp: String(s + 3601) })), { status: 401, code: 'token_lifetime_too_long' });
    });

    it('refuses an audience array, even one that lists this server (diagnostic none: malformed)', async () => {
      expectRefused(await withToken(actor(lync, { aud: `["${AUDIENCE}"]` })), { status: 401, code: 'claim_type' });
    });

    it('refuses an audience with another host (diagnostic 2000003)', async () => {
      expectRefused(await withToken(actor(lync, { aud: `"${OWN}/mail.fabrikam.com@contoso.com"` })), { status: 401, code: 'audience_invalid', diagnostic: 2000003 });
    });

    it('refuses an audience with another principal (diagnostic 2000003)', async () => {
      expectRefused(await withToken(actor(lync, { aud: `"${WellKnownPrincipal.sharepoint}/mail.contoso.com@contoso.com"` })), {
        status: 401,
        code: 'audience_invalid',
        diagnostic: 2000003,
      });
    });

    it('refuses an audience with a realm this server does not serve (diagnostic 2000004)', async () => {
      expectRefused(await withToken(actor(lync, { aud: `"${OWN}/mail.contoso.com@evil.example"` })), { status: 401, code: 'realm_invalid', diagnostic: 2000004 });
    });

    it('refuses a realm mismatch between iss and aud, both served here (diagnostic 2000004)', async () => {
      expectRefused(await withToken(actor(lync, { aud: `"${OWN}/mail.contoso.com@fabrikam.com"` })), { status: 401, code: 'realm_invalid', diagnostic: 2000004 });
    });

    it('refuses a self-issued token whose nameid is not its iss', async () => {
      expectRefused(await withToken(actor(lync, { nameid: `"${sharepoint.issuerId}"` })), { status: 401, code: 'nameid_invalid' });
    });

    it('refuses a token of a disabled partner', async () => {
      expectRefused(await withToken(actor(retired)), { status: 401, code: 'partner_disabled' });
    });

    it('refuses an actor token that carries user claims of its own', async () => {
      expectRefused(await withToken(actor(lync, { upn: '"alice@contoso.com"' })), { status: 401, code: 'actor_user_claims' });
    });
  });

  describe('section 5 and 3.3 step 5: trust levels', () => {
    it('accepts an app-only call of an application-trust partner', async () => {
      expectAccepted(await withToken(actor(crm)));
    });

    it('refuses a user context from an application-trust partner (self-issued, even with trustedfordelegation "true")', async () => {
      expectRefused(await withToken(userToken(crm)), { status: 401, code: 'trust_level' });
    });

    it('refuses an app-only call of a user-trust partner', async () => {
      expectRefused(await withToken(actor(portal)), { status: 401, code: 'trust_level' });
    });

    for (const value of ['"True"', '"false"', 'true', '1', '"yes"', '"true "', '["true"]']) {
      it(`refuses a user context whose actor has trustedfordelegation ${value}`, async () => {
        expectRefused(await withToken(userToken(lync, value)), { status: 401, code: 'delegation_not_allowed' });
      });
    }

    it('refuses a user context whose actor has no trustedfordelegation', async () => {
      expectRefused(await withToken(outer(lync, actor(lync))), { status: 401, code: 'delegation_not_allowed' });
    });
  });

  describe('3.2 and 3.3 step 6: the outer token', () => {
    it('refuses an outer token bound to another actor (iss is not the actor nameid)', async () => {
      const token = outer(lync, actor(lync, { trustedfordelegation: '"true"' }), { iss: `"${sharepoint.issuerId}"` });
      expectRefused(await withToken(token), { status: 401, code: 'outer_binding' });
    });

    it("refuses an outer token for another audience than its actor's", async () => {
      const token = outer(lync, actor(lync, { trustedfordelegation: '"true"' }), { aud: `"${OWN}/other.contoso.com@contoso.com"` });
      expectRefused(await withToken(token), { status: 401, code: 'outer_binding' });
    });

    it("refuses an outer token signed by another partner around partner A's actor", async () => {
      const token = sharepoint.mintRaw(
        headerOf(sharepoint),
        json({
          aud: `"${AUDIENCE}"`,
          iss: `"${lync.issuerId}"`,
          nbf: String(seconds()),
          exp: String(seconds() + 600),
          nameid: '"alice@contoso.com"',
          actortoken: `"${actor(lync, { trustedfordelegation: '"true"' })}"`,
        }),
      );
      expectRefused(await withToken(token), { status: 401, code: 'outer_signature_invalid', diagnostic: 2000000 });
    });

    it('refuses an outer token that outlives its actor', async () => {
      const token = outer(lync, actor(lync, { trustedfordelegation: '"true"' }), { exp: String(seconds() + 900) });
      expectRefused(await withToken(token), { status: 401, code: 'outer_window' });
    });

    it('refuses an outer token without a user (diagnostic 2000005)', async () => {
      const token = outer(lync, actor(lync, { trustedfordelegation: '"true"' }), { nameid: undefined, nii: undefined });
      expectRefused(await withToken(token), { status: 401, code: 'user_invalid', diagnostic: 2000005 });
    });

    it('refuses an unsigned outer token from a partner that does not allow it', async () => {
      expectRefused(await withToken(userToken(lync, '"true"', true)), { status: 401, code: 'outer_unsigned', diagnostic: 2000000 });
    });

    it('accepts an unsigned outer token from a partner registered to allow it', async () => {
      expect(expectAccepted(await withToken(userToken(legacy, '"true"', true)))).to.deep.include({ partner: 'legacy.exchange' });
    });

    it('refuses an unsigned actor token inside an outer token, even from a partner that allows unsigned user context', async () => {
      const unsignedActor = legacy.mintRaw('{"typ":"JWT","alg":"none"}', actorOf(legacy, { trustedfordelegation: '"true"' }), { sign: 'none' });
      expectRefused(await withToken(outer(legacy, unsignedActor, {}, true)), { status: 401, code: 'token_unsupported_alg' });
    });
  });

  describe('3.3 step 7: scopes', () => {
    it('refuses a valid token without the scope the route needs with 403 and the scope in the challenge', async () => {
      const answer = await withToken(actor(lync, { scp: '"contacts.read"' }), '/contacts/write');
      expectRefused(answer, { status: 403, code: 'scope_insufficient', scope: 'contacts.write', diagnostic: null });
    });

    it('refuses a scope the token asks for but the registration does not grant', async () => {
      const answer = await withToken(actor(sharepoint, { scp: '"contacts.write"' }), '/contacts/write');
      expectRefused(answer, { status: 403, code: 'scope_insufficient', scope: 'contacts.write' });
    });

    it('grants nothing for an empty scp', async () => {
      expectRefused(await withToken(actor(lync, { scp: '""' }), '/contacts/write'), { status: 403, code: 'scope_insufficient', scope: 'contacts.write' });
    });

    it('compares scopes as whole, case-sensitive words', async () => {
      expectRefused(await withToken(actor(lync, { scp: '"Contacts.Write contacts.writer"' }), '/contacts/write'), {
        status: 403,
        code: 'scope_insufficient',
        scope: 'contacts.write',
      });
    });

    it("accepts the partner's grant when the token has no scp", async () => {
      expect(expectAccepted(await withToken(actor(lync), '/contacts/write'))).to.deep.include({ scopes: ['contacts.read', 'contacts.write'] });
    });
  });

  describe('3.3 step 8: cookies', () => {
    it('never sets a cookie on a bearer-authenticated response', async () => {
      const answer = await withToken(actor(lync));
      expect(answer.status).to.equal(200);
      expect(answer.headers['set-cookie']).to.equal(undefined);
    });
  });

  describe('section 4: metadata and keys', () => {
    it('answers 503 with Retry-After once the metadata is down past the maximum staleness', async () => {
      expectAccepted(await withToken(actor(lync))); // keys loaded
      ran = 0;
      written.clear();
      lyncMetadata.respondWith('unavailable', 500);
      now += DAY + 60_000;
      const answer = await withToken(actor(lync));
      expectRefused(answer, { status: 503, code: 'keys_unavailable', diagnostic: null });
      expect(Number(answer.headers['retry-after'])).to.be.greaterThan(0);
    });

    it('keeps the last good keys while the metadata is down within the staleness', async () => {
      expectAccepted(await withToken(actor(lync)));
      ran = 0;
      written.clear();
      lyncMetadata.respondWith('unavailable', 500);
      now += 2 * 3_600_000;
      expectAccepted(await withToken(actor(lync)));
    });

    it('refetches for an unknown key id at most once per cooldown', async () => {
      expectAccepted(await withToken(actor(lync))); // keys loaded
      ran = 0;
      written.clear();
      const before = lyncMetadata.requests;
      const unknown = lync.mintRaw(headerOf(lync, { x5t: `"${attacker.x5t}"`, kid: `"${attacker.x5t}"` }), actorOf(lync), { key: attacker.privateKey });
      expectRefused(await withToken(unknown), { status: 401, code: 'key_unknown' });
      expectRefused(await withToken(unknown), { status: 401, code: 'key_unknown' });
      expect(lyncMetadata.requests - before).to.be.at.most(1);
    });

    it("never takes a key's location from a token (jku to the partner's own metadata is refused)", async () => {
      const before = lyncMetadata.requests;
      const token = lync.mintRaw(headerOf(lync, { jku: `"${lyncMetadata.url}"` }), actorOf(lync));
      expectRefused(await withToken(token), { status: 401, code: 'token_forbidden_header' });
      expect(lyncMetadata.requests).to.equal(before);
    });
  });
});
