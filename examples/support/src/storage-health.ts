/**
 * Storage faults at run time: a disk that is full, an I/O error, a database file that became
 * read-only or cannot be opened. They are not the client's fault and not a bug either: the server
 * answers 503 `storage_unavailable` (JSON, like every other error), logs the fault once with its
 * files rather than once per request, and `/healthz` answers 503 until a write succeeds again.
 */
import type { Database } from 'better-sqlite3';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { ApiError } from './api-error.js';

/**
 * SQLite result codes (better-sqlite3's `SqliteError.code`, extended codes included such as
 * `SQLITE_IOERR_WRITE`) and file-system codes that mean "the data cannot be written now".
 */
const STORAGE_CODE = /^(SQLITE_(FULL|IOERR|READONLY|CANTOPEN)(_[A-Z_]+)?|ENOSPC|EDQUOT|EROFS|EIO)$/;

/** True for an error that says the server's storage cannot be written (see the file comment). */
export function isStorageFault(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' && STORAGE_CODE.test(error.code);
}

/** The answer to a storage fault: 503 `storage_unavailable`. */
export function storageUnavailable(cause?: unknown): ApiError {
  return new ApiError(503, 'storage_unavailable', 'The server cannot write its data (its disk is full or its files are not writable); try again later.', {
    cause,
  });
}

/** Options of {@link StorageHealth}. */
export interface StorageHealthOptions {
  /** Where the fault (once) and the recovery go. */
  readonly logger: Logger;
  /** The files the server writes, named in the log line so the operator knows where to look. */
  readonly files: readonly string[];
  /**
   * The server's database connection. When given, a change answered 2xx clears a fault only if
   * the connection committed a row change meanwhile (SQLite's `total_changes()`): a replayed
   * `Idempotency-Key` answer or a repeated idempotent write is a 2xx that wrote nothing, and says
   * nothing about the disk. Without it (a server every acknowledged change of which writes, such
   * as the STS, whose token answers each store a replay claim first) any 2xx change clears it.
   */
  readonly database?: Database;
}

/** Methods that change nothing: their success says nothing about writes. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Whether the server's storage is writable, as far as the last write told. {@link fault} is called
 * by the error handler for every storage fault; a change acknowledged with a 2xx afterwards (a
 * write that succeeded) clears it. {@link handler} is the `/healthz` route and {@link watch} the
 * middleware that notices a successful write.
 */
export class StorageHealth {
  readonly #logger: Logger;
  readonly #files: readonly string[];
  readonly #changes: (() => number) | undefined;
  #fault: string | undefined;

  constructor(options: StorageHealthOptions) {
    this.#logger = options.logger;
    this.#files = [...options.files];
    const totalChanges = options.database?.prepare('SELECT total_changes()').pluck();
    this.#changes = totalChanges === undefined ? undefined : () => totalChanges.get() as number;
  }

  /** True unless a storage fault happened and no write succeeded since. */
  get healthy(): boolean {
    return this.#fault === undefined;
  }

  /**
   * Records a storage fault and returns the 503 to answer with. Only the first fault of an outage
   * is logged (at `error`, with the files and the driver's code); the next ones are the same news.
   */
  fault(error: unknown): ApiError {
    if (this.#fault === undefined) {
      const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : 'unknown';
      this.#fault = code;
      this.#logger.error({ err: error, code, files: this.#files }, 'storage unavailable: the server cannot write its data; free disk space or fix the files\' permissions');
    }
    return storageUnavailable(error);
  }

  /** Clears the fault after a write succeeded; logs the recovery once. */
  recovered(): void {
    if (this.#fault === undefined) return;
    this.#fault = undefined;
    this.#logger.warn({ files: this.#files }, 'storage writable again');
  }

  /**
   * Middleware to mount first: a request that changes something, is answered 2xx and (with
   * {@link StorageHealthOptions.database}) made the database commit a row change clears the fault.
   */
  watch(): RequestHandler {
    return (req, res, next) => {
      if (!SAFE_METHODS.has(req.method)) {
        const before = this.#changes?.();
        res.once('finish', () => {
          if (res.statusCode < 200 || res.statusCode >= 300) return;
          if (before === undefined || this.#changes === undefined || this.#changes() !== before) this.recovered();
        });
      }
      next();
    };
  }

  /** `GET /healthz`: 200 `{"status": "ok"}`, or 503 `{"error": "storage_unavailable", "message"}` during a fault. */
  handler(): RequestHandler {
    return (_req, res) => {
      if (this.#fault === undefined) {
        res.json({ status: 'ok' });
        return;
      }
      res.status(503).json(storageUnavailable().toJSON());
    };
  }
}
