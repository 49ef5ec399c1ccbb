import { expect } from 'chai';
import type { SessionData } from 'express-session';
import { openSqliteDatabase, type SqliteDatabase } from '../src/sqlite-database.js';
import { SqliteSessionStore } from '../src/sqlite-session-store.js';

/** The table the store needs, as the servers' migrations create it. */
const SESSIONS = 'CREATE TABLE sessions (sid TEXT PRIMARY KEY, data TEXT NOT NULL, expires_at INTEGER NOT NULL)';

function openDatabase(): SqliteDatabase {
  return openSqliteDatabase(':memory:', [SESSIONS]);
}

function call<T>(run: (callback: (error: unknown, value?: T) => void) => void): Promise<T | undefined> {
  return new Promise((resolve, reject) => run((error, value) => (error ? reject(error as Error) : resolve(value))));
}

function data(expires: Date | undefined, userId = 1): SessionData {
  return { cookie: { originalMaxAge: null, ...(expires === undefined ? {} : { expires }) }, userId } as unknown as SessionData;
}

describe('SqliteSessionStore', () => {
  let db: SqliteDatabase;
  let store: SqliteSessionStore;

  beforeEach(() => {
    db = openDatabase();
    store = new SqliteSessionStore(db);
  });

  afterEach(() => {
    store.close();
    db.close();
  });

  it('returns a session it stored until it expires', async () => {
    await call((cb) => store.set('a', data(new Date(Date.now() + 60_000)), cb));
    const got = await call<SessionData | null>((cb) => store.get('a', cb));
    expect(got).to.have.property('userId', 1);
    expect(await call<SessionData | null>((cb) => store.get('missing', cb))).to.equal(null);
  });

  it('never returns an expired session, and deletes it when asked for it', async () => {
    await call((cb) => store.set('old', data(new Date(Date.now() - 1000)), cb));
    expect(await call<SessionData | null>((cb) => store.get('old', cb))).to.equal(null);
    expect(db.prepare("SELECT COUNT(*) AS n FROM sessions WHERE sid = 'old'").get()).to.deep.equal({ n: 0 });
  });

  it('gives a session without a cookie expiry a day, and touch moves its expiry', async () => {
    await call((cb) => store.set('b', data(undefined), cb));
    const before = (db.prepare("SELECT expires_at FROM sessions WHERE sid = 'b'").get() as { expires_at: number }).expires_at;
    expect(before).to.be.greaterThan(Date.now() + 86_000_000);
    const later = new Date(Date.now() + 2 * 86_400_000);
    await new Promise<void>((resolve) => store.touch('b', data(later), () => resolve()));
    expect(db.prepare("SELECT expires_at FROM sessions WHERE sid = 'b'").get()).to.deep.equal({ expires_at: later.getTime() });
  });

  it('destroys a session, and sweeps the expired ones', async () => {
    await call((cb) => store.set('c', data(new Date(Date.now() + 60_000)), cb));
    await call((cb) => store.destroy('c', cb));
    expect(await call<SessionData | null>((cb) => store.get('c', cb))).to.equal(null);
    await call((cb) => store.set('d', data(new Date(Date.now() + 1000)), cb));
    expect(store.sweep(Date.now() + 2000)).to.equal(1);
  });

  it('reports a database failure to the callback instead of throwing', async () => {
    db.close();
    let failure: unknown;
    try {
      await call((cb) => store.set('e', data(undefined), cb));
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(Error);
    // Without a callback the failure is dropped, as express-session's own stores do.
    expect(() => store.destroy('e')).not.to.throw();
    db = openDatabase();
  });

  it('expires sessions by its injected clock, not the wall clock', async () => {
    let now = Date.UTC(2030, 0, 1);
    const timed = new SqliteSessionStore(db, { clock: () => now });
    try {
      await call((cb) => timed.set('g', data(new Date(now + 20)), cb));
      now += 19;
      expect(await call<SessionData | null>((cb) => timed.get('g', cb))).to.have.property('userId', 1);
      now += 1;
      expect(await call<SessionData | null>((cb) => timed.get('g', cb))).to.equal(null);
      expect(db.prepare("SELECT COUNT(*) AS n FROM sessions WHERE sid = 'g'").get()).to.deep.equal({ n: 0 });
      // Without a cookie expiry, a day from the clock's now.
      await call((cb) => timed.set('h', data(undefined), cb));
      expect(db.prepare("SELECT expires_at FROM sessions WHERE sid = 'h'").get()).to.deep.equal({ expires_at: now + 86_400_000 });
    } finally {
      timed.close();
    }
  });

  it('keeps sweeping on its interval by its clock, and a sweep that fails (database closed) does not throw', async () => {
    const own = openDatabase();
    // Each sweep reads the clock once: counting the readings tells when a sweep has run, without
    // asserting on wall-clock timing.
    let now = Date.UTC(2030, 0, 1);
    let readings = 0;
    const nextSweep = async (): Promise<void> => {
      const target = readings + 1;
      // Bounded, so that a store that never sweeps fails this test instead of hanging the run.
      for (let turns = 0; readings < target; turns += 1) {
        if (turns > 5000) expect.fail('the store did not sweep');
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    };
    const sweeping = new SqliteSessionStore(own, {
      sweepIntervalMs: 5,
      clock: () => {
        readings += 1;
        return now;
      },
    });
    try {
      await call((cb) => sweeping.set('f', data(new Date(now + 20)), cb));
      await nextSweep();
      await nextSweep();
      expect(own.prepare('SELECT COUNT(*) AS n FROM sessions').get(), 'swept before it expired').to.deep.equal({ n: 1 });
      now += 20;
      await nextSweep();
      expect(own.prepare('SELECT COUNT(*) AS n FROM sessions').get()).to.deep.equal({ n: 0 });
      own.close();
      // An exception in the timer would be uncaught and end the process (and this test run).
      await nextSweep();
      await nextSweep();
    } finally {
      sweeping.close();
    }
  });
});
