/**
 * A demo server's own SQLite file, with its schema brought up to date by numbered migrations
 * (`PRAGMA user_version` is how many have run). The partner registrations live in
 * `@s2sauth/store`'s own file beside it: the library owns that schema, the example owns this one.
 */
import { accessSync, chmodSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { isStorageFault } from './storage-health.js';

/** The better-sqlite3 connection type, so other files need not import the driver. */
export type SqliteDatabase = Database.Database;

/**
 * One schema change: SQL to run, or a function for a change SQL alone cannot make (rewriting
 * values in a format SQLite has no function for). Either runs inside the migration's transaction.
 */
export type Migration = string | ((db: SqliteDatabase) => void);

/**
 * Thrown when a database file (or its folder, where SQLite keeps the `-wal` and `-shm` files)
 * cannot be written at start-up: names the file and what to change. `path` and `code` (`EACCES`,
 * `EROFS`, `SQLITE_READONLY`, ...) are the file and the reason.
 */
export class UnwritableDatabaseError extends Error {
  /** The file (or folder) that cannot be written. */
  readonly path: string;
  /** The system's or SQLite's code. */
  readonly code: string;

  constructor(path: string, code: string, options?: ErrorOptions) {
    const owner = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
    super(
      `Cannot write ${path} (${code}): give the user running the server${owner} write permission on it and on its folder ` +
        `(chown or chmod u+w), or move the data folder to a writable disk.`,
      options,
    );
    this.name = 'UnwritableDatabaseError';
    this.path = path;
    this.code = code;
  }
}

/**
 * Checks that a database file (when it exists) and its folder can be written, before SQLite opens
 * it: SQLite would fall back to read-only and fail later with no file named.
 *
 * @throws UnwritableDatabaseError naming the file or folder.
 */
export function checkWritableDatabase(path: string): void {
  for (const target of existsSync(path) ? [dirname(path), path] : [dirname(path)]) {
    try {
      accessSync(target, constants.W_OK);
    } catch (error) {
      throw new UnwritableDatabaseError(target, (error as NodeJS.ErrnoException).code ?? 'EACCES', { cause: error });
    }
  }
}

/**
 * Opens (creating it if missing) the SQLite file at `path` and runs the `migrations` it has not
 * run yet, in order, one transaction each: an interrupted first start leaves either the old schema
 * or the new one. WAL journaling so readers never wait for the writer, foreign keys on, and a
 * 5 s busy timeout. `migrations` is append-only: never edit or remove an entry that has shipped.
 *
 * @throws TypeError when the file was written by a newer version of the server (more migrations
 *   than `migrations`); {@link UnwritableDatabaseError} when the file or its folder cannot be
 *   written (read-only, another owner, a full disk); the driver's error when a migration fails
 *   otherwise (the connection is closed either way).
 */
export function openSqliteDatabase(path: string, migrations: readonly Migration[]): SqliteDatabase {
  const file = path !== ':memory:' && path !== '';
  if (file) checkWritableDatabase(path);
  let db: SqliteDatabase;
  try {
    db = new Database(path);
  } catch (error) {
    throw isStorageFault(error) ? new UnwritableDatabaseError(path, (error as { code: string }).code, { cause: error }) : error;
  }
  try {
    // Password hashes and session ids: the owner's only (SQLite gives its -wal and -shm files the
    // database file's mode).
    if (file) chmodSync(path, 0o600);
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
    if (file && isStorageFault(error)) throw new UnwritableDatabaseError(path, (error as { code: string }).code, { cause: error });
    throw error;
  }
}
