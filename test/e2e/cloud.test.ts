/**
 * End-to-end: the cloud scenario as `npm start -- --scenario cloud` runs it. An STS issues tokens for
 * a tenant; Lync Online and Exchange Online are its clients and trust it, and each other only
 * through it. Everything is observed through the servers' own routes over real HTTP, plus the audit
 * of the receiving verifier and of the STS, whose token ids tie each accepted call to a token the
 * STS issued.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OAuthCertificate, TokenIssuer } from '@s2sauth/issuer';
import { readBearerChallenge, WellKnownPrincipal } from '@s2sauth/protocol';
import { temporaryFolder } from './support/data-folders.js';
import { decisionsAbout, issuedTokenIds, PARTNERS, startStsScenario, stsScenarioPerTest } from './support/sts-scenario.js';
import { addContactInLync, ALICE, archiveConversation, BOB, scheduleMeetingFromExchange } from './support/user-flows.js';


describe('cloud: Lync Online and Exchange Online trusting an STS (end to end)', function () {
  const cloud = stsScenarioPerTest('cloud');

  it('stores a contact alice adds in Lync in her Exchange mailbox, with tokens the STS issued to Lync for Exchange', async function () {
    const { scenario, audit, stsDecisions } = await cloud();
    const { added, inExchange } = await addContactInLync(scenario.lync.url, scenario.exchange.url);
    expect(inExchange.map((contact) => [contact.id, contact.email])).to.deep.equal([[added.id, BOB]]);

    const accepted = decisionsAbout(audit, PARTNERS.lync.identity, '/api/ucs/contacts');
    expect(accepted).to.not.be.empty;
    const issued = issuedTokenIds(stsDecisions, PARTNERS.lync.principal, PARTNERS.exchange.principal, scenario.tenant);
    for (const event of accepted) {
      expect(event.user, JSON.stringify(event)).to.equal(ALICE);
      expect(issued, `token ${event.tokenId} was issued by the STS`).to.include(event.tokenId);
    }
    expect(audit.filter((event) => event.decision === 'reject')).to.deep.equal([]);
  });

  it("archives the transcript of a conversation between alice and bob in alice's Exchange mail, with STS tokens", async function () {
    const { scenario, audit, stsDecisions } = await cloud();
    const { ended, mail, status } = await archiveConversation(scenario.lync, scenario.exchange.url, 'Quarterly report');
    expect(mail).to.have.length(1);
    expect(mail[0]).to.include({ conversationId: ended.id, subject: 'Quarterly report' });
    expect(mail[0]?.participants).to.have.members([ALICE, BOB]);
    expect(mail[0]?.messages.map((message) => [message.from, message.text])).to.deep.equal([
      [ALICE, 'Hi Bob, about Quarterly report'],
      [BOB, 'Hi Alice, sounds good'],
    ]);
    expect(status).to.equal('archived');

    const accepted = decisionsAbout(audit, PARTNERS.lync.identity, '/api/archive');
    expect(accepted).to.not.be.empty;
    const issued = issuedTokenIds(stsDecisions, PARTNERS.lync.principal, PARTNERS.exchange.principal, scenario.tenant);
    for (const event of accepted) expect(issued).to.include(event.tokenId);
  });

  it('creates the conference in Lync, organized by alice with a join URL, when she schedules a meeting from Exchange, with tokens the STS issued to Exchange for Lync', async function () {
    const { scenario, audit, stsDecisions } = await cloud();
    const { meeting, inLync } = await scheduleMeetingFromExchange(scenario.lync.url, scenario.exchange.url, 'Design review');
    expect(new URL(meeting.joinUrl).origin).to.equal(scenario.lync.url);
    expect(inLync).to.have.length(1);
    expect(inLync[0]).to.include({ id: meeting.id, subject: 'Design review', organizer: ALICE, joinUrl: meeting.joinUrl });
    expect(inLync[0]?.attendees).to.deep.equal([BOB]);

    const accepted = decisionsAbout(audit, PARTNERS.exchange.identity, '/api/conferences');
    expect(accepted).to.have.length(1);
    expect(accepted[0]?.user).to.equal(ALICE);
    const issued = issuedTokenIds(stsDecisions, PARTNERS.exchange.principal, PARTNERS.lync.principal, scenario.tenant);
    expect(issued).to.include(accepted[0]?.tokenId);
  });

  it("registers no direct trust: each server trusts the STS, and the other only through it; the STS holds each server's certificate", async function () {
    const { scenario } = await cloud();
    const { sts, lync, exchange, tenant } = scenario;
    expect(tenant).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    for (const [server, partner] of [
      [exchange, PARTNERS.lync],
      [lync, PARTNERS.exchange],
    ] as const) {
      const partners = server.registry.list();
      expect(partners.map((registration) => registration.identity)).to.deep.equal([partner.identity]);
      expect(partners[0]).to.include({ applicationId: partner.principal, realm: tenant, trustLevel: 'full', enabled: true });
      expect(partners[0]?.keySource).to.deep.equal({ kind: 'oauthServer' });
      const servers = server.registry.listOAuthServers();
      expect(servers.map((registered) => [registered.identity, registered.issuer, registered.realm])).to.deep.equal([
        ['microsoft.sts', `${WellKnownPrincipal.sts}@${tenant}`, tenant],
      ]);
    }
    const clients = sts.store.listClients();
    expect(clients.map((client) => [client.principal, client.realm])).to.have.deep.members([
      [WellKnownPrincipal.exchange, tenant],
      [WellKnownPrincipal.lync, tenant],
    ]);
    expect(sts.store.getClient(WellKnownPrincipal.lync, tenant)?.certificates).to.deep.equal([lync.certificatePem]);
    expect(sts.store.getClient(WellKnownPrincipal.exchange, tenant)?.certificates).to.deep.equal([exchange.certificatePem]);
    expect(lync.certificatePem).to.not.equal(exchange.certificatePem);
  });

  it('refuses a token Lync signs with its own OAuth certificate, and its 401 names the STS and its token endpoint', async function () {
    const folder = join(await temporaryFolder(), 'cloud');
    const started = await cloud(folder);
    const { exchange, tenant, sts } = started.scenario;
    const certificate = OAuthCertificate.fromPem(await readFile(join(folder, 'lync', 'oauth-cert.pem'), 'utf8'), await readFile(join(folder, 'lync', 'oauth-key.pem'), 'utf8'));
    const selfIssued = new TokenIssuer({ principal: WellKnownPrincipal.lync, realm: tenant, certificates: certificate }).issueForUser(
      { audience: `${WellKnownPrincipal.exchange}/${exchange.authority}@${tenant}`, scopes: ['contacts.read'] },
      { nameid: ALICE, smtp: ALICE, upn: ALICE },
    );
    const refused = await fetch(`${exchange.url}/api/ucs/contacts`, { headers: { authorization: `Bearer ${selfIssued.token}` } });
    expect(refused.status).to.equal(401);
    expect(refused.headers.get('www-authenticate')).to.match(/error="invalid_token"/);
    expect(decisionsAbout(started.audit, PARTNERS.lync.identity, '/api/ucs/contacts', 'accept')).to.deep.equal([]);

    const asked = await fetch(`${exchange.url}/api/ucs/contacts`, { headers: { authorization: 'Bearer ' } });
    expect(asked.status).to.equal(401);
    const challenge = readBearerChallenge(asked.headers.get('www-authenticate') ?? '');
    expect(challenge).to.include({ realm: tenant, clientId: WellKnownPrincipal.exchange, authorizationUri: sts.tokenEndpoint(tenant) });
    expect(challenge?.trustedIssuers).to.include(`${WellKnownPrincipal.sts}@${tenant}`);
  });

  it('keeps the tenant, the certificates and the data on a restart, and brings the registrations up to date', async function () {
    const folder = join(await temporaryFolder(), 'cloud');
    const first = await startStsScenario('cloud', folder);
    const { added } = await addContactInLync(first.scenario.lync.url, first.scenario.exchange.url);
    const before = { tenant: first.scenario.tenant, lync: first.scenario.lync.certificatePem, exchange: first.scenario.exchange.certificatePem };
    await first.close();

    const second = await cloud(folder);
    const { scenario } = second;
    expect({ tenant: scenario.tenant, lync: scenario.lync.certificatePem, exchange: scenario.exchange.certificatePem }).to.deep.equal(before);
    expect(scenario.exchange.registry.list()).to.have.length(1);
    expect(scenario.exchange.registry.listOAuthServers().map((server) => server.metadataUrl)).to.deep.equal([scenario.stsMetadataUrl]);
    // New ports: the STS knows the servers by their new authorities.
    expect(scenario.sts.store.getClient(WellKnownPrincipal.exchange, scenario.tenant)?.hostNames).to.include(scenario.exchange.authority);
    const { inExchange } = await addContactInLync(scenario.lync.url, scenario.exchange.url);
    expect(inExchange.map((contact) => contact.id)).to.include(added.id).and.have.length(2);
  });
});
