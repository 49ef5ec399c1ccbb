/**
 * Opening the SQLite file of a `SqliteStore`: its options, the checks that refuse a file that is
 * not an s2sauth registry before anything is written to it, the connection's settings (WAL, busy
 * timeout, synchronous, foreign keys), the schema migration, and the read-only copy.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { optionNames, refuseUnknownOptions, systemClock, type Clock } from '@s2sauth/protocol';
import { migrate, SCHEMA_VERSION } from './migrations.js';
import { notARegistry, openCopy, readDatabaseCopy, registryFileState } from './registry-file.js';
import { StoreError } from './store-error.js';

/** Options of {@link SqliteStore.open}. */
export interface SqliteStoreOptions {
  /** Time source for record timestamps and replay expiry; default `systemClock`. */
  readonly clock?: Clock;
  /**
   * How often (ms) to look for registry changes made by other processes while someone listens
   * (`onChange`); default 250, so that a change is seen well within a second.
   */
  readonly pollIntervalMs?: number;
  /** How long (ms) a statement waits for another process's write lock; default 5000. */
  readonly busyTimeoutMs?: number;
  /**
   * Create the file (and its folder) when missing; default true. With false, a missing file is
   * refused with `StoreError` `not_found`.
   */
  readonly create?: boolean;
  /**
   * Open a read-only copy of the file, taken when it is opened, without writing anything to the
   * file (see the README, "Opening a file"): for tools that only look. The file must exist and be
   * an s2sauth registry; one of an older schema version is brought up to date in the copy only.
   * Writes (and replay claims) are refused with `StoreError` `read_only`; changes made to the file
   * later are not seen. Default false.
   */
  readonly readOnly?: boolean;
}

/** An open registry connection, its schema up to date, and the settings a store keeps. */
export interface OpenedRegistry {
  readonly db: Database.Database;
  readonly clock: Clock;
  readonly pollIntervalMs: number;
  /** Whether `db` is a read-only copy of the file. */
  readonly readOnly: boolean;
}

function positiveInteger(value: number, option: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`SqliteStore.open: options.${option} must be a positive integer of milliseconds`);
  }
  return value;
}

/**
 * Checks the options and opens the registry at `path` as {@link SqliteStore.open} documents it
 * (the file is created unless `create` is false; `readOnly` opens a copy).
 * @throws TypeError for bad options; `StoreError` `not_found`, `not_a_registry` or `schema_too_new`.
 */
/** Every option name of {@link SqliteStoreOptions}; any other is a `TypeError` (a misspelt `readOnly` must not open the file for writing). */
const OPTION_NAMES = optionNames<SqliteStoreOptions>({ clock: true, pollIntervalMs: true, busyTimeoutMs: true, create: true, readOnly: true });

export function openRegistry(path: string, options: SqliteStoreOptions): OpenedRegistry {
  if (typeof path !== 'string' || path.length === 0) {
    throw new TypeError('SqliteStore.open: path must be a non-empty string');
  }
  refuseUnknownOptions('SqliteStore.open', options, OPTION_NAMES);
  const { clock = systemClock, pollIntervalMs = 250, busyTimeoutMs = 5000, create = true, readOnly = false } = options;
  if (typeof clock !== 'function') throw new TypeError('SqliteStore.open: options.clock must be a function');
  positiveInteger(pollIntervalMs, 'pollIntervalMs');
  positiveInteger(busyTimeoutMs, 'busyTimeoutMs');
  if (typeof create !== 'boolean') throw new TypeError('SqliteStore.open: options.create must be true or false');
  if (typeof readOnly !== 'boolean') throw new TypeError('SqliteStore.open: options.readOnly must be true or false');
  const inMemory = path === ':memory:';
  if (!inMemory && (readOnly || !create) && !existsSync(path)) throw new StoreError('not_found', `no registry at ${path}`);
  const db = readOnly ? openReadOnlyCopy(path, busyTimeoutMs) : openFile(path, busyTimeoutMs, inMemory);
  return { db, clock, pollIntervalMs, readOnly };
}

/** Opens (creating if missing) the file at `path` for reading and writing. */
function openFile(path: string, busyTimeoutMs: number, inMemory: boolean): Database.Database {
  if (!inMemory) mkdirSync(dirname(path), { recursive: true });
  // Opening reads nothing yet: a file that is not a database is found out by the first read.
  const db = new Database(path, { timeout: busyTimeoutMs });
  try {
    // Before anything that writes (journal_mode included): another application's database, or
    // a file that is not a database, is refused untouched.
    const state = registryFileState(db);
    if (state.kind === 'other') throw notARegistry(path);
    // A newer registry too: migrate refuses it before it writes anything.
    if (state.kind === 'registry' && state.version > SCHEMA_VERSION) migrate(db, `"${path}"`);
    db.pragma('journal_mode = WAL');
    // Durability: replay claims commit with `synchronous = NORMAL`, registry writes with FULL
    // (see SqliteStore's #durably and the README, "Durability").
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db, `"${path}"`);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** See {@link SqliteStoreOptions.readOnly}. */
function openReadOnlyCopy(path: string, busyTimeoutMs: number): Database.Database {
  const db = openCopy(readDatabaseCopy(path, busyTimeoutMs));
  try {
    if (registryFileState(db).kind !== 'registry') throw notARegistry(path);
    // A newer schema is refused here as on any open; an older one is brought up to date in the
    // copy, so that this package's statements can read it.
    migrate(db, `"${path}"`);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
