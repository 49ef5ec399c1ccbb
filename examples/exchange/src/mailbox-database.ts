/**
 * Exchange's own data (people, their contacts and archived mail, web sessions) in one SQLite file
 * in the data folder, `exchange.sqlite`. The partner registrations live in `@s2sauth/store`'s own
 * file beside it (`s2sauth.sqlite`): the library owns that schema, the example owns this one.
 */
import { IDEMPOTENCY_MIGRATION, openSqliteDatabase, type Migration, type SqliteDatabase } from '@s2sauth/example-support';

/** The better-sqlite3 connection type, so other files need not import the driver. */
export type MailboxDatabase = SqliteDatabase;

/** Schema migrations, in order; `PRAGMA user_version` is how many have run. Append, never edit. */
const MIGRATIONS: readonly Migration[] = [
  `
  CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    -- the sign-in name and primary SMTP address; unique whatever its letter case
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    display_name TEXT NOT NULL,
    email TEXT NOT NULL,
    sip TEXT,
    phone TEXT,
    created_at INTEGER NOT NULL,
    seq INTEGER NOT NULL
  );
  CREATE INDEX contacts_by_user ON contacts(user_id, seq);
  CREATE TABLE mail_items (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    conversation_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    participants TEXT NOT NULL,
    messages TEXT NOT NULL,
    received_at TEXT NOT NULL,
    seq INTEGER NOT NULL,
    -- idempotent delivery: one item per conversation per mailbox
    UNIQUE (user_id, conversation_id)
  );
  CREATE TABLE sessions (
    sid TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX sessions_by_expiry ON sessions(expires_at);
  `,
  // Idempotency-Key of the partner write routes (partner-routes.ts).
  IDEMPOTENCY_MIGRATION,
];

/**
 * Opens (creating it if missing) the SQLite file and brings its schema up to date, in one
 * transaction per migration (`openSqliteDatabase`).
 * @throws TypeError when the file was written by a newer version of this server.
 */
export function openMailboxDatabase(path: string): MailboxDatabase {
  return openSqliteDatabase(path, MIGRATIONS);
}
