/**
 * End-to-end: Lync and Exchange on premises, each the other's partner application, over real HTTP
 * on loopback with their own data folders. Everything is observed through the servers' own routes
 * (a person signed in with a password), plus the wire between the servers in the traffic test.
 */
import { expect } from 'chai';
import type { AuditEvent } from '@s2sauth/middleware';
import { removeTemporaryFolders, temporaryFolder } from './support/data-folders.js';
import { startDemoPair, type DemoPair } from './support/demo-pair.js';
import { Deployment, LYNC_IN_EXCHANGE, lyncRegistration, PASSWORD, type DeploymentOptions } from './support/on-premises.js';
import { headerPairs, startRecordingProxy, type RecordingProxy } from './support/recording-proxy.js';
import { tokenPurpose } from './support/tokens.js';
import { WebSession, type WebAnswer } from './support/web-session.js';

const ALICE = 'alice@contoso.com';
const BOB = 'bob@contoso.com';

interface ContactJson {
  readonly id: string;
  readonly displayName: string;
  readonly email: string;
}
interface MailJson {
  readonly id: string;
  readonly conversationId: string;
  readonly subject: string;
  readonly participants: readonly string[];
  readonly messages: readonly { readonly from: string; readonly text: string }[];
}
interface ConversationJson {
  readonly id: string;
  readonly messages: readonly { readonly from: string; readonly text: string }[];
  readonly archive: { readonly status: string; readonly outbox?: { readonly attempts: number; readonly lastError?: string } };
}
interface ConferenceJson {
  readonly id: string;
  readonly subject: string;
  readonly organizer: string;
  readonly joinUrl: string;
  readonly attendees: readonly string[];
}

function ok<T>(answer: WebAnswer, status = 200): T {
  expect(answer.status, `answer ${JSON.stringify(answer.body)}`).to.equal(status);
  return answer.body as T;
}

/** How many times each e-mail address occurs in a contact list. */
function countByEmail(contacts: readonly ContactJson[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const contact of contacts) counts[contact.email] = (counts[contact.email] ?? 0) + 1;
  return counts;
}

/** Alice starts a conversation with Bob, both write, and one of them ends it. */
async function converse(alice: WebSession, bob: WebSession, subject: string, endedBy: WebSession = alice): Promise<ConversationJson> {
  const started = ok<ConversationJson>(await alice.post('/me/conversations', { subject, participants: [BOB] }), 201);
  ok(await alice.post(`/me/conversations/${started.id}/messages`, { text: `Hi Bob, about ${subject}` }), 201);
  ok(await bob.post(`/me/conversations/${started.id}/messages`, { text: 'Hi Alice, sounds good' }), 201);
  return ok<ConversationJson>(await endedBy.post(`/me/conversations/${started.id}/end`));
}

/** Alice's archived transcripts, read through Exchange's own web routes. */
async function exchangeMail(exchangeUrl: string, username = ALICE): Promise<MailJson[]> {
  const session = await WebSession.signIn(exchangeUrl, username, PASSWORD);
  return ok<MailJson[]>(await session.get('/me/mail'));
}

async function exchangeContacts(exchangeUrl: string, username = ALICE): Promise<ContactJson[]> {
  const session = await WebSession.signIn(exchangeUrl, username, PASSWORD);
  return ok<ContactJson[]>(await session.get('/me/contacts'));
}

describe('on premises: Lync and Exchange as partner applications (end to end)', function () {
  const running: { close(): Promise<void> }[] = [];

  async function deployment(options: Omit<DeploymentOptions, 'folder'> = {}): Promise<Deployment> {
    const created = await Deployment.create({ folder: await temporaryFolder(), ...options });
    running.push(created);
    return created;
  }

  /** The pair as `startOnPremises` (the demo launcher) wires it. */
  async function demoPair(): Promise<DemoPair> {
    const started = await startDemoPair(await temporaryFolder());
    running.push(started);
    return started;
  }

  afterEach(async function () {
    for (const item of running.splice(0).reverse()) await item.close();
  });

  after(async function () {
    await removeTemporaryFolders();
  });

  it('stores a contact alice adds in Lync in Exchange, after moving her earlier local contacts exactly once', async function () {
    const onprem = await deployment();
    const local = [
      { displayName: 'Dan Davis', email: 'dan@fabrikam.com' },
      { displayName: 'Erin Evans', email: 'erin@fabrikam.com', phone: '+1 425 555 0100' },
    ];
    // Before Exchange exists: Lync keeps alice's contacts itself.
    const lyncAlone = await onprem.startLync({ withExchange: false });
    let alice = await WebSession.signIn(lyncAlone.url, ALICE, PASSWORD);
    expect(ok<{ contactStore: string }>(await alice.get('/me')).contactStore).to.equal('local');
    for (const contact of local) ok(await alice.post('/me/contacts', contact), 201);
    await onprem.stopLync();

    // Exchange arrives; Lync restarts with it, and the two trust each other.
    await onprem.startExchange();
    const lync = await onprem.startLync();
    await onprem.trust();
    alice = await WebSession.signIn(lync.url, ALICE, PASSWORD);
    expect(ok<{ contactStore: string }>(await alice.get('/me')).contactStore).to.equal('exchange');
    // A first attempt while Exchange is down fails clearly and moves nothing.
    await onprem.stopExchange();
    const down = await alice.get('/me/contacts');
    expect(down.status).to.equal(502);
    expect(down.body).to.include({ error: 'exchange_unavailable' });
    await onprem.startExchange();
    const added = ok<ContactJson>(await alice.post('/me/contacts', { displayName: 'Frank Fox', email: 'frank@contoso.com' }), 201);

    const expected = { 'dan@fabrikam.com': 1, 'erin@fabrikam.com': 1, 'frank@contoso.com': 1 };
    const inExchange = await exchangeContacts(onprem.exchangeUrl);
    expect(countByEmail(inExchange)).to.deep.equal(expected);
    expect(inExchange.map((contact) => contact.id)).to.include(added.id);
    expect(countByEmail(ok<ContactJson[]>(await alice.get('/me/contacts')))).to.deep.equal(expected);

    // Another restart of Lync and more calls move nothing again.
    await onprem.stopLync();
    const again = await onprem.startLync();
    alice = await WebSession.signIn(again.url, ALICE, PASSWORD);
    expect(countByEmail(ok<ContactJson[]>(await alice.get('/me/contacts')))).to.deep.equal(expected);
    ok(await alice.post('/me/contacts', { displayName: 'Gina Green', email: 'gina@contoso.com' }), 201);
    expect(countByEmail(await exchangeContacts(onprem.exchangeUrl))).to.deep.equal({ ...expected, 'gina@contoso.com': 1 });
    // Bob's list was never touched by alice's move.
    expect(await exchangeContacts(onprem.exchangeUrl, BOB)).to.deep.equal([]);
  });

  it('puts the transcript of a conversation between alice and bob in alice\'s Exchange mail when it ends', async function () {
    const { pair } = await demoPair();
    const { lync, exchange } = pair;
    expect(pair.users).to.include.members([ALICE, BOB]);
    const alice = await WebSession.signIn(lync.url, ALICE, PASSWORD);
    const bob = await WebSession.signIn(lync.url, BOB, PASSWORD);

    const ended = await converse(alice, bob, 'Quarterly report', bob);
    expect(ended.archive.status).to.be.oneOf(['pending', 'archived']);
    await lync.deliverOutbox();

    const mail = await exchangeMail(exchange.url);
    expect(mail).to.have.length(1);
    const [item] = mail;
    expect(item?.conversationId).to.equal(ended.id);
    expect(item?.subject).to.equal('Quarterly report');
    expect(item?.participants).to.have.members([ALICE, BOB]);
    expect(item?.messages.map((message) => [message.from, message.text])).to.deep.equal([
      [ALICE, 'Hi Bob, about Quarterly report'],
      [BOB, 'Hi Alice, sounds good'],
    ]);
    expect(ok<ConversationJson>(await alice.get(`/me/conversations/${ended.id}`)).archive.status).to.equal('archived');
  });

  it('delivers a transcript exactly once when Exchange was down as the conversation ended and Lync restarted before Exchange came back', async function () {
    const onprem = await deployment();
    await onprem.startBoth();
    let alice = await WebSession.signIn(onprem.lync!.url, ALICE, PASSWORD);
    const bob = await WebSession.signIn(onprem.lync!.url, BOB, PASSWORD);
    const started = ok<ConversationJson>(await alice.post('/me/conversations', { subject: 'Outage', participants: [BOB] }), 201);
    ok(await alice.post(`/me/conversations/${started.id}/messages`, { text: 'Is Exchange up?' }), 201);
    ok(await bob.post(`/me/conversations/${started.id}/messages`, { text: 'Not yet.' }), 201);

    await onprem.stopExchange();
    const ended = ok<ConversationJson>(await alice.post(`/me/conversations/${started.id}/end`));
    expect(ended.archive.status).to.equal('pending');
    expect(await onprem.lync!.deliverOutbox()).to.equal(0);

    await onprem.stopLync();
    const lync = await onprem.startLync();
    alice = await WebSession.signIn(lync.url, ALICE, PASSWORD);
    const waiting = ok<ConversationJson>(await alice.get(`/me/conversations/${started.id}`));
    expect(waiting.archive.status).to.equal('pending');
    expect(waiting.archive.outbox?.attempts).to.be.at.least(1);

    await onprem.startExchange();
    await lync.deliverOutbox();
    await lync.deliverOutbox();
    const mail = await exchangeMail(onprem.exchangeUrl);
    expect(mail.filter((item) => item.conversationId === started.id)).to.have.length(1);
    expect(mail).to.have.length(1);
    expect(mail[0]?.messages.map((message) => message.text)).to.deep.equal(['Is Exchange up?', 'Not yet.']);
    expect(ok<ConversationJson>(await alice.get(`/me/conversations/${started.id}`)).archive.status).to.equal('archived');

    // Another restart of both changes nothing.
    await onprem.stopLync();
    await onprem.stopExchange();
    await onprem.startExchange();
    expect(await (await onprem.startLync()).deliverOutbox()).to.equal(0);
    expect(await exchangeMail(onprem.exchangeUrl)).to.have.length(1);
  });

  it('creates the conference in Lync, organized by alice and with a join URL, when alice schedules a meeting from Exchange', async function () {
    const { pair } = await demoPair();
    const { lync, exchange } = pair;
    const inExchange = await WebSession.signIn(exchange.url, ALICE, PASSWORD);
    const start = new Date(Date.now() + 3_600_000);
    start.setUTCSeconds(0, 0);
    const end = new Date(start.getTime() + 30 * 60_000);
    const meeting = ok<ConferenceJson>(
      await inExchange.post('/me/meetings', { subject: 'Design review', start: start.toISOString(), end: end.toISOString(), attendees: [BOB] }),
      201,
    );
    expect(meeting.joinUrl).to.be.a('string');
    expect(new URL(meeting.joinUrl).origin).to.equal(lync.url);

    const alice = await WebSession.signIn(lync.url, ALICE, PASSWORD);
    const conferences = ok<ConferenceJson[]>(await alice.get('/me/conferences'));
    expect(conferences).to.have.length(1);
    const [conference] = conferences;
    expect(conference).to.include({ id: meeting.id, subject: 'Design review', organizer: ALICE, joinUrl: meeting.joinUrl });
    expect(conference?.attendees).to.deep.equal([BOB]);
    // The attendee sees it too; a user who is neither does not.
    const bob = await WebSession.signIn(lync.url, BOB, PASSWORD);
    expect(ok<ConferenceJson[]>(await bob.get('/me/conferences')).map((c) => c.id)).to.deep.equal([meeting.id]);
    const carol = await WebSession.signIn(lync.url, 'carol@contoso.com', PASSWORD);
    expect(ok<ConferenceJson[]>(await carol.get('/me/conferences'))).to.deep.equal([]);
  });

  it('sends exactly one bearer token, no cookie and no password on every call between the servers, and reuses one token per audience, user and scopes', async function () {
    // Each server listens on its own loopback address; a recording proxy on 127.0.0.1 at the same
    // port stands in front of it, and the other server calls http://localhost:<port> (see recording-proxy.ts).
    const toExchange: RecordingProxy = await startRecordingProxy({ targetHost: '127.0.0.2' });
    running.push(toExchange);
    const toLync: RecordingProxy = await startRecordingProxy({ targetHost: '127.0.0.3' });
    running.push(toLync);
    const onprem = await deployment({
      exchangeHost: '127.0.0.2',
      exchangePort: toExchange.port,
      lyncHost: '127.0.0.3',
      lyncPort: toLync.port,
      exchangeUrlForLync: `http://localhost:${toExchange.port}`,
      lyncUrlForExchange: `http://localhost:${toLync.port}`,
    });
    await onprem.startBoth();
    const lync = onprem.lync!;

    const alice = await WebSession.signIn(lync.url, ALICE, PASSWORD);
    const bob = await WebSession.signIn(lync.url, BOB, PASSWORD);
    for (const name of ['Dan', 'Erin', 'Frank']) ok(await alice.post('/me/contacts', { displayName: name, email: `${name.toLowerCase()}@fabrikam.com` }), 201);
    for (let round = 0; round < 3; round += 1) expect(ok<ContactJson[]>(await alice.get('/me/contacts'))).to.have.length(3);
    expect(ok<ContactJson[]>(await bob.get('/me/contacts'))).to.deep.equal([]);
    for (const subject of ['One', 'Two', 'Three']) await converse(alice, bob, subject);
    await lync.deliverOutbox();
    expect(await exchangeMail(onprem.exchangeUrl)).to.have.length(3);
    const inExchange = await WebSession.signIn(onprem.exchangeUrl, ALICE, PASSWORD);
    for (const subject of ['Standup', 'Retro']) ok(await inExchange.post('/me/meetings', { subject }), 201);
    expect(ok<ConferenceJson[]>(await alice.get('/me/conferences'))).to.have.length(2);

    const calls = [
      ...toExchange.recorded.map((call) => ({ ...call, to: 'exchange', port: toExchange.port })),
      ...toLync.recorded.map((call) => ({ ...call, to: 'lync', port: toLync.port })),
    ];
    // 3 adds + 3 lists + 1 list (bob) + 3 transcripts to Exchange; 2 meetings to Lync.
    expect(toExchange.recorded).to.have.length(10);
    expect(toLync.recorded).to.have.length(2);

    const tokensByPurpose = new Map<string, { tokens: Set<string>; jtis: Set<string>; calls: number }>();
    for (const call of calls) {
      const where = `${call.method} ${call.to}${call.path}`;
      expect(call.path, where).to.match(/^\/api\//);
      expect(call.status, where).to.be.within(200, 299);
      const headers = headerPairs(call.rawHeaders);
      const authorization = headers.filter(([name]) => name.toLowerCase() === 'authorization');
      expect(authorization, `${where}: Authorization headers`).to.have.length(1);
      const value = authorization[0]?.[1] ?? '';
      expect(value, where).to.match(/^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      expect(headers.map(([name]) => name.toLowerCase()), where).to.not.include.members(['cookie', 'cookie2', 'proxy-authorization']);
      expect(headers.filter(([name]) => /pass|secret|session/i.test(name)), where).to.deep.equal([]);
      const raw = `${headers.map(([name, v]) => `${name}: ${v}`).join('\n')}\n\n${call.body.toString('utf8')}`;
      expect(raw.includes(PASSWORD), `${where} carries a password`).to.equal(false);
      expect(raw, where).to.not.match(/"password"|lync\.sid|exchange\.sid/i);
      expect(headerPairs(call.responseRawHeaders ?? []).map(([name]) => name.toLowerCase()), where).to.not.include('set-cookie');

      const token = value.slice('Bearer '.length);
      const purpose = tokenPurpose(token);
      expect(purpose.audience, where).to.match(new RegExp(`^[0-9a-f-]{36}/localhost:${call.port}@contoso\\.com$`));
      const key = `${purpose.audience} ${purpose.user} ${purpose.scopes}`;
      const entry = tokensByPurpose.get(key) ?? { tokens: new Set<string>(), jtis: new Set<string>(), calls: 0 };
      entry.tokens.add(token);
      entry.jtis.add(purpose.jti);
      entry.calls += 1;
      tokensByPurpose.set(key, entry);
    }
    const summary = Object.fromEntries([...tokensByPurpose].map(([key, entry]) => [key.replace(/^\S+ /, ''), [entry.calls, entry.tokens.size, entry.jtis.size]]));
    // [calls, distinct tokens, distinct actor jti] per (user, scopes); one audience per target.
    expect(summary).to.deep.equal({
      [`${ALICE} contacts.write`]: [3, 1, 1],
      [`${ALICE} contacts.read`]: [3, 1, 1],
      [`${BOB} contacts.read`]: [1, 1, 1],
      [`${ALICE} archive.write`]: [3, 1, 1],
      [`${ALICE} conferences.write`]: [2, 1, 1],
    });
  });

  it('refuses Lync with 401 while Exchange has disabled its registration, tells the user, keeps the transcript, and delivers it once after re-enabling', async function () {
    const { pair, audit } = await demoPair();
    const { lync, exchange } = pair;
    const alice = await WebSession.signIn(lync.url, ALICE, PASSWORD);
    const bob = await WebSession.signIn(lync.url, BOB, PASSWORD);
    ok(await alice.post('/me/contacts', { displayName: 'Dan Davis', email: 'dan@fabrikam.com' }), 201);

    const registration = lyncRegistration(exchange.registry.list());
    expect(registration).to.include({ enabled: true, trustLevel: 'full' });
    expect(registration.scopes).to.have.members([...LYNC_IN_EXCHANGE.scopes]);
    await exchange.registry.disable(registration.identity);
    // Exchange's decisions about Lync name Lync's registration there (reject events carry no audience).
    const atExchange = (event: AuditEvent): boolean => event.partner === registration.identity;
    const acceptedBefore = audit.filter((event) => atExchange(event) && event.decision === 'accept').length;

    const refused = await alice.post('/me/contacts', { displayName: 'Erin Evans', email: 'erin@fabrikam.com' });
    expect(refused.status).to.equal(502);
    const error = refused.body as { error: string; message: string };
    expect(error.error).to.equal('exchange_refused');
    expect(error.message).to.match(/\(401\)/).and.match(/partner application registration in Exchange/);
    expect(error.message).to.not.match(/eyJ/); // no token in what the user sees

    const ended = await converse(alice, bob, 'While disabled');
    expect(ended.archive.status).to.equal('pending');
    expect(await lync.deliverOutbox()).to.equal(0);
    const waiting = ok<ConversationJson>(await alice.get(`/me/conversations/${ended.id}`));
    expect(waiting.archive.status).to.equal('pending');
    expect(waiting.archive.outbox?.attempts).to.be.at.least(1);
    expect(waiting.archive.outbox?.lastError).to.match(/401/);

    // Exchange refused every call while the registration was disabled, and accepted none.
    const rejections = audit.filter((event) => atExchange(event) && event.decision === 'reject');
    // The add-contact call and its one retry with a fresh token, the outbox's attempts.
    expect(rejections.map((event) => event.path)).to.include.members(['/api/ucs/contacts', '/api/archive']);
    for (const event of rejections) expect(event, JSON.stringify(event)).to.include({ status: 401, code: 'partner_disabled' });
    expect(audit.filter((event) => atExchange(event) && event.decision === 'accept')).to.have.length(acceptedBefore);
    expect(await exchangeMail(exchange.url)).to.deep.equal([]);
    expect(countByEmail(await exchangeContacts(exchange.url))).to.deep.equal({ 'dan@fabrikam.com': 1 });

    await exchange.registry.enable(registration.identity);
    // The outbox worker may retry by itself meanwhile; either way the outcome is one delivery.
    await lync.deliverOutbox();
    expect(await lync.deliverOutbox()).to.equal(0);
    const mail = await exchangeMail(exchange.url);
    expect(mail.map((item) => item.conversationId)).to.deep.equal([ended.id]);
    expect(ok<ConversationJson>(await alice.get(`/me/conversations/${ended.id}`)).archive.status).to.equal('archived');
    ok(await alice.post('/me/contacts', { displayName: 'Erin Evans', email: 'erin@fabrikam.com' }), 201);
    expect(countByEmail(await exchangeContacts(exchange.url))).to.deep.equal({ 'dan@fabrikam.com': 1, 'erin@fabrikam.com': 1 });
  });

  it('works on its own when Lync has no Exchange partner: local contacts, and transcripts kept in Lync', async function () {
    const onprem = await deployment();
    const lync = await onprem.startLync({ withExchange: false });
    const alice = await WebSession.signIn(lync.url, ALICE, PASSWORD);
    const bob = await WebSession.signIn(lync.url, BOB, PASSWORD);
    expect(ok<{ contactStore: string; archiving: boolean }>(await alice.get('/me'))).to.include({ contactStore: 'local', archiving: false });

    const dan = ok<ContactJson>(await alice.post('/me/contacts', { displayName: 'Dan Davis', email: 'dan@fabrikam.com' }), 201);
    ok(await alice.post('/me/contacts', { displayName: 'Erin Evans', email: 'erin@fabrikam.com' }), 201);
    expect(countByEmail(ok<ContactJson[]>(await alice.get('/me/contacts')))).to.deep.equal({ 'dan@fabrikam.com': 1, 'erin@fabrikam.com': 1 });
    expect((await alice.request('DELETE', `/me/contacts/${dan.id}`)).status).to.equal(204);
    expect(ok<ContactJson[]>(await alice.get('/me/contacts')).map((contact) => contact.email)).to.deep.equal(['erin@fabrikam.com']);
    expect(ok<ContactJson[]>(await bob.get('/me/contacts'))).to.deep.equal([]);

    const ended = await converse(alice, bob, 'Offline');
    expect(ended.archive.status).to.equal('local');
    expect(await lync.deliverOutbox()).to.equal(0);
    const kept = ok<ConversationJson>(await bob.get(`/me/conversations/${ended.id}`));
    expect(kept.archive.status).to.equal('local');
    expect(kept.messages.map((message) => message.text)).to.deep.equal(['Hi Bob, about Offline', 'Hi Alice, sounds good']);
    // No server-to-server call was needed, so no token decision was made.
    expect(onprem.lyncAudit).to.deep.equal([]);
    expect(ok<ConferenceJson[]>(await alice.get('/me/conferences'))).to.deep.equal([]);
  });
});
