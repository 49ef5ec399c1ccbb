/**
 * A demo server's own SQLite file, with its schema brought up to date by numbered migrations
 * (`PRAGMA user_version` is how many have run). The partner registrations live in
 * `@s2sauth/store`'s own file beside it: the library owns that schema, the example owns this one.
 */
import { chmodSync } from 'node:fs';
import Database from 'better-sqlite3';

/** The better-sqlite3 connection type, so other files need not import the driver. */
export type SqliteDatabase = Database.Database;

/**
 * One schema change: SQL to run, or a function for a change SQL alone cannot make (rewriting
 * values in a format SQLite has no function for). Either runs inside the migration's transaction.
 */
export type Migration = string | ((db: SqliteDatabase) => void);

/**
 * Opens (creating it if missing) the SQLite file at `path` and runs the `migrations` it has not
 * run yet, in order, one transaction each: an interrupted first start leaves either the old schema
 * or the new one. WAL journaling so readers never wait for the writer, foreign keys on, and a
 * 5 s busy timeout. `migrations` is append-only: never edit or remove an entry that has shipped.
 *
 * @throws TypeError when the file was written by a newer version of the server (more migrations
 *   than `migrations`); the driver's error when the file cannot be opened or a migration fails
 *   (the connection is closed either way).
 */
export function openSqliteDatabase(path: string, migrations: readonly Migration[]): SqliteDatabase {
  const db = new Database(path);
  try {
    // Password hashes and session ids: the owner's only (SQLite gives its -wal and -shm files the
    // database file's mode).
    if (path !== ':memory:' && path !== '') chmodSync(path, 0o600);
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > migrations.length) {
      throw new TypeError(`${path} has schema version ${version}, newer than this server's ${migrations.length}; use a newer version of the server.`);
    }
    for (let next = version; next < migrations.length; next += 1) {
      const migration = migrations[next] as Migration;
      db.transaction(() => {
        if (typeof migration === 'string') db.exec(migration);
        else migration(db);
        db.pragma(`user_version = ${next + 1}`);
      })();
    }
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
