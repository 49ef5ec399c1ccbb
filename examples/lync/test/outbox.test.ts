import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import type { LyncServer } from '../src/index.js';
import { retryDelay } from '../src/outbox.js';
import { FakeExchange } from './fake-exchange.js';
import { signIn, type SignedInUser } from './lync-session.js';
import { dataFolder, PASSWORD, removeDataFolders, start } from './support.js';

function outboxRows(dataDir: string): { conversation_id: string; attempts: number; last_error: string | null }[] {
  const db = new Database(join(dataDir, 'lync.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT conversation_id, attempts, last_error FROM outbox').all() as never;
  } finally {
    db.close();
  }
}

/** alice and bob talk; alice ends it. @returns the conversation id. */
async function converse(lync: LyncServer): Promise<{ id: string; alice: SignedInUser }> {
  const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
  const bob = await signIn(lync.url, 'bob@contoso.com', PASSWORD);
  const started = await alice.call('POST', '/me/conversations', { subject: 'Budget', participants: ['bob@contoso.com'] });
  const id = (started.body as { id: string }).id;
  await alice.call('POST', `/me/conversations/${id}/messages`, { text: 'Numbers are in.' });
  await bob.call('POST', `/me/conversations/${id}/messages`, { text: 'Thanks!\nLooks good.' });
  const ended = await alice.call('POST', `/me/conversations/${id}/end`);
  expect(ended.status).to.equal(200);
  expect((ended.body as { archive: { status: string } }).archive.status).to.equal('pending');
  return { id, alice };
}

function archivePosts(exchange: FakeExchange): number {
  return exchange.apiRequests.filter((r) => r.method === 'POST' && r.path === '/api/archive').length;
}

describe('Exchange archiving through the outbox', () => {
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

  it('puts the transcript in the outbox when the conversation ends, and keeps it while Exchange is down', async () => {
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    await exchange.stop();
    const { id, alice } = await converse(lync);
    expect(await lync.deliverOutbox()).to.equal(0);
    const rows = outboxRows(dataDir);
    expect(rows.map((r) => r.conversation_id)).to.deep.equal([id]);
    expect(rows[0]?.last_error).to.match(/could not be reached/);
    const listed = (await alice.call('GET', '/me/conversations')).body as { id: string; archive: { status: string; outbox?: { attempts: number; lastError?: string } } }[];
    expect(listed[0]?.archive.status).to.equal('pending');
    expect(listed[0]?.archive.outbox?.lastError).to.match(/Exchange could not complete/);
  });

  it('delivers the transcript once, on behalf of the organizer, and marks it archived', async () => {
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    const { id, alice } = await converse(lync);
    await lync.deliverOutbox();
    expect(await lync.deliverOutbox()).to.equal(0);
    expect(exchange.archive).to.have.length(1);
    expect(archivePosts(exchange)).to.equal(1);
    const item = exchange.archive[0];
    expect(item?.owner).to.equal('alice@contoso.com');
    expect(item?.body).to.deep.include({ conversationId: id, subject: 'Budget', participants: ['alice@contoso.com', 'bob@contoso.com'] });
    const messages = (item?.body as { messages: { from: string; text: string; sentAt: string }[] }).messages;
    expect(messages.map((m) => [m.from, m.text])).to.deep.equal([
      ['alice@contoso.com', 'Numbers are in.'],
      ['bob@contoso.com', 'Thanks!\nLooks good.'],
    ]);
    expect(outboxRows(dataDir)).to.deep.equal([]);
    const view = (await alice.call('GET', `/me/conversations/${id}`)).body as { archive: { status: string } };
    expect(view.archive).to.deep.equal({ status: 'archived' });
  });

  it('delivers on its own, without being asked', async () => {
    lync = await start(dataDir, { exchange: { url: exchange.url }, outbox: { pollMs: 20, retryBaseMs: 10, retryMaxMs: 20 } });
    await converse(lync);
    for (let i = 0; i < 500 && exchange.archive.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(exchange.archive).to.have.length(1);
  });

  it('delivers exactly once after Exchange was down and Lync restarted', async () => {
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    await exchange.stop();
    await converse(lync);
    expect(await lync.deliverOutbox()).to.equal(0);
    await lync.close();
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    expect(await lync.deliverOutbox()).to.equal(0);
    await exchange.start();
    expect(await lync.deliverOutbox()).to.equal(1);
    expect(await lync.deliverOutbox()).to.equal(0);
    expect(exchange.archive).to.have.length(1);
    expect(archivePosts(exchange)).to.equal(1);
  });

  it('stores the transcript once even when a delivery is repeated (Exchange is idempotent on the conversation id)', async () => {
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    await lync.close();
    // A transcript delivered just before a crash, whose outbox row was not deleted yet.
    const db = new Database(join(dataDir, 'lync.sqlite'));
    db.prepare("INSERT INTO conversations (id, organizer, subject, participants, started_at, ended_at, archive_status) VALUES ('c1', 'alice@contoso.com', 'S', '[\"alice@contoso.com\"]', 1, 2, 'pending')").run();
    const payload = JSON.stringify({ conversationId: 'c1', subject: 'S', participants: ['alice@contoso.com'], messages: [], receivedAt: new Date(2).toISOString() });
    db.prepare("INSERT INTO outbox (conversation_id, organizer, payload, next_attempt_at, created_at) VALUES ('c1', 'alice@contoso.com', ?, 0, 0)").run(payload);
    db.close();
    exchange.archive.push({ id: 'item-1', conversationId: 'c1', owner: 'alice@contoso.com', body: JSON.parse(payload) as unknown });
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    await lync.deliverOutbox();
    expect(exchange.archive).to.have.length(1);
    expect(outboxRows(dataDir)).to.deep.equal([]);
  });

  it('keeps the transcript when Exchange refuses Lync (401), shows the error, and delivers once re-enabled', async () => {
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    exchange.mode = 'refuse';
    const { id, alice } = await converse(lync);
    expect(await lync.deliverOutbox()).to.equal(0);
    const rows = outboxRows(dataDir);
    expect(rows).to.have.length(1);
    expect(rows[0]?.last_error).to.match(/refused/).and.match(/401/);
    const view = (await alice.call('GET', `/me/conversations/${id}`)).body as { archive: { status: string; outbox: { attempts: number; lastError: string } } };
    expect(view.archive.status).to.equal('pending');
    expect(view.archive.outbox.attempts).to.be.at.least(1);
    expect(view.archive.outbox.lastError).to.match(/partner application registration/);
    // The S2S client re-mints once on a 401 with a cached token: never more than two tries per attempt.
    expect(archivePosts(exchange)).to.be.at.most(2 * view.archive.outbox.attempts);
    exchange.mode = 'up';
    expect(await lync.deliverOutbox()).to.equal(1);
    expect(exchange.archive).to.have.length(1);
  });

  it('sends every delivery of a transcript with the same Idempotency-Key, derived from the conversation, across restarts', async () => {
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    exchange.mode = 'error';
    const { id } = await converse(lync);
    expect(await lync.deliverOutbox()).to.equal(0);
    await lync.close();
    exchange.mode = 'up';
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    await lync.deliverOutbox();
    const keys = exchange.apiRequests.filter((r) => r.path === '/api/archive').map((r) => r.idempotencyKey);
    expect(keys).to.have.length.at.least(2);
    expect(new Set(keys)).to.deep.equal(new Set([`"transcript-${id}"`]));
    expect(exchange.archive).to.have.length(1);
  });

  it('sends exactly one bearer token and no cookie with every delivery', async () => {
    lync = await start(dataDir, { exchange: { url: exchange.url } });
    await converse(lync);
    await lync.deliverOutbox();
    expect(archivePosts(exchange)).to.equal(1);
    for (const request of exchange.requests) {
      expect(request.authorization).to.have.length(1);
      expect(request.cookie).to.deep.equal([]);
    }
  });
});

describe('retryDelay', () => {
  it('doubles from the base up to the maximum, with a jitter of at most half', () => {
    expect(retryDelay(1, 1000, 60_000, () => 0)).to.equal(500);
    expect(retryDelay(1, 1000, 60_000, () => 0.999999)).to.equal(1000);
    expect(retryDelay(3, 1000, 60_000, () => 0.999999)).to.equal(4000);
    expect(retryDelay(30, 1000, 60_000, () => 0.999999)).to.equal(60_000);
    expect(retryDelay(1000, 1000, 60_000, () => 0)).to.equal(30_000);
  });
});
