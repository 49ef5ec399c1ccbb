import { expect } from 'chai';
import { expectRejection } from '@s2sauth/test-support/rejections';
import { after, afterEach, before, beforeEach, describe, it } from 'mocha';
import { BearerError, InvalidTokenError, KeysUnavailableError, WellKnownPrincipal, type FailureCode } from '@s2sauth/protocol';
import { MemoryStore } from '@s2sauth/store';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { createCertificate, createPartner, decodePayload, type MetadataServer, type TestPartner } from '@s2sauth/test-support/partners';
// The public entry point, as applications (and the Express layer) use it.
import { createVerifier, PartnerRegistry, type AuditEvent, type Verifier, type VerifierOptions } from '@s2sauth/middleware';

const OWN = WellKnownPrincipal.exchange;
const AUDIENCE = `${OWN}/mail.contoso.com@contoso.com`;
const START = Date.UTC(2030, 0, 15, 12, 0, 0);

describe('verifier', () => {
  let now = START;
  const clock = (): number => now;
  const seconds = (): number => Math.floor(now / 1000);

  let lync: TestPartner; // partner A: registered by metadata, full trust
  let sharepoint: TestPartner; // partner B: registered by metadata
  let attacker: OAuthCertificate; // registered nowhere
  let lyncServer: MetadataServer;
  let sharepointServer: MetadataServer;

  let store: MemoryStore;
  let registry: PartnerRegistry;
  let events: AuditEvent[];
  let verifier: Verifier;

  before(async () => {
    // Certificates valid at START, whatever the real date.
    const [a, b, c] = await Promise.all([
      createCertificateAt(['contoso.com']),
      createCertificateAt(['contoso.com']),
      createCertificateAt(['contoso.com']),
    ]);
    lync = await createPartner({ principal: WellKnownPrincipal.lync, identity: 'microsoft.lync', certificate: a });
    sharepoint = await createPartner({ principal: WellKnownPrincipal.sharepoint, identity: 'microsoft.sharepoint', certificate: b });
    attacker = c;
    lyncServer = await lync.serveMetadata();
    sharepointServer = await sharepoint.serveMetadata();
  });

  after(async () => {
    await lyncServer.close();
    await sharepointServer.close();
  });

  beforeEach(async () => {
    now = START;
    lyncServer.respondWith();
    sharepointServer.respondWith();
    store = new MemoryStore({ clock });
    registry = new PartnerRegistry({ store, clock });
    await registry.add({ identity: lync.identity, metadataUrl: lyncServer.url, allowLoopback: true, scopes: ['contacts.read', 'calendar.read'] });
    await registry.add({ identity: sharepoint.identity, metadataUrl: sharepointServer.url, allowLoopback: true });
    events = [];
    verifier = makeVerifier();
  });

  afterEach(() => {
    verifier.close();
    registry.close();
    store.close();
  });

  function makeVerifier(options: Partial<VerifierOptions> = {}): Verifier {
    return createVerifier({
      principal: OWN,
      realms: ['contoso.com', 'fabrikam.com'],
      authorities: ['mail.contoso.com', '127.0.0.1:4402'],
      registry,
      clock,
      audit: (event) => events.push(event),
      ...options,
    });
  }

  /** An actor token from `partner` for our audience, with claim overrides. */
  function actor(partner: TestPartner, overrides: Record<string, unknown> = {}, header?: Record<string, unknown>): string {
    return partner.mint(partner.actorClaims(AUDIENCE, seconds(), overrides), header);
  }

  /** A delegation-capable actor token and an outer token over it. */
  function userToken(partner: TestPartner, outerClaims: Record<string, unknown> = {}, sign: 'rs256' | 'none' = 'rs256'): string {
    return partner.mintUser(actor(partner, { trustedfordelegation: 'true' }), outerClaims, { sign });
  }

  function rejects(token: string, code: FailureCode, on: Verifier = verifier): Promise<BearerError> {
    return expectRejection(on, events, token, code);
  }

  describe('accepts', () => {
    it('accepts an app-only actor token from a partner registered by metadata', async () => {
      const token = actor(lync);
      const principal = await verifier.verify(token, { method: 'GET', path: '/contacts' });
      expect(principal).to.deep.include({
        partner: 'microsoft.lync',
        applicationId: lync.principal,
        realm: 'contoso.com',
        issuer: lync.issuerId,
        audience: AUDIENCE,
        trust: 'metadata',
        expiresAt: (seconds() + 3600) * 1000,
      });
      expect(principal.scopes).to.deep.equal(['contacts.read', 'calendar.read']);
      expect(principal.user).to.equal(undefined);
      expect(principal.tokenId).to.be.a('string');
      expect(Object.isFrozen(principal)).to.equal(true);
      expect(events).to.have.length(1);
      expect(events[0]).to.deep.include({
        decision: 'accept',
        partner: 'microsoft.lync',
        applicationId: lync.principal,
        audience: AUDIENCE,
        tokenId: principal.tokenId,
        cached: false,
        method: 'GET',
        path: '/contacts',
      });
    });

    it('accepts nbf and exp as decimal-digit strings, as Microsoft servers send them', async () => {
      const s = seconds();
      const token = lync.mintRaw(
        `{"typ":"JWT","alg":"RS256","x5t":"${lync.certificate.x5t}"}`,
        `{"aud":"${AUDIENCE}","iss":"${lync.issuerId}","nameid":"${lync.issuerId}","nbf":"${s}","exp":"${s + 600}"}`,
      );
      const principal = await verifier.verify(token);
      expect(principal.expiresAt).to.equal((s + 600) * 1000);
      expect(principal.tokenId).to.equal(undefined);
    });

    it('compares the audience authority case-insensitively and accepts a configured host:port', async () => {
      await verifier.verify(actor(lync, { aud: `${OWN}/MAIL.Contoso.COM@contoso.com` }));
      await verifier.verify(actor(lync, { aud: `${OWN}/127.0.0.1:4402@contoso.com` }));
    });

    it('accepts a token within the clock skew of its nbf and exp', async () => {
      const s = seconds();
      await verifier.verify(actor(lync, { nbf: s + 200, iat: s + 200, exp: s + 1200 }));
      await verifier.verify(actor(lync, { nbf: s - 1000, iat: s - 1000, exp: s - 200 }));
    });

    it('accepts a partner registered by certificate', async () => {
      const fabrikam = await createPartner({ realm: 'fabrikam.com', certificate: await createCertificateAt(['fabrikam.com']) });
      await registry.add({ identity: 'fabrikam.app', applicationId: fabrikam.principal, realm: 'fabrikam.com', certificate: fabrikam.certificate.pem });
      const token = fabrikam.mint(fabrikam.actorClaims(`${OWN}/mail.contoso.com@fabrikam.com`, seconds()));
      const principal = await verifier.verify(token);
      expect(principal).to.include({ partner: 'fabrikam.app', trust: 'certificate', realm: 'fabrikam.com' });
    });

    it('accepts a signed user context from a full-trust partner and returns the user', async () => {
      const token = userToken(lync, { smtp: 'alice@contoso.com', sip: 'alice@contoso.com', upn: 'alice@contoso.com' });
      const principal = await verifier.verify(token);
      expect(principal.user).to.deep.equal({
        nameid: 'alice@contoso.com',
        nii: 'urn:office:idp:activedirectory',
        smtp: 'alice@contoso.com',
        sip: 'alice@contoso.com',
        upn: 'alice@contoso.com',
      });
      expect(events.at(-1)).to.include({ decision: 'accept', user: 'alice@contoso.com' });
    });

    it('accepts an unsigned user context from a partner registered to allow it', async () => {
      await registry.update(lync.identity, { acceptUnsignedUserContext: true });
      const principal = await verifier.verify(userToken(lync, {}, 'none'));
      expect(principal.user?.nameid).to.equal('alice@contoso.com');
    });

    it('takes the earliest exp of actor and outer token as the end of the principal', async () => {
      const inner = actor(lync, { trustedfordelegation: 'true' });
      const token = lync.mintUser(inner, { exp: seconds() + 600 });
      expect((await verifier.verify(token)).expiresAt).to.equal((seconds() + 600) * 1000);
    });

    it('accepts a user context when the resolveUser hook recognises the user', async () => {
      const seen: string[] = [];
      const hooked = makeVerifier({
        resolveUser: (user, partner) => {
          seen.push(`${partner.identity}:${user.nameid ?? ''}`);
          return Promise.resolve(true);
        },
      });
      await hooked.verify(userToken(lync));
      expect(seen).to.deep.equal(['microsoft.lync:alice@contoso.com']);
      hooked.close();
    });
  });

  describe('step 2: strict syntax', () => {
    it('rejects a token that is not three segments', async () => {
      await rejects('abc.def', 'token_segments');
    });

    it('rejects something that is not a string', async () => {
      await rejects(42 as unknown as string, 'token_segments');
    });

    it('rejects duplicate claims built from raw JSON text', async () => {
      const s = seconds();
      const token = lync.mintRaw(
        `{"alg":"RS256","x5t":"${lync.certificate.x5t}"}`,
        `{"aud":"${AUDIENCE}","iss":"${lync.issuerId}","iss":"${sharepoint.issuerId}","nameid":"${lync.issuerId}","nbf":${s},"exp":${s + 60}}`,
      );
      await rejects(token, 'token_duplicate_member');
    });

    it('rejects an x5c in an actor token and in an outer token over a self-issued actor', async () => {
      const x5c = [lync.certificate.der.toString('base64')];
      await rejects(actor(lync, {}, { x5c }), 'token_x5c_not_allowed');
      const outer = lync.mintUser(actor(lync, { trustedfordelegation: 'true' }), {}, { header: { x5c } });
      await rejects(outer, 'token_x5c_not_allowed');
    });

    it('rejects an actor token with alg none, alone and inside an outer token', async () => {
      const claims = JSON.stringify(lync.actorClaims(AUDIENCE, seconds()));
      const unsigned = lync.mintRaw('{"typ":"JWT","alg":"none"}', claims, { sign: 'none' });
      await rejects(unsigned, 'token_unsupported_alg');
      await registry.update(lync.identity, { acceptUnsignedUserContext: true });
      await rejects(lync.mintUser(unsigned, {}, { sign: 'none' }), 'token_unsupported_alg');
    });

    for (const [name, secret] of [
      ['DER bytes', (p: TestPartner) => p.certificate.der],
      ['base64 text', (p: TestPartner) => p.certificate.der.toString('base64')],
      ['PEM text', (p: TestPartner) => p.certificate.pem],
    ] as const) {
      it(`rejects HS256 signed with the partner's certificate ${name} as the secret`, async () => {
        const claims = JSON.stringify(lync.actorClaims(AUDIENCE, seconds()));
        const token = lync.mintRaw(`{"typ":"JWT","alg":"HS256","x5t":"${lync.certificate.x5t}"}`, claims, { sign: 'hs256', key: secret(lync) });
        await rejects(token, 'token_unsupported_alg');
      });
    }

    it('rejects a header that asks for a key from elsewhere', async () => {
      await rejects(actor(lync, {}, { jku: 'https://evil.example/keys' }), 'token_forbidden_header');
    });

    it('rejects a kid that differs from the x5t', async () => {
      await rejects(actor(lync, {}, { kid: sharepoint.certificate.x5t }), 'token_key_id_mismatch');
    });
  });

  describe('step 3: outer or actor', () => {
    it('rejects an outer token whose actortoken is not a string', async () => {
      const token = lync.mint({ aud: AUDIENCE, iss: lync.issuerId, nbf: seconds(), exp: seconds() + 60, nameid: 'alice', actortoken: 5 });
      await rejects(token, 'claim_type');
    });

    it('rejects an actor token that carries an actortoken of its own', async () => {
      const nested = actor(lync, { actortoken: actor(lync) });
      await rejects(lync.mintUser(nested), 'actor_user_claims');
    });

    it('verifies the actor first: a forged actor fails on its signature whatever the outer token says', async () => {
      const forged = actor(lync, { trustedfordelegation: 'true' }, {});
      const tampered = `${forged.slice(0, forged.lastIndexOf('.'))}.${'A'.repeat(342)}`;
      await rejects(lync.mintUser(tampered, {}, { sign: 'none' }), 'signature_invalid');
    });
  });

  describe('step 4: the actor token', () => {
    it('rejects an actor token without iss, with a non-string iss, or with a malformed iss', async () => {
      await rejects(actor(lync, { iss: undefined }), 'claim_missing');
      await rejects(actor(lync, { iss: 7 }), 'claim_type');
      await rejects(actor(lync, { iss: `${lync.principal.toUpperCase()}@contoso.com` }), 'issuer_invalid');
    });

    it('rejects an unknown issuer without fetching any metadata', async () => {
      const stranger = await createPartner({ certificate: attacker });
      const before = lyncServer.requests + sharepointServer.requests;
      const error = await rejects(actor(stranger), 'issuer_unknown');
      expect(error.status).to.equal(401);
      expect(lyncServer.requests + sharepointServer.requests).to.equal(before);
      expect(events.at(-1)?.partner).to.equal(undefined);
    });

    it("rejects partner B's key claiming to be partner A", async () => {
      // B's own x5t: not in A's key set.
      const claims = lync.actorClaims(AUDIENCE, seconds());
      await rejects(lync.mint(claims, { x5t: sharepoint.certificate.x5t, kid: sharepoint.certificate.x5t }, sharepoint.certificate.privateKey), 'key_unknown');
      // A's x5t, B's signature.
      await rejects(lync.mint(claims, {}, sharepoint.certificate.privateKey), 'signature_invalid');
    });

    it("rejects an attacker's key under partner A's x5t", async () => {
      const token = lync.mint(lync.actorClaims(AUDIENCE, seconds()), {}, attacker.privateKey);
      const error = await rejects(token, 'signature_invalid');
      expect(error.diagnostic?.code).to.equal(2000000);
    });

    it('rejects a token whose payload was changed after signing', async () => {
      const token = actor(lync);
      const [h, , s] = token.split('.');
      const payload = Buffer.from(JSON.stringify(lync.actorClaims(AUDIENCE, seconds(), { scp: 'everything' }))).toString('base64url');
      await rejects(`${h}.${payload}.${s}`, 'signature_invalid');
    });

    it('rejects an x5t#S256 that names another certificate than the x5t', async () => {
      await rejects(actor(lync, {}, { 'x5t#S256': sharepoint.certificate.x5tS256 }), 'token_key_id_mismatch');
      await verifier.verify(actor(lync, {}, { 'x5t#S256': lync.certificate.x5tS256 }));
    });

    it('answers 503 when a registered partner\'s keys cannot be loaded', async () => {
      lyncServer.respondWith('down', 500);
      const error = await rejects(actor(lync), 'keys_unavailable');
      expect(error).to.be.instanceOf(KeysUnavailableError);
      expect(error.status).to.equal(503);
    });

    it('rejects a missing, infinite or 11-digit-string exp', async () => {
      const s = seconds();
      const header = `{"alg":"RS256","x5t":"${lync.certificate.x5t}"}`;
      const base = `"aud":"${AUDIENCE}","iss":"${lync.issuerId}","nameid":"${lync.issuerId}","nbf":${s}`;
      await rejects(lync.mintRaw(header, `{${base}}`), 'claim_missing');
      await rejects(lync.mintRaw(header, `{${base},"exp":1e400}`), 'token_json');
      await rejects(lync.mintRaw(header, `{${base},"exp":"10000000000"}`), 'claim_type');
      await rejects(lync.mintRaw(header, `{${base},"exp":-1}`), 'claim_type');
    });

    it('rejects an expired token, a future nbf and a future iat beyond the skew', async () => {
      const s = seconds();
      await rejects(actor(lync, { nbf: s - 2000, iat: s - 2000, exp: s - 301 }), 'token_expired');
      await rejects(actor(lync, { nbf: s + 301, iat: s, exp: s + 900 }), 'token_not_yet_valid');
      await rejects(actor(lync, { iat: s + 301 }), 'token_issued_in_future');
    });

    it('rejects a lifetime longer than the maximum (exp - nbf and exp - iat)', async () => {
      const s = seconds();
      await rejects(actor(lync, { exp: s + 3601 }), 'token_lifetime_too_long');
      await rejects(actor(lync, { iat: s - 100, nbf: s, exp: s + 3550 }), 'token_lifetime_too_long');
      const short = makeVerifier({ maxLifetimeSeconds: 600 });
      await rejects(actor(lync, { exp: s + 601 }), 'token_lifetime_too_long', short);
      short.close();
    });

    it('rejects an audience array, a wrong host, a wrong principal and a malformed audience', async () => {
      await rejects(actor(lync, { aud: [AUDIENCE] }), 'claim_type');
      await rejects(actor(lync, { aud: `${OWN}/evil.contoso.com@contoso.com` }), 'audience_invalid');
      await rejects(actor(lync, { aud: `${WellKnownPrincipal.sharepoint}/mail.contoso.com@contoso.com` }), 'audience_invalid');
      const error = await rejects(actor(lync, { aud: `${OWN}@contoso.com` }), 'audience_invalid');
      expect(error.diagnostic?.code).to.equal(2000003);
    });

    it('rejects an audience in a realm this server does not serve', async () => {
      const error = await rejects(actor(lync, { aud: `${OWN}/mail.contoso.com@northwind.com` }), 'realm_invalid');
      expect(error.diagnostic?.code).to.equal(2000004);
    });

    it("rejects an iss realm that differs from the aud realm", async () => {
      await rejects(actor(lync, { aud: `${OWN}/mail.contoso.com@fabrikam.com` }), 'realm_invalid');
    });

    it('rejects a self-issued actor whose nameid is not exactly its iss', async () => {
      await rejects(actor(lync, { nameid: sharepoint.issuerId }), 'nameid_invalid');
      await rejects(actor(lync, { nameid: `${lync.issuerId} ` }), 'nameid_invalid');
    });

    it('rejects an actor token that carries user claims', async () => {
      await rejects(actor(lync, { smtp: 'alice@contoso.com' }), 'actor_user_claims');
    });

    it('rejects a disabled partner without fetching its metadata', async () => {
      await registry.disable(lync.identity);
      const before = lyncServer.requests;
      await rejects(actor(lync), 'partner_disabled');
      expect(lyncServer.requests).to.equal(before);
      expect(events.at(-1)).to.include({ partner: 'microsoft.lync' });
    });

    it('rejects a partner that trusts through an OAuth server as an issuer of self-issued tokens', async () => {
      const hybrid = await createPartner({ certificate: attacker });
      await registry.add({ identity: 'hybrid.app', applicationId: hybrid.principal, realm: 'contoso.com', useOAuthServer: true });
      const error = await rejects(actor(hybrid), 'issuer_unknown');
      expect(error.reason).to.contain('OAuth server');
    });

    it('rejects a token signed with a pinned certificate that has expired', async () => {
      const shortLived = await createPartner({ certificate: await createCertificateAt(['contoso.com'], 2) });
      await registry.add({ identity: 'short.lived', applicationId: shortLived.principal, realm: 'contoso.com', certificate: shortLived.certificate.pem });
      now = START + 3 * 86_400_000;
      await rejects(actor(shortLived), 'key_unknown');
    });
  });

  describe('step 5: trust level', () => {
    it('rejects an app-only call from a user-level partner', async () => {
      await registry.update(lync.identity, { trustLevel: 'user' });
      await rejects(actor(lync), 'trust_level');
    });

    it('accepts an app-only call from an application-level partner but refuses its user context', async () => {
      await registry.update(lync.identity, { trustLevel: 'application' });
      await verifier.verify(actor(lync));
      await rejects(userToken(lync), 'trust_level');
    });

    for (const value of ['false', 'True', true, 1, undefined]) {
      it(`refuses a user context when trustedfordelegation is ${JSON.stringify(value) ?? 'absent'}`, async () => {
        const inner = actor(lync, { trustedfordelegation: value });
        await rejects(lync.mintUser(inner), 'delegation_not_allowed');
      });
    }

    it('accepts an app-only call whatever trustedfordelegation says', async () => {
      await verifier.verify(actor(lync, { trustedfordelegation: true }));
    });
  });

  describe('step 6: the outer token', () => {
    it('refuses an unsigned outer token unless the partner allows it', async () => {
      const error = await rejects(userToken(lync, {}, 'none'), 'outer_unsigned');
      expect(events.at(-1)).to.include({ partner: 'microsoft.lync', audience: AUDIENCE });
      expect(error.status).to.equal(401);
    });

    it('rejects an outer token bound to another actor (aud or iss mismatch)', async () => {
      await rejects(userToken(lync, { aud: `${OWN}/127.0.0.1:4402@contoso.com` }), 'outer_binding');
      await rejects(userToken(lync, { iss: sharepoint.issuerId }), 'outer_binding');
      await rejects(userToken(lync, { iss: lync.issuerId.toUpperCase() }), 'outer_binding');
    });

    it("rejects an outer token signed by another key than the actor's", async () => {
      const inner = actor(lync, { trustedfordelegation: 'true' });
      await rejects(lync.mintUser(inner, {}, { key: attacker.privateKey }), 'outer_signature_invalid');
      await rejects(lync.mintUser(inner, {}, { key: sharepoint.certificate.privateKey, header: { x5t: sharepoint.certificate.x5t, kid: undefined } }), 'outer_signature_invalid');
      await rejects(lync.mintUser(inner, {}, { header: { 'x5t#S256': sharepoint.certificate.x5tS256 } }), 'outer_signature_invalid');
    });

    it("rejects an outer token signed by its actor's key that names another key id (x5t or kid)", async () => {
      // Only the key-id rule is broken here: the signature is the actor's own key's, valid over the
      // header as written, and every claim is bound to the actor. Built from raw JSON text, so the
      // header reaches the verifier exactly as written.
      const inner = actor(lync, { trustedfordelegation: 'true' });
      const payload = JSON.stringify(decodePayload(lync.mintUser(inner)));
      const other = sharepoint.certificate.x5t;
      // The control: the same payload with the actor's own key id is accepted.
      await verifier.verify(lync.mintRaw(`{"typ":"JWT","alg":"RS256","x5t":"${lync.certificate.x5t}"}`, payload));
      for (const header of [
        `{"typ":"JWT","alg":"RS256","x5t":"${other}"}`,
        `{"typ":"JWT","alg":"RS256","kid":"${other}"}`,
        `{"typ":"JWT","alg":"RS256","x5t":"${other}","kid":"${other}"}`,
      ]) {
        const error = await rejects(lync.mintRaw(header, payload), 'outer_signature_invalid');
        expect(error.reason).to.contain('names another key');
      }
    });

    it("rejects an outer token outside its actor's window", async () => {
      const s = seconds();
      const inner = actor(lync, { trustedfordelegation: 'true', nbf: s, exp: s + 600 });
      await rejects(lync.mintUser(inner, { exp: s + 601 }), 'outer_window');
      await rejects(lync.mintUser(inner, { nbf: s - 1 }), 'outer_window');
    });

    it('applies the lifetime rules to the outer token too', async () => {
      const s = seconds();
      const inner = actor(lync, { trustedfordelegation: 'true', nbf: s - 1000, iat: s - 1000, exp: s + 2000 });
      await rejects(lync.mintUser(inner, { nbf: s - 1000, exp: s - 400 }), 'token_expired');
      await rejects(lync.mintUser(inner, { iat: s + 400 }), 'token_issued_in_future');
    });

    it('rejects an outer token with a missing claim', async () => {
      await rejects(userToken(lync, { aud: undefined }), 'claim_missing');
    });

    it('rejects an outer token that names no user', async () => {
      await rejects(userToken(lync, { nameid: undefined }), 'user_invalid');
      const error = await rejects(userToken(lync, { nameid: '' }), 'user_invalid');
      expect(error.diagnostic?.code).to.equal(2000005);
      await verifier.verify(userToken(lync, { nameid: undefined, sip: 'alice@contoso.com' }));
    });

    it('rejects a user the resolveUser hook does not recognise, or when the hook fails', async () => {
      const refusing = makeVerifier({ resolveUser: () => false });
      await rejects(userToken(lync), 'user_invalid', refusing);
      refusing.close();
      const failing = makeVerifier({
        resolveUser: () => {
          throw new Error('directory down');
        },
      });
      const error = await rejects(userToken(lync), 'user_invalid', failing);
      expect(error.reason).to.not.contain('directory down');
      failing.close();
    });
  });

  describe('step 7: scopes', () => {
    it("intersects the token's scp with the partner's grant, as whole words", async () => {
      expect((await verifier.verify(actor(lync, { scp: 'contacts.read mail.send contacts' }))).scopes).to.deep.equal(['contacts.read']);
      expect((await verifier.verify(actor(lync, { scp: 'Contacts.Read calendar.read' }))).scopes).to.deep.equal(['calendar.read']);
      expect((await verifier.verify(actor(lync, { scp: '' }))).scopes).to.deep.equal([]);
      expect((await verifier.verify(actor(sharepoint, { scp: 'contacts.read' }))).scopes).to.deep.equal([]);
    });
  });

  describe('step 9: audit and errors', () => {
    it('writes exactly one event per decision and never the token text', async () => {
      const good = userToken(lync);
      const bad = actor(lync, { nameid: sharepoint.issuerId });
      await verifier.verify(good);
      await rejects(bad, 'nameid_invalid');
      expect(events).to.have.length(2);
      const written = JSON.stringify(events);
      for (const token of [good, bad]) {
        for (const segment of token.split('.')) expect(written).to.not.contain(segment);
      }
      expect(events[1]).to.include({ decision: 'reject', code: 'nameid_invalid', partner: 'microsoft.lync', audience: AUDIENCE });
      expect(events[1]?.reason).to.be.a('string').and.not.equal('');
    });

    it('turns an unexpected failure into an audited InvalidTokenError', async () => {
      const token = actor(lync);
      registry.close();
      const error = await rejects(token, 'verification_failed');
      expect(error).to.be.instanceOf(InvalidTokenError);
      expect(error.reason).to.contain('internal error');
    });

    it('keeps its decision when the audit sink throws', async () => {
      const loud = makeVerifier({
        audit: () => {
          throw new Error('disk full');
        },
      });
      await loud.verify(actor(lync));
      let caught: unknown;
      await loud.verify(actor(lync, { nameid: sharepoint.issuerId })).catch((error: unknown) => (caught = error));
      expect(caught).to.be.instanceOf(BearerError);
      loud.close();
    });

    it('ignores a context that is not an object, and context members that are not strings', async () => {
      await verifier.verify(actor(lync), null as never);
      await verifier.verify(actor(lync), { method: 5, path: '/x' } as never);
      expect(events[0]).to.not.have.property('method');
      expect(events[1]).to.include({ path: '/x' }).and.not.have.property('method');
    });

    it('verifies without auditing when audit is false', async () => {
      const quiet = makeVerifier({ audit: false });
      await quiet.verify(actor(lync));
      expect(events).to.have.length(0);
      quiet.close();
    });
  });

  describe('cache', () => {
    it('does not verify a reused token again until it changes or expires', async () => {
      const token = actor(lync);
      const first = await verifier.verify(token);
      const requests = lyncServer.requests;
      const second = await verifier.verify(token);
      expect(second).to.equal(first);
      expect(verifier.verifyCached(token, { method: 'GET', path: '/api' })).to.equal(first);
      expect(events.map((e) => e.cached)).to.deep.equal([false, true, true]);
      expect(events[1]).to.include({ decision: 'accept', partner: 'microsoft.lync', tokenId: first.tokenId });
      expect(events[2]).to.deep.equal({ ...events[1], method: 'GET', path: '/api' });
      expect(lyncServer.requests).to.equal(requests);
      expect(verifier.verifyCached(actor(lync)), 'a token never verified').to.equal(undefined);
      expect(verifier.verifyCached(42 as unknown as string), 'not a string').to.equal(undefined);
      expect(events, 'verifyCached audits only what it accepts').to.have.length(3);
    });

    it('takes a disable, an update and a removal into account on the next request', async () => {
      const token = actor(lync, { scp: 'contacts.read calendar.read' });
      await verifier.verify(token);
      await verifier.verify(token);
      await registry.update(lync.identity, { scopes: ['contacts.read'] });
      expect(verifier.verifyCached(token), 'after an update').to.equal(undefined);
      expect((await verifier.verify(token)).scopes).to.deep.equal(['contacts.read']);
      expect(events.at(-1)?.cached).to.equal(false);
      await registry.disable(lync.identity);
      expect(verifier.verifyCached(token), 'after a disable').to.equal(undefined);
      await rejects(token, 'partner_disabled');
      await registry.enable(lync.identity);
      await verifier.verify(token);
      await verifier.verify(token);
      expect(events.at(-1)?.cached).to.equal(true);
      registry.remove(lync.identity);
      expect(verifier.verifyCached(token), 'after a removal').to.equal(undefined);
      await rejects(token, 'issuer_unknown');
    });

    it('verifies again when the partner key set changes', async () => {
      const token = actor(lync);
      await verifier.verify(token);
      await verifier.verify(token);
      expect(events.at(-1)?.cached).to.equal(true);
      // The partner rolls its certificate and stops publishing the old one.
      const rolled = await createCertificateAt(['contoso.com']);
      lyncServer.respondWith(lync.metadataDocument({ certificates: [rolled] }));
      now += 31_000; // past the unknown-key cooldown
      const newToken = lync.mint(lync.actorClaims(AUDIENCE, seconds()), { x5t: rolled.x5t, kid: rolled.x5t }, rolled.privateKey);
      await verifier.verify(newToken);
      expect(verifier.verifyCached(token), 'after the key set changed').to.equal(undefined);
      await rejects(token, 'key_unknown');
    });

    it('does not serve a cached result after the token expired', async () => {
      const s = seconds();
      const token = actor(lync, { exp: s + 60 });
      await verifier.verify(token);
      await verifier.verify(token);
      expect(events.at(-1)?.cached).to.equal(true);
      now += 61_000; // past exp, within the skew: verified again, and still accepted
      expect(verifier.verifyCached(token), 'past exp').to.equal(undefined);
      await verifier.verify(token);
      expect(events.at(-1)?.cached).to.equal(false);
      now += 300_000;
      await rejects(token, 'token_expired');
    });

    it('asks the resolveUser hook again on a cached user context', async () => {
      let known = true;
      const hooked = makeVerifier({ resolveUser: () => known });
      const token = userToken(lync);
      await hooked.verify(token);
      await hooked.verify(token);
      expect(events.at(-1)).to.include({ cached: true, user: 'alice@contoso.com' });
      const audited = events.length;
      expect(hooked.verifyCached(token), 'the hook must be asked, by verify()').to.equal(undefined);
      expect(events).to.have.length(audited);
      known = false;
      await rejects(token, 'user_invalid', hooked);
      hooked.close();
    });

    it('answers a cached user context synchronously when no resolveUser hook is configured', async () => {
      const token = userToken(lync);
      const principal = await verifier.verify(token);
      expect(verifier.verifyCached(token)).to.equal(principal);
      expect(events.at(-1)).to.include({ decision: 'accept', cached: true, user: 'alice@contoso.com' });
    });

    it('does not cache rejections, and caches nothing when disabled', async () => {
      const bad = actor(lync, { nameid: sharepoint.issuerId });
      await rejects(bad, 'nameid_invalid');
      await rejects(bad, 'nameid_invalid');
      const uncached = makeVerifier({ cache: false });
      const token = actor(lync);
      await uncached.verify(token);
      await uncached.verify(token);
      expect(uncached.verifyCached(token)).to.equal(undefined);
      expect(events.slice(-2).map((e) => e.cached)).to.deep.equal([false, false]);
      uncached.close();
    });

    it('keeps verifying, without a cache, after close', async () => {
      const token = actor(lync);
      await verifier.verify(token);
      verifier.close();
      expect(verifier.verifyCached(token)).to.equal(undefined);
      await verifier.verify(token);
      await verifier.verify(token);
      expect(events.map((e) => e.cached)).to.deep.equal([false, false, false]);
    });
  });

  describe('challenge', () => {
    it('names the first realm, the own principal and the enabled partners of our realms', async () => {
      await registry.add({ identity: 'elsewhere', applicationId: WellKnownPrincipal.sts, realm: 'northwind.com', certificate: attacker.pem });
      expect(verifier.challenge()).to.deep.equal({
        realm: 'contoso.com',
        clientId: OWN,
        trustedIssuers: [lync.issuerId, sharepoint.issuerId],
      });
      await registry.disable(sharepoint.identity);
      expect(verifier.challenge().trustedIssuers).to.deep.equal([lync.issuerId]);
      expect(verifier.challenge()).to.equal(verifier.challenge());
    });

    it('names no trusted issuer when the registry cannot be read', () => {
      registry.close();
      expect(verifier.challenge()).to.deep.equal({ realm: 'contoso.com', clientId: OWN, trustedIssuers: [] });
    });
  });

  describe('options', () => {
    const base = (): VerifierOptions => ({ principal: OWN, realms: 'contoso.com', authorities: ['mail.contoso.com'], registry, audit: false });

    it('resolves defaults', () => {
      const v = createVerifier({ ...base(), authorities: ['MAIL.contoso.com'] });
      expect(v.options).to.include({ principal: OWN, clockSkewSeconds: 300, maxLifetimeSeconds: 3600, audit: false });
      expect(v.options.realms).to.deep.equal(['contoso.com']);
      expect(v.options.authorities).to.deep.equal(['mail.contoso.com']);
      expect(v.options.cache).to.deep.equal({ maxEntries: 10_000 });
      v.close();
      const withSink = createVerifier({ principal: OWN, realms: 'contoso.com', authorities: ['mail.contoso.com'], registry, cache: { maxEntries: 5 } });
      expect(withSink.options.audit).to.be.a('function');
      expect(withSink.options.cache).to.deep.equal({ maxEntries: 5 });
      withSink.close();
    });

    const bad: ReadonlyArray<[string, Record<string, unknown>]> = [
      ['principal', { principal: 'exchange' }],
      ['realms', { realms: [] }],
      ['realms', { realms: ['Contoso.com'] }],
      ['authorities', { authorities: [] }],
      ['authorities', { authorities: ['https://mail.contoso.com'] }],
      ['registry', { registry: {} }],
      ['clockSkewSeconds', { clockSkewSeconds: 301 }],
      ['clockSkewSeconds', { clockSkewSeconds: -1 }],
      ['maxLifetimeSeconds', { maxLifetimeSeconds: 0 }],
      ['maxLifetimeSeconds', { maxLifetimeSeconds: 86_401 }],
      ['clock', { clock: 5 }],
      ['cache', { cache: { maxEntries: 0 } }],
      ['cache', { cache: true }],
      ['audit', { audit: 'stdout' }],
      ['resolveUser', { resolveUser: true }],
    ];
    for (const [option, change] of bad) {
      it(`throws a TypeError naming options.${option} for ${JSON.stringify(change)}`, () => {
        expect(() => createVerifier({ ...base(), ...change } as unknown as VerifierOptions)).to.throw(TypeError, `options.${option}`);
      });
    }

    it('throws a TypeError naming an unknown option, so a misspelt safety option never keeps its default', () => {
      expect(() => createVerifier({ ...base(), clockSkew: 0 } as unknown as VerifierOptions)).to.throw(
        TypeError,
        'createVerifier: unknown option "clockSkew"; the options are principal, realms, authorities, registry, clockSkewSeconds',
      );
      expect(() => createVerifier({ ...base(), cahce: false, audti: false } as unknown as VerifierOptions)).to.throw(
        TypeError,
        'createVerifier: unknown options "cahce", "audti"',
      );
    });

    it('throws a TypeError for a closed registry', () => {
      registry.close();
      expect(() => createVerifier(base())).to.throw(TypeError, 'options.registry');
    });

    it('throws a TypeError for options that are not an object', () => {
      expect(() => createVerifier(null as unknown as VerifierOptions)).to.throw(TypeError, 'options must be an object');
    });
  });
});

/**
 * A certificate valid at START (from a day before) for `days` days: the tests run on a fixed
 * clock, so certificates must not depend on the real date.
 */
function createCertificateAt(realms: readonly string[], days = 365): Promise<OAuthCertificate> {
  return createCertificate(realms, { notBefore: new Date(START - 86_400_000), validityDays: days + 1 });
}
