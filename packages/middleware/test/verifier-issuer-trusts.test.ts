/**
 * The verifier's seam: it takes any IssuerTrusts, not only a PartnerRegistry. These tests run it
 * against a small in-memory double of the interface, as a second store backend would plug in.
 */
import { expect } from 'chai';
import { before, beforeEach, describe, it } from 'mocha';
import { BearerError, signingKeyFromCertificate, WellKnownPrincipal } from '@s2sauth/protocol';
import { MemoryStore, type PartnerApplication } from '@s2sauth/store';
import { createCertificate, createPartner, type TestPartner } from '@s2sauth/test-support/partners';
import {
  createVerifier,
  PartnerRegistry,
  type AuditEvent,
  type OAuthServer,
  type ResolvedPartner,
  StaticKeySet,
  type IssuerTrusts,
  type VerifierOptions,
} from '@s2sauth/middleware';
import { isIssuerTrusts } from '../src/issuer-trusts.js';

const OWN = WellKnownPrincipal.exchange;
const AUDIENCE = `${OWN}/mail.contoso.com@contoso.com`;
const START = Date.UTC(2030, 0, 15, 12, 0, 0);
const DAY = 86_400_000;

/** One partner registered by certificate, kept in memory: the whole IssuerTrusts contract. */
class OneTrust implements IssuerTrusts {
  revision = 1;
  partner: PartnerApplication;
  readonly keys: StaticKeySet;
  readonly #listeners = new Set<() => void>();

  constructor(partner: PartnerApplication, keys: StaticKeySet) {
    this.partner = partner;
    this.keys = keys;
  }

  /** Replaces the record, as a store backend would on an update, and tells the listeners. */
  update(changes: Partial<PartnerApplication>): void {
    this.partner = { ...this.partner, ...changes, updatedAt: this.partner.updatedAt + 1 };
    this.revision++;
    for (const listener of this.#listeners) listener();
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  resolve(applicationId: string, realm: string): ResolvedPartner | undefined {
    const { partner } = this;
    return partner.applicationId === applicationId && partner.realm === realm ? { partner, keys: this.keys } : undefined;
  }

  resolveOAuthServer(): undefined {
    return undefined;
  }

  find(applicationId: string, realm: string): PartnerApplication | undefined {
    return this.resolve(applicationId, realm)?.partner;
  }

  list(): readonly PartnerApplication[] {
    return [this.partner];
  }

  listOAuthServers(): readonly OAuthServer[] {
    return [];
  }
}

describe('verifier over a IssuerTrusts that is not a PartnerRegistry', () => {
  let now = START;
  const clock = (): number => now;
  let lync: TestPartner;
  let trust: OneTrust;
  let events: AuditEvent[];

  before(async () => {
    const certificate = await createCertificate(['contoso.com'], { notBefore: new Date(START - DAY), validityDays: 30 });
    lync = await createPartner({ principal: WellKnownPrincipal.lync, identity: 'microsoft.lync', certificate });
  });

  beforeEach(() => {
    now = START;
    events = [];
    const record: PartnerApplication = {
      identity: lync.identity,
      applicationId: lync.principal,
      realm: 'contoso.com',
      keySource: { kind: 'certificate', certificates: [lync.certificate.pem] },
      trustLevel: 'full',
      scopes: ['contacts.read'],
      enabled: true,
      acceptUnsignedUserContext: false,
      createdAt: START - DAY,
      updatedAt: START - DAY,
    };
    trust = new OneTrust(record, new StaticKeySet([signingKeyFromCertificate(lync.certificate.pem, START)], { clock }));
  });

  function options(): VerifierOptions {
    return { principal: OWN, realms: 'contoso.com', authorities: ['mail.contoso.com'], registry: trust, clock, audit: (e) => events.push(e) };
  }

  function actor(): string {
    return lync.mint(lync.actorClaims(AUDIENCE, Math.floor(now / 1000)));
  }

  it('verifies a partner\'s token with the keys the double hands out, and names the partner in the challenge', async () => {
    const verifier = createVerifier(options());
    const principal = await verifier.verify(actor());
    expect(principal).to.deep.include({ partner: 'microsoft.lync', applicationId: lync.principal, realm: 'contoso.com', trust: 'certificate' });
    expect(principal.scopes).to.deep.equal(['contacts.read']);
    expect(verifier.challenge().trustedIssuers).to.deep.equal([lync.issuerId]);
    expect(events.map((e) => e.decision)).to.deep.equal(['accept']);
    verifier.close();
  });

  it('answers a reused token from the cache until the double reports a change, then decides afresh', async () => {
    const verifier = createVerifier(options());
    const token = actor();
    await verifier.verify(token);
    expect(trust.listenerCount).to.equal(1);
    expect(verifier.verifyCached(token)?.partner).to.equal('microsoft.lync');
    trust.update({ enabled: false });
    expect(verifier.verifyCached(token)).to.equal(undefined);
    const error = await verifier.verify(token).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(BearerError);
    expect((error as BearerError).code).to.equal('partner_disabled');
    expect(verifier.challenge().trustedIssuers).to.deep.equal([]);
    verifier.close();
    expect(trust.listenerCount).to.equal(0);
  });

  it('refuses a token of an issuer the double does not know as issuer_unknown', async () => {
    const other = await createPartner({ principal: WellKnownPrincipal.sharepoint, certificate: lync.certificate });
    const verifier = createVerifier(options());
    const error = await verifier.verify(other.mint(other.actorClaims(AUDIENCE, Math.floor(now / 1000)))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as BearerError).code).to.equal('issuer_unknown');
    verifier.close();
  });

  it('refuses, naming options.registry, an object that lacks a member of the interface', () => {
    const { find: _find, ...partial } = Object.fromEntries(
      ['onChange', 'resolve', 'resolveOAuthServer', 'find', 'list', 'listOAuthServers'].map((name) => [name, () => undefined]),
    );
    const registry = { revision: 0, ...partial } as unknown as IssuerTrusts;
    expect(() => createVerifier({ ...options(), registry })).to.throw(TypeError, 'options.registry');
  });

  it('is what PartnerRegistry implements, and what the double implements', () => {
    const store = new MemoryStore();
    const registry: IssuerTrusts = new PartnerRegistry({ store });
    expect(isIssuerTrusts(registry)).to.equal(true);
    expect(isIssuerTrusts(trust)).to.equal(true);
    expect(isIssuerTrusts({})).to.equal(false);
    (registry as PartnerRegistry).close();
    store.close();
  });
});
