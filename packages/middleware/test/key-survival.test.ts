/**
 * A partner's (and an OAuth server's) keys belong to its key source, not to one version of its
 * registration (issue 9, item 11): an edit that leaves the key source alone, disabling and
 * enabling, and a restart of the verifying server all keep serving the last good keys while the
 * metadata endpoint is down (up to the 24-hour staleness bound, counted from the original fetch);
 * a change of key source starts afresh; a certificate rollover is picked up by the first token
 * signed with the new key, while a flood of made-up key ids still costs at most one fetch per
 * cooldown.
 */
import { expect } from 'chai';
import { afterEach, beforeEach, describe, it } from 'mocha';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BearerError, buildMetadataDocument, KeysUnavailableError, WellKnownPrincipal } from '@s2sauth/protocol';
import { MemoryStore, SqliteStore, type PartnerStore } from '@s2sauth/store';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { createCertificate, createPartner, type MetadataServer, type TestPartner } from '@s2sauth/test-support/partners';
import { createVerifier, PartnerRegistry, type Verifier } from '@s2sauth/middleware';

const OWN = WellKnownPrincipal.exchange;
const STS = WellKnownPrincipal.sts;
const AUDIENCE = `${OWN}/mail.contoso.com@contoso.com`;
const START = Date.UTC(2030, 0, 15, 12, 0, 0);
const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;
const COOLDOWN = 30 * SECOND;

function certificateFrom(from: number, days: number): Promise<OAuthCertificate> {
  return createCertificate(['contoso.com'], { notBefore: new Date(from), validityDays: days });
}

/**
 * `store` without its key documents, as a store of another make that keeps only registrations:
 * what survives an edit then is the key set kept in memory, not a stored document.
 */
function withoutKeyDocuments<Store extends PartnerStore & { close(): void }>(store: Store): Store {
  const hidden = new Set<PropertyKey>(['getKeyDocument', 'putKeyDocument', 'removeKeyDocumentsFetchedBefore']);
  return new Proxy(store, {
    get(target, name) {
      if (hidden.has(name)) return undefined;
      const value: unknown = Reflect.get(target, name, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (error) {
    if (error instanceof BearerError) return error.code;
    throw error;
  }
}

describe('key survival: edits, restarts and rollovers keep a partner\'s keys', () => {
  let now = START;
  const clock = (): number => now;
  const cleanup: Array<() => unknown> = [];
  let folder: string;
  let partner: TestPartner;
  let server: MetadataServer;

  beforeEach(async () => {
    now = START;
    folder = mkdtempSync(join(tmpdir(), 's2sauth-key-survival-'));
    partner = await createPartner({ identity: 'microsoft.lync', certificate: await certificateFrom(START - DAY, 30) });
    server = await partner.serveMetadata();
    cleanup.push(() => server.close());
  });

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
    rmSync(folder, { recursive: true, force: true });
  });

  function open(store: PartnerStore & { close(): void }): { registry: PartnerRegistry; verifier: Verifier } {
    const registry = new PartnerRegistry({ store, clock });
    const verifier = createVerifier({ principal: OWN, realms: 'contoso.com', authorities: ['mail.contoso.com'], registry, clock, audit: false });
    cleanup.push(() => store.close(), () => registry.close(), () => verifier.close());
    return { registry, verifier };
  }

  /** A new token (new jti, so never a cache hit) from the partner, signed with its current certificate. */
  function token(header?: Record<string, unknown>): string {
    const t = Math.floor(now / 1000);
    return partner.mint(partner.actorClaims(AUDIENCE, t), header);
  }

  async function registered(store: PartnerStore & { close(): void }): Promise<{ registry: PartnerRegistry; verifier: Verifier }> {
    const opened = open(store);
    await opened.registry.add({ identity: partner.identity, metadataUrl: server.url, allowLoopback: true, scopes: ['contacts.read'] });
    expect(await outcome(opened.verifier.verify(token()))).to.equal('accepted');
    return opened;
  }

  /** Registers the partner in a SQLite file and verifies once (which stores its document), then stops that server. */
  async function registeredThenStopped(): Promise<string> {
    const file = join(folder, 'registry.sqlite');
    const first = await registered(SqliteStore.open(file, { clock }));
    first.verifier.close();
    first.registry.close();
    return file;
  }

  describe('registration edits', () => {
    it('keeps serving the last good keys after a scopes-only change while the metadata endpoint is down (no 503)', async () => {
      const { registry, verifier } = await registered(withoutKeyDocuments(new MemoryStore({ clock })));
      server.respondWith('down', 503);
      now += 10 * SECOND;
      await registry.update(partner.identity, { scopes: ['contacts.read', 'contacts.write'] });
      expect(await outcome(verifier.verify(token()))).to.equal('accepted');
      // ... and after the endpoint returns, at once (no cooldown left over from a failed first load).
      server.respondWith();
      now += SECOND;
      expect(await outcome(verifier.verify(token()))).to.equal('accepted');
    });

    it('keeps serving the last good keys through disable then enable while the metadata endpoint is down', async () => {
      const { registry, verifier } = await registered(withoutKeyDocuments(new MemoryStore({ clock })));
      server.respondWith('down', 503);
      now += 10 * SECOND;
      await registry.disable(partner.identity);
      expect(await outcome(verifier.verify(token()))).to.equal('partner_disabled');
      now += 10 * SECOND;
      await registry.enable(partner.identity);
      expect(await outcome(verifier.verify(token()))).to.equal('accepted');
    });

    it('keeps the keys when another process (the admin CLI) changes the scopes while the metadata endpoint is down', async () => {
      const file = join(folder, 'registry.sqlite');
      const { registry, verifier } = await registered(SqliteStore.open(file, { clock, pollIntervalMs: 10 }));
      const admin = open(SqliteStore.open(file, { clock, pollIntervalMs: 10 }));
      const seen: unknown[] = [];
      registry.onChange((identity) => seen.push(identity));
      server.respondWith('down', 503);
      now += 10 * SECOND;
      await admin.registry.update(partner.identity, { scopes: ['contacts.write'] });
      // Wait for the verifier's store to notice the other process's write (it polls every 10 ms).
      for (let i = 0; i < 500 && seen.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(seen).to.deep.equal([undefined]);
      expect(registry.get(partner.identity)?.scopes).to.deep.equal(['contacts.write']);
      expect(await outcome(verifier.verify(token()))).to.equal('accepted');
    });

    it('starts a new key set when the key source changes: the old keys are no longer accepted', async () => {
      const { registry, verifier } = await registered(new MemoryStore({ clock }));
      const oldToken = token();
      // The partner moves its document to another URL and publishes another certificate there.
      const moved = await createPartner({ principal: partner.principal, identity: partner.identity, certificate: await certificateFrom(START - DAY, 30) });
      const movedServer = await moved.serveMetadata();
      cleanup.push(() => movedServer.close());
      await registry.update(partner.identity, { metadataUrl: movedServer.url, allowLoopback: true });
      now += 2 * COOLDOWN;
      expect(await outcome(verifier.verify(oldToken)), 'token signed with the old source\'s key').to.equal('key_unknown');
      partner.rollTo(moved.certificate);
      expect(await outcome(verifier.verify(token())), 'token signed with the new source\'s key').to.equal('accepted');
    });
  });

  describe('restart of the verifying server', () => {
    it('serves the stored last good document while the metadata endpoint is down, until 24 h after the original fetch', async () => {
      const file = await registeredThenStopped();
      server.respondWith('down', 503);

      // Restarted 23 hours after the fetch: the stored document is served.
      now = START + 23 * HOUR;
      const restarted = open(SqliteStore.open(file, { clock }));
      expect(await outcome(restarted.verifier.verify(token()))).to.equal('accepted');
      // 24 hours after the original fetch (not after the restart): fails closed.
      now = START + DAY + SECOND;
      expect(await outcome(restarted.verifier.verify(token()))).to.equal('keys_unavailable');

      // Another restart then does not bring the old document back either.
      const again = open(SqliteStore.open(file, { clock }));
      expect(await outcome(again.verifier.verify(token()))).to.equal('keys_unavailable');
      // When the endpoint returns, keys load as usual (and a fresh document is stored).
      server.respondWith();
      now += COOLDOWN;
      expect(await outcome(again.verifier.verify(token()))).to.equal('accepted');
    });

    it('refuses a stored document whose certificates have all expired by the restart', async () => {
      partner.rollTo(await certificateFrom(START - DAY, 1 + 0.5)); // valid until START + 12 h
      const file = await registeredThenStopped();
      server.respondWith('down', 503);
      now = START + 13 * HOUR;
      const restarted = open(SqliteStore.open(file, { clock }));
      expect(await outcome(restarted.verifier.verify(token()))).to.equal('keys_unavailable');
    });

    it('refuses a stored document that contradicts the registration', async () => {
      const file = await registeredThenStopped();
      // The stored document now names another application (as if written by a tampering process).
      const raw = SqliteStore.open(file, { clock });
      const stored = raw.getKeyDocument({ metadataUrl: server.url, allowLoopback: true });
      if (stored === undefined) throw new Error('no document was stored');
      const document = partner.metadataDocument({ overrides: { serviceName: WellKnownPrincipal.sharepoint, issuer: undefined } });
      raw.putKeyDocument({ ...stored, document: Buffer.from(JSON.stringify(document)), fetchedAt: stored.fetchedAt + 1 });
      raw.close();
      server.respondWith('down', 503);
      now = START + HOUR;
      const restarted = open(SqliteStore.open(file, { clock }));
      expect(await outcome(restarted.verifier.verify(token()))).to.equal('keys_unavailable');
    });
  });

  describe('a partner removed and added again', () => {
    async function rolledAway(): Promise<{ compromised: TestPartner }> {
      // The partner's key is compromised: it publishes a new certificate only, and the old key
      // (still in the stored document, and in any key set built from it) must never verify again.
      const compromised = await createPartner({ principal: partner.principal, identity: partner.identity, certificate: partner.certificate });
      partner.rollTo(await certificateFrom(START - DAY, 30));
      server.respondWith(partner.metadataDocument({ certificates: [partner.certificate] }));
      return { compromised };
    }

    function signedBy(signer: TestPartner): string {
      return signer.mint(signer.actorClaims(AUDIENCE, Math.floor(now / 1000)));
    }

    it('never starts from the document stored for the removed registration: the old key is refused at once', async () => {
      const file = join(folder, 'registry.sqlite');
      const { registry, verifier } = await registered(SqliteStore.open(file, { clock }));
      const { compromised } = await rolledAway();
      now += 10 * 60 * SECOND;
      registry.remove(partner.identity);
      now += SECOND;
      await registry.add({ identity: partner.identity, metadataUrl: server.url, allowLoopback: true, scopes: ['contacts.read'] });
      now += 10 * 60 * SECOND;
      expect(await outcome(verifier.verify(signedBy(compromised))), 'a token signed with the removed key').to.equal('key_unknown');
      expect(await outcome(verifier.verify(token())), 'a token signed with the new key').to.equal('accepted');
    });

    it('drops the old keys in a running server when an administrator removes and adds the partner from another process', async () => {
      const file = join(folder, 'registry.sqlite');
      const { registry, verifier } = await registered(SqliteStore.open(file, { clock, pollIntervalMs: 200 }));
      const admin = open(SqliteStore.open(file, { clock, pollIntervalMs: 200 }));
      const { compromised } = await rolledAway();
      const createdAt = registry.get(partner.identity)?.createdAt;
      now += 10 * 60 * SECOND;
      // Both changes usually land between two of the server's polls: it sees one change, not a removal.
      admin.registry.remove(partner.identity);
      now += SECOND;
      await admin.registry.add({ identity: partner.identity, metadataUrl: server.url, allowLoopback: true, scopes: ['contacts.read'] });
      for (let i = 0; i < 500 && registry.get(partner.identity)?.createdAt === createdAt; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(registry.get(partner.identity)?.createdAt).to.not.equal(createdAt);
      expect(await outcome(verifier.verify(signedBy(compromised))), 'a token signed with the removed key').to.equal('key_unknown');
      expect(await outcome(verifier.verify(token())), 'a token signed with the new key').to.equal('accepted');
    });
  });

  describe('a stored document stamped in the future', () => {
    it('is not served after a restart: its age cannot be told', async () => {
      const file = await registeredThenStopped();
      const raw = SqliteStore.open(file, { clock });
      const stored = raw.getKeyDocument({ metadataUrl: server.url, allowLoopback: true });
      if (stored === undefined) throw new Error('no document was stored');
      // Written by a clock a year ahead (corrected since by NTP).
      raw.putKeyDocument({ ...stored, fetchedAt: START + 365 * DAY });
      raw.close();
      server.respondWith('down', 503);
      now = START + HOUR;
      const restarted = open(SqliteStore.open(file, { clock }));
      expect(await outcome(restarted.verifier.verify(token()))).to.equal('keys_unavailable');
    });
  });

  describe('unknown key ids', () => {
    it('refetches at once when a token names an unknown x5t after the partner rolled its certificate', async () => {
      const { verifier } = await registered(new MemoryStore({ clock }));
      partner.rollTo(await certificateFrom(START - DAY, 30));
      now += SECOND;
      expect(await outcome(verifier.verify(token()))).to.equal('accepted');
    });

    it('fetches at most once per cooldown for a stream of tokens with random unknown x5t values', async () => {
      const { verifier } = await registered(new MemoryStore({ clock }));
      const before = server.requests;
      const forged = (): string => {
        const id = randomBytes(20).toString('base64url');
        return token({ x5t: id, kid: id });
      };
      for (let i = 0; i < 200; i++) {
        expect(await outcome(verifier.verify(forged()))).to.equal('key_unknown');
        now += 100; // 200 tokens over 20 s: within one cooldown
      }
      expect(server.requests - before, 'fetches in the first cooldown').to.equal(1);
      now = START + COOLDOWN + 5 * SECOND;
      for (let i = 0; i < 200; i++) {
        expect(await outcome(verifier.verify(forged()))).to.equal('key_unknown');
        now += 100;
      }
      expect(server.requests - before, 'fetches after the second window opened').to.equal(2);
    });
  });
});

describe('key survival: OAuth servers', () => {
  let now = START;
  const clock = (): number => now;
  const cleanup: Array<() => unknown> = [];
  let folder: string;
  let certificate: OAuthCertificate;
  let stsServer: MetadataServer;

  function stsDocument(certificates: readonly OAuthCertificate[]): object {
    return buildMetadataDocument({ principal: STS, realm: 'contoso.com', certificates: certificates.map((c) => c.certificate), endpoints: [] });
  }

  beforeEach(async () => {
    now = START;
    folder = mkdtempSync(join(tmpdir(), 's2sauth-key-survival-sts-'));
    certificate = await certificateFrom(START - DAY, 30);
    const sts = await createPartner({ principal: STS, identity: 'microsoft.sts', certificate });
    stsServer = await sts.serveMetadata();
    stsServer.respondWith(stsDocument([certificate]));
    cleanup.push(() => stsServer.close());
  });

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
    rmSync(folder, { recursive: true, force: true });
  });

  function open(store: PartnerStore & { close(): void }): PartnerRegistry {
    const registry = new PartnerRegistry({ store, clock });
    cleanup.push(() => store.close(), () => registry.close());
    return registry;
  }

  async function keyOf(registry: PartnerRegistry, x5t: string): Promise<string> {
    const resolved = registry.resolveOAuthServer(STS, 'contoso.com');
    if (resolved === undefined) return 'no server';
    try {
      return (await resolved.keys.getKey(x5t)) === undefined ? 'unknown' : 'found';
    } catch (error) {
      if (error instanceof KeysUnavailableError) return 'unavailable';
      throw error;
    }
  }

  async function registered(store: PartnerStore & { close(): void }): Promise<PartnerRegistry> {
    const registry = open(store);
    await registry.addOAuthServer({ identity: 'microsoft.sts', metadataUrl: stsServer.url, allowLoopback: true });
    expect(await keyOf(registry, certificate.x5t)).to.equal('found');
    return registry;
  }

  it('keeps the server\'s keys through disable then enable while its metadata endpoint is down', async () => {
    const registry = await registered(withoutKeyDocuments(new MemoryStore({ clock })));
    stsServer.respondWith('down', 503);
    now += 10 * SECOND;
    await registry.disableOAuthServer('microsoft.sts');
    await registry.enableOAuthServer('microsoft.sts');
    expect(await keyOf(registry, certificate.x5t)).to.equal('found');
  });

  it('serves the stored document after a restart while the endpoint is down, until 24 h after the original fetch', async () => {
    const file = join(folder, 'registry.sqlite');
    (await registered(SqliteStore.open(file, { clock }))).close();
    stsServer.respondWith('down', 503);
    now = START + 23 * HOUR;
    const restarted = open(SqliteStore.open(file, { clock }));
    expect(await keyOf(restarted, certificate.x5t)).to.equal('found');
    now = START + DAY + SECOND;
    expect(await keyOf(restarted, certificate.x5t)).to.equal('unavailable');
  });

  it('refetches at once for an unknown x5t after the STS rolled its certificate, and at most once per cooldown for a flood', async () => {
    const registry = await registered(new MemoryStore({ clock }));
    const next = await certificateFrom(START - DAY, 30);
    stsServer.respondWith(stsDocument([next]));
    now += SECOND;
    expect(await keyOf(registry, next.x5t)).to.equal('found');
    const before = stsServer.requests;
    for (let i = 0; i < 100; i++) {
      expect(await keyOf(registry, randomBytes(20).toString('base64url'))).to.equal('unknown');
      now += 100;
    }
    expect(stsServer.requests - before).to.equal(0);
    now += COOLDOWN;
    for (let i = 0; i < 100; i++) expect(await keyOf(registry, randomBytes(20).toString('base64url'))).to.equal('unknown');
    expect(stsServer.requests - before).to.equal(1);
  });
});
