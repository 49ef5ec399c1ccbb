/**
 * A cached accept is only as good as the key that verified it: an expired certificate never
 * verifies (protocol.md section 2) and keys past their staleness bound fail closed (section 4),
 * whatever the verification cache holds.
 */
import { expect } from 'chai';
import { afterEach, describe, it } from 'mocha';
import { BearerError, WellKnownPrincipal } from '@s2sauth/protocol';
import { MemoryStore } from '@s2sauth/store';
import { createCertificate, createPartner, type MetadataServer } from '@s2sauth/test-support/partners';
import { createVerifier, PartnerRegistry, type Verifier, type VerifierOptions } from '@s2sauth/middleware';

const OWN = WellKnownPrincipal.exchange;
const AUDIENCE = `${OWN}/mail.contoso.com@contoso.com`;
const START = Date.UTC(2030, 0, 15, 12, 0, 0);
const DAY = 86_400_000;

async function rejection(promise: Promise<unknown>): Promise<BearerError | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    expect(error).to.be.instanceOf(BearerError);
    return error as BearerError;
  }
}

describe('verifier: cached tokens and their keys', () => {
  let now = START;
  const clock = (): number => now;
  const cleanup: Array<() => unknown> = [];

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
    now = START;
  });

  function verifierFor(registry: PartnerRegistry, options: { maxLifetimeSeconds?: number } = {}): Verifier {
    const verifier = createVerifier({
      principal: OWN,
      realms: 'contoso.com',
      authorities: ['mail.contoso.com'],
      registry,
      clock,
      audit: false,
      ...options,
    });
    cleanup.push(() => verifier.close());
    return verifier;
  }

  it('rejects a cached token once the partner certificate that verified it has expired (protocol.md 2: an expired certificate never verifies)', async () => {
    // Pinned certificate valid until START + 10 minutes.
    const certificate = await createCertificate(['contoso.com'], { notBefore: new Date(START - DAY), validityDays: 1 + 10 / 1440 });
    const partner = await createPartner({ certificate });
    const store = new MemoryStore({ clock });
    const registry = new PartnerRegistry({ store, clock });
    cleanup.push(() => store.close(), () => registry.close());
    await registry.add({ identity: partner.identity, applicationId: partner.principal, realm: partner.realm, certificate: certificate.pem });

    const t = Math.floor(START / 1000);
    const token = partner.mint(partner.actorClaims(AUDIENCE, t, { nbf: t, iat: t, exp: t + 3600 }));

    const cached = verifierFor(registry);
    const uncached = createVerifier({ ...withoutUndefined(cached.options), cache: false } as VerifierOptions);
    await cached.verify(token); // accepted and cached while the certificate is valid

    now = START + 20 * 60_000; // the certificate expired 10 minutes ago; the token is still within its window
    const fresh = await rejection(uncached.verify(token));
    expect(fresh?.code, 'uncached verification').to.equal('key_unknown');
    expect(cached.verifyCached(token), 'answered synchronously with an expired certificate').to.equal(undefined);
    const fromCache = await rejection(cached.verify(token));
    expect(fromCache?.code, 'cached verification accepted a token whose certificate has expired').to.equal('key_unknown');
  });

  it('fails closed (503) for a cached token once the partner keys are past their maximum staleness (protocol.md 4)', async () => {
    const certificate = await createCertificate(['contoso.com'], { notBefore: new Date(START - DAY), validityDays: 30 });
    const partner = await createPartner({ certificate });
    const server: MetadataServer = await partner.serveMetadata();
    const store = new MemoryStore({ clock });
    const registry = new PartnerRegistry({ store, clock, keySets: { maxStalenessMs: 60_000, unknownKeyCooldownMs: 1000 } });
    cleanup.push(() => server.close(), () => store.close(), () => registry.close());
    await registry.add({ identity: partner.identity, metadataUrl: server.url, allowLoopback: true });

    const t = Math.floor(START / 1000);
    const token = partner.mint(partner.actorClaims(AUDIENCE, t));
    const cached = verifierFor(registry);
    const uncached = createVerifier({ ...withoutUndefined(cached.options), cache: false } as VerifierOptions);
    await cached.verify(token);

    server.respondWith('down', 500); // metadata endpoint fails from now on
    now = START + 5 * 60_000; // keys last loaded 5 minutes ago, staleness bound 1 minute

    const fresh = await rejection(uncached.verify(token));
    expect(fresh?.code, 'uncached verification').to.equal('keys_unavailable');
    expect(cached.verifyCached(token), 'answered synchronously with stale keys').to.equal(undefined);
    const fromCache = await rejection(cached.verify(token));
    expect(fromCache?.code, 'cached verification ignored the staleness bound').to.equal('keys_unavailable');
  });
});

/** Verifier options as given back by `verifier.options`, minus members that are undefined. */
function withoutUndefined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}
