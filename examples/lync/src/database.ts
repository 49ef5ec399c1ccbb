/**
 * Lync's own data (users, contacts, conferences, conversations, the archiving outbox) in one
 * SQLite file in the data folder. The partner registrations live in `@s2sauth/store`'s own file
 * beside it: the library owns that schema, the example owns this one.
 */
import { formatPasswordHash, IDEMPOTENCY_MIGRATION, openSqliteDatabase, type Migration, type SqliteDatabase } from '@s2sauth/example-support';

/** The better-sqlite3 connection type, re-exported so other files need not import the driver. */
export type LyncDatabase = SqliteDatabase;

/** How version 1 hashed passwords: scrypt of the NFC password with these costs, 64 bytes, salt and hash in BLOB columns. */
const VERSION_1_SCRYPT = { N: 32768, r: 8, p: 1 } as const;

/**
 * Version 2: the password hash in the text form Exchange stores too (`scrypt$N$r$p$salt$hash`,
 * `@s2sauth/example-support`'s password hashes) instead of two BLOB columns. Existing hashes are
 * rewritten, not recomputed: the derivation is the same, so every password still signs in.
 */
function passwordHashAsText(db: LyncDatabase): void {
  db.exec("ALTER TABLE users ADD COLUMN password TEXT NOT NULL DEFAULT ''");
  const rows = db.prepare('SELECT id, password_salt, password_hash FROM users').all() as { id: number; password_salt: Buffer; password_hash: Buffer }[];
  const update = db.prepare('UPDATE users SET password = ? WHERE id = ?');
  for (const row of rows) update.run(formatPasswordHash(VERSION_1_SCRYPT, row.password_salt, row.password_hash), row.id);
  db.exec('ALTER TABLE users DROP COLUMN password_salt; ALTER TABLE users DROP COLUMN password_hash; ALTER TABLE users RENAME COLUMN password TO password_hash;');
}

/** Schema migrations, in order; `PRAGMA user_version` is how many have run. Append, never edit. */
export const LYNC_MIGRATIONS: readonly Migration[] = [
  `
  CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_salt BLOB NOT NULL,
    password_hash BLOB NOT NULL,
    -- 1 once the user's local contacts were moved to Exchange's unified contact store
    ucs_migrated INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    display_name TEXT NOT NULL,
    email TEXT NOT NULL,
    sip TEXT,
    phone TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX contacts_by_user ON contacts(user_id, created_at);
  -- which local contact became which Exchange contact, written with the ucs_migrated flag
  CREATE TABLE ucs_moves (
    user_id INTEGER NOT NULL REFERENCES users(id),
    local_id TEXT NOT NULL,
    exchange_id TEXT NOT NULL,
    moved_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, local_id)
  );
  CREATE TABLE conferences (
    id TEXT PRIMARY KEY,
    organizer TEXT NOT NULL,
    subject TEXT NOT NULL,
    start_at TEXT NOT NULL,
    end_at TEXT NOT NULL,
    join_url TEXT NOT NULL,
    attendees TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    organizer TEXT NOT NULL,
    subject TEXT NOT NULL,
    participants TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    -- 'open', then at the end: 'local' (no Exchange), 'pending' (in the outbox), 'archived'
    archive_status TEXT NOT NULL DEFAULT 'open'
  );
  CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    sender TEXT NOT NULL,
    text TEXT NOT NULL,
    sent_at INTEGER NOT NULL
  );
  CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
  CREATE TABLE sessions (
    sid TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL UNIQUE REFERENCES conversations(id),
    organizer TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL
  );
  `,
  passwordHashAsText,
  // Idempotency-Key of the partner write routes (partner-routes.ts).
  IDEMPOTENCY_MIGRATION,
];

/** The schema version this file creates; bumped with a new entry in {@link LYNC_MIGRATIONS}. */
export const LYNC_SCHEMA_VERSION = LYNC_MIGRATIONS.length;

/**
 * Opens (creating and migrating on first use) Lync's database at `path`, in WAL mode with foreign
 * keys on. Migrations run in one transaction each, so an interrupted first start leaves either the
 * old schema or the new one.
 * @throws TypeError when the file was written by a newer version of Lync.
 */
export function openLyncDatabase(path: string): LyncDatabase {
  return openSqliteDatabase(path, LYNC_MIGRATIONS);
}
