// The behaviour every store shares, written once and run against each implementation
// (memory-store.test.ts, sqlite-store.test.ts) so that they cannot drift apart.
import { expect } from 'chai';
import { WellKnownPrincipal, type Clock } from '@s2sauth/protocol';
import {
  StoreError,
  type ClientInput,
  type ClientStore,
  type OAuthServerInput,
  type OAuthServerStore,
  type PartnerApplicationInput,
  type PartnerStore,
  type RegistryEntryKind,
  type ReplayStore,
} from '@s2sauth/store';

/** Everything a store implements. */
export type Store = PartnerStore & OAuthServerStore & ClientStore & ReplayStore;

/** Opens an empty store reading time from `clock`. */
export type OpenStore = (clock: Clock) => Store;

export const START = Date.UTC(2025, 0, 15, 9, 0, 0);

export const exchange: PartnerApplicationInput = {
  identity: 'microsoft.exchange',
  applicationId: WellKnownPrincipal.exchange,
  realm: 'contoso.com',
  keySource: { kind: 'metadata', metadataUrl: 'https://mail.contoso.com/metadata/json/1' },
  trustLevel: 'full',
  scopes: ['contacts.read', 'archive.write'],
  enabled: true,
};

export const sharepoint: PartnerApplicationInput = {
  identity: 'microsoft.sharepoint',
  applicationId: WellKnownPrincipal.sharepoint,
  realm: 'contoso.com',
  keySource: { kind: 'oauthServer' },
  trustLevel: 'user',
  scopes: [],
  enabled: false,
  acceptUnsignedUserContext: true,
};

export const sts: OAuthServerInput = {
  identity: 'microsoft.sts',
  metadataUrl: 'https://accounts.accesscontrol.windows.net/metadata/json/1',
  issuer: `${WellKnownPrincipal.sts}@*`,
  realm: '*',
  enabled: true,
};

export const TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';

export const exchangeClient: ClientInput = {
  principal: WellKnownPrincipal.exchange,
  realm: TENANT,
  displayName: 'Exchange on premises',
  certificates: ['MIIBszCCAVmgAwIBAgIU'],
  hostNames: ['mail.contoso.com', '*.contoso.com'],
  grants: [{ resource: WellKnownPrincipal.lync, scopes: ['meetings.write'], delegation: true }],
};

const CERTIFICATE = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUSECRET\n-----END CERTIFICATE-----\n';

type Change = readonly [string | undefined, RegistryEntryKind | undefined];

/** Runs the shared behaviour suite against the store that `open` creates. */
export function storeBehaviour(open: OpenStore): void {
  describe('behaviour shared by every store', () => sharedBehaviour(open));
}

function sharedBehaviour(open: OpenStore): void {
  let now: number;
  let store: Store;
  let changes: Change[];

  beforeEach(() => {
    now = START;
    store = open(() => now);
    changes = [];
    store.onChange((identity, kind) => changes.push([identity, kind]));
  });

  afterEach(() => {
    store.close();
  });

  describe('partner applications', () => {
    it('stores a partner application and returns it by identity, stamped with the time', () => {
      const stored = store.put(exchange);
      const expected = { ...exchange, acceptUnsignedUserContext: false, createdAt: START, updatedAt: START };
      expect(stored).to.deep.equal(expected);
      expect(store.get('microsoft.exchange')).to.deep.equal(expected);
    });

    it('returns undefined for an identity nobody registered', () => {
      store.put(exchange);
      expect(store.get('microsoft.lync')).to.equal(undefined);
      expect(store.get('Microsoft.Exchange')).to.equal(undefined);
    });

    it('finds a partner by application id and realm, and only in that realm', () => {
      store.put(exchange);
      expect(store.findByApplication(WellKnownPrincipal.exchange, 'contoso.com')?.identity).to.equal(
        'microsoft.exchange',
      );
      expect(store.findByApplication(WellKnownPrincipal.exchange, 'fabrikam.com')).to.equal(undefined);
      expect(store.findByApplication(WellKnownPrincipal.lync, 'contoso.com')).to.equal(undefined);
    });

    it('lists partners ordered by identity', () => {
      store.put(sharepoint);
      store.put({ ...exchange, identity: 'b.exchange', realm: 'b.com' });
      store.put(exchange);
      expect(store.list().map((app) => app.identity)).to.deep.equal([
        'b.exchange',
        'microsoft.exchange',
        'microsoft.sharepoint',
      ]);
    });

    it('lists nothing for an empty registry', () => {
      expect(store.list()).to.deep.equal([]);
    });

    it('replaces a partner with the same identity, keeping createdAt and moving updatedAt', () => {
      store.put(exchange);
      now += 60_000;
      const stored = store.put({ ...exchange, trustLevel: 'application', enabled: false });
      expect(stored).to.include({ trustLevel: 'application', enabled: false, createdAt: START, updatedAt: START + 60_000 });
      expect(store.get('microsoft.exchange')).to.deep.equal(stored);
      expect(store.list()).to.have.length(1);
    });

    it('ignores timestamps given by the caller', () => {
      const stored = store.put({ ...exchange, createdAt: 1, updatedAt: 2 });
      expect(stored).to.include({ createdAt: START, updatedAt: START });
    });

    it('moves a partner to another application id when its identity is put again', () => {
      store.put(exchange);
      store.put({ ...exchange, applicationId: WellKnownPrincipal.lync });
      expect(store.findByApplication(WellKnownPrincipal.exchange, 'contoso.com')).to.equal(undefined);
      expect(store.findByApplication(WellKnownPrincipal.lync, 'contoso.com')?.identity).to.equal('microsoft.exchange');
    });

    it('refuses a second identity for the same application and realm, and keeps the first', () => {
      store.put(exchange);
      changes.length = 0;
      expect(() => store.put({ ...exchange, identity: 'exchange.copy', trustLevel: 'user' }))
        .to.throw(StoreError, /"exchange\.copy".*already registered as "microsoft\.exchange"/)
        .with.property('code', 'conflict');
      expect(store.list().map((app) => app.identity)).to.deep.equal(['microsoft.exchange']);
      expect(store.get('microsoft.exchange')?.trustLevel).to.equal('full');
      expect(changes).to.deep.equal([]);
    });

    it('accepts the same application id in two realms', () => {
      store.put(exchange);
      store.put({ ...exchange, identity: 'exchange.fabrikam', realm: 'fabrikam.com' });
      expect(store.findByApplication(WellKnownPrincipal.exchange, 'fabrikam.com')?.identity).to.equal('exchange.fabrikam');
    });

    it('removes a partner and reports whether there was one', () => {
      store.put(exchange);
      expect(store.remove('microsoft.exchange')).to.equal(true);
      expect(store.get('microsoft.exchange')).to.equal(undefined);
      expect(store.remove('microsoft.exchange')).to.equal(false);
    });

    it('frees the application and realm of a removed partner for another identity', () => {
      store.put(exchange);
      store.remove('microsoft.exchange');
      expect(store.put({ ...exchange, identity: 'exchange.new' }).identity).to.equal('exchange.new');
    });

    it('round-trips each kind of key source', () => {
      const sources = [
        { kind: 'metadata', metadataUrl: 'http://127.0.0.1:8080/metadata/json/1', allowLoopback: true },
        { kind: 'metadata', metadataUrl: 'https://mail.contoso.com/metadata/json/1', allowLoopback: false },
        { kind: 'metadata', metadataUrl: 'https://mail.contoso.com/metadata/json/1' },
        { kind: 'certificate', certificates: [CERTIFICATE, 'MIIBszCCAVmgAwIBAgIU'] },
        { kind: 'oauthServer' },
      ] as const;
      for (const [index, keySource] of sources.entries()) {
        store.put({ ...exchange, identity: `partner.${index}`, realm: `r${index}.com`, keySource });
        expect(store.get(`partner.${index}`)?.keySource, keySource.kind).to.deep.equal(keySource);
      }
    });

    it('keeps a partner that is disabled and accepts unsigned user context as it was given', () => {
      store.put(sharepoint);
      expect(store.get('microsoft.sharepoint')).to.include({ enabled: false, acceptUnsignedUserContext: true, trustLevel: 'user' });
    });

    it('hands out deeply frozen records that later changes to the input cannot reach', () => {
      const keySource = { kind: 'certificate' as const, certificates: [CERTIFICATE] };
      const input = { ...exchange, keySource, scopes: ['contacts.read'] };
      store.put(input);
      input.scopes.push('everything');
      keySource.certificates.push('another');
      const stored = store.get('microsoft.exchange');
      expect(stored).to.be.frozen;
      expect(stored?.keySource).to.be.frozen;
      expect(stored?.scopes).to.be.frozen.and.deep.equal(['contacts.read']);
      expect(stored?.keySource).to.deep.equal({ kind: 'certificate', certificates: [CERTIFICATE] });
      expect(Object.isFrozen(stored?.keySource.kind === 'certificate' ? stored.keySource.certificates : undefined)).to.equal(true);
      for (const listed of store.list()) expect(listed).to.be.frozen;
      expect(store.findByApplication(exchange.applicationId, exchange.realm)).to.be.frozen;
    });

    it('keeps only the known fields of a record', () => {
      const input = {
        ...exchange,
        password: 'hunter2',
        keySource: { kind: 'oauthServer', metadataUrl: 'https://ignored.example/' },
      } as PartnerApplicationInput;
      store.put(input);
      const stored = store.get('microsoft.exchange');
      expect(stored).to.not.have.property('password');
      expect(stored?.keySource).to.deep.equal({ kind: 'oauthServer' });
    });

    const impossible: readonly (readonly [string, unknown, RegExp])[] = [
      ['a record that is not an object', 'microsoft.exchange', /partner application must be an object/],
      ['an array', [exchange], /partner application must be an object/],
      ['a record without an identity', { ...exchange, identity: undefined }, /identity must be a non-empty string/],
      ['an empty identity', { ...exchange, identity: '' }, /identity must be a non-empty string/],
      ['a missing application id', { ...exchange, applicationId: undefined }, /"microsoft\.exchange": applicationId must/],
      ['a realm that is not a string', { ...exchange, realm: 42 }, /realm must be a non-empty string/],
      ['a missing key source', { ...exchange, keySource: undefined }, /keySource must be an object/],
      ['an unknown key source kind', { ...exchange, keySource: { kind: 'ftp' } }, /keySource\.kind must be one of metadata, certificate, oauthServer/],
      ['a metadata key source without a URL', { ...exchange, keySource: { kind: 'metadata' } }, /keySource\.metadataUrl must/],
      ['allowLoopback that is not a boolean', { ...exchange, keySource: { kind: 'metadata', metadataUrl: 'https://a/', allowLoopback: 'yes' } }, /keySource\.allowLoopback must be a boolean/],
      ['a certificate key source without certificates', { ...exchange, keySource: { kind: 'certificate', certificates: [] } }, /keySource\.certificates must be a non-empty array/],
      ['a certificate that is not a string', { ...exchange, keySource: { kind: 'certificate', certificates: [CERTIFICATE, 42] } }, /keySource\.certificates\[1\] must be a non-empty string/],
      ['an unknown trust level', { ...exchange, trustLevel: 'admin' }, /trustLevel must be one of full, application, user/],
      ['a trust level in another case', { ...exchange, trustLevel: 'Full' }, /trustLevel must be one of/],
      ['scopes that are not an array', { ...exchange, scopes: 'contacts.read' }, /scopes must be an array/],
      ['an empty scope', { ...exchange, scopes: ['contacts.read', ''] }, /scopes\[1\] must be a non-empty string/],
      ['enabled given as a string', { ...exchange, enabled: 'true' }, /enabled must be a boolean/],
      ['acceptUnsignedUserContext given as a number', { ...exchange, acceptUnsignedUserContext: 1 }, /acceptUnsignedUserContext must be a boolean/],
    ];
    for (const [name, record, message] of impossible) {
      it(`refuses ${name} with a TypeError and stores nothing`, () => {
        expect(() => store.put(record as PartnerApplicationInput)).to.throw(TypeError, message);
        expect(store.list()).to.deep.equal([]);
        expect(changes).to.deep.equal([]);
      });
    }

    it('does not quote a certificate in the error about it', () => {
      const record = { ...exchange, keySource: { kind: 'certificate', certificates: [CERTIFICATE, ''] } };
      expect(() => store.put(record as PartnerApplicationInput))
        .to.throw(TypeError)
        .with.property('message')
        .that.does.not.include('SECRET');
    });
  });

  describe('OAuth servers', () => {
    it('stores an OAuth server for every realm and returns it by identity', () => {
      const stored = store.putOAuthServer(sts);
      expect(stored).to.deep.equal({ ...sts, createdAt: START, updatedAt: START });
      expect(store.getOAuthServer('microsoft.sts')).to.deep.equal(stored).and.be.frozen;
      expect(store.getOAuthServer('other.sts')).to.equal(undefined);
    });

    it('keeps allowLoopback when given and leaves it out when not', () => {
      store.putOAuthServer({ ...sts, identity: 'dev.sts', metadataUrl: 'http://127.0.0.1:9000/metadata/json/1', allowLoopback: true });
      store.putOAuthServer({ ...sts, identity: 'strict.sts', allowLoopback: false });
      store.putOAuthServer(sts);
      expect(store.getOAuthServer('dev.sts')?.allowLoopback).to.equal(true);
      expect(store.getOAuthServer('strict.sts')?.allowLoopback).to.equal(false);
      expect(store.getOAuthServer('microsoft.sts')).to.not.have.property('allowLoopback');
    });

    it('replaces an OAuth server with the same identity, keeping createdAt', () => {
      store.putOAuthServer(sts);
      now += 1000;
      const stored = store.putOAuthServer({ ...sts, realm: 'contoso.com', enabled: false });
      expect(stored).to.include({ realm: 'contoso.com', enabled: false, createdAt: START, updatedAt: START + 1000 });
      expect(store.getOAuthServer('microsoft.sts')).to.deep.equal(stored);
    });

    it('lists OAuth servers ordered by identity and removes them', () => {
      store.putOAuthServer({ ...sts, identity: 'z.sts' });
      store.putOAuthServer(sts);
      expect(store.listOAuthServers().map((server) => server.identity)).to.deep.equal(['microsoft.sts', 'z.sts']);
      expect(store.removeOAuthServer('z.sts')).to.equal(true);
      expect(store.removeOAuthServer('z.sts')).to.equal(false);
      expect(store.listOAuthServers().map((server) => server.identity)).to.deep.equal(['microsoft.sts']);
    });

    it('keeps OAuth server identities apart from partner application identities', () => {
      store.put({ ...exchange, identity: 'shared.name' });
      store.putOAuthServer({ ...sts, identity: 'shared.name' });
      expect(store.remove('shared.name')).to.equal(true);
      expect(store.getOAuthServer('shared.name')?.issuer).to.equal(sts.issuer);
      expect(store.list()).to.deep.equal([]);
    });

    const impossible: readonly (readonly [string, unknown, RegExp])[] = [
      ['a record that is not an object', null, /OAuth server must be an object/],
      ['a record without an identity', { ...sts, identity: undefined }, /OAuth server: identity must be a non-empty string/],
      ['a missing metadata URL', { ...sts, metadataUrl: undefined }, /"microsoft\.sts": metadataUrl must/],
      ['an empty issuer', { ...sts, issuer: '' }, /issuer must be a non-empty string/],
      ['a missing realm', { ...sts, realm: undefined }, /realm must be a non-empty string/],
      ['allowLoopback given as a string', { ...sts, allowLoopback: 'false' }, /allowLoopback must be a boolean/],
      ['a missing enabled flag', { ...sts, enabled: undefined }, /enabled must be a boolean/],
    ];
    for (const [name, record, message] of impossible) {
      it(`refuses ${name} with a TypeError and stores nothing`, () => {
        expect(() => store.putOAuthServer(record as OAuthServerInput)).to.throw(TypeError, message);
        expect(store.listOAuthServers()).to.deep.equal([]);
        expect(changes).to.deep.equal([]);
      });
    }
  });

  describe('STS clients', () => {
    it('stores a client with its defaults and returns it by principal and realm, stamped with the time', () => {
      const stored = store.putClient(exchangeClient);
      const expected = { ...exchangeClient, enabled: true, createdAt: START, updatedAt: START };
      expect(stored).to.deep.equal(expected);
      expect(store.getClient(WellKnownPrincipal.exchange, TENANT)).to.deep.equal(expected);
    });

    it('fills absent lists with empty ones and leaves absent optional fields out', () => {
      const stored = store.putClient({ principal: WellKnownPrincipal.lync, realm: TENANT });
      expect(stored).to.deep.equal({
        principal: WellKnownPrincipal.lync,
        realm: TENANT,
        certificates: [],
        hostNames: [],
        grants: [],
        enabled: true,
        createdAt: START,
        updatedAt: START,
      });
      expect(store.getClient(WellKnownPrincipal.lync, TENANT)).to.deep.equal(stored);
    });

    it('round-trips a metadata URL, allowLoopback both ways, and a disabled client', () => {
      store.putClient({ ...exchangeClient, metadataUrl: 'http://127.0.0.1:9/metadata/json/1', allowLoopback: true, enabled: false });
      store.putClient({ ...exchangeClient, realm: 'contoso.com', certificates: [], allowLoopback: false });
      expect(store.getClient(WellKnownPrincipal.exchange, TENANT)).to.include({
        metadataUrl: 'http://127.0.0.1:9/metadata/json/1',
        allowLoopback: true,
        enabled: false,
      });
      expect(store.getClient(WellKnownPrincipal.exchange, 'contoso.com')?.allowLoopback).to.equal(false);
    });

    it('finds a client only by its exact principal and realm', () => {
      store.putClient(exchangeClient);
      expect(store.getClient(WellKnownPrincipal.exchange, 'contoso.com')).to.equal(undefined);
      expect(store.getClient(WellKnownPrincipal.lync, TENANT)).to.equal(undefined);
      expect(store.getClient(WellKnownPrincipal.exchange.toUpperCase(), TENANT)).to.equal(undefined);
      expect(store.getClient(WellKnownPrincipal.exchange, TENANT.toUpperCase())).to.equal(undefined);
    });

    it('lists clients ordered by principal, then realm', () => {
      // One credential per realm (see 'refuses a credential of another realm').
      store.putClient({ ...exchangeClient, principal: WellKnownPrincipal.lync, realm: 'b.com' });
      store.putClient({ ...exchangeClient, realm: 'b.com' });
      store.putClient({ ...exchangeClient, realm: 'a.com', certificates: ['MIIBa'] });
      store.putClient({ ...exchangeClient, principal: WellKnownPrincipal.lync, realm: 'a.com', certificates: ['MIIBa'] });
      expect(store.listClients().map((client) => `${client.principal}@${client.realm}`)).to.deep.equal([
        `${WellKnownPrincipal.exchange}@a.com`,
        `${WellKnownPrincipal.exchange}@b.com`,
        `${WellKnownPrincipal.lync}@a.com`,
        `${WellKnownPrincipal.lync}@b.com`,
      ]);
      expect(store.listClients().every((client) => Object.isFrozen(client))).to.equal(true);
    });

    it('does not confuse keys that would read the same if joined', () => {
      store.putClient({ ...exchangeClient, principal: 'a@b', realm: 'c' });
      store.putClient({ ...exchangeClient, principal: 'a', realm: 'b@c', certificates: [] });
      expect(store.listClients()).to.have.length(2);
      expect(store.removeClient('a', 'b@c')).to.equal(true);
      expect(store.getClient('a@b', 'c')?.principal).to.equal('a@b');
    });

    it('replaces a client with the same principal and realm, keeping createdAt and moving updatedAt', () => {
      store.putClient(exchangeClient);
      now += 60_000;
      const stored = store.putClient({ ...exchangeClient, hostNames: ['mail.contoso.com'], grants: [] });
      expect(stored).to.deep.include({ hostNames: ['mail.contoso.com'], grants: [], createdAt: START, updatedAt: START + 60_000 });
      expect(store.getClient(WellKnownPrincipal.exchange, TENANT)).to.deep.equal(stored);
      expect(store.listClients()).to.have.length(1);
    });

    it('ignores timestamps given by the caller', () => {
      expect(store.putClient({ ...exchangeClient, createdAt: 1, updatedAt: 2 })).to.include({ createdAt: START, updatedAt: START });
    });

    it('refuses a credential of another realm: a certificate in any spelling, or a metadata URL, and stores nothing (CVE-2025-53786)', () => {
      store.putClient({ ...exchangeClient, certificates: [CERTIFICATE], metadataUrl: 'https://exchange.contoso.com/metadata/json/1' });
      const bareBase64 = CERTIFICATE.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
      const attempts: ReadonlyArray<readonly [ClientInput, string]> = [
        [{ ...exchangeClient, realm: 'contoso.com', certificates: [CERTIFICATE] }, 'certificates[0]'],
        [{ ...exchangeClient, principal: WellKnownPrincipal.lync, realm: 'contoso.com', certificates: ['MIIBother', `${bareBase64.slice(0, 10)}\n${bareBase64.slice(10)}`] }, 'certificates[1]'],
        [{ ...exchangeClient, realm: 'contoso.com', certificates: [], metadataUrl: 'https://exchange.contoso.com/metadata/json/1' }, 'metadataUrl'],
      ];
      for (const [attempt, field] of attempts) {
        expect(() => store.putClient(attempt))
          .to.throw(StoreError, `its ${field} is already a credential of client "${WellKnownPrincipal.exchange}@${TENANT}" in another realm`)
          .with.property('code', 'credential_shared');
        expect(() => store.putClient(attempt)).to.throw(StoreError).with.property('message').that.does.not.include('SECRET');
      }
      expect(store.listClients().map((client) => client.realm)).to.deep.equal([TENANT]);
      // The same credential within one realm, and the client itself again, are fine.
      store.putClient({ ...exchangeClient, principal: WellKnownPrincipal.lync, certificates: [CERTIFICATE] });
      store.putClient({ ...exchangeClient, certificates: [CERTIFICATE], hostNames: [] });
      expect(store.listClients()).to.have.length(2);
    });

    it('removes a client and reports whether there was one', () => {
      store.putClient(exchangeClient);
      store.putClient({ ...exchangeClient, realm: 'contoso.com', certificates: [] });
      expect(store.removeClient(WellKnownPrincipal.exchange, TENANT)).to.equal(true);
      expect(store.removeClient(WellKnownPrincipal.exchange, TENANT)).to.equal(false);
      expect(store.removeClient(WellKnownPrincipal.lync, TENANT)).to.equal(false);
      expect(store.getClient(WellKnownPrincipal.exchange, TENANT)).to.equal(undefined);
      expect(store.getClient(WellKnownPrincipal.exchange, 'contoso.com')?.realm).to.equal('contoso.com');
    });

    it('keeps clients apart from partner applications and OAuth servers', () => {
      store.put(exchange);
      store.putOAuthServer(sts);
      store.putClient(exchangeClient);
      expect(store.remove('microsoft.exchange')).to.equal(true);
      expect(store.listClients()).to.have.length(1);
      expect(store.list()).to.deep.equal([]);
    });

    it('hands out deeply frozen records that later changes to the input cannot reach', () => {
      const grants: { resource: string; scopes: string[]; delegation: boolean }[] = [
        { resource: WellKnownPrincipal.lync, scopes: ['meetings.write'], delegation: false },
      ];
      const hostNames = ['mail.contoso.com'];
      const certificates = [CERTIFICATE];
      store.putClient({ ...exchangeClient, grants, hostNames, certificates });
      grants[0]?.scopes.push('everything');
      grants.push({ resource: WellKnownPrincipal.sharepoint, scopes: [], delegation: true });
      hostNames.push('evil.example');
      certificates.push('another');
      const stored = store.getClient(WellKnownPrincipal.exchange, TENANT);
      expect(stored).to.be.frozen;
      expect(stored?.grants).to.be.frozen.and.deep.equal([
        { resource: WellKnownPrincipal.lync, scopes: ['meetings.write'], delegation: false },
      ]);
      expect(stored?.grants[0]).to.be.frozen;
      expect(stored?.grants[0]?.scopes).to.be.frozen;
      expect(stored?.hostNames).to.be.frozen.and.deep.equal(['mail.contoso.com']);
      expect(stored?.certificates).to.be.frozen.and.deep.equal([CERTIFICATE]);
    });

    it('keeps only the known fields of a client and of its grants', () => {
      const grant = { resource: WellKnownPrincipal.lync, scopes: [], delegation: false, admin: true };
      const input = { ...exchangeClient, clientSecret: 'hunter2', grants: [grant] } as ClientInput;
      const stored = store.putClient(input);
      expect(stored).to.not.have.property('clientSecret');
      expect(stored.grants[0]).to.deep.equal({ resource: WellKnownPrincipal.lync, scopes: [], delegation: false });
      expect(store.getClient(WellKnownPrincipal.exchange, TENANT)).to.not.have.property('clientSecret');
    });

    const impossible: readonly (readonly [string, unknown, RegExp])[] = [
      ['a client that is not an object', 'exchange', /client must be an object/],
      ['an array', [exchangeClient], /client must be an object/],
      ['a missing principal', { ...exchangeClient, principal: undefined }, /client: principal must be a non-empty string/],
      ['an empty realm', { ...exchangeClient, realm: '' }, /client "00000002-0000-0ff1-ce00-000000000000": realm must be a non-empty string/],
      ['an empty display name', { ...exchangeClient, displayName: '' }, /displayName must be a non-empty string/],
      ['certificates that are not a list', { ...exchangeClient, certificates: CERTIFICATE }, /certificates must be an array/],
      ['a null certificate list', { ...exchangeClient, certificates: null }, /certificates must be an array/],
      ['an empty certificate', { ...exchangeClient, certificates: [CERTIFICATE, ''] }, /certificates\[1\] must be a non-empty string/],
      ['a metadata URL that is not a string', { ...exchangeClient, metadataUrl: 7 }, /metadataUrl must be a non-empty string/],
      ['allowLoopback given as a string', { ...exchangeClient, allowLoopback: 'true' }, /allowLoopback must be a boolean/],
      ['host names that are not a list', { ...exchangeClient, hostNames: 'mail.contoso.com' }, /hostNames must be an array/],
      ['an empty host name', { ...exchangeClient, hostNames: [''] }, /hostNames\[0\] must be a non-empty string/],
      ['grants that are not a list', { ...exchangeClient, grants: {} }, /grants must be an array of grants/],
      ['a grant that is not an object', { ...exchangeClient, grants: ['lync'] }, /grants\[0\] must be an object/],
      ['a grant without a resource', { ...exchangeClient, grants: [{ scopes: [], delegation: false }] }, /grants\[0\]\.resource must be a non-empty string/],
      ['a grant without scopes', { ...exchangeClient, grants: [{ resource: 'r', delegation: false }] }, /grants\[0\]\.scopes must be an array/],
      ['a grant with an empty scope', { ...exchangeClient, grants: [{ resource: 'r', scopes: [''], delegation: false }] }, /grants\[0\]\.scopes\[0\] must be a non-empty string/],
      ['a grant whose delegation is a string', { ...exchangeClient, grants: [{ resource: 'r', scopes: [], delegation: 'true' }] }, /grants\[0\]\.delegation must be a boolean/],
      [
        'two grants for one resource',
        { ...exchangeClient, grants: [{ resource: 'r', scopes: [], delegation: false }, { resource: 'r', scopes: ['all'], delegation: true }] },
        /grants\[1\]\.resource repeats an earlier grant's resource/,
      ],
      ['enabled given as a number', { ...exchangeClient, enabled: 1 }, /enabled must be a boolean/],
      ['enabled given as null', { ...exchangeClient, enabled: null }, /enabled must be a boolean/],
    ];
    for (const [name, record, message] of impossible) {
      it(`refuses ${name} with a TypeError and stores nothing`, () => {
        expect(() => store.putClient(record as ClientInput)).to.throw(TypeError, message);
        expect(store.listClients()).to.deep.equal([]);
        expect(changes).to.deep.equal([]);
      });
    }

    it('does not quote a certificate in the error about it', () => {
      expect(() => store.putClient({ ...exchangeClient, certificates: [CERTIFICATE, 5] } as unknown as ClientInput))
        .to.throw(TypeError)
        .with.property('message')
        .that.does.not.include('SECRET');
    });

    it('notifies client writes with their issuer id and their own kind, and not when nothing was removed', () => {
      store.putClient(exchangeClient);
      store.removeClient(WellKnownPrincipal.exchange, TENANT);
      store.removeClient(WellKnownPrincipal.exchange, TENANT);
      const id = `${WellKnownPrincipal.exchange}@${TENANT}`;
      expect(changes).to.deep.equal([
        [id, 'client'],
        [id, 'client'],
      ]);
    });
  });

  describe('change notifications', () => {
    it('notifies synchronously with the identity and kind once a partner is put', () => {
      store.put(exchange);
      expect(changes).to.deep.equal([['microsoft.exchange', 'partnerApplication']]);
    });

    it('lets a listener read the new record while it is being notified', () => {
      let seen: unknown;
      store.onChange((identity) => {
        seen = identity === undefined ? undefined : store.get(identity)?.trustLevel;
      });
      store.put({ ...exchange, trustLevel: 'application' });
      expect(seen).to.equal('application');
    });

    it('notifies after a partner is removed, and not when there was nothing to remove', () => {
      store.put(exchange);
      store.remove('microsoft.exchange');
      store.remove('microsoft.exchange');
      store.remove('nobody');
      expect(changes).to.deep.equal([
        ['microsoft.exchange', 'partnerApplication'],
        ['microsoft.exchange', 'partnerApplication'],
      ]);
    });

    it('notifies OAuth server writes with their own kind', () => {
      store.putOAuthServer(sts);
      store.removeOAuthServer('microsoft.sts');
      store.removeOAuthServer('microsoft.sts');
      expect(changes).to.deep.equal([
        ['microsoft.sts', 'oauthServer'],
        ['microsoft.sts', 'oauthServer'],
      ]);
    });

    it('does not notify for replay claims', () => {
      store.claim('issuer', 'jti', START + 1000);
      expect(changes).to.deep.equal([]);
    });

    it('stops notifying a listener once it unsubscribed, and unsubscribing twice is harmless', () => {
      const calls: (string | undefined)[] = [];
      const unsubscribe = store.onChange((identity) => calls.push(identity));
      store.put(exchange);
      unsubscribe();
      unsubscribe();
      store.put(sharepoint);
      expect(calls).to.deep.equal(['microsoft.exchange']);
      expect(changes).to.have.length(2);
    });

    it('notifies each subscription, even of the same function, and unsubscribes them one at a time', () => {
      const calls: (string | undefined)[] = [];
      const listener = (identity: string | undefined) => calls.push(identity);
      const first = store.onChange(listener);
      store.onChange(listener);
      store.put(exchange);
      first();
      store.put(sharepoint);
      expect(calls).to.deep.equal(['microsoft.exchange', 'microsoft.exchange', 'microsoft.sharepoint']);
    });

    it('runs every listener when one throws, then rethrows its error and keeps the write', () => {
      const failure = new Error('listener broke');
      store.onChange(() => {
        throw failure;
      });
      const after: (string | undefined)[] = [];
      store.onChange((identity) => after.push(identity));
      expect(() => store.put(exchange)).to.throw(failure);
      expect(after).to.deep.equal(['microsoft.exchange']);
      expect(store.get('microsoft.exchange')).to.not.equal(undefined);
    });

    it('refuses a listener that is not a function', () => {
      expect(() => store.onChange('log' as never)).to.throw(TypeError, /listener must be a function/);
    });
  });

  describe('replay claims', () => {
    it('grants the first claim of a jti and refuses the next ones while it is unexpired', () => {
      expect(store.claim('client@contoso.com', 'jti-1', START + 300_000)).to.equal(true);
      expect(store.claim('client@contoso.com', 'jti-1', START + 300_000)).to.equal(false);
      now += 299_999;
      expect(store.claim('client@contoso.com', 'jti-1', START + 600_000)).to.equal(false);
    });

    it('keeps claims of different jtis and different issuers apart', () => {
      expect(store.claim('a@contoso.com', 'jti-1', START + 1000)).to.equal(true);
      expect(store.claim('a@contoso.com', 'jti-2', START + 1000)).to.equal(true);
      expect(store.claim('b@contoso.com', 'jti-1', START + 1000)).to.equal(true);
    });

    it('does not confuse pairs that would read the same if joined', () => {
      expect(store.claim('a:b', 'c', START + 1000)).to.equal(true);
      expect(store.claim('a', 'b:c', START + 1000)).to.equal(true);
      expect(store.claim('a\u0000b', 'c', START + 1000)).to.equal(true);
      expect(store.claim('a', 'b\u0000c', START + 1000)).to.equal(true);
    });

    it('grants a jti again, once, after its claim expired', () => {
      expect(store.claim('client', 'jti', START + 1000)).to.equal(true);
      now = START + 1000;
      expect(store.claim('client', 'jti', START + 2000)).to.equal(true);
      expect(store.claim('client', 'jti', START + 2000)).to.equal(false);
    });

    it('refuses a claim whose expiry is not in the future', () => {
      expect(store.claim('client', 'jti-past', START - 1)).to.equal(false);
      expect(store.claim('client', 'jti-now', START)).to.equal(false);
      expect(store.claim('client', 'jti-past', START + 1)).to.equal(true);
    });

    it('keeps working across the sweeps of expired claims', () => {
      expect(store.claim('gone', 'only', START + 1000)).to.equal(true);
      for (let index = 0; index < 10; index += 1) {
        expect(store.claim('client', `jti-${index}`, START + 1000)).to.equal(true);
      }
      expect(store.claim('client', 'long', START + 3_600_000)).to.equal(true);
      now = START + 61_000;
      expect(store.claim('client', 'jti-0', START + 120_000)).to.equal(true);
      expect(store.claim('client', 'jti-0', START + 120_000)).to.equal(false);
      expect(store.claim('client', 'long', START + 3_600_000)).to.equal(false);
      now = START + 200_000;
      expect(store.claim('client', 'jti-0', START + 300_000)).to.equal(true);
      expect(store.claim('other', 'x', START + 300_000)).to.equal(true);
      expect(store.claim('gone', 'only', START + 300_000)).to.equal(true);
    });

    it('accepts an expiry with a fraction of a millisecond or far in the future', () => {
      expect(store.claim('client', 'fraction', START + 0.5)).to.equal(true);
      expect(store.claim('client', 'fraction', START + 0.5)).to.equal(false);
      expect(store.claim('client', 'far', Number.MAX_VALUE)).to.equal(true);
      expect(store.claim('client', 'far', Number.MAX_VALUE)).to.equal(false);
    });

    it('grants exactly one of 20 concurrent claims of the same jti', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, () => Promise.resolve().then(() => store.claim('client', 'raced', START + 60_000))),
      );
      expect(results.filter(Boolean)).to.have.length(1);
    });

    const badArguments: readonly (readonly [string, readonly unknown[], RegExp])[] = [
      ['an issuer that is not a string', [undefined, 'jti', START + 1], /issuer must be a string/],
      ['a jti that is not a string', ['client', 7, START + 1], /jti must be a string/],
      ['an expiry that is not a number', ['client', 'jti', String(START + 1)], /expiresAt must be a finite number/],
      ['an expiry that is not finite', ['client', 'jti', Number.NaN], /expiresAt must be a finite number/],
    ];
    for (const [name, args, message] of badArguments) {
      it(`refuses a claim with ${name}`, () => {
        const claim = store.claim.bind(store) as (...values: readonly unknown[]) => boolean;
        expect(() => claim(...args)).to.throw(TypeError, message);
      });
    }
  });

  describe('atomic changes (modify, modifyOAuthServer, modifyClient)', () => {
    it('hands the current partner to the change and stores what it returns on top of it', () => {
      store.put(exchange);
      changes = [];
      const seen: unknown[] = [];
      const stored = store.modify('microsoft.exchange', (current) => {
        seen.push(current);
        return current === undefined ? undefined : { ...current, enabled: false };
      });
      expect(seen).to.deep.equal([{ ...exchange, acceptUnsignedUserContext: false, createdAt: START, updatedAt: START }]);
      expect(stored).to.deep.include({ enabled: false, scopes: exchange.scopes, createdAt: START });
      expect(store.get('microsoft.exchange')).to.deep.equal(stored);
      expect(changes).to.deep.equal([['microsoft.exchange', 'partnerApplication']]);
    });

    it('applies two field changes made one after the other on the same millisecond, and tells the versions apart by updatedAt', () => {
      store.put(exchange);
      const disabled = store.modify('microsoft.exchange', (current) => current && { ...current, enabled: false });
      const scoped = store.modify('microsoft.exchange', (current) => current && { ...current, scopes: ['contacts.read'] });
      expect(store.get('microsoft.exchange')).to.deep.include({ enabled: false, scopes: ['contacts.read'] });
      expect(disabled?.updatedAt).to.equal(START + 1);
      expect(scoped?.updatedAt).to.equal(START + 2);
      // The clock catching up takes over again; a clock set back never moves updatedAt backwards.
      now = START + 60_000;
      expect(store.put(exchange).updatedAt).to.equal(START + 60_000);
      now = START;
      expect(store.put(exchange).updatedAt).to.equal(START + 60_001);
    });

    it('creates a record when there is none, and writes nothing (nor notifies) when the change returns undefined', () => {
      expect(store.modify('microsoft.exchange', () => undefined)).to.equal(undefined);
      expect(store.modifyOAuthServer('microsoft.sts', () => undefined)).to.equal(undefined);
      expect(store.modifyClient(WellKnownPrincipal.exchange, TENANT, () => undefined)).to.equal(undefined);
      expect(changes).to.deep.equal([]);
      expect(store.modify('microsoft.exchange', (current) => (current === undefined ? exchange : undefined))).to.include({ createdAt: START });
      const before = store.get('microsoft.exchange');
      expect(store.modify('microsoft.exchange', () => undefined)).to.deep.equal(before);
      expect(changes).to.have.length(1);
    });

    it('writes nothing when the change throws, and rethrows what it threw', () => {
      store.put(exchange);
      store.putOAuthServer(sts);
      store.putClient(exchangeClient);
      changes = [];
      const refusal = new Error('refused by the caller');
      expect(() => store.modify('microsoft.exchange', () => { throw refusal; })).to.throw(refusal);
      expect(() => store.modifyOAuthServer('microsoft.sts', () => { throw refusal; })).to.throw(refusal);
      expect(() => store.modifyClient(WellKnownPrincipal.exchange, TENANT, () => { throw refusal; })).to.throw(refusal);
      expect(store.get('microsoft.exchange')?.updatedAt).to.equal(START);
      expect(changes).to.deep.equal([]);
    });

    it('lets the change read the store, and refuses a record of another identity or a conflicting one', () => {
      store.put(exchange);
      store.put(sharepoint);
      const stored = store.modify('microsoft.sharepoint', (current) => current && { ...current, scopes: [...(store.get('microsoft.exchange')?.scopes ?? [])] });
      expect(stored?.scopes).to.deep.equal(exchange.scopes);
      expect(() => store.modify('microsoft.sharepoint', () => exchange)).to.throw(TypeError, /writes only that identity/);
      expect(() => store.modify('other', () => ({ ...exchange, identity: 'other' }))).to.throw(StoreError).with.property('code', 'conflict');
      expect(store.get('other')).to.equal(undefined);
    });

    it('changes an OAuth server on top of its current record', () => {
      store.putOAuthServer(sts);
      now += 1000;
      const stored = store.modifyOAuthServer('microsoft.sts', (current) => current && { ...current, enabled: false });
      expect(stored).to.include({ enabled: false, metadataUrl: sts.metadataUrl, createdAt: START, updatedAt: START + 1000 });
      expect(() => store.modifyOAuthServer('microsoft.sts', () => ({ ...sts, identity: 'other.sts' }))).to.throw(TypeError, /writes only that identity/);
    });

    it('changes a client on top of its current record, with the shared-credential check', () => {
      store.putClient(exchangeClient);
      const stored = store.modifyClient(WellKnownPrincipal.exchange, TENANT, (current) => current && { ...current, enabled: false });
      expect(stored).to.deep.include({ enabled: false, hostNames: exchangeClient.hostNames, updatedAt: START + 1 });
      expect(() => store.modifyClient(WellKnownPrincipal.exchange, 'other.com', () => exchangeClient)).to.throw(TypeError, /writes only that client/);
      expect(() => store.modifyClient(WellKnownPrincipal.lync, 'contoso.com', () => ({ ...exchangeClient, principal: WellKnownPrincipal.lync, realm: 'contoso.com' })))
        .to.throw(StoreError)
        .with.property('code', 'credential_shared');
      expect(store.getClient(WellKnownPrincipal.lync, 'contoso.com')).to.equal(undefined);
    });
  });

  describe('closing', () => {
    it('refuses every operation once closed, and closing again does nothing', () => {
      store.close();
      store.close();
      const operations: readonly (() => unknown)[] = [
        () => store.get('microsoft.exchange'),
        () => store.findByApplication(WellKnownPrincipal.exchange, 'contoso.com'),
        () => store.list(),
        () => store.put(exchange),
        () => store.remove('microsoft.exchange'),
        () => store.getOAuthServer('microsoft.sts'),
        () => store.listOAuthServers(),
        () => store.putOAuthServer(sts),
        () => store.removeOAuthServer('microsoft.sts'),
        () => store.getClient(WellKnownPrincipal.exchange, TENANT),
        () => store.listClients(),
        () => store.putClient(exchangeClient),
        () => store.removeClient(WellKnownPrincipal.exchange, TENANT),
        () => store.modify('microsoft.exchange', () => exchange),
        () => store.modifyOAuthServer('microsoft.sts', () => sts),
        () => store.modifyClient(WellKnownPrincipal.exchange, TENANT, () => exchangeClient),
        () => store.claim('client', 'jti', START + 1000),
        () => store.onChange(() => undefined),
      ];
      for (const operation of operations) {
        expect(operation).to.throw(StoreError, /closed/).with.property('code', 'closed');
      }
    });
  });
}
