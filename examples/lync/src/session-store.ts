/**
 * express-session's store for Lync: sessions in Lync's SQLite database, so that signed-in users
 * stay signed in across a restart (express-session's default MemoryStore forgets them, grows
 * without bound, and warns against production use).
 */
import session from 'express-session';
import type { LyncDatabase } from './database.js';

/** How often expired sessions are deleted, in ms. */
const PURGE_INTERVAL_MS = 10 * 60_000;
/** A session without a cookie expiry lives this long. */
const DEFAULT_TTL_MS = 24 * 60 * 60_000;

type Callback = (error?: unknown) => void;

/** Sessions in the `sessions` table of Lync's database. */
export class SqliteSessionStore extends session.Store {
  readonly #db: LyncDatabase;
  readonly #timer: NodeJS.Timeout;

  constructor(db: LyncDatabase) {
    super();
    this.#db = db;
    this.#timer = setInterval(() => this.purge(), PURGE_INTERVAL_MS);
    this.#timer.unref();
  }

  override get(sid: string, callback: (error: unknown, session?: session.SessionData | null) => void): void {
    try {
      const row = this.#db.prepare('SELECT data, expires_at FROM sessions WHERE sid = ?').get(sid) as { data: string; expires_at: number } | undefined;
      if (row === undefined || row.expires_at <= Date.now()) {
        callback(null, null);
        return;
      }
      callback(null, JSON.parse(row.data) as session.SessionData);
    } catch (error) {
      callback(error);
    }
  }

  override set(sid: string, data: session.SessionData, callback?: Callback): void {
    try {
      this.#db
        .prepare('INSERT INTO sessions (sid, data, expires_at) VALUES (?, ?, ?) ON CONFLICT(sid) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at')
        .run(sid, JSON.stringify(data), expiryOf(data));
      callback?.();
    } catch (error) {
      callback?.(error);
    }
  }

  override destroy(sid: string, callback?: Callback): void {
    try {
      this.#db.prepare('DELETE FROM sessions WHERE sid = ?').run(sid);
      callback?.();
    } catch (error) {
      callback?.(error);
    }
  }

  override touch(sid: string, data: session.SessionData, callback?: Callback): void {
    try {
      this.#db.prepare('UPDATE sessions SET expires_at = ? WHERE sid = ?').run(expiryOf(data), sid);
      callback?.();
    } catch (error) {
      callback?.(error);
    }
  }

  /** Deletes expired sessions. */
  purge(): void {
    try {
      this.#db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(Date.now());
    } catch {
      // The database is closing; the next start purges.
    }
  }

  /** Stops the purge timer. */
  close(): void {
    clearInterval(this.#timer);
  }
}

function expiryOf(data: session.SessionData): number {
  const expires = data.cookie?.expires;
  const ms = expires === undefined || expires === null ? NaN : new Date(expires).getTime();
  return Number.isFinite(ms) ? ms : Date.now() + DEFAULT_TTL_MS;
}
