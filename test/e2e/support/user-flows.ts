/**
 * What people do with the demo servers that makes one server call the other, the same in every
 * scenario: alice adds a contact in Lync (stored in Exchange's unified contact store), alice and
 * bob talk and the transcript is archived in alice's Exchange mail, and alice schedules a meeting
 * from Exchange (a conference in Lync). Each is observed through the servers' own web routes only.
 */
import { expect } from 'chai';
import type { LyncServer } from '@s2sauth/example-lync';
import { PASSWORD } from './on-premises.js';
import { WebSession, type WebAnswer } from './web-session.js';

export const ALICE = 'alice@contoso.com';
export const BOB = 'bob@contoso.com';

export interface ContactJson {
  readonly id: string;
  readonly displayName: string;
  readonly email: string;
}
export interface MailJson {
  readonly conversationId: string;
  readonly subject: string;
  readonly participants: readonly string[];
  readonly messages: readonly { readonly from: string; readonly text: string }[];
}
export interface ConversationJson {
  readonly id: string;
  readonly archive: { readonly status: string };
}
export interface ConferenceJson {
  readonly id: string;
  readonly subject: string;
  readonly organizer: string;
  readonly joinUrl: string;
  readonly attendees: readonly string[];
}

/** The body of an answer with `status`, failing the test with the body otherwise. */
export function ok<T>(answer: WebAnswer, status = 200): T {
  expect(answer.status, `answer ${JSON.stringify(answer.body)}`).to.equal(status);
  return answer.body as T;
}

/** Alice adds Bob as a contact in Lync; returns her contacts as Exchange's own `/me/contacts` lists them. */
export async function addContactInLync(lyncUrl: string, exchangeUrl: string): Promise<{ added: ContactJson; inExchange: ContactJson[] }> {
  const alice = await WebSession.signIn(lyncUrl, ALICE, PASSWORD);
  expect(ok<{ contactStore: string }>(await alice.get('/me')).contactStore).to.equal('exchange');
  const added = ok<ContactJson>(await alice.post('/me/contacts', { displayName: 'Bob Brown', email: BOB }), 201);
  const inExchange = await WebSession.signIn(exchangeUrl, ALICE, PASSWORD);
  return { added, inExchange: ok<ContactJson[]>(await inExchange.get('/me/contacts')) };
}

/**
 * Alice starts a conversation with Bob in Lync, both write, Bob ends it, and Lync's outbox delivers
 * the transcript; returns the conversation and alice's mail as Exchange's own `/me/mail` lists it.
 */
export async function archiveConversation(lync: LyncServer, exchangeUrl: string, subject: string): Promise<{ ended: ConversationJson; mail: MailJson[]; status: string }> {
  const alice = await WebSession.signIn(lync.url, ALICE, PASSWORD);
  const bob = await WebSession.signIn(lync.url, BOB, PASSWORD);
  const started = ok<ConversationJson>(await alice.post('/me/conversations', { subject, participants: [BOB] }), 201);
  ok(await alice.post(`/me/conversations/${started.id}/messages`, { text: `Hi Bob, about ${subject}` }), 201);
  ok(await bob.post(`/me/conversations/${started.id}/messages`, { text: 'Hi Alice, sounds good' }), 201);
  const ended = ok<ConversationJson>(await bob.post(`/me/conversations/${started.id}/end`));
  await lync.deliverOutbox();
  const inExchange = await WebSession.signIn(exchangeUrl, ALICE, PASSWORD);
  const mail = ok<MailJson[]>(await inExchange.get('/me/mail'));
  const status = ok<ConversationJson>(await alice.get(`/me/conversations/${started.id}`)).archive.status;
  return { ended, mail, status };
}

/** Alice schedules a meeting with Bob from Exchange; returns Exchange's answer and alice's conferences in Lync. */
export async function scheduleMeetingFromExchange(lyncUrl: string, exchangeUrl: string, subject: string): Promise<{ meeting: ConferenceJson; inLync: ConferenceJson[] }> {
  const inExchange = await WebSession.signIn(exchangeUrl, ALICE, PASSWORD);
  const start = new Date(Date.now() + 3_600_000);
  start.setUTCSeconds(0, 0);
  const end = new Date(start.getTime() + 30 * 60_000);
  const meeting = ok<ConferenceJson>(await inExchange.post('/me/meetings', { subject, start: start.toISOString(), end: end.toISOString(), attendees: [BOB] }), 201);
  const alice = await WebSession.signIn(lyncUrl, ALICE, PASSWORD);
  return { meeting, inLync: ok<ConferenceJson[]>(await alice.get('/me/conferences')) };
}
