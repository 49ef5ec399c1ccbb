import { expect } from 'chai';
import { expectRefusal, expectRejection } from '@s2sauth/test-support/rejections';
import { after, afterEach, before, beforeEach, describe, it } from 'mocha';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BearerError,
  buildMetadataDocument,
  KeysUnavailableError,
  stsIssuerId,
  WellKnownPrincipal,
  type FailureCode,
  type MetadataEndpoint,
} from '@s2sauth/protocol';
import { MemoryStore, SqliteStore, type PartnerStore } from '@s2sauth/store';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { createCertificate, createPartner, type MetadataServer, type TestPartner } from '@s2sauth/test-support/partners';
import {
  ANY_REALM,
  createVerifier,
  PartnerRegistry,
  PartnerRegistryError,
  type AuditEvent,
  type Verifier,
  type VerifierOptions,
} from '@s2sauth/middleware';
import { authorizationUriOf, checkStsMetadata, selectOAuthServer } from '../src/oauth-server.js';

const STS = WellKnownPrincipal.sts;
const OWN = WellKnownPrincipal.lync;
const EXCHANGE = WellKnownPrincipal.exchange;
const AUDIENCE = `${OWN}/lync.contoso.com@contoso.com`;
const STS_ISSUER = `${STS}@contoso.com`;
const TOKEN_ENDPOINT = 'https://sts.contoso.com/contoso.com/tokens/OAuth/2';
const START = Date.UTC(2030, 0, 15, 12, 0, 0);
const DAY = 86_400_000;

function certificateAt(realms: readonly string[] = ['contoso.com'], days = 365, from = START - DAY): Promise<OAuthCertificate> {
  return createCertificate(realms, { notBefore: new Date(from), validityDays: days + 1 });
}

/** The STS's Microsoft-shaped metadata document for `realm`, with the OAuth2 issuance endpoint. */
function stsDocument(certificate: OAuthCertificate, realm = 'contoso.com', endpoints?: readonly MetadataEndpoint[]): object {
  return buildMetadataDocument({
    principal: STS,
    realm,
    certificates: [certificate.certificate],
    endpoints: endpoints ?? [{ location: `https://sts.contoso.com/${realm}/tokens/OAuth/2`, protocol: 'OAuth2', usage: 'issuance' }],
  });
}

describe('OAuth servers', () => {
  let now = START;
  const clock = (): number => now;
  const seconds = (): number => Math.floor(now / 1000);

  let stsCertificate: OAuthCertificate;
  let sts: TestPartner; // the STS: signs actor tokens with its certificate
  let exchange: TestPartner; // the calling application: signs outer tokens with its own certificate
  let attacker: OAuthCertificate; // registered nowhere
  let stsServer: MetadataServer;

  let store: MemoryStore;
  let registry: PartnerRegistry;
  let events: AuditEvent[];
  let verifier: Verifier;

  before(async () => {
    const [a, b, c] = await Promise.all([certificateAt(), certificateAt(), certificateAt()]);
    stsCertificate = a;
    sts = await createPartner({ principal: STS, identity: 'microsoft.sts', certificate: a });
    exchange = await createPartner({ principal: EXCHANGE, identity: 'microsoft.exchange', certificate: b });
    attacker = c;
    stsServer = await sts.serveMetadata();
  });

  after(async () => {
    await stsServer.close();
  });

  beforeEach(async () => {
    now = START;
    stsServer.respondWith(stsDocument(stsCertificate));
    store = new MemoryStore({ clock });
    registry = new PartnerRegistry({ store, clock });
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
      authorities: ['lync.contoso.com'],
      registry,
      clock,
      audit: (event) => events.push(event),
      ...options,
    });
  }

  async function trustSts(realm?: string): Promise<void> {
    await registry.addOAuthServer({ identity: 'microsoft.sts', metadataUrl: stsServer.url, allowLoopback: true, ...(realm === undefined ? {} : { realm }) });
  }

  async function addExchange(trustLevel: 'full' | 'application' | 'user' = 'full', extra: Record<string, unknown> = {}): Promise<void> {
    await registry.add({
      identity: 'microsoft.exchange',
      applicationId: EXCHANGE,
      realm: 'contoso.com',
      useOAuthServer: true,
      trustLevel,
      scopes: ['contacts.read'],
      ...extra,
    });
  }

  /** An actor token the STS issued to Exchange for our audience; `overrides` replace (undefined removes). */
  function stsActor(overrides: Record<string, unknown> = {}, header?: Record<string, unknown>, key?: OAuthCertificate): string {
    const at = seconds();
    const claims: Record<string, unknown> = {
      aud: AUDIENCE,
      iss: STS_ISSUER,
      nameid: `${EXCHANGE}@contoso.com`,
      identityprovider: STS_ISSUER,
      nbf: at,
      exp: at + 3600,
      iat: at,
      jti: randomBytes(16).toString('base64url'),
    };
    for (const [name, value] of Object.entries(overrides)) {
      if (value === undefined) delete claims[name];
      else claims[name] = value;
    }
    return sts.mint(claims, header, key?.privateKey);
  }

  /** An actor token with delegation, confirming `confirmed`'s certificate (default Exchange's). */
  function delegatedActor(overrides: Record<string, unknown> = {}, confirmed: OAuthCertificate = exchange.certificate): string {
    return stsActor({ trustedfordelegation: 'true', cnf: { 'x5t#S256': confirmed.x5tS256 }, ...overrides });
  }

  /** An outer token over `actorToken`, carrying `certificate` in x5c and signed with `signer`'s key. */
  function signedOuter(
    actorToken: string,
    options: { certificate?: OAuthCertificate; signer?: OAuthCertificate; claims?: Record<string, unknown>; header?: Record<string, unknown> } = {},
  ): string {
    const certificate = options.certificate ?? exchange.certificate;
    const signer = options.signer ?? certificate;
    return exchange.mintUser(actorToken, options.claims ?? {}, {
      header: { x5t: certificate.x5t, kid: certificate.x5t, x5c: [certificate.der.toString('base64')], ...options.header },
      key: signer.privateKey,
    });
  }

  function rejects(token: string, code: FailureCode, on: Verifier = verifier): Promise<BearerError> {
    return expectRejection(on, events, token, code);
  }

  describe('registering (New-, Set-, Get-, Remove-CsOAuthServer)', () => {
    it('fetches the document first, stores its issuer, and takes the realm and token endpoint from it', async () => {
      const before = stsServer.requests;
      await trustSts();
      expect(stsServer.requests).to.equal(before + 1);
      const server = registry.getOAuthServer('microsoft.sts');
      expect(server).to.deep.include({
        identity: 'microsoft.sts',
        metadataUrl: stsServer.url,
        issuer: STS_ISSUER,
        realm: 'contoso.com',
        allowLoopback: true,
        enabled: true,
        authorizationUri: TOKEN_ENDPOINT,
      });
      expect(registry.listOAuthServers().map((s) => s.identity)).to.deep.equal(['microsoft.sts']);
      expect(registry.getOAuthServer('nobody')).to.equal(undefined);
    });

    it('trusts a server for every realm with realm *, keeping the issuer its document states', async () => {
      stsServer.respondWith(stsDocument(stsCertificate, 'b0e3d1a2-1111-4222-8333-444455556666'));
      await trustSts('*');
      expect(registry.getOAuthServer('microsoft.sts')).to.deep.include({ realm: '*', issuer: `${STS}@b0e3d1a2-1111-4222-8333-444455556666` });
    });

    it('refuses a document that cannot be fetched, is not valid, or does not state the STS issuer of the realm; nothing is stored', async () => {
      stsServer.respondWith('down', 500);
      await expectRefusal(trustSts(), 'metadata_unavailable', 'metadataUrl');
      stsServer.respondWith('{"keys": 5}');
      await expectRefusal(trustSts(), 'metadata_invalid', 'metadataUrl');
      stsServer.respondWith(stsDocument(stsCertificate, 'fabrikam.com'));
      await expectRefusal(trustSts('contoso.com'), 'metadata_contradicts', 'metadataUrl');
      stsServer.respondWith(exchange.metadataDocument());
      await expectRefusal(trustSts(), 'metadata_contradicts', 'metadataUrl');
      stsServer.respondWith({ ...stsDocument(stsCertificate), issuer: undefined });
      await expectRefusal(trustSts(), 'metadata_invalid', 'metadataUrl');
      stsServer.respondWith({ ...stsDocument(stsCertificate), issuer: 'not an issuer' });
      await expectRefusal(trustSts(), 'metadata_invalid', 'metadataUrl');
      stsServer.respondWith({ ...stsDocument(stsCertificate), realm: 'fabrikam.com' });
      await expectRefusal(trustSts(), 'metadata_contradicts', 'metadataUrl');
      stsServer.respondWith({ ...stsDocument(stsCertificate), serviceName: EXCHANGE });
      await expectRefusal(trustSts(), 'metadata_contradicts', 'metadataUrl');
      expect(registry.listOAuthServers()).to.deep.equal([]);
    });

    it('refuses input that is not a valid OAuth server registration', async () => {
      const valid = { identity: 'microsoft.sts', metadataUrl: stsServer.url, allowLoopback: true };
      const before = stsServer.requests;
      await expectRefusal(registry.addOAuthServer(null as never), 'invalid', 'input');
      await expectRefusal(registry.addOAuthServer({ ...valid, identity: 'Microsoft STS' }), 'invalid', 'identity');
      await expectRefusal(registry.addOAuthServer({ ...valid, allowLoopback: false }), 'invalid', 'metadataUrl');
      await expectRefusal(registry.addOAuthServer({ ...valid, realm: 'Contoso.COM' }), 'invalid', 'realm');
      await expectRefusal(registry.addOAuthServer({ ...valid, allowLoopback: 'yes' as never }), 'invalid', 'allowLoopback');
      await expectRefusal(registry.addOAuthServer({ ...valid, enabled: 1 as never }), 'invalid', 'enabled');
      await expectRefusal(registry.addOAuthServer({ ...valid, issuer: STS_ISSUER } as never), 'invalid', 'issuer');
      expect(stsServer.requests).to.equal(before);
      expect(registry.listOAuthServers()).to.deep.equal([]);
    });

    it('refuses a second server with the same identity or for the same realm', async () => {
      await trustSts();
      await expectRefusal(trustSts(), 'exists', 'identity');
      await expectRefusal(registry.addOAuthServer({ identity: 'other.sts', metadataUrl: stsServer.url, allowLoopback: true, realm: 'contoso.com' }), 'conflict', 'realm');
      await expectRefusal(registry.addOAuthServer({ identity: 'other.sts', metadataUrl: stsServer.url, allowLoopback: true }), 'conflict', 'realm');
      await registry.addOAuthServer({ identity: 'any.sts', metadataUrl: stsServer.url, allowLoopback: true, realm: '*' });
      await expectRefusal(registry.addOAuthServer({ identity: 'another.sts', metadataUrl: stsServer.url, allowLoopback: true, realm: '*' }), 'conflict', 'realm');
    });

    it('refuses an identity registered while the document was being fetched', async () => {
      const pending = trustSts();
      store.putOAuthServer({ identity: 'microsoft.sts', metadataUrl: 'https://sts.example/metadata/json/1', issuer: STS_ISSUER, realm: '*', enabled: true });
      await expectRefusal(pending, 'exists', 'identity');
    });

    it('changes, disables, enables and removes a server', async () => {
      await trustSts();
      const before = stsServer.requests;
      now += 1000;
      expect((await registry.disableOAuthServer('microsoft.sts')).enabled).to.equal(false);
      now += 1000;
      const enabled = await registry.enableOAuthServer('microsoft.sts');
      expect(enabled).to.deep.include({ enabled: true, authorizationUri: TOKEN_ENDPOINT });
      expect(stsServer.requests).to.equal(before);
      now += 1000;
      expect((await registry.updateOAuthServer('microsoft.sts', { realm: '*' })).realm).to.equal('*');
      expect(stsServer.requests).to.equal(before + 1);
      await expectRefusal(registry.updateOAuthServer('microsoft.sts', { identity: 'x' } as never), 'invalid', 'identity');
      await expectRefusal(registry.updateOAuthServer('microsoft.sts', null as never), 'invalid', 'changes');
      await expectRefusal(registry.updateOAuthServer('nobody', { enabled: true }), 'not_found', 'identity');
      expect(registry.removeOAuthServer('microsoft.sts')).to.equal(true);
      expect(registry.removeOAuthServer('microsoft.sts')).to.equal(false);
      expect(registry.getOAuthServer('microsoft.sts')).to.equal(undefined);
    });

    it('refuses a change to a realm another server holds, and a change made meanwhile', async () => {
      await trustSts();
      await registry.addOAuthServer({ identity: 'any.sts', metadataUrl: stsServer.url, allowLoopback: true, realm: '*' });
      await expectRefusal(registry.updateOAuthServer('microsoft.sts', { realm: '*' }), 'conflict', 'realm');
      const pending = registry.updateOAuthServer('microsoft.sts', { metadataUrl: `${stsServer.url}?v=2` });
      now += 1000;
      store.putOAuthServer({ ...(store.getOAuthServer('microsoft.sts') as NonNullable<ReturnType<MemoryStore['getOAuthServer']>>), metadataUrl: `${stsServer.url}?v=3` });
      await expectRefusal(pending, 'conflict');
      expect(store.getOAuthServer('microsoft.sts')?.metadataUrl).to.equal(`${stsServer.url}?v=3`);
    });

    it('applies a change on top of an enable or disable made while it was fetching: both take effect', async () => {
      await trustSts();
      const pending = registry.updateOAuthServer('microsoft.sts', { metadataUrl: `${stsServer.url}?v=2` });
      const disabled = registry.disableOAuthServer('microsoft.sts');
      await Promise.all([pending, disabled]);
      expect(store.getOAuthServer('microsoft.sts')).to.include({ metadataUrl: `${stsServer.url}?v=2`, enabled: false });
    });

    it('refuses the second of two concurrent adds for one realm', async () => {
      const first = registry.addOAuthServer({ identity: 'one.sts', metadataUrl: stsServer.url, allowLoopback: true, realm: 'contoso.com' });
      const second = registry.addOAuthServer({ identity: 'two.sts', metadataUrl: stsServer.url, allowLoopback: true, realm: 'contoso.com' });
      const results = await Promise.allSettled([first, second]);
      expect(results.map((result) => result.status)).to.deep.equal(['fulfilled', 'rejected']);
      expect(store.listOAuthServers().map((server) => server.identity)).to.deep.equal(['one.sts']);
    });

    it('keeps one key set per server while its key source stays (disabling included), and selects the realm\'s server before *', async () => {
      await trustSts();
      stsServer.respondWith(stsDocument(stsCertificate, 'fabrikam.com'));
      await registry.addOAuthServer({ identity: 'any.sts', metadataUrl: stsServer.url, allowLoopback: true, realm: '*' });
      const exact = registry.resolveOAuthServer(STS, 'contoso.com');
      expect(exact?.server.identity).to.equal('microsoft.sts');
      expect(registry.resolveOAuthServer(STS, 'contoso.com')?.keys).to.equal(exact?.keys);
      expect(registry.resolveOAuthServer(STS, 'fabrikam.com')?.server.identity).to.equal('any.sts');
      expect(registry.resolveOAuthServer(EXCHANGE, 'contoso.com')).to.equal(undefined);
      const revision = registry.revision;
      now += 1000;
      await registry.disableOAuthServer('microsoft.sts');
      expect(registry.revision).to.not.equal(revision);
      const disabled = registry.resolveOAuthServer(STS, 'contoso.com');
      expect(disabled?.server.enabled).to.equal(false);
      expect(disabled?.keys).to.equal(exact?.keys);
      registry.removeOAuthServer('any.sts');
      expect(registry.resolveOAuthServer(STS, 'fabrikam.com')).to.equal(undefined);
    });

    it('refuses to choose between two servers another writer registered for one realm', () => {
      for (const identity of ['one.sts', 'two.sts']) {
        store.putOAuthServer({ identity, metadataUrl: 'https://sts.example/metadata/json/1', issuer: STS_ISSUER, realm: 'contoso.com', enabled: true });
      }
      expect(() => registry.resolveOAuthServer(STS, 'contoso.com')).to.throw(PartnerRegistryError, 'several OAuth servers');
    });

    it('keeps no OAuth server with a store that cannot hold them', async () => {
      const partnersOnly: PartnerStore = {
        get: (identity) => store.get(identity),
        findByApplication: (applicationId, realm) => store.findByApplication(applicationId, realm),
        list: () => store.list(),
        put: (app) => store.put(app),
        modify: (identity, change) => store.modify(identity, change),
        remove: (identity) => store.remove(identity),
        onChange: (listener) => store.onChange(listener),
        close: () => undefined,
      };
      const plain = new PartnerRegistry({ store: partnersOnly, clock });
      try {
        await expectRefusal(plain.addOAuthServer({ identity: 'microsoft.sts', metadataUrl: stsServer.url, allowLoopback: true }), 'unsupported');
        expect(plain.listOAuthServers()).to.deep.equal([]);
        expect(plain.getOAuthServer('microsoft.sts')).to.equal(undefined);
        expect(plain.removeOAuthServer('microsoft.sts')).to.equal(false);
        expect(plain.resolveOAuthServer(STS, 'contoso.com')).to.equal(undefined);
      } finally {
        plain.close();
      }
    });

    it('keeps a server\'s key set when another process disables it, and drops it when that process changes its URL', async () => {
      const folder = mkdtempSync(join(tmpdir(), 's2sauth-oauth-server-'));
      const file = join(folder, 'registry.sqlite');
      const mine = SqliteStore.open(file, { clock, pollIntervalMs: 10 });
      const theirs = SqliteStore.open(file, { clock, pollIntervalMs: 10 });
      const local = new PartnerRegistry({ store: mine, clock });
      const remote = new PartnerRegistry({ store: theirs, clock });
      try {
        await local.addOAuthServer({ identity: 'microsoft.sts', metadataUrl: stsServer.url, allowLoopback: true });
        const keys = local.resolveOAuthServer(STS, 'contoso.com')?.keys;
        const seen: Array<string | undefined> = [];
        local.onChange((identity) => seen.push(identity));
        const revision = local.revision;
        now += 1000;
        await remote.disableOAuthServer('microsoft.sts');
        for (let i = 0; i < 500 && local.revision === revision; i++) await new Promise((resolve) => setTimeout(resolve, 10));
        expect(seen).to.deep.equal([undefined]);
        const resolved = local.resolveOAuthServer(STS, 'contoso.com');
        expect(resolved?.server.enabled).to.equal(false);
        expect(resolved?.keys).to.equal(keys);
        // A registration the other process changed is noticed on resolve too, before the store says so.
        const before = local.revision;
        now += 1000;
        await remote.enableOAuthServer('microsoft.sts');
        expect(local.resolveOAuthServer(STS, 'contoso.com')?.server.enabled).to.equal(true);
        expect(local.revision).to.not.equal(before);
        // Another key source (the same server under another URL) is a new key set.
        await remote.updateOAuthServer('microsoft.sts', { metadataUrl: `${stsServer.url}?moved` });
        expect(local.resolveOAuthServer(STS, 'contoso.com')?.keys).to.not.equal(keys);
      } finally {
        local.close();
        remote.close();
        mine.close();
        theirs.close();
        rmSync(folder, { recursive: true, force: true });
      }
    });

    it('refuses OAuth server operations once closed', async () => {
      registry.close();
      await expectRefusal(trustSts(), 'closed');
      await expectRefusal(registry.updateOAuthServer('microsoft.sts', {}), 'closed');
      await expectRefusal(() => registry.getOAuthServer('microsoft.sts'), 'closed');
      await expectRefusal(() => registry.listOAuthServers(), 'closed');
      await expectRefusal(() => registry.removeOAuthServer('microsoft.sts'), 'closed');
      await expectRefusal(() => registry.resolveOAuthServer(STS, 'contoso.com'), 'closed');
    });
  });

  describe('the rules of oauth-server.ts', () => {
    it('names the STS issuer of a realm or of every realm', () => {
      expect(stsIssuerId('contoso.com')).to.equal(STS_ISSUER);
      expect(stsIssuerId(ANY_REALM)).to.equal(`${STS}@*`);
    });

    it('takes the token endpoint only from an OAuth2 issuance endpoint with a plain https (or permitted loopback http) URL', () => {
      const metadata = (endpoints: MetadataEndpoint[]) => ({ keys: [], endpoints });
      const issuance = (location: string, protocol = 'OAuth2', usage = 'issuance'): MetadataEndpoint => ({ location, protocol, usage });
      expect(authorizationUriOf(metadata([issuance(TOKEN_ENDPOINT, 'oauth2', 'Issuance')]), false)).to.equal(TOKEN_ENDPOINT);
      expect(authorizationUriOf(metadata([issuance('https://a.example/x', 'WS-Federation'), issuance(TOKEN_ENDPOINT)]), false)).to.equal(TOKEN_ENDPOINT);
      expect(authorizationUriOf(metadata([issuance('not a url')]), false)).to.equal(undefined);
      expect(authorizationUriOf(metadata([issuance('https://user:pw@sts.example/t')]), false)).to.equal(undefined);
      expect(authorizationUriOf(metadata([issuance('https://sts.example/t#x')]), false)).to.equal(undefined);
      expect(authorizationUriOf(metadata([issuance('http://sts.example/t')]), true)).to.equal(undefined);
      expect(authorizationUriOf(metadata([issuance('http://127.0.0.1:9/t')]), false)).to.equal(undefined);
      expect(authorizationUriOf(metadata([issuance('http://127.0.0.1:9/t')]), true)).to.equal('http://127.0.0.1:9/t');
      expect(authorizationUriOf(metadata([issuance('javascript:alert(1)')]), true)).to.equal(undefined);
    });

    it('checks what an STS document states against the registration', () => {
      const document = (members: Record<string, string>) => ({ keys: [], endpoints: [], ...members });
      expect(checkStsMetadata(document({ issuer: STS_ISSUER }), undefined)).to.deep.equal({ issuer: STS_ISSUER, realm: 'contoso.com' });
      expect(checkStsMetadata(document({ issuer: STS_ISSUER, realm: 'contoso.com', serviceName: STS }), '*')).to.deep.include({ realm: 'contoso.com' });
      expect(checkStsMetadata(document({ issuer: STS_ISSUER }), 'fabrikam.com')).to.deep.include({ invalid: false });
      expect(checkStsMetadata(document({}), undefined)).to.deep.include({ invalid: true });
    });

    it('selects the realm\'s server, else the * server, never one of two', () => {
      const server = (identity: string, realm: string) => ({ identity, realm, metadataUrl: 'https://x', issuer: STS_ISSUER, enabled: true, createdAt: 0, updatedAt: 0 });
      expect(selectOAuthServer([server('a', '*'), server('b', 'contoso.com')], 'contoso.com')).to.deep.include({ identity: 'b' });
      expect(selectOAuthServer([server('a', '*'), server('b', 'contoso.com')], 'fabrikam.com')).to.deep.include({ identity: 'a' });
      expect(selectOAuthServer([server('b', 'contoso.com')], 'fabrikam.com')).to.equal(undefined);
      expect(selectOAuthServer([server('a', '*'), server('b', '*')], 'fabrikam.com')).to.equal('ambiguous');
    });
  });

  describe('verifying STS-issued actor tokens', () => {
    beforeEach(async () => {
      await trustSts();
    });

    it('accepts an app-only token from an application partner, trusted through the OAuth server', async () => {
      await addExchange('application');
      const principal = await verifier.verify(stsActor({ scp: 'contacts.read calendar.read' }));
      expect(principal).to.deep.include({
        partner: 'microsoft.exchange',
        applicationId: EXCHANGE,
        realm: 'contoso.com',
        issuer: STS_ISSUER,
        audience: AUDIENCE,
        trust: 'oauthServer',
      });
      expect(principal.scopes).to.deep.equal(['contacts.read']);
      expect(principal.user).to.equal(undefined);
      expect(events.at(-1)).to.include({ decision: 'accept', partner: 'microsoft.exchange', applicationId: EXCHANGE });
    });

    it('accepts an app-only token from a full partner', async () => {
      await addExchange('full');
      expect((await verifier.verify(stsActor())).trust).to.equal('oauthServer');
    });

    it('rejects an app-only token from a user partner (it cannot represent itself)', async () => {
      await addExchange('user');
      await rejects(stsActor(), 'trust_level');
    });

    for (const level of ['full', 'application', 'user'] as const) {
      it(`accepts a user context from a ${level} partner: an outer token signed with the certificate the actor's cnf names, carried in x5c`, async () => {
        await addExchange(level);
        const principal = await verifier.verify(signedOuter(delegatedActor()));
        expect(principal.user).to.deep.equal({ nameid: 'alice@contoso.com', nii: 'urn:office:idp:activedirectory' });
        expect(principal).to.deep.include({ partner: 'microsoft.exchange', trust: 'oauthServer' });
        expect(events.at(-1)).to.include({ decision: 'accept', user: 'alice@contoso.com' });
      });
    }

    it('rejects a user context whose STS actor is not trusted for delegation', async () => {
      await addExchange('application');
      await rejects(signedOuter(stsActor({ cnf: { 'x5t#S256': exchange.certificate.x5tS256 } })), 'delegation_not_allowed');
      await rejects(signedOuter(delegatedActor({ trustedfordelegation: 'True' })), 'delegation_not_allowed');
    });

    it('rejects an STS actor trusted for delegation without cnf, with or without a user context', async () => {
      await addExchange('full');
      const actor = stsActor({ trustedfordelegation: 'true' });
      await rejects(actor, 'claim_missing');
      await rejects(signedOuter(actor), 'claim_missing');
    });

    it('rejects an unsigned outer token over an STS actor, even from a partner that accepts unsigned user context', async () => {
      await addExchange('full', { acceptUnsignedUserContext: true });
      await rejects(exchange.mintUser(delegatedActor(), {}, { sign: 'none' }), 'outer_unsigned');
      const x5c = [exchange.certificate.der.toString('base64')];
      await rejects(exchange.mintUser(delegatedActor(), {}, { sign: 'none', header: { x5c } }), 'outer_unsigned');
    });

    it('rejects an outer token without x5c over an STS actor', async () => {
      await addExchange('full');
      await rejects(exchange.mintUser(delegatedActor()), 'cnf_mismatch');
    });

    it('rejects an outer token signed with a certificate that is not the one cnf names', async () => {
      await addExchange('full');
      await rejects(signedOuter(delegatedActor(), { certificate: attacker }), 'cnf_mismatch');
    });

    it('rejects an outer token that carries the cnf certificate but is signed by another key', async () => {
      await addExchange('full');
      await rejects(signedOuter(delegatedActor(), { signer: attacker }), 'outer_signature_invalid');
    });

    it('rejects an outer token whose x5c holds the cnf certificate but whose x5t names another', async () => {
      await addExchange('full');
      // An x5c that does not agree with the header is never an acceptable one: the strict parse's refusal stands.
      await rejects(signedOuter(delegatedActor(), { header: { x5t: attacker.x5t, kid: attacker.x5t } }), 'token_x5c_not_allowed');
    });

    it('rejects an outer token whose cnf certificate has expired', async () => {
      await addExchange('full');
      const expired = await certificateAt(['contoso.com'], 2, START - 10 * DAY);
      await rejects(signedOuter(delegatedActor({}, expired), { certificate: expired }), 'key_unknown');
    });

    it('binds the outer token to its STS actor: aud, iss = nameid, window, user', async () => {
      await addExchange('full');
      await rejects(signedOuter(delegatedActor(), { claims: { iss: STS_ISSUER } }), 'outer_binding');
      await rejects(signedOuter(delegatedActor(), { claims: { aud: `${OWN}/other.contoso.com@contoso.com` } }), 'outer_binding');
      await rejects(signedOuter(delegatedActor(), { claims: { exp: seconds() + 7200 } }), 'outer_window');
      await rejects(signedOuter(delegatedActor(), { claims: { nameid: undefined } }), 'user_invalid');
    });

    it('rejects a token the STS issued for another audience', async () => {
      await addExchange('full');
      await rejects(stsActor({ aud: `${EXCHANGE}/mail.contoso.com@contoso.com` }), 'audience_invalid');
      await rejects(stsActor({ aud: `${OWN}/lync.contoso.com@fabrikam.com` }), 'realm_invalid');
    });

    it('rejects a token whose nameid names a partner not registered to trust through an OAuth server', async () => {
      await registry.add({ identity: 'microsoft.exchange', applicationId: EXCHANGE, realm: 'contoso.com', certificate: exchange.certificate.pem });
      const error = await rejects(stsActor(), 'issuer_unknown');
      expect(error.reason).to.contain('keys of its own');
    });

    it('rejects a token whose nameid names no registered partner', async () => {
      await rejects(stsActor(), 'issuer_unknown');
    });

    it('rejects a nameid in another realm than iss, a malformed nameid, and the STS as nameid', async () => {
      await addExchange('full');
      await registry.add({ identity: 'exchange.fabrikam', applicationId: EXCHANGE, realm: 'fabrikam.com', useOAuthServer: true });
      await rejects(stsActor({ nameid: `${EXCHANGE}@fabrikam.com` }), 'nameid_invalid');
      await rejects(stsActor({ nameid: EXCHANGE }), 'nameid_invalid');
      await rejects(stsActor({ nameid: STS_ISSUER }), 'nameid_invalid');
    });

    it('rejects a token whose identityprovider is not its issuer', async () => {
      await addExchange('full');
      await rejects(stsActor({ identityprovider: `${STS}@fabrikam.com` }), 'issuer_invalid');
    });

    it('rejects a token without identityprovider, which every STS-issued actor carries', async () => {
      await addExchange('full');
      expect((await verifier.verify(stsActor())).trust).to.equal('oauthServer');
      const error = await rejects(stsActor({ identityprovider: undefined }), 'claim_missing');
      expect(error.reason).to.contain('identityprovider');
    });

    it('rejects a token for a disabled partner', async () => {
      await addExchange('full', { enabled: false });
      await rejects(stsActor(), 'partner_disabled');
    });

    it('rejects a self-issued token that claims the STS as issuer: the partner\'s key is not in the STS key set', async () => {
      await addExchange('full');
      // Signed by Exchange, naming its own certificate: unknown to the STS's key set.
      await rejects(exchange.mint({ ...exchange.actorClaims(AUDIENCE, seconds()), iss: STS_ISSUER }), 'key_unknown');
      // Signed by Exchange, naming the STS's certificate: the signature does not verify.
      await rejects(stsActor({}, undefined, exchange.certificate), 'signature_invalid');
    });

    it('rejects an x5c in an STS actor token', async () => {
      await addExchange('full');
      const x5c = [stsCertificate.der.toString('base64')];
      await rejects(stsActor({}, { x5c }), 'token_x5c_not_allowed');
      await rejects(signedOuter(stsActor({ trustedfordelegation: 'true', cnf: { 'x5t#S256': stsCertificate.x5tS256 } }, { x5c })), 'token_x5c_not_allowed');
    });

    it('accepts an STS actor written as raw JSON text with decimal-string dates, and rejects duplicate members', async () => {
      await addExchange('full');
      const at = seconds();
      const header = `{"typ":"JWT","alg":"RS256","x5t":"${stsCertificate.x5t}","kid":"${stsCertificate.x5t}"}`;
      const body = (extra: string, exp = `"${at + 600}"`) =>
        `{"aud":"${AUDIENCE}","iss":"${STS_ISSUER}","nameid":"${EXCHANGE}@contoso.com","identityprovider":"${STS_ISSUER}","nbf":"${at}","exp":${exp}${extra}}`;
      expect((await verifier.verify(sts.mintRaw(header, body('')))).trust).to.equal('oauthServer');
      await rejects(sts.mintRaw(header, body(`,"nameid":"${EXCHANGE}@contoso.com"`)), 'token_duplicate_member');
      await rejects(sts.mintRaw(header, body(`,"trustedfordelegation":"true","cnf":{"x5t#S256":"${exchange.certificate.x5tS256}","x5t#S256":"x"}`)), 'token_duplicate_member');
      await rejects(sts.mintRaw(header, body(`,"trustedfordelegation":"true","cnf":{"x5t#S256":"${exchange.certificate.x5tS256}","jwk":{}}`)), 'claim_type');
      await rejects(sts.mintRaw(header, body('', '1e400')), 'token_json');
    });

    it('rejects a raw outer token whose x5c is not one canonical certificate', async () => {
      await addExchange('full');
      const actor = delegatedActor();
      const at = seconds();
      const payload = `{"aud":"${AUDIENCE}","iss":"${EXCHANGE}@contoso.com","nbf":${at},"exp":${at + 600},"nameid":"alice@contoso.com","actortoken":"${actor}"}`;
      const der = exchange.certificate.der.toString('base64');
      const header = (x5c: string) => `{"typ":"JWT","alg":"RS256","x5t":"${exchange.certificate.x5t}","x5c":${x5c}}`;
      expect((await verifier.verify(exchange.mintRaw(header(`["${der}"]`), payload))).user?.nameid).to.equal('alice@contoso.com');
      await rejects(exchange.mintRaw(header(`["${der}","${der}"]`), payload), 'token_x5c_not_allowed');
      await rejects(exchange.mintRaw(header(`"${der}"`), payload), 'token_x5c_not_allowed');
    });

    it('serves from the last good keys while the STS metadata is down, and fails closed past the staleness bound', async () => {
      await addExchange('full');
      await verifier.verify(stsActor());
      stsServer.respondWith('down', 503);
      now += 2 * 60 * 60 * 1000;
      expect((await verifier.verify(stsActor())).trust).to.equal('oauthServer');
      now += DAY;
      const error = await rejects(stsActor(), 'keys_unavailable');
      expect(error).to.be.instanceOf(KeysUnavailableError);
      expect(error.status).to.equal(503);
    });

    it('keeps the last good keys when the STS document starts stating another issuer', async () => {
      await addExchange('full');
      await verifier.verify(stsActor());
      stsServer.respondWith(stsDocument(stsCertificate, 'fabrikam.com'));
      now += 2 * 60 * 60 * 1000;
      await verifier.verify(stsActor());
      expect((await verifier.verify(stsActor())).trust).to.equal('oauthServer');
    });

    it('rejects tokens of a disabled OAuth server without fetching its metadata', async () => {
      await addExchange('full');
      now += 1000;
      await registry.disableOAuthServer('microsoft.sts');
      const before = stsServer.requests;
      const error = await rejects(stsActor(), 'issuer_unknown');
      expect(error.reason).to.contain('disabled');
      expect(stsServer.requests).to.equal(before);
    });

    it('rejects a token of an unregistered STS as issuer_unknown without any fetch', async () => {
      await addExchange('full');
      registry.removeOAuthServer('microsoft.sts');
      const before = stsServer.requests;
      await rejects(stsActor(), 'issuer_unknown');
      await rejects(stsActor({ iss: `${STS}@fabrikam.com`, aud: `${OWN}/lync.contoso.com@fabrikam.com` }), 'issuer_unknown');
      expect(stsServer.requests).to.equal(before);
    });

    it('refuses to choose between two OAuth servers registered for the token\'s realm', async () => {
      await addExchange('full');
      store.putOAuthServer({ identity: 'zz.sts', metadataUrl: stsServer.url, issuer: STS_ISSUER, realm: 'contoso.com', allowLoopback: true, enabled: true });
      const error = await rejects(stsActor(), 'issuer_unknown');
      expect(error.reason).to.contain('several');
    });

    it('accepts, through a * server, tokens for each of our realms only', async () => {
      registry.removeOAuthServer('microsoft.sts');
      await trustSts('*');
      await registry.add({ identity: 'exchange.fabrikam', applicationId: EXCHANGE, realm: 'fabrikam.com', useOAuthServer: true });
      const fabrikam = await verifier.verify(
        stsActor({ iss: `${STS}@fabrikam.com`, identityprovider: `${STS}@fabrikam.com`, nameid: `${EXCHANGE}@fabrikam.com`, aud: `${OWN}/lync.contoso.com@fabrikam.com` }),
      );
      expect(fabrikam).to.deep.include({ partner: 'exchange.fabrikam', realm: 'fabrikam.com', issuer: `${STS}@fabrikam.com` });
      await registry.add({ identity: 'exchange.northwind', applicationId: EXCHANGE, realm: 'northwind.com', useOAuthServer: true });
      await rejects(
        stsActor({ iss: `${STS}@northwind.com`, identityprovider: undefined, nameid: `${EXCHANGE}@northwind.com`, aud: `${OWN}/lync.contoso.com@northwind.com` }),
        'realm_invalid',
      );
    });

    it('lists enabled OAuth servers as trusted issuers and names the token endpoint of the challenge realm\'s server', async () => {
      await registry.add({ identity: 'microsoft.exchange', applicationId: EXCHANGE, realm: 'contoso.com', certificate: exchange.certificate.pem });
      expect(verifier.challenge()).to.deep.equal({
        realm: 'contoso.com',
        clientId: OWN,
        trustedIssuers: [exchange.issuerId, STS_ISSUER],
        authorizationUri: TOKEN_ENDPOINT,
      });
      stsServer.respondWith(stsDocument(stsCertificate, 'fabrikam.com', []));
      await registry.addOAuthServer({ identity: 'any.sts', metadataUrl: stsServer.url, allowLoopback: true, realm: '*' });
      expect(verifier.challenge().trustedIssuers).to.deep.equal([exchange.issuerId, `${STS}@*`, STS_ISSUER]);
      expect(verifier.challenge().authorizationUri).to.equal(TOKEN_ENDPOINT);
      now += 1000;
      await registry.disableOAuthServer('microsoft.sts');
      expect(verifier.challenge()).to.deep.equal({ realm: 'contoso.com', clientId: OWN, trustedIssuers: [exchange.issuerId, `${STS}@*`] });
    });

    it('takes the challenge\'s token endpoint from the OAuth server of the challenge\'s realm or *, never from another realm\'s', async () => {
      registry.removeOAuthServer('microsoft.sts');
      // Only a server for fabrikam.com (one of our realms, not the first): the challenge names contoso.com.
      stsServer.respondWith(stsDocument(stsCertificate, 'fabrikam.com'));
      await registry.addOAuthServer({ identity: 'fabrikam.sts', metadataUrl: stsServer.url, allowLoopback: true, realm: 'fabrikam.com' });
      expect(registry.getOAuthServer('fabrikam.sts')?.authorizationUri).to.equal('https://sts.contoso.com/fabrikam.com/tokens/OAuth/2');
      expect(verifier.challenge()).to.deep.equal({ realm: 'contoso.com', clientId: OWN, trustedIssuers: [`${STS}@fabrikam.com`] });
      // A * server answers for contoso.com.
      stsServer.respondWith(stsDocument(stsCertificate, 'northwind.com', [{ location: 'https://any.sts.example/t', protocol: 'OAuth2', usage: 'issuance' }]));
      await registry.addOAuthServer({ identity: 'any.sts', metadataUrl: stsServer.url, allowLoopback: true, realm: '*' });
      expect(verifier.challenge().authorizationUri).to.equal('https://any.sts.example/t');
      // The contoso.com server, once registered, answers before the * one.
      stsServer.respondWith(stsDocument(stsCertificate));
      await trustSts();
      expect(verifier.challenge().authorizationUri).to.equal(TOKEN_ENDPOINT);
      // Disabled, it hands the realm to no other server.
      now += 1000;
      await registry.disableOAuthServer('microsoft.sts');
      expect(verifier.challenge()).to.not.have.property('authorizationUri');
    });

    it('learns a server\'s token endpoint in another process when its keys load, and says so in the challenge', async () => {
      await addExchange('full');
      // A registry that did not register the server itself has not read its document yet.
      const fresh = new PartnerRegistry({ store, clock });
      const freshVerifier = createVerifier({ principal: OWN, realms: 'contoso.com', authorities: ['lync.contoso.com'], registry: fresh, clock, audit: false });
      try {
        expect(freshVerifier.challenge()).to.deep.equal({ realm: 'contoso.com', clientId: OWN, trustedIssuers: [STS_ISSUER] });
        await freshVerifier.verify(stsActor());
        expect(freshVerifier.challenge().authorizationUri).to.equal(TOKEN_ENDPOINT);
        expect(fresh.getOAuthServer('microsoft.sts')?.authorizationUri).to.equal(TOKEN_ENDPOINT);
      } finally {
        freshVerifier.close();
        fresh.close();
      }
    });

    describe('the verification cache', () => {
      it('serves an STS-verified token from the cache until the OAuth server is disabled', async () => {
        await addExchange('full');
        const token = signedOuter(delegatedActor());
        await verifier.verify(token);
        await verifier.verify(token);
        expect(events.map((e) => e.cached)).to.deep.equal([false, true]);
        now += 1000;
        await registry.disableOAuthServer('microsoft.sts');
        await rejects(token, 'issuer_unknown');
      });

      it('does not serve a cached result once the partner is disabled or the server changed in the store behind the registry\'s back', async () => {
        await addExchange('full');
        const token = stsActor();
        await verifier.verify(token);
        now += 1000;
        await registry.disable('microsoft.exchange');
        await rejects(token, 'partner_disabled');
        await registry.enable('microsoft.exchange');
        await verifier.verify(token);
        expect(events.at(-1)).to.include({ cached: false });
        await verifier.verify(token);
        expect(events.at(-1)).to.include({ cached: true });
      });

      it('does not serve a cached user context after the outer token\'s certificate expired', async () => {
        await addExchange('full');
        // Valid until half an hour after START, within the tokens' hour.
        const shortLived = await certificateAt(['contoso.com'], 0, START + 30 * 60_000 - DAY);
        const token = signedOuter(delegatedActor({}, shortLived), { certificate: shortLived });
        await verifier.verify(token);
        await verifier.verify(token);
        expect(events.at(-1)).to.include({ cached: true });
        now = shortLived.notAfter + 1000;
        await rejects(token, 'key_unknown');
      });

      it('does not serve a cached result when two servers come to claim the realm', async () => {
        await addExchange('full');
        const token = stsActor();
        await verifier.verify(token);
        store.putOAuthServer({ identity: 'zz.sts', metadataUrl: stsServer.url, issuer: STS_ISSUER, realm: 'contoso.com', allowLoopback: true, enabled: true });
        await rejects(token, 'issuer_unknown');
      });
    });
  });
});
