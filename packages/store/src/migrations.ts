/**
 * The registry file's schema, as migrations in code: each step runs once, in order, in its own
 * transaction, and `PRAGMA user_version` records how far a file has come (`SCHEMA_VERSION`).
 */
import type BetterSqlite3 from 'better-sqlite3';
import { StoreError } from './store-error.js';

/** One step of the SQLite schema; step `n` (1-based) brings `PRAGMA user_version` to `n`. */
export interface Migration {
  /** What the step does, for people reading the code or the history. */
  readonly description: string;
  /** The statements, run together in one transaction with the version bump. */
  readonly sql: string;
}

/**
 * The schema, oldest step first. Steps are never edited once released; a change is a new step.
 *
 * `registry_version` is bumped by triggers on every registry write, whoever makes it (this
 * package, the admin CLI, or a person with the `sqlite3` shell). `PRAGMA data_version` alone
 * also moves for replay claims, which happen on every STS token request; checking the counter
 * keeps those from looking like registry changes and flushing every verifier's caches.
 */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    description: 'partner applications, OAuth servers, replay claims, registry change counter',
    sql: `
      CREATE TABLE partner_applications (
        identity TEXT NOT NULL PRIMARY KEY,
        application_id TEXT NOT NULL,
        realm TEXT NOT NULL,
        key_source TEXT NOT NULL CHECK (json_valid(key_source)),
        trust_level TEXT NOT NULL CHECK (trust_level IN ('full', 'application', 'user')),
        scopes TEXT NOT NULL CHECK (json_valid(scopes)),
        enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
        accept_unsigned_user_context INTEGER NOT NULL CHECK (accept_unsigned_user_context IN (0, 1)),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (application_id, realm)
      ) STRICT;

      CREATE TABLE oauth_servers (
        identity TEXT NOT NULL PRIMARY KEY,
        metadata_url TEXT NOT NULL,
        issuer TEXT NOT NULL,
        realm TEXT NOT NULL,
        allow_loopback INTEGER CHECK (allow_loopback IN (0, 1)),
        enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE replay_claims (
        issuer TEXT NOT NULL,
        jti TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (issuer, jti)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX replay_claims_by_expiry ON replay_claims (expires_at);

      CREATE TABLE registry_version (
        id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL
      ) STRICT;
      INSERT INTO registry_version (id, version) VALUES (1, 0);

      CREATE TRIGGER partner_applications_inserted AFTER INSERT ON partner_applications
        BEGIN UPDATE registry_version SET version = version + 1; END;
      CREATE TRIGGER partner_applications_updated AFTER UPDATE ON partner_applications
        BEGIN UPDATE registry_version SET version = version + 1; END;
      CREATE TRIGGER partner_applications_deleted AFTER DELETE ON partner_applications
        BEGIN UPDATE registry_version SET version = version + 1; END;
      CREATE TRIGGER oauth_servers_inserted AFTER INSERT ON oauth_servers
        BEGIN UPDATE registry_version SET version = version + 1; END;
      CREATE TRIGGER oauth_servers_updated AFTER UPDATE ON oauth_servers
        BEGIN UPDATE registry_version SET version = version + 1; END;
      CREATE TRIGGER oauth_servers_deleted AFTER DELETE ON oauth_servers
        BEGIN UPDATE registry_version SET version = version + 1; END;
    `,
  },
  {
    description: 'STS clients (service principals) keyed by principal and realm, counted as registry writes',
    sql: `
      CREATE TABLE clients (
        principal TEXT NOT NULL,
        realm TEXT NOT NULL,
        display_name TEXT,
        certificates TEXT NOT NULL CHECK (json_valid(certificates)),
        metadata_url TEXT,
        allow_loopback INTEGER CHECK (allow_loopback IN (0, 1)),
        host_names TEXT NOT NULL CHECK (json_valid(host_names)),
        grants TEXT NOT NULL CHECK (json_valid(grants)),
        enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (principal, realm)
      ) STRICT;

      CREATE TRIGGER clients_inserted AFTER INSERT ON clients
        BEGIN UPDATE registry_version SET version = version + 1; END;
      CREATE TRIGGER clients_updated AFTER UPDATE ON clients
        BEGIN UPDATE registry_version SET version = version + 1; END;
      CREATE TRIGGER clients_deleted AFTER DELETE ON clients
        BEGIN UPDATE registry_version SET version = version + 1; END;
    `,
  },
  {
    description: 'the last good metadata document of each key source, for verifiers restarted while it cannot be fetched',
    // No trigger: a verifier storing a refreshed document is not a registry change.
    sql: `
      CREATE TABLE key_documents (
        metadata_url TEXT NOT NULL,
        allow_loopback INTEGER NOT NULL CHECK (allow_loopback IN (0, 1)),
        document BLOB NOT NULL,
        fetched_at INTEGER NOT NULL,
        PRIMARY KEY (metadata_url, allow_loopback)
      ) STRICT;
    `,
  },
]);

/** The schema version this package writes: the number of {@link MIGRATIONS}. */
export const SCHEMA_VERSION = MIGRATIONS.length;

function userVersion(db: BetterSqlite3.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings the database to the latest schema. Each step runs in its own `BEGIN IMMEDIATE`
 * transaction that re-reads the version first, so two processes opening a new file at once do
 * not both apply it (the second waits on the busy timeout, then finds the work done). A database
 * from a newer version of this package is refused with a `StoreError` (`schema_too_new`) rather
 * than misread; `name` identifies the database in that message.
 */
export function migrate(
  db: BetterSqlite3.Database,
  name: string,
  migrations: readonly Migration[] = MIGRATIONS,
): void {
  const step = db.transaction((index: number, migration: Migration) => {
    if (userVersion(db) !== index) return;
    db.exec(migration.sql);
    db.pragma(`user_version = ${index + 1}`);
  });
  const found = userVersion(db);
  if (found > migrations.length) {
    throw new StoreError(
      'schema_too_new',
      `${name} has schema version ${found}, newer than version ${migrations.length} that this @s2sauth/store understands; upgrade @s2sauth/store`,
    );
  }
  for (const [index, migration] of migrations.entries()) {
    if (index >= found) step.immediate(index, migration);
  }
}
