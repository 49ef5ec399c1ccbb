/**
 * An express-session store in the server's SQLite file, so sessions survive a restart and memory
 * does not grow with every visitor (express-session's own `MemoryStore` is documented as "not
 * designed for a production environment": it leaks and forgets everything on restart).
 *
 * Expired sessions are never returned, and are deleted lazily on reads and by a periodic sweep.
 */
import session from 'express-session';
import { systemClock, type Clock } from '@s2sauth/protocol';
import type { SqliteDatabase } from './sqlite-database.js';

/** Lifetime of a session without a cookie expiry (one day), in ms. */
const DEFAULT_TTL_MS = 86_400_000;
/** How often expired sessions are swept by default, in ms. */
const SWEEP_INTERVAL_MS = 15 * 60_000;

/** Options of {@link SqliteSessionStore}. */
export interface SqliteSessionStoreOptions {
  /** How often expired sessions are deleted, in ms. Default 15 minutes. */
  readonly sweepIntervalMs?: number;
  /** The time source for expiry (default: the system clock); tests inject one to move time. */
  readonly clock?: Clock;
}

type Callback<T = void> = (error: unknown, value?: T) => void;

function expiryOf(data: session.SessionData, now: number): number {
  const expires = data.cookie?.expires;
  const at = expires === undefined || expires === null ? Number.NaN : new Date(expires).getTime();
  return Number.isFinite(at) ? at : now + DEFAULT_TTL_MS;
}

/**
 * Sessions in the `sessions` table of the server's database, which the server's migrations create:
 * `sessions (sid TEXT PRIMARY KEY, data TEXT NOT NULL, expires_at INTEGER NOT NULL)`, `expires_at`
 * in ms since the epoch.
 */
export class SqliteSessionStore extends session.Store {
  readonly #db: SqliteDatabase;
  readonly #sweeper: NodeJS.Timeout;
  readonly #clock: Clock;

  /** Starts the periodic sweep; {@link close} stops it. */
  constructor(db: SqliteDatabase, options: SqliteSessionStoreOptions = {}) {
    super();
    this.#db = db;
    this.#clock = options.clock ?? systemClock;
    this.#sweeper = setInterval(() => {
      try {
        this.sweep();
      } catch {
        // The database is closing; the next start sweeps.
      }
    }, options.sweepIntervalMs ?? SWEEP_INTERVAL_MS);
    // The sweep must not keep the process alive on its own.
    this.#sweeper.unref();
  }

  /** Deletes every session expired at `now` (default: the clock's now). @returns how many were deleted. */
  sweep(now: number = this.#clock()): number {
    return this.#db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(now).changes;
  }

  override get(sid: string, callback: Callback<session.SessionData | null>): void {
    this.#run(callback, () => {
      const row = this.#db.prepare('SELECT data, expires_at FROM sessions WHERE sid = ?').get(sid) as { data: string; expires_at: number } | undefined;
      if (row === undefined) return null;
      if (row.expires_at <= this.#clock()) {
        this.#db.prepare('DELETE FROM sessions WHERE sid = ?').run(sid);
        return null;
      }
      return JSON.parse(row.data) as session.SessionData;
    });
  }

  override set(sid: string, data: session.SessionData, callback?: Callback): void {
    this.#run(callback, () => {
      this.#db
        .prepare('INSERT INTO sessions (sid, data, expires_at) VALUES (?, ?, ?) ON CONFLICT (sid) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at')
        .run(sid, JSON.stringify(data), expiryOf(data, this.#clock()));
    });
  }

  /**
   * Extends a session's expiry, as express-session does at the end of every answer to a signed-in
   * request. Best effort: a touch that cannot be written (a full disk) is skipped, the session
   * keeping its earlier expiry, because express-session would otherwise turn it into an error
   * after the answer has started and the connection would be dropped.
   */
  override touch(sid: string, data: session.SessionData, callback?: () => void): void {
    try {
      this.#db.prepare('UPDATE sessions SET expires_at = ? WHERE sid = ?').run(expiryOf(data, this.#clock()), sid);
    } catch {
      // Skipped: see above.
    }
    callback?.();
  }

  override destroy(sid: string, callback?: Callback): void {
    this.#run(callback, () => {
      this.#db.prepare('DELETE FROM sessions WHERE sid = ?').run(sid);
    });
  }

  /** Stops the sweep (the database is closed by its owner). */
  close(): void {
    clearInterval(this.#sweeper);
  }

  /** Runs a synchronous SQLite operation and reports to an express-session callback. */
  #run<T>(callback: ((error: unknown, value?: T) => void) | undefined, operation: () => T): void {
    let value: T;
    try {
      value = operation();
    } catch (error) {
      callback?.(error);
      return;
    }
    callback?.(null, value);
  }
}
