/**
 * Telling an s2sauth registry file from any other file before anything is written to it, and
 * reading one without writing anything at all (`SqliteStore.open(path, { readOnly: true })`).
 * An administrator who points the admin CLI, or a server's registry option, at the server's own
 * database (or any other file) must get a refusal, not a database with our tables added.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreError } from './store-error.js';

/** The tables of the first schema version: a file with all of them (and a version) is a registry. */
const REGISTRY_TABLES: readonly string[] = ['partner_applications', 'oauth_servers', 'replay_claims', 'registry_version'];

/** What a database holds, as far as a registry is concerned. */
export type RegistryFileState =
  /** Nothing at all (a new or zero-length file): a registry may be created in it. */
  | { readonly kind: 'empty' }
  /** An s2sauth registry of schema version `version` (maybe older or newer than this package's). */
  | { readonly kind: 'registry'; readonly version: number }
  /** Anything else: another application's database, or not a database. */
  | { readonly kind: 'other' };

/** Reads (only) what `db` holds; a file that is not a database at all is `other`. */
export function registryFileState(db: Database.Database): RegistryFileState {
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    const names = new Set(db.prepare<[], string>('SELECT name FROM sqlite_master').pluck().all());
    if (version === 0 && names.size === 0) return { kind: 'empty' };
    if (version >= 1 && REGISTRY_TABLES.every((name) => names.has(name))) return { kind: 'registry', version };
    return { kind: 'other' };
  } catch (error) {
    if (error instanceof Database.SqliteError && (error.code === 'SQLITE_NOTADB' || error.code === 'SQLITE_CORRUPT')) return { kind: 'other' };
    throw error;
  }
}

/** The refusal of a file that is not an s2sauth registry. */
export function notARegistry(path: string): StoreError {
  return new StoreError('not_a_registry', `not an s2sauth registry: ${path}`);
}

/**
 * A consistent copy of the database at `path`, read without writing anything: no byte of the
 * file changes and no file is created. When the file has no `-wal` beside it (no process has it
 * open, or the last one closed it), its bytes are the whole database and are read as a file; the
 * read is repeated if the file changed or a `-wal` appeared meanwhile. Otherwise (a server has it
 * open) SQLite's own read-only connection takes the copy, as any reader would: the `-wal` and
 * `-shm` exist already, so nothing is created, though SQLite's shared-memory index (`-shm`) notes
 * the reader, as it does for the server's own reads; a file that is not a registry is refused
 * (`not_a_registry`) before it is copied then.
 */
export function readDatabaseCopy(path: string, busyTimeoutMs: number): Buffer {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    if (existsSync(`${path}-wal`)) break;
    const before = statSync(path);
    const bytes = readFileSync(path);
    const after = statSync(path);
    if (!existsSync(`${path}-wal`) && before.mtimeMs === after.mtimeMs && before.size === after.size && bytes.length === after.size) {
      return bytes;
    }
  }
  const db = new Database(path, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
  try {
    // Looked at first: SQLite copies a file that is not a database with a misleading error.
    if (registryFileState(db).kind !== 'registry') throw notARegistry(path);
    return db.serialize();
  } finally {
    db.close();
  }
}

/**
 * Opens a copy from {@link readDatabaseCopy} as a database in memory. A WAL-mode file says so in
 * its header (bytes 18 and 19 are 2), which an in-memory database cannot honour: the copy is
 * marked as a rollback-journal database instead (the copy only; the file is never written).
 */
export function openCopy(bytes: Buffer): Database.Database {
  if (bytes.length > 19 && bytes[18] === 2 && bytes[19] === 2) {
    bytes[18] = 1;
    bytes[19] = 1;
  }
  return new Database(bytes);
}
