import { expect } from 'chai';
import { KeysUnavailableError } from '@s2sauth/protocol';
import type { ClientRecord } from '@s2sauth/store';
import { ClientKeySets } from '@s2sauth/issuer';
import { createCertificate, createPartner, type MetadataServer, type TestPartner } from '@s2sauth/test-support/partners';

describe('ClientKeySets', () => {
  let partner: TestPartner;
  let server: MetadataServer;
  let now: number;
  let sets: ClientKeySets;

  function record(overrides: Partial<ClientRecord> = {}): ClientRecord {
    return {
      principal: partner.principal,
      realm: partner.realm,
      certificates: [],
      metadataUrl: server.url,
      allowLoopback: true,
      hostNames: [],
      grants: [],
      enabled: true,
      createdAt: 0,
      updatedAt: 0,
      ...overrides,
    };
  }

  before(async () => {
    partner = await createPartner();
    server = await partner.serveMetadata();
  });

  after(async () => {
    await server.close();
  });

  beforeEach(() => {
    now = Date.now();
    server.respondWith();
    sets = new ClientKeySets({ clock: () => now });
  });

  afterEach(() => {
    sets.close();
  });

  it('fetches a client\'s metadata once and answers later requests for a known key from the cache', async () => {
    const before = server.requests;
    for (let i = 0; i < 5; i++) {
      const keys = await sets.keys(record(), partner.certificate.x5t);
      expect(keys.map((key) => key.x5t)).to.deep.equal([partner.certificate.x5t]);
    }
    expect(server.requests).to.equal(before + 1);
  });

  it('refetches at once for the first unknown key id, then at most once per 30 seconds', async () => {
    await sets.keys(record(), partner.certificate.x5t);
    const before = server.requests;
    // The first unknown key after a load may be a rollover: one fetch at once; the rest wait.
    for (let i = 0; i < 5; i++) expect(await sets.keys(record(), 'unknown-x5t')).to.deep.equal([]);
    expect(server.requests).to.equal(before + 1);
    now += 29_000;
    expect(await sets.keys(record(), 'unknown-x5t')).to.deep.equal([]);
    expect(server.requests).to.equal(before + 1);
    now += 1_000;
    expect(await sets.keys(record(), 'unknown-x5t')).to.deep.equal([]);
    expect(server.requests).to.equal(before + 2);
  });

  it('finds a rolled certificate by refetching for its key id', async () => {
    await sets.keys(record(), partner.certificate.x5t);
    const next = await createCertificate([partner.realm]);
    server.respondWith(partner.metadataDocument({ certificates: [next, partner.certificate] }));
    now += 30_000;
    expect((await sets.keys(record(), next.x5t)).map((key) => key.x5t)).to.deep.equal([next.x5t]);
  });

  it('builds a new key set when the registration\'s metadata URL or loopback permission changes', async () => {
    await sets.keys(record(), partner.certificate.x5t);
    let error: unknown;
    try {
      await sets.keys(record({ allowLoopback: false }), partner.certificate.x5t);
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(KeysUnavailableError);
  });

  it('refuses an unknown option name, and a clock or fetcher that is not a function, at construction', () => {
    expect(() => new ClientKeySets({ clok: () => 0 } as unknown as ConstructorParameters<typeof ClientKeySets>[0])).to.throw(
      TypeError,
      'new ClientKeySets: unknown option "clok"; the options are clock, fetchMetadata.',
    );
    expect(() => new ClientKeySets({ clock: 0 as unknown as () => number })).to.throw(TypeError, 'options.clock');
    expect(() => new ClientKeySets({ fetchMetadata: 'fetch' as unknown as () => Promise<Buffer> })).to.throw(TypeError, 'options.fetchMetadata');
    expect(() => new ClientKeySets(null as unknown as ConstructorParameters<typeof ClientKeySets>[0])).to.throw(TypeError, 'options must be an object');
  });

  it('fetches through an injected fetcher, passing the registration\'s loopback permission', async () => {
    const calls: unknown[] = [];
    const injected = new ClientKeySets({
      clock: () => now,
      fetchMetadata: async (url, options) => {
        calls.push([url, options]);
        return Buffer.from(JSON.stringify(partner.metadataDocument()));
      },
    });
    try {
      expect((await injected.keys(record(), partner.certificate.x5t)).map((key) => key.x5t)).to.deep.equal([partner.certificate.x5t]);
      expect(calls).to.deep.equal([[server.url, { allowLoopback: true }]]);
    } finally {
      injected.close();
    }
  });

  it('answers no keys for a client without a metadata URL, without fetching', async () => {
    const before = server.requests;
    const { metadataUrl: _dropped, ...pinned } = record();
    expect(await sets.keys(pinned, partner.certificate.x5t)).to.deep.equal([]);
    expect(server.requests).to.equal(before);
  });
});
