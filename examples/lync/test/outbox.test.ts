import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { pino } from 'pino';
import { openLyncDatabase, type LyncDatabase } from '../src/database.js';
import type { LyncServer } from '../src/index.js';
import { enqueueTranscript, Outbox, retryDelay, type OutboxEntry, type OutboxOptions } from '../src/outbox.js';
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

/** Ends `count` conversations of alice's straight in the database, each with its transcript in the outbox, oldest first. */
function queueTranscripts(db: LyncDatabase, count: number): string[] {
  const ids = Array.from({ length: count }, (_, i) => `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`);
  const conversation = db.prepare("INSERT INTO conversations (id, organizer, subject, participants, started_at, ended_at, archive_status) VALUES (?, 'alice@contoso.com', 'S', '[\"alice@contoso.com\"]', 1, 2, 'pending')");
  for (const id of ids) {
    conversation.run(id);
    enqueueTranscript(db, 'alice@contoso.com', { conversationId: id, subject: 'S', participants: ['alice@contoso.com'], messages: [] }, 0);
  }
  return ids;
}

/** Resolves once `condition` holds, checking after each turn of the event loop (the test's timeout bounds it). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('Outbox with a failing Exchange', () => {
  let db: LyncDatabase;
  let outbox: Outbox | undefined;

  beforeEach(() => {
    db = openLyncDatabase(':memory:');
  });

  afterEach(async () => {
    await outbox?.close();
    outbox = undefined;
    db.close();
  });

  function worker(deliver: OutboxOptions['deliver'], options: Partial<OutboxOptions> = {}): Outbox {
    outbox = new Outbox({ db, deliver, logger: pino({ level: 'silent' }), ...options });
    outbox.start();
    return outbox;
  }

  it('tries other transcripts, up to the concurrency limit, while Exchange never answers', async () => {
    const ids = queueTranscripts(db, 10);
    const started: string[] = [];
    // A frozen Exchange: the call never ends until the outbox gives up on it.
    worker((entry, signal) => {
      started.push(entry.conversationId);
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
    }, { concurrency: 4 });
    await until(() => started.length >= 4);
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(started).to.deep.equal(ids.slice(0, 4));
    await outbox?.close();
    expect(outbox?.size).to.equal(10);
  });

  it('probes with one transcript while Exchange is down, and delivers the whole queue as soon as a probe gets through', async () => {
    const ids = queueTranscripts(db, 10);
    let down = true;
    let inFlight = 0;
    const events: { id: string; outcome: 'failed' | 'delivered'; inFlight: number }[] = [];
    const deliver = async (entry: OutboxEntry): Promise<void> => {
      inFlight++;
      const concurrent = inFlight;
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      if (down) {
        events.push({ id: entry.conversationId, outcome: 'failed', inFlight: concurrent });
        throw new Error('Exchange could not be reached');
      }
      events.push({ id: entry.conversationId, outcome: 'delivered', inFlight: concurrent });
    };
    // Each row's own backoff is an hour: only the recovery can deliver the queue within the test.
    worker(deliver, { concurrency: 4, probeMs: 10, retryBaseMs: 3_600_000, retryMaxMs: 3_600_000 });
    await until(() => events.length >= 8);
    down = false;
    await until(() => outbox?.size === 0);

    const firstBatch = events.slice(0, 4);
    expect(firstBatch.map((e) => e.id)).to.deep.equal(ids.slice(0, 4));
    // Then one probe at a time, taking the rows in turn (the row due first, whatever its backoff):
    // first those not tried yet, then those that failed, in the order of their retry times.
    const recovery = events.findIndex((e) => e.outcome === 'delivered');
    const probes = events.slice(4, recovery);
    expect(probes.length).to.be.at.least(4);
    expect(probes.every((e) => e.outcome === 'failed' && e.inFlight === 1)).to.equal(true);
    expect(probes.slice(0, 4).map((e) => e.id)).to.deep.equal(ids.slice(4, 8));
    // The first success is a probe (one in flight); every other transcript follows, each delivered once.
    expect(events[recovery]?.inFlight).to.equal(1);
    const delivered = events.filter((e) => e.outcome === 'delivered').map((e) => e.id);
    expect([...delivered].sort()).to.deep.equal(ids);
    expect(Math.max(...events.map((e) => e.inFlight))).to.be.at.most(4);
    expect(db.prepare("SELECT count(*) AS n FROM conversations WHERE archive_status = 'archived'").get()).to.deep.equal({ n: 10 });
  });

  /** Delivers every queued transcript but the first, which fails with `message`; @returns those delivered, in order. */
  function failingFirst(ids: readonly string[], message: string, options: Partial<OutboxOptions>): string[] {
    const delivered: string[] = [];
    worker(async (entry) => {
      await new Promise((resolve) => setImmediate(resolve));
      if (entry.conversationId === ids[0]) throw new Error(message);
      delivered.push(entry.conversationId);
    }, options);
    return delivered;
  }

  it('does not let one transcript that Exchange cannot take hold the probe', async () => {
    const ids = queueTranscripts(db, 3);
    // Exchange times out on the oldest transcript only (an outage, as far as the outbox can tell).
    const delivered = failingFirst(ids, 'Exchange did not answer in time', { concurrency: 1, probeMs: 1, retryBaseMs: 3_600_000, retryMaxMs: 3_600_000 });
    await until(() => delivered.length === 2);
    expect(delivered).to.deep.equal(ids.slice(1));
  });

  it('keeps trying the others when Exchange refuses one transcript only (no outage)', async () => {
    const ids = queueTranscripts(db, 6);
    const delivered = failingFirst(ids, '400: this transcript is refused', { concurrency: 2, probeMs: 3_600_000, isOutage: () => false });
    await until(() => delivered.length === 5);
    expect(delivered).to.deep.equal(ids.slice(1));
    expect(outbox?.size).to.equal(1);
  });

  it('stays idle, without waking up again and again, while its deliveries hang', async () => {
    queueTranscripts(db, 1);
    let statements = 0;
    // Counts the worker's queries: each wake-up of the worker makes some.
    const counted = new Proxy(db, {
      get(target, property) {
        if (property === 'prepare') statements++;
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    let started = 0;
    outbox = new Outbox({
      db: counted,
      logger: pino({ level: 'silent' }),
      concurrency: 4,
      deliver: (_entry, signal) => {
        started++;
        return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
      },
    });
    outbox.start();
    await until(() => started === 1);
    const before = statements;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(statements - before).to.be.at.most(2);
    expect(started).to.equal(1);
  });

  it('refuses a concurrency that is not a whole number from 1 to 1000', () => {
    for (const concurrency of [0, 1.5, 1001]) {
      expect(() => new Outbox({ db, deliver: () => Promise.resolve(), logger: pino({ level: 'silent' }), concurrency })).to.throw(TypeError, 'outbox.concurrency');
    }
  });
});

describe('Lync\'s outbox with a frozen Exchange', () => {
  let frozen: Server;
  const held: IncomingMessage[] = [];

  before(async () => {
    // Accepts every connection and request, never answers.
    frozen = createServer((req) => {
      held.push(req);
    });
    await new Promise<void>((resolve) => frozen.listen(0, '127.0.0.1', resolve));
  });

  after(async () => {
    frozen.closeAllConnections();
    await new Promise((resolve) => frozen.close(resolve));
    await removeDataFolders();
  });

  it('sends four transcripts at once, each one once, instead of waiting for the first', async () => {
    const dataDir = await dataFolder();
    // Lync's first start creates the database; the transcripts are queued while it is stopped.
    await (await start(dataDir)).close();
    const db = openLyncDatabase(join(dataDir, 'lync.sqlite'));
    const ids = queueTranscripts(db, 10);
    db.close();
    const lync = await start(dataDir, { exchange: { url: `http://127.0.0.1:${(frozen.address() as AddressInfo).port}` } });
    try {
      await until(() => held.length >= 4);
      for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
      // Four connections: their requests may arrive in any order.
      expect(held.map((req) => req.headers['idempotency-key']).sort()).to.deep.equal(ids.slice(0, 4).map((id) => `"transcript-${id}"`));
    } finally {
      await lync.close();
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
