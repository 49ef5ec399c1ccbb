import { WellKnownPrincipal } from '@s2sauth/protocol';
import { expect } from 'chai';
import type { LyncServer } from '../src/index.js';
import { FakeExchange } from './fake-exchange.js';
import { signIn } from './lync-session.js';
import { dataFolder, PASSWORD, removeDataFolders, start } from './support.js';

/** The payload of a compact JWS, unverified (the test reads what Lync sent). */
function decode(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.replace(/^Bearer /, '').split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('unified contact store (contacts in Exchange)', () => {
  let exchange: FakeExchange;
  let dataDir: string;
  let lync: LyncServer | undefined;

  beforeEach(async () => {
    exchange = new FakeExchange();
    await exchange.start();
    dataDir = await dataFolder();
  });

  afterEach(async () => {
    await lync?.close();
    lync = undefined;
    await exchange.stop();
  });

  after(removeDataFolders);

  /** Alice's two local contacts, made while Lync had no Exchange partner. */
  async function localContactsFirst(): Promise<void> {
    const local = await start(dataDir);
    const alice = await signIn(local.url, 'alice@contoso.com', PASSWORD);
    await alice.call('POST', '/me/contacts', { displayName: 'Bob Brown', email: 'bob@contoso.com' });
    await alice.call('POST', '/me/contacts', { displayName: 'Dan Park', email: 'dan@fabrikam.com', phone: '+1 555 0100' });
    await local.close();
  }

  it('moves the local contacts to Exchange once, then keeps every contact there', async () => {
    await localContactsFirst();
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
    expect((await alice.call('GET', '/me')).body).to.deep.include({ contactStore: 'exchange' });

    const list = await alice.call('GET', '/me/contacts');
    expect(list.status).to.equal(200);
    expect((list.body as { email: string }[]).map((c) => c.email)).to.deep.equal(['bob@contoso.com', 'dan@fabrikam.com']);
    expect(exchange.contactsOf('alice@contoso.com')).to.have.length(2);

    const added = await alice.call('POST', '/me/contacts', { displayName: 'Carol Chu', email: 'carol@contoso.com' });
    expect(added.status).to.equal(201);
    expect(exchange.contactsOf('alice@contoso.com').map((c) => c.email)).to.deep.equal(['bob@contoso.com', 'dan@fabrikam.com', 'carol@contoso.com']);

    const id = (added.body as { id: string }).id;
    expect((await alice.call('DELETE', `/me/contacts/${id}`)).status).to.equal(204);
    expect((await alice.call('DELETE', `/me/contacts/${id}`)).status).to.equal(404);
    expect(exchange.contactsOf('alice@contoso.com')).to.have.length(2);
  });

  it('does not move the contacts again after a restart', async () => {
    await localContactsFirst();
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    await (await signIn(lync.url, 'alice@contoso.com', PASSWORD)).call('GET', '/me/contacts');
    await lync.close();
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
    expect((await alice.call('GET', '/me/contacts')).body).to.have.length(2);
    expect(exchange.apiRequests.filter((r) => r.method === 'POST' && r.path === '/api/ucs/contacts')).to.have.length(2);
    expect(exchange.contactsOf('alice@contoso.com')).to.have.length(2);
  });

  it('moves each contact once when concurrent requests start the move together', async () => {
    await localContactsFirst();
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
    const answers = await Promise.all([alice.call('GET', '/me/contacts'), alice.call('GET', '/me/contacts'), alice.call('GET', '/me/contacts')]);
    expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200]);
    expect(exchange.contactsOf('alice@contoso.com')).to.have.length(2);
  });

  it('finishes an interrupted move without posting a contact twice', async () => {
    await localContactsFirst();
    // The first contact reached Exchange before Lync stopped: the move had not been recorded.
    exchange.contactsOf('alice@contoso.com').push({ id: 'ex-1', displayName: 'Bob Brown', email: 'bob@contoso.com' });
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
    expect((await alice.call('GET', '/me/contacts')).body).to.have.length(2);
    expect(exchange.apiRequests.filter((r) => r.method === 'POST')).to.have.length(1);
  });

  it('tells the user clearly when Exchange refuses, and keeps the local contacts for a later move', async () => {
    await localContactsFirst();
    exchange.mode = 'refuse';
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
    const refused = await alice.call('GET', '/me/contacts');
    expect(refused.status).to.equal(502);
    expect(refused.body).to.deep.include({ error: 'exchange_refused' });
    expect((refused.body as { message: string }).message).to.match(/partner application/);
    exchange.mode = 'up';
    expect((await alice.call('GET', '/me/contacts')).body).to.have.length(2);
  });

  it('answers 502 when Exchange cannot be reached', async () => {
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    await exchange.stop();
    const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
    const response = await alice.call('GET', '/me/contacts');
    expect(response.status).to.equal(502);
    expect(response.body).to.deep.include({ error: 'exchange_unavailable' });
  });

  it('sends Exchange exactly one bearer token, no cookie, on behalf of the signed-in user', async () => {
    await localContactsFirst();
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
    await alice.call('GET', '/me/contacts');
    await alice.call('POST', '/me/contacts', { displayName: 'Carol Chu', email: 'carol@contoso.com' });
    expect(exchange.apiRequests.length).to.be.greaterThan(2);
    for (const request of exchange.requests) {
      expect(request.authorization, `${request.method} ${request.path}`).to.have.length(1);
      expect(request.authorization[0]).to.match(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
      expect(request.cookie).to.deep.equal([]);
      expect(request.user).to.equal('alice@contoso.com');
      expect(JSON.stringify(request.body ?? {})).to.not.include(PASSWORD);
      const outer = decode(request.authorization[0] as string);
      expect(outer.aud).to.equal(`${WellKnownPrincipal.exchange}/${new URL(exchange.url).host}@contoso.com`);
      const actor = decode(outer.actortoken as string);
      expect(actor.iss).to.equal(`${WellKnownPrincipal.lync}@contoso.com`);
      expect(actor.scp).to.equal(request.method === 'GET' ? 'contacts.read' : 'contacts.write');
    }
  });
});
