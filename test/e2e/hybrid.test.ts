/**
 * End-to-end: the hybrid scenario as `npm start -- --scenario hybrid` runs it. Lync stays on
 * premises (realm contoso.com, its own OAuth certificate, which is also its credential at the STS),
 * Exchange is in the cloud tenant; calls in both directions carry tokens the STS issued for the
 * tenant. Observed through the servers' own routes over real HTTP and the audit of the receiving
 * verifier and of the STS.
 */
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { readBearerChallenge, WellKnownPrincipal } from '@s2sauth/protocol';
import { decisionsAbout, issuedTokenIds, PARTNERS, stsScenarioPerTest } from './support/sts-scenario.js';
import { addContactInLync, ALICE, archiveConversation, BOB, scheduleMeetingFromExchange } from './support/user-flows.js';


describe('hybrid: Lync on premises and Exchange Online, tokens from the STS both ways (end to end)', function () {
  const hybrid = stsScenarioPerTest('hybrid');

  it('stores a contact alice adds in Lync on premises in her Exchange Online mailbox, with tokens the STS issued to Lync', async function () {
    const { scenario, audit, stsDecisions } = await hybrid();
    const { added, inExchange } = await addContactInLync(scenario.lync.url, scenario.exchange.url);
    expect(inExchange.map((contact) => [contact.id, contact.email])).to.deep.equal([[added.id, BOB]]);

    const calls = decisionsAbout(audit, PARTNERS.lync.identity, '/api/ucs/contacts');
    expect(calls).to.not.be.empty;
    const issued = issuedTokenIds(stsDecisions, PARTNERS.lync.principal, PARTNERS.exchange.principal, scenario.tenant);
    for (const event of calls) {
      expect(event.user).to.equal(ALICE);
      expect(issued, `token ${event.tokenId} was issued by the STS`).to.include(event.tokenId);
    }
    expect(audit.filter((event) => event.decision === 'reject')).to.deep.equal([]);
  });

  it("archives the transcript of a conversation in Lync on premises in alice's Exchange Online mail, with STS tokens", async function () {
    const { scenario, audit, stsDecisions } = await hybrid();
    const { ended, mail, status } = await archiveConversation(scenario.lync, scenario.exchange.url, 'Migration plan');
    expect(mail.map((item) => [item.conversationId, item.subject])).to.deep.equal([[ended.id, 'Migration plan']]);
    expect(mail[0]?.messages.map((message) => message.from)).to.deep.equal([ALICE, BOB]);
    expect(status).to.equal('archived');

    const calls = decisionsAbout(audit, PARTNERS.lync.identity, '/api/archive');
    expect(calls).to.not.be.empty;
    const issued = issuedTokenIds(stsDecisions, PARTNERS.lync.principal, PARTNERS.exchange.principal, scenario.tenant);
    for (const event of calls) expect(issued).to.include(event.tokenId);
  });

  it('creates the conference in Lync on premises, organized by alice, when she schedules a meeting from Exchange Online, with a token the STS issued to Exchange', async function () {
    const { scenario, audit, stsDecisions } = await hybrid();
    const { meeting, inLync } = await scheduleMeetingFromExchange(scenario.lync.url, scenario.exchange.url, 'Cutover');
    expect(inLync.map((conference) => [conference.id, conference.subject, conference.organizer, conference.joinUrl])).to.deep.equal([
      [meeting.id, 'Cutover', ALICE, meeting.joinUrl],
    ]);
    expect(new URL(meeting.joinUrl).origin).to.equal(scenario.lync.url);

    const calls = decisionsAbout(audit, PARTNERS.exchange.identity, '/api/conferences');
    expect(calls).to.have.length(1);
    expect(issuedTokenIds(stsDecisions, PARTNERS.exchange.principal, PARTNERS.lync.principal, scenario.tenant)).to.include(calls[0]?.tokenId);
  });

  it("keeps Lync's on-premises certificate for contoso.com as its credential at the STS, and trusts across premises only through the STS", async function () {
    const { scenario } = await hybrid();
    const { sts, lync, exchange, tenant } = scenario;
    const lyncCertificate = new X509Certificate(lync.certificatePem);
    expect(lyncCertificate.subject).to.include('CN=contoso.com');
    expect(lyncCertificate.subjectAltName).to.include('DNS:fabrikam.com');
    expect(new X509Certificate(exchange.certificatePem).subject).to.include(`CN=${tenant}`);
    expect(sts.store.getClient(WellKnownPrincipal.lync, tenant)?.certificates).to.deep.equal([lync.certificatePem]);
    expect(sts.store.getClient(WellKnownPrincipal.exchange, tenant)?.certificates).to.deep.equal([exchange.certificatePem]);

    expect(lync.registry.list().map((partner) => [partner.identity, partner.realm, partner.keySource.kind])).to.deep.equal([[PARTNERS.exchange.identity, tenant, 'oauthServer']]);
    expect(exchange.registry.list().map((partner) => [partner.identity, partner.realm, partner.keySource.kind])).to.deep.equal([[PARTNERS.lync.identity, tenant, 'oauthServer']]);

    // Lync's challenge: its own realm first, the tenant's STS among the trusted issuers. The STS is
    // registered for the tenant, not for contoso.com, the realm the challenge names, so it does not
    // supply authorization_uri (only an OAuth server of the challenge's realm or of `*` does).
    const asked = await fetch(`${lync.url}/api/conferences`, { method: 'POST', headers: { authorization: 'Bearer ' } });
    expect(asked.status).to.equal(401);
    const challenge = readBearerChallenge(asked.headers.get('www-authenticate') ?? '');
    expect(challenge).to.include({ realm: 'contoso.com', clientId: WellKnownPrincipal.lync });
    expect(challenge).to.not.have.property('authorizationUri');
    expect(challenge?.trustedIssuers).to.include(`${WellKnownPrincipal.sts}@${tenant}`);
  });
});
