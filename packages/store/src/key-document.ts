/**
 * The last good metadata document of each key source (a metadata URL with its `allowLoopback`
 * setting), with the time it was fetched, so that a restarted verifier can go on serving a
 * partner's or an OAuth server's keys while their metadata endpoint is down, under the same
 * maximum staleness as before the restart (measured from the original fetch).
 *
 * A document is public: it holds certificates only, never a secret. The store keeps its bytes as
 * fetched; the middleware parses and checks it again (against the registration, at the current
 * time) whenever it reads one back, so a stored document is never trusted for more than a fresh
 * fetch would be. Writes here are not registry writes: they do not move the registry change
 * counter and notify no `onChange` listener.
 */
import type Database from 'better-sqlite3';
import { booleanField, nonEmptyString, recordObject, timestamp } from './record-shape.js';
import { StoreError } from './store-error.js';

/** Which key source a document belongs to: a metadata URL, fetched with or without loopback allowed. */
export interface KeyDocumentSource {
  /** The metadata URL the document was fetched from. */
  readonly metadataUrl: string;
  /** Whether the registration allowed a loopback host (the same URL under other rules is another source). */
  readonly allowLoopback: boolean;
}

/** The last good metadata document of a key source. Records handed out by a store are frozen. */
export interface KeyDocument extends KeyDocumentSource {
  /** The document's bytes, exactly as fetched (decoded from any content encoding). */
  readonly document: Uint8Array;
  /** When the document was fetched, in ms since the epoch. */
  readonly fetchedAt: number;
}

/**
 * Where verifiers keep the last good metadata document of each key source
 * (`MemoryStore` and `SqliteStore` implement it).
 */
export interface KeyDocumentStore {
  /** The document stored for `source` (exact URL and `allowLoopback`), if any. */
  getKeyDocument(source: KeyDocumentSource): KeyDocument | undefined;
  /**
   * Stores `document` as the last good one of its source, unless the stored one was fetched later
   * (two verifiers sharing a store both refresh) but not more than {@link FUTURE_FETCH_MS} later: a
   * stored fetch time that far ahead cannot be a racing fetch, only the stamp of a clock that was
   * ahead then, and it is replaced. Throws a `TypeError` for an impossible record.
   */
  putKeyDocument(document: KeyDocument): void;
  /** Removes every document fetched before `time` (ms); returns how many were removed. */
  removeKeyDocumentsFetchedBefore(time: number): number;
}

/** True when `store` implements {@link KeyDocumentStore}. */
export function isKeyDocumentStore(store: unknown): store is KeyDocumentStore {
  const candidate = store as Partial<KeyDocumentStore> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.getKeyDocument === 'function' &&
    typeof candidate.putKeyDocument === 'function' &&
    typeof candidate.removeKeyDocumentsFetchedBefore === 'function'
  );
}

const SUBJECT = 'key document';

function checkSource(input: unknown): KeyDocumentSource {
  const source = recordObject(input, SUBJECT);
  return {
    metadataUrl: nonEmptyString(source.metadataUrl, 'metadataUrl', SUBJECT),
    allowLoopback: booleanField(source.allowLoopback, 'allowLoopback', SUBJECT),
  };
}

/**
 * Checks the structure of a key document given to a store (or read back from one) and returns a
 * frozen copy (the bytes copied too, the time in whole ms). Throws a `TypeError` naming the field otherwise; never
 * echoes the document.
 */
export function keyDocumentRecord(input: unknown): KeyDocument {
  const record = recordObject(input, SUBJECT);
  const source = checkSource(record);
  const { document } = record;
  if (!(document instanceof Uint8Array) || document.byteLength === 0) {
    throw new TypeError(`${SUBJECT}: document must be a non-empty Uint8Array`);
  }
  return Object.freeze({
    ...source,
    document: Buffer.from(document),
    // Whole milliseconds, as every other time a store keeps.
    fetchedAt: Math.floor(timestamp(record.fetchedAt, 'fetchedAt', SUBJECT)),
  });
}

/** `metadataUrl` and `allowLoopback` as one map key; JSON so that no URL can make two collide. */
function sourceKey(source: KeyDocumentSource): string {
  return JSON.stringify([source.metadataUrl, source.allowLoopback]);
}

/**
 * How far a stored document's fetch time may lie after a new fetch's and still win over it (ms):
 * fetches of one source race by a few seconds at most (the fetch timeout is 5 s); a stored time
 * further ahead was written by a clock that was ahead, and would otherwise never be replaced.
 */
export const FUTURE_FETCH_MS = 60_000;

/** The key documents of `MemoryStore`. */
export class MemoryKeyDocuments implements KeyDocumentStore {
  readonly #documents = new Map<string, KeyDocument>();

  getKeyDocument(source: KeyDocumentSource): KeyDocument | undefined {
    return this.#documents.get(sourceKey(checkSource(source)));
  }

  putKeyDocument(document: KeyDocument): void {
    const record = keyDocumentRecord(document);
    const key = sourceKey(record);
    const stored = this.#documents.get(key);
    if (stored === undefined || stored.fetchedAt <= record.fetchedAt || stored.fetchedAt > record.fetchedAt + FUTURE_FETCH_MS) {
      this.#documents.set(key, record);
    }
  }

  removeKeyDocumentsFetchedBefore(time: number): number {
    const before = timestamp(time, 'time', SUBJECT);
    let removed = 0;
    for (const [key, document] of this.#documents) {
      if (document.fetchedAt < before && this.#documents.delete(key)) removed++;
    }
    return removed;
  }
}

interface KeyDocumentRow {
  readonly metadata_url: unknown;
  readonly allow_loopback: unknown;
  readonly document: unknown;
  readonly fetched_at: unknown;
}

/**
 * The key documents of `SqliteStore`, in the `key_documents` table (schema step 3). Statements
 * are prepared on first use, so a connection that never touches key documents works on a file
 * without the table.
 */
export class SqliteKeyDocuments implements KeyDocumentStore {
  readonly #db: Database.Database;
  readonly #path: string;
  #statements: ReturnType<typeof prepare> | undefined;

  /** @param db - An open connection whose schema has the `key_documents` table; `path` names it in errors. */
  constructor(db: Database.Database, path: string) {
    this.#db = db;
    this.#path = path;
  }

  getKeyDocument(source: KeyDocumentSource): KeyDocument | undefined {
    const checked = checkSource(source);
    const row = this.#prepared().get.get(checked.metadataUrl, checked.allowLoopback ? 1 : 0);
    if (row === undefined) return undefined;
    try {
      return keyDocumentRecord({
        metadataUrl: row.metadata_url,
        allowLoopback: row.allow_loopback === 1,
        document: row.document,
        fetchedAt: row.fetched_at,
      });
    } catch (error) {
      throw new StoreError('corrupt', `corrupt row in "${this.#path}": ${(error as Error).message}`, { cause: error });
    }
  }

  putKeyDocument(document: KeyDocument): void {
    const record = keyDocumentRecord(document);
    this.#prepared().put.run({
      metadata_url: record.metadataUrl,
      allow_loopback: record.allowLoopback ? 1 : 0,
      document: record.document,
      fetched_at: record.fetchedAt,
    });
  }

  removeKeyDocumentsFetchedBefore(time: number): number {
    return this.#prepared().removeBefore.run(timestamp(time, 'time', SUBJECT)).changes;
  }

  #prepared(): ReturnType<typeof prepare> {
    this.#statements ??= prepare(this.#db);
    return this.#statements;
  }
}

function prepare(db: Database.Database) {
  return {
    get: db.prepare<[string, number], KeyDocumentRow>(
      'SELECT metadata_url, allow_loopback, document, fetched_at FROM key_documents WHERE metadata_url = ? AND allow_loopback = ?',
    ),
    // The later fetch wins, whichever verifier sharing the file writes last; a stored time further
    // ahead than FUTURE_FETCH_MS was stamped by a clock that was ahead, and loses.
    put: db.prepare<[{ metadata_url: string; allow_loopback: number; document: Uint8Array; fetched_at: number }]>(`
      INSERT INTO key_documents (metadata_url, allow_loopback, document, fetched_at)
        VALUES (@metadata_url, @allow_loopback, @document, @fetched_at)
        ON CONFLICT (metadata_url, allow_loopback) DO UPDATE SET document = excluded.document, fetched_at = excluded.fetched_at
          WHERE excluded.fetched_at >= key_documents.fetched_at OR key_documents.fetched_at > excluded.fetched_at + ${FUTURE_FETCH_MS}`),
    removeBefore: db.prepare<[number]>('DELETE FROM key_documents WHERE fetched_at < ?'),
  };
}
