import { expect } from 'chai';
import { expectRefusal } from '@s2sauth/test-support/rejections';
import { after, afterEach, before, beforeEach, describe, it } from 'mocha';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeysUnavailableError, WellKnownPrincipal } from '@s2sauth/protocol';
import { MemoryStore, SqliteStore, type PartnerStore } from '@s2sauth/store';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { createCertificate, createPartner, type MetadataServer, type TestPartner } from '@s2sauth/test-support/partners';
import { StaticKeySet } from '@s2sauth/discovery';
import { PartnerRegistry, PartnerRegistryError, type PartnerApplicationInput } from '../src/registry.js';

const START = Date.UTC(2030, 0, 15, 12, 0, 0);
const DAY = 86_400_000;

function certificateAt(realms: readonly string[] = ['contoso.com'], days = 365): Promise<OAuthCertificate> {
  return createCertificate(realms, { notBefore: new Date(START - DAY), validityDays: days + 1 });
}

describe('PartnerRegistry', () => {
  let now = START;
  const clock = (): number => now;
  let lync: TestPartner;
  let sharepoint: TestPartner;
  let lyncServer: MetadataServer;
  let otherServer: MetadataServer;
  let store: MemoryStore;
  let registry: PartnerRegistry;

  before(async () => {
    lync = await createPartner({ principal: WellKnownPrincipal.lync, identity: 'microsoft.lync', certificate: await certificateAt() });
    sharepoint = await createPartner({ principal: WellKnownPrincipal.sharepoint, identity: 'microsoft.sharepoint', certificate: await certificateAt() });
    lyncServer = await lync.serveMetadata();
    otherServer = await sharepoint.serveMetadata();
  });

  after(async () => {
    await lyncServer.close();
    await otherServer.close();
  });

  beforeEach(() => {
    now = START;
    lyncServer.respondWith();
    otherServer.respondWith();
    store = new MemoryStore({ clock });
    registry = new PartnerRegistry({ store, clock });
  });

  afterEach(() => {
    registry.close();
    store.close();
  });

  const byMetadata = (extra: Partial<PartnerApplicationInput> = {}): PartnerApplicationInput => ({
    identity: 'microsoft.lync',
    metadataUrl: lyncServer.url,
    allowLoopback: true,
    ...extra,
  });

  describe('adding by metadata URL', () => {
    it('fetches the document first and takes applicationId and realm from it', async () => {
      const before = lyncServer.requests;
      const stored = await registry.add(byMetadata());
      expect(lyncServer.requests).to.equal(before + 1);
      expect(stored).to.deep.include({
        identity: 'microsoft.lync',
        applicationId: lync.principal,
        realm: 'contoso.com',
        keySource: { kind: 'metadata', metadataUrl: lyncServer.url, allowLoopback: true },
        trustLevel: 'full',
        scopes: [],
        enabled: true,
        acceptUnsignedUserContext: false,
      });
      expect(registry.get('microsoft.lync')).to.deep.equal(stored);
      expect(registry.list()).to.deep.equal([stored]);
    });

    it('takes applicationId and realm from the issuer when serviceName and realm are absent', async () => {
      lyncServer.respondWith(lync.metadataDocument({ overrides: { serviceName: undefined, realm: undefined } }));
      const stored = await registry.add(byMetadata());
      expect(stored).to.include({ applicationId: lync.principal, realm: 'contoso.com' });
    });

    it('accepts a registration that agrees with the document', async () => {
      const stored = await registry.add(byMetadata({ applicationId: lync.principal, realm: 'contoso.com', trustLevel: 'application', scopes: ['a', 'b'] }));
      expect(stored).to.include({ trustLevel: 'application' });
      expect(stored.scopes).to.deep.equal(['a', 'b']);
    });

    const refusals: ReadonlyArray<[string, string, () => Promise<string | undefined>]> = [
      ['an unreachable URL', 'metadata_unavailable', async () => {
        const gone = await lync.serveMetadata();
        const url = gone.url;
        await gone.close();
        return url;
      }],
      ['a 500 answer', 'metadata_unavailable', () => {
        lyncServer.respondWith('{}', 500);
        return Promise.resolve(undefined);
      }],
      ['a body that is not JSON', 'metadata_invalid', () => {
        lyncServer.respondWith('<html>not json</html>');
        return Promise.resolve(undefined);
      }],
      ['a document without keys', 'metadata_invalid', () => {
        lyncServer.respondWith(lync.metadataDocument({ overrides: { keys: [] } }));
        return Promise.resolve(undefined);
      }],
      ['a document that names neither application nor realm', 'metadata_invalid', () => {
        lyncServer.respondWith(lync.metadataDocument({ overrides: { serviceName: undefined, realm: undefined, issuer: undefined } }));
        return Promise.resolve(undefined);
      }],
      ['a malformed issuer', 'metadata_invalid', () => {
        lyncServer.respondWith(lync.metadataDocument({ overrides: { issuer: 'lync@contoso.com' } }));
        return Promise.resolve(undefined);
      }],
      ['a serviceName that is not a principal id', 'metadata_invalid', () => {
        lyncServer.respondWith(lync.metadataDocument({ overrides: { serviceName: 'LYNC', issuer: undefined } }));
        return Promise.resolve(undefined);
      }],
      ['a realm that is not a realm', 'metadata_invalid', () => {
        lyncServer.respondWith(lync.metadataDocument({ overrides: { realm: 'Contoso.COM', issuer: undefined } }));
        return Promise.resolve(undefined);
      }],
      ['an issuer contradicting the serviceName', 'metadata_contradicts', () => {
        lyncServer.respondWith(lync.metadataDocument({ overrides: { issuer: sharepoint.issuerId } }));
        return Promise.resolve(undefined);
      }],
    ];
    for (const [what, code, arrange] of refusals) {
      it(`refuses ${what} and stores nothing`, async () => {
        const url = await arrange();
        const error = await expectRefusal(registry.add(byMetadata(url === undefined ? {} : { metadataUrl: url })), code, 'metadataUrl');
        expect(error.message).to.contain('metadataUrl');
        expect(registry.list()).to.deep.equal([]);
      });
    }

    it('refuses a document whose issuer, serviceName or realm contradicts the registration', async () => {
      await expectRefusal(registry.add(byMetadata({ applicationId: sharepoint.principal })), 'metadata_contradicts', 'metadataUrl');
      lyncServer.respondWith(lync.metadataDocument({ overrides: { issuer: undefined } }));
      const service = await expectRefusal(registry.add(byMetadata({ applicationId: sharepoint.principal })), 'metadata_contradicts');
      expect(service.message).to.contain('serviceName');
      const realm = await expectRefusal(registry.add(byMetadata({ realm: 'fabrikam.com' })), 'metadata_contradicts');
      expect(realm.message).to.contain('realm');
      expect(registry.list()).to.deep.equal([]);
    });

    it('refuses URLs that are not https, or loopback without allowLoopback, before fetching', async () => {
      const before = lyncServer.requests;
      await expectRefusal(registry.add({ identity: 'microsoft.lync', metadataUrl: lyncServer.url }), 'invalid', 'metadataUrl');
      await expectRefusal(registry.add(byMetadata({ metadataUrl: 'ftp://mail.contoso.com/metadata' })), 'invalid', 'metadataUrl');
      await expectRefusal(registry.add(byMetadata({ metadataUrl: 'http://mail.contoso.com/metadata/json/1' })), 'invalid', 'metadataUrl');
      await expectRefusal(registry.add(byMetadata({ metadataUrl: 'https://user:secret@mail.contoso.com/m' })), 'invalid', 'metadataUrl');
      await expectRefusal(registry.add(byMetadata({ metadataUrl: 'https://localhost/metadata/json/1', allowLoopback: false })), 'invalid', 'metadataUrl');
      await expectRefusal(registry.add(byMetadata({ metadataUrl: 'not a url' })), 'invalid', 'metadataUrl');
      await expectRefusal(registry.add(byMetadata({ metadataUrl: 42 as unknown as string })), 'invalid', 'metadataUrl');
      expect(lyncServer.requests).to.equal(before);
    });

    it('passes its fetch options to the fetcher', async () => {
      const strict = new PartnerRegistry({ store, clock, fetch: { maxBytes: 10 } });
      await expectRefusal(strict.add(byMetadata()), 'metadata_unavailable');
      strict.close();
    });
  });

  describe('adding by certificate or OAuth server', () => {
    it('stores pinned certificates as PEM, from PEM or base64 DER, without duplicates', async () => {
      const base64 = lync.certificate.der.toString('base64');
      const stored = await registry.add({
        identity: 'lync.pinned',
        applicationId: lync.principal,
        realm: 'contoso.com',
        certificate: [lync.certificate.pem, base64],
      });
      expect(stored.keySource).to.deep.equal({ kind: 'certificate', certificates: [lync.certificate.certificate.toString()] });
      const resolved = registry.resolve(lync.principal, 'contoso.com');
      expect(resolved?.keys).to.be.instanceOf(StaticKeySet);
      expect((await resolved?.keys.getKey(lync.certificate.x5t))?.x5tS256).to.equal(lync.certificate.x5tS256);
    });

    it('refuses certificates that are not acceptable signing certificates', async () => {
      const input = { identity: 'x.y', applicationId: lync.principal, realm: 'contoso.com' };
      await expectRefusal(registry.add({ ...input, certificate: 'not a certificate' }), 'invalid', 'certificate');
      await expectRefusal(registry.add({ ...input, certificate: [] }), 'invalid', 'certificate');
      await expectRefusal(registry.add({ ...input, certificate: [5 as unknown as string] }), 'invalid', 'certificate');
      await expectRefusal(registry.add({ ...input, certificate: new Array<string>(21).fill(lync.certificate.pem) }), 'invalid', 'certificate');
      now = START + 400 * DAY;
      await expectRefusal(registry.add({ ...input, certificate: lync.certificate.pem }), 'invalid', 'certificate');
      expect(registry.list()).to.deep.equal([]);
    });

    it('stores a partner that trusts through an OAuth server, but never resolves it', async () => {
      await registry.add({ identity: 'hybrid.exchange', applicationId: WellKnownPrincipal.exchange, realm: 'contoso.com', useOAuthServer: true });
      expect(registry.resolve(WellKnownPrincipal.exchange, 'contoso.com')).to.equal(undefined);
      expect(registry.find(WellKnownPrincipal.exchange, 'contoso.com')?.keySource).to.deep.equal({ kind: 'oauthServer' });
    });

    it('requires applicationId and realm without a metadata document', async () => {
      await expectRefusal(registry.add({ identity: 'a', realm: 'contoso.com', certificate: lync.certificate.pem }), 'invalid', 'applicationId');
      await expectRefusal(registry.add({ identity: 'a', applicationId: lync.principal, useOAuthServer: true }), 'invalid', 'realm');
    });
  });

  describe('validation', () => {
    const valid: PartnerApplicationInput = { identity: 'a.b', applicationId: WellKnownPrincipal.lync, realm: 'contoso.com', useOAuthServer: true };
    const cases: ReadonlyArray<[string, Record<string, unknown>]> = [
      ['identity', { identity: 'Microsoft.Exchange' }],
      ['identity', { identity: '' }],
      ['identity', { identity: 'a'.repeat(65) }],
      ['identity', { identity: 'has space' }],
      ['identity', { identity: 7 }],
      ['applicationId', { applicationId: WellKnownPrincipal.lync.toUpperCase() }],
      ['realm', { realm: 'Contoso.com' }],
      ['keySource', { useOAuthServer: false }],
      ['keySource', { certificate: 'x' }],
      ['useOAuthServer', { useOAuthServer: 'yes' }],
      ['allowLoopback', { allowLoopback: true }],
      ['allowLoopback', { allowLoopback: 'yes' }],
      ['trustLevel', { trustLevel: 'Full' }],
      ['scopes', { scopes: 'contacts.read' }],
      ['scopes', { scopes: ['contacts.read calendar.read'] }],
      ['scopes', { scopes: [''] }],
      ['scopes', { scopes: ['a', 'a'] }],
      ['enabled', { enabled: 'true' }],
      ['acceptUnsignedUserContext', { acceptUnsignedUserContext: 1 }],
      ['trustlevel', { trustlevel: 'user' }],
    ];
    for (const [field, change] of cases) {
      it(`refuses ${JSON.stringify(change)}, naming ${field}, and stores nothing`, async () => {
        const error = await expectRefusal(registry.add({ ...valid, ...change } as PartnerApplicationInput), 'invalid', field);
        expect(error.message).to.match(new RegExp(`^${field}: `));
        expect(registry.list()).to.deep.equal([]);
      });
    }

    it('refuses an input that is not an object', async () => {
      await expectRefusal(registry.add(null as unknown as PartnerApplicationInput), 'invalid', 'input');
    });

    it('accepts Lync-style identities and whole-word scopes', async () => {
      const stored = await registry.add({ ...valid, identity: 'contoso-crm_2.app', scopes: ['contacts.read', 'urn:x:y', 'Mail.Send'] });
      expect(stored.scopes).to.deep.equal(['contacts.read', 'urn:x:y', 'Mail.Send']);
    });

    it('refuses a second partner with the same identity or the same application and realm', async () => {
      await registry.add(valid);
      await expectRefusal(registry.add(valid), 'exists', 'identity');
      await expectRefusal(registry.add({ ...valid, identity: 'other' }), 'conflict', 'applicationId');
      expect(registry.list()).to.have.length(1);
    });

    it('refuses an identity registered while its metadata was being fetched', async () => {
      const pending = registry.add(byMetadata());
      store.put({ identity: 'microsoft.lync', applicationId: WellKnownPrincipal.exchange, realm: 'contoso.com', keySource: { kind: 'oauthServer' }, trustLevel: 'full', scopes: [], enabled: true });
      await expectRefusal(pending, 'exists', 'identity');
      expect(registry.get('microsoft.lync')?.applicationId).to.equal(WellKnownPrincipal.exchange);
    });
  });

  describe('updating', () => {
    it('changes scopes, trust level and flags without fetching, and keeps the key set (its key source is unchanged)', async () => {
      await registry.add(byMetadata());
      const keys = registry.resolve(lync.principal, 'contoso.com')?.keys;
      const before = lyncServer.requests;
      const updated = await registry.update('microsoft.lync', { scopes: ['x'], trustLevel: 'user', acceptUnsignedUserContext: true });
      expect(updated).to.deep.include({ scopes: ['x'], trustLevel: 'user', acceptUnsignedUserContext: true });
      expect(updated.keySource).to.deep.equal({ kind: 'metadata', metadataUrl: lyncServer.url, allowLoopback: true });
      expect(lyncServer.requests).to.equal(before);
      expect(registry.resolve(lync.principal, 'contoso.com')?.keys).to.equal(keys);
      expect(lyncServer.requests).to.equal(before);
    });

    it('disables and enables a partner even while its metadata is down', async () => {
      await registry.add(byMetadata());
      lyncServer.respondWith('down', 503);
      expect((await registry.disable('microsoft.lync')).enabled).to.equal(false);
      expect((await registry.enable('microsoft.lync')).enabled).to.equal(true);
    });

    it('disables a certificate partner whose certificate has expired', async () => {
      const short = await certificateAt(['contoso.com'], 1);
      await registry.add({ identity: 'short', applicationId: lync.principal, realm: 'contoso.com', certificate: short.pem });
      now = START + 10 * DAY;
      expect((await registry.disable('short')).enabled).to.equal(false);
    });

    it('fetches and checks again when the metadata URL changes, and keeps the registration when refused', async () => {
      await registry.add(byMetadata());
      const keys = registry.resolve(lync.principal, 'contoso.com')?.keys;
      // sharepoint's document contradicts lync's registration.
      await expectRefusal(registry.update('microsoft.lync', { metadataUrl: otherServer.url }), 'metadata_contradicts');
      expect(registry.get('microsoft.lync')?.keySource).to.deep.include({ metadataUrl: lyncServer.url });
      const moved = await lync.serveMetadata();
      const updated = await registry.update('microsoft.lync', { metadataUrl: moved.url });
      expect(updated.keySource).to.deep.equal({ kind: 'metadata', metadataUrl: moved.url, allowLoopback: true });
      expect(moved.requests).to.equal(1);
      expect(registry.resolve(lync.principal, 'contoso.com')?.keys).to.not.equal(keys);
      await moved.close();
    });

    it('replaces the key source, and requires exactly one', async () => {
      await registry.add(byMetadata());
      const pinned = await registry.update('microsoft.lync', { certificate: lync.certificate.pem });
      expect(pinned.keySource.kind).to.equal('certificate');
      await expectRefusal(registry.update('microsoft.lync', { allowLoopback: true }), 'invalid', 'allowLoopback');
      await expectRefusal(registry.update('microsoft.lync', { metadataUrl: lyncServer.url, useOAuthServer: true }), 'invalid', 'keySource');
      const back = await registry.update('microsoft.lync', { metadataUrl: lyncServer.url, allowLoopback: true });
      expect(back.keySource.kind).to.equal('metadata');
      const hybrid = await registry.update('microsoft.lync', { useOAuthServer: true });
      expect(hybrid.keySource).to.deep.equal({ kind: 'oauthServer' });
    });

    it('refetches when applicationId or realm of a metadata partner change', async () => {
      await registry.add(byMetadata());
      await expectRefusal(registry.update('microsoft.lync', { realm: 'fabrikam.com' }), 'metadata_contradicts');
      await expectRefusal(registry.update('microsoft.lync', { allowLoopback: false }), 'invalid', 'metadataUrl');
    });

    it('refuses an unknown identity, a changed identity and changes that are not an object', async () => {
      await expectRefusal(registry.update('nobody', { enabled: false }), 'not_found', 'identity');
      await registry.add(byMetadata());
      await expectRefusal(registry.update('microsoft.lync', { identity: 'x' } as never), 'invalid', 'identity');
      await expectRefusal(registry.update('microsoft.lync', null as never), 'invalid', 'changes');
      await expectRefusal(registry.disable('nobody'), 'not_found');
    });

    it('refuses an update when the key source it fetched for changed while it was fetching', async () => {
      await registry.add(byMetadata());
      const pending = registry.update('microsoft.lync', { metadataUrl: `${lyncServer.url}?v=2` });
      now += 1000;
      store.put({ ...(store.get('microsoft.lync') as NonNullable<ReturnType<MemoryStore['get']>>), keySource: { kind: 'oauthServer' } });
      await expectRefusal(pending, 'conflict');
      expect(store.get('microsoft.lync')?.keySource).to.deep.equal({ kind: 'oauthServer' });
    });

    it('applies an update on top of a change made to other fields while it was fetching: both take effect', async () => {
      await registry.add(byMetadata());
      const pending = registry.update('microsoft.lync', { metadataUrl: `${lyncServer.url}?v=2` });
      now += 1000;
      store.put({ ...(store.get('microsoft.lync') as NonNullable<ReturnType<MemoryStore['get']>>), enabled: false, scopes: ['other.scope'] });
      const updated = await pending;
      expect(updated).to.deep.include({ enabled: false, scopes: ['other.scope'] });
      expect(updated.keySource).to.deep.include({ metadataUrl: `${lyncServer.url}?v=2` });
      expect(store.get('microsoft.lync')).to.deep.equal(updated);
    });

    it('keeps a partner disabled when a scope change racing the disable is written after it (same millisecond)', async () => {
      await registry.add(byMetadata());
      // Both read the record before either writes, as two admin commands started together do.
      const scopes = registry.update('microsoft.lync', { scopes: ['contacts.read'] });
      const disable = registry.disable('microsoft.lync');
      await Promise.all([scopes, disable]);
      expect(store.get('microsoft.lync')).to.deep.include({ enabled: false, scopes: ['contacts.read'] });
    });

    it('refuses the second of two concurrent adds of one identity instead of replacing the first', async () => {
      const first = registry.add(byMetadata());
      const second = registry.add({ ...byMetadata(), scopes: ['second'] });
      const [one, two] = await Promise.allSettled([first, second]);
      expect(one.status).to.equal('fulfilled');
      expect(two.status).to.equal('rejected');
      expect((two as PromiseRejectedResult).reason).to.be.instanceOf(PartnerRegistryError).and.to.have.property('code', 'exists');
      expect(store.get('microsoft.lync')?.scopes).to.deep.equal((one as PromiseFulfilledResult<{ scopes: readonly string[] }>).value.scopes);
    });

    it('refuses an update that would take another partner\'s application and realm', async () => {
      await registry.add({ identity: 'one', applicationId: lync.principal, realm: 'contoso.com', useOAuthServer: true });
      await registry.add({ identity: 'two', applicationId: sharepoint.principal, realm: 'contoso.com', useOAuthServer: true });
      await expectRefusal(registry.update('two', { applicationId: lync.principal }), 'conflict', 'applicationId');
    });
  });

  describe('removing', () => {
    it('removes a registration and closes its key set; false when there was none', async () => {
      await registry.add(byMetadata());
      expect(registry.resolve(lync.principal, 'contoso.com')).to.not.equal(undefined);
      expect(registry.remove('microsoft.lync')).to.equal(true);
      expect(registry.resolve(lync.principal, 'contoso.com')).to.equal(undefined);
      expect(registry.remove('microsoft.lync')).to.equal(false);
    });
  });

  describe('resolving', () => {
    it('resolves by application and realm without fetching; keys load on first use', async () => {
      await registry.add(byMetadata());
      const before = lyncServer.requests;
      const resolved = registry.resolve(lync.principal, 'contoso.com');
      expect(resolved?.partner.identity).to.equal('microsoft.lync');
      expect(lyncServer.requests).to.equal(before);
      expect((await resolved?.keys.getKey(lync.certificate.x5t))?.x5t).to.equal(lync.certificate.x5t);
      expect(lyncServer.requests).to.equal(before + 1);
      expect(registry.resolve(lync.principal, 'contoso.com')?.keys).to.equal(resolved?.keys);
    });

    it('returns nothing for an unregistered issuer or another realm', async () => {
      await registry.add(byMetadata());
      expect(registry.resolve(sharepoint.principal, 'contoso.com')).to.equal(undefined);
      expect(registry.resolve(lync.principal, 'fabrikam.com')).to.equal(undefined);
    });

    it('resolves disabled partners (the verifier refuses them)', async () => {
      await registry.add(byMetadata({ enabled: false }));
      expect(registry.resolve(lync.principal, 'contoso.com')?.partner.enabled).to.equal(false);
    });

    it('fails closed when the document starts to contradict the registration', async () => {
      await registry.add(byMetadata());
      lyncServer.respondWith(lync.metadataDocument({ overrides: { realm: 'fabrikam.com', issuer: undefined } }));
      const keys = registry.resolve(lync.principal, 'contoso.com')?.keys;
      let caught: unknown;
      await keys?.getKey(lync.certificate.x5t).catch((error: unknown) => (caught = error));
      expect(caught).to.be.instanceOf(KeysUnavailableError);
    });

    it('gives a certificate partner whose certificates all expired a key set without keys', async () => {
      const short = await certificateAt(['contoso.com'], 1);
      await registry.add({ identity: 'short', applicationId: lync.principal, realm: 'contoso.com', certificate: short.pem });
      now = START + 10 * DAY;
      const resolved = registry.resolve(lync.principal, 'contoso.com');
      expect(await resolved?.keys.getKey(short.x5t)).to.equal(undefined);
      expect(resolved?.keys.version).to.equal(0);
      resolved?.keys.close();
    });
  });

  describe('revision and change notifications', () => {
    it('changes the revision and notifies on every add, update and remove', async () => {
      const seen: Array<string | undefined> = [];
      const unsubscribe = registry.onChange((identity) => seen.push(identity));
      registry.onChange(() => {
        throw new Error('a broken subscriber');
      });
      const revisions = [registry.revision];
      await registry.add(byMetadata());
      revisions.push(registry.revision);
      await registry.disable('microsoft.lync');
      revisions.push(registry.revision);
      registry.remove('microsoft.lync');
      revisions.push(registry.revision);
      expect(new Set(revisions).size).to.equal(4);
      expect(seen).to.deep.equal(['microsoft.lync', 'microsoft.lync', 'microsoft.lync']);
      unsubscribe();
      await registry.add(byMetadata());
      expect(seen).to.have.length(3);
      expect(() => registry.onChange(5 as never)).to.throw(TypeError);
    });

    it('moves the revision on OAuth server changes of the store but keeps partners\' key sets', async () => {
      await registry.add(byMetadata());
      const keys = registry.resolve(lync.principal, 'contoso.com')?.keys;
      const seen: Array<[string | undefined, string | undefined]> = [];
      registry.onChange((identity, kind) => seen.push([identity, kind]));
      const revision = registry.revision;
      store.putOAuthServer({ identity: 'microsoft.sts', metadataUrl: 'https://accounts.example/metadata/json/1', issuer: `${WellKnownPrincipal.sts}@contoso.com`, realm: '*', enabled: true });
      expect(registry.revision).to.not.equal(revision);
      expect(seen).to.deep.equal([['microsoft.sts', 'oauthServer']]);
      expect(registry.resolve(lync.principal, 'contoso.com')?.keys).to.equal(keys);
    });

    it('works with a store that does not notify its own writes', async () => {
      const silent = new Proxy(store, {
        get(target, name, receiver) {
          if (name === 'onChange') return () => () => undefined;
          const value: unknown = Reflect.get(target, name, receiver);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      }) as PartnerStore;
      const quiet = new PartnerRegistry({ store: silent, clock });
      await quiet.add(byMetadata());
      const keys = quiet.resolve(lync.principal, 'contoso.com')?.keys;
      const revision = quiet.revision;
      await quiet.update('microsoft.lync', { certificate: lync.certificate.pem });
      expect(quiet.revision).to.not.equal(revision);
      expect(quiet.resolve(lync.principal, 'contoso.com')?.keys).to.not.equal(keys);
      expect(quiet.remove('microsoft.lync')).to.equal(true);
      quiet.close();
    });

    it('notices a change when a store hands out one mutable record and changes it in place, and replaces the key set when the key source changes', async () => {
      await registry.add(byMetadata());
      const stored = store.get('microsoft.lync');
      if (stored === undefined) throw new Error('not stored');
      // A store of another make that keeps one unfrozen object per partner and edits it.
      const record = { ...stored, keySource: { ...stored.keySource } } as { -readonly [K in keyof typeof stored]: (typeof stored)[K] };
      const mutable = new Proxy(store, {
        get(target, name, receiver) {
          if (name === 'findByApplication' || name === 'get') return () => record;
          const value: unknown = Reflect.get(target, name, receiver);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      }) as PartnerStore;
      const other = new PartnerRegistry({ store: mutable, clock });
      try {
        const keys = other.resolve(lync.principal, 'contoso.com')?.keys;
        expect(other.resolve(lync.principal, 'contoso.com')?.keys).to.equal(keys);
        const revision = other.revision;
        record.updatedAt += 1000;
        // Same key source: same keys, but results verified before the change are not current.
        expect(other.resolve(lync.principal, 'contoso.com')?.keys).to.equal(keys);
        expect(other.revision).to.not.equal(revision);
        const later = other.revision;
        (record.keySource as { metadataUrl: string }).metadataUrl = otherServer.url;
        expect(other.resolve(lync.principal, 'contoso.com')?.keys).to.not.equal(keys);
        expect(other.revision).to.not.equal(later);
      } finally {
        other.close();
      }
    });
  });

  describe('across processes (two stores on one SQLite file)', () => {
    let folder: string;
    beforeEach(() => {
      folder = mkdtempSync(join(tmpdir(), 's2sauth-registry-'));
    });
    afterEach(() => {
      rmSync(folder, { recursive: true, force: true });
    });

    it('drops a key set and moves the revision when another process changes the registration', async () => {
      const file = join(folder, 'registry.sqlite');
      const mine = SqliteStore.open(file, { clock, pollIntervalMs: 10 });
      const theirs = SqliteStore.open(file, { clock, pollIntervalMs: 10 });
      const local = new PartnerRegistry({ store: mine, clock });
      const remote = new PartnerRegistry({ store: theirs, clock });
      try {
        await local.add(byMetadata());
        await local.add({ identity: 'microsoft.sharepoint', metadataUrl: otherServer.url, allowLoopback: true });
        const keys = local.resolve(lync.principal, 'contoso.com')?.keys;
        const untouched = local.resolve(sharepoint.principal, 'contoso.com')?.keys;
        const seen: Array<string | undefined> = [];
        local.onChange((identity) => seen.push(identity));
        const revision = local.revision;
        now += 1000;
        await remote.update('microsoft.lync', { certificate: lync.certificate.pem });
        for (let i = 0; i < 500 && local.revision === revision; i++) await new Promise((resolve) => setTimeout(resolve, 10));
        expect(seen).to.deep.equal([undefined]);
        const resolved = local.resolve(lync.principal, 'contoso.com');
        expect(resolved?.partner.keySource.kind).to.equal('certificate');
        expect(resolved?.keys).to.not.equal(keys);
        expect(local.resolve(sharepoint.principal, 'contoso.com')?.keys).to.equal(untouched);
      } finally {
        local.close();
        remote.close();
        mine.close();
        theirs.close();
      }
    });

    it('notices a changed key configuration on resolve before the store reports it', async () => {
      const file = join(folder, 'registry.sqlite');
      const mine = SqliteStore.open(file, { clock, pollIntervalMs: 3_600_000 });
      const theirs = SqliteStore.open(file, { clock, pollIntervalMs: 3_600_000 });
      const local = new PartnerRegistry({ store: mine, clock });
      const remote = new PartnerRegistry({ store: theirs, clock });
      try {
        await local.add(byMetadata());
        const keys = local.resolve(lync.principal, 'contoso.com')?.keys;
        const revision = local.revision;
        now += 1000;
        await remote.update('microsoft.lync', { certificate: lync.certificate.pem });
        expect(local.revision).to.equal(revision);
        expect(local.resolve(lync.principal, 'contoso.com')?.keys).to.not.equal(keys);
        expect(local.revision).to.not.equal(revision);
      } finally {
        local.close();
        remote.close();
        mine.close();
        theirs.close();
      }
    });
  });

  describe('lifecycle', () => {
    it('refuses every operation once closed; closing twice is harmless', async () => {
      registry.close();
      registry.close();
      await expectRefusal(() => registry.resolve(lync.principal, 'contoso.com'), 'closed');
      await expectRefusal(registry.add(byMetadata()), 'closed');
      await expectRefusal(registry.update('x', {}), 'closed');
      await expectRefusal(() => registry.get('x'), 'closed');
      await expectRefusal(() => registry.list(), 'closed');
      await expectRefusal(() => registry.find(lync.principal, 'contoso.com'), 'closed');
      await expectRefusal(() => registry.remove('x'), 'closed');
      await expectRefusal(() => registry.onChange(() => undefined), 'closed');
    });

    it('throws a TypeError for bad options', () => {
      expect(() => new PartnerRegistry(null as never)).to.throw(TypeError, 'options must be an object');
      expect(() => new PartnerRegistry({ store: {} as never })).to.throw(TypeError, 'options.store');
      expect(() => new PartnerRegistry({ store, fetch: null as never })).to.throw(TypeError, 'options.fetch');
      expect(() => new PartnerRegistry({ store, keySets: 5 as never })).to.throw(TypeError, 'options.keySets');
      expect(() => new PartnerRegistry({ store, clock: 'now' as never })).to.throw(TypeError, 'options.clock');
    });

    it('refuses an option name it does not know (a misspelt option is never silently ignored)', () => {
      const misspelt = { store, keySet: { maxStalenessMs: 1000 } } as unknown as ConstructorParameters<typeof PartnerRegistry>[0];
      expect(() => new PartnerRegistry(misspelt)).to.throw(
        TypeError,
        'new PartnerRegistry: unknown option "keySet"; the options are store, fetch, keySets, clock.',
      );
      expect(store.list()).to.deep.equal([]);
    });
  });
});

describe('PartnerRegistry and an STS sharing its store', () => {
  it('does not count a client registration of the STS as a change of its own trust', () => {
    const store = new MemoryStore();
    const registry = new PartnerRegistry({ store });
    const seen: Array<string | undefined> = [];
    registry.onChange((identity) => seen.push(identity));
    const before = registry.revision;
    store.putClient({ principal: WellKnownPrincipal.exchange, realm: 'contoso.com', hostNames: ['mail.contoso.com'] });
    expect(registry.revision).to.equal(before);
    expect(seen).to.deep.equal([]);
    registry.close();
  });
});
