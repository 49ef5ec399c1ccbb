/**
 * `Idempotency-Key` on the partner write routes (draft-ietf-httpapi-idempotency-key-header): a
 * partner that repeats a `POST`, `PUT` or `DELETE` after a timeout or a crash, with the same key,
 * gets the answer of the first request instead of a second contact or meeting.
 *
 * - Keys are scoped by the caller ({@link IdempotencyOptions.scope}: the partner and the user it
 *   acts for), so one partner can never see or replay another's answers.
 * - The key is stored in the server's SQLite file (table `idempotency_keys`, created by
 *   {@link IDEMPOTENCY_MIGRATION}) with a fingerprint of the request (method, path, body) and, once
 *   the route answered, its status, content type and body. A repeat gets that answer again; a
 *   repeat with another request is 422 `idempotency_key_reused`; a repeat while the first is still
 *   being processed is 409 `request_in_progress`.
 * - A key is kept 24 hours after its answer (`ttlMs`); an answer of 500 or more is not kept (the
 *   work may not have been done, so a repeat runs again). A request that never answered (the
 *   process stopped) holds its key for `leaseMs` (one minute), then a repeat runs again.
 * - Without the header the route runs as before. A malformed header is 400 `invalid_idempotency_key`.
 */
import { createHash } from 'node:crypto';
import { parseIdempotencyKey } from '@s2sauth/issuer';
import type { Request, RequestHandler, Response } from 'express';
import { ApiError } from './api-error.js';
import type { Migration, SqliteDatabase } from './sqlite-database.js';

/** How long a key and its answer are kept after the answer: 24 hours. */
export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 60 * 60_000;

/** How long a request in progress holds its key when it never answers: one minute. */
export const DEFAULT_IDEMPOTENCY_LEASE_MS = 60_000;

/** How many live keys one scope may hold by default (see {@link IdempotencyOptions.maxKeysPerScope}). */
export const DEFAULT_MAX_KEYS_PER_SCOPE = 10_000;

/** The largest answer kept for a replay by default, in bytes (see {@link IdempotencyOptions.maxAnswerBytes}). */
export const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024;

/** The migration that creates the `idempotency_keys` table; append it to a server's migrations. */
export const IDEMPOTENCY_MIGRATION: Migration = `
  CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    -- NULL while the first request is in progress
    status INTEGER,
    content_type TEXT,
    body BLOB,
    locked_until INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
  );
  CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys(expires_at);
`;

/** Options of {@link idempotencyKeys}. */
export interface IdempotencyOptions {
  /** The server's database, migrated with {@link IDEMPOTENCY_MIGRATION}. */
  readonly db: SqliteDatabase;
  /** Whose key space a request uses: e.g. the partner and the user it acts for. */
  readonly scope: (req: Request) => string;
  /** How long a key is kept after its answer, in ms. Default 24 hours. */
  readonly ttlMs?: number;
  /** How long a request that never answers holds its key, in ms. Default one minute. */
  readonly leaseMs?: number;
  /**
   * How many keys one scope may hold at once (answered or running, not yet expired). A request
   * with a new key beyond it is answered 429 `too_many_idempotency_keys` with `Retry-After`, so a
   * partner sending a fresh key with every request cannot fill the disk. Default 10,000.
   */
  readonly maxKeysPerScope?: number;
  /**
   * The largest answer body kept for a replay, in bytes. A larger answer is not kept (the key is
   * released, as after a 5xx: a repeat runs again). Default 64 KiB; the demo's answers are far smaller.
   */
  readonly maxAnswerBytes?: number;
  /** Milliseconds since the epoch. Default `Date.now`. */
  readonly clock?: () => number;
}

interface KeyRow {
  readonly fingerprint: string;
  readonly status: number | null;
  readonly content_type: string | null;
  readonly body: Buffer | null;
  readonly locked_until: number;
}

/** What a request's key lookup decided. */
type Decision =
  | { readonly kind: 'run' }
  | { readonly kind: 'replay'; readonly row: KeyRow }
  | { readonly kind: 'refuse'; readonly error: ApiError; readonly retryAfterSeconds?: number };

/**
 * Middleware for a write route, after authentication and the body parser (the body is part of the
 * fingerprint) and before the handler.
 * @throws TypeError for a ttl or lease that is not a positive whole number of milliseconds.
 */
export function idempotencyKeys(options: IdempotencyOptions): RequestHandler {
  const { db, scope } = options;
  const ttlMs = checkMs(options.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS, 'ttlMs');
  const leaseMs = checkMs(options.leaseMs ?? DEFAULT_IDEMPOTENCY_LEASE_MS, 'leaseMs');
  const maxKeys = checkCount(options.maxKeysPerScope ?? DEFAULT_MAX_KEYS_PER_SCOPE, 'maxKeysPerScope');
  const maxAnswerBytes = checkCount(options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES, 'maxAnswerBytes');
  const clock = options.clock ?? Date.now;
  const held = db.prepare('SELECT COUNT(*) AS count, MIN(expires_at) AS first FROM idempotency_keys WHERE scope = ?');
  const purge = db.prepare('DELETE FROM idempotency_keys WHERE expires_at <= ?');
  const find = db.prepare('SELECT fingerprint, status, content_type, body, locked_until FROM idempotency_keys WHERE scope = ? AND key = ?');
  const claim = db.prepare(
    `INSERT INTO idempotency_keys (scope, key, fingerprint, status, content_type, body, locked_until, expires_at)
     VALUES (?, ?, ?, NULL, NULL, NULL, ?, ?)
     ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = NULL, content_type = NULL, body = NULL,
       locked_until = excluded.locked_until, expires_at = excluded.expires_at`,
  );
  const complete = db.prepare('UPDATE idempotency_keys SET status = ?, content_type = ?, body = ?, expires_at = ? WHERE scope = ? AND key = ? AND status IS NULL');
  const release = db.prepare('DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status IS NULL');

  const decide = db.transaction((space: string, key: string, fingerprint: string, now: number): Decision => {
    purge.run(now);
    const row = find.get(space, key) as KeyRow | undefined;
    if (row !== undefined && row.fingerprint !== fingerprint) {
      return { kind: 'refuse', error: new ApiError(422, 'idempotency_key_reused', 'This Idempotency-Key was used for another request; use a new key for a new request.') };
    }
    if (row !== undefined && row.status !== null) return { kind: 'replay', row };
    if (row !== undefined && row.locked_until > now) {
      return { kind: 'refuse', error: new ApiError(409, 'request_in_progress', 'A request with this Idempotency-Key is still being processed; repeat it later.') };
    }
    if (row === undefined) {
      const { count, first } = held.get(space) as { readonly count: number; readonly first: number | null };
      if (count >= maxKeys) {
        const error = new ApiError(429, 'too_many_idempotency_keys', 'Too many Idempotency-Keys are held for this caller; reuse a key only to repeat a request, and try again later.');
        return { kind: 'refuse', error, retryAfterSeconds: Math.max(1, Math.ceil(((first ?? now) - now) / 1000)) };
      }
    }
    // New, or a first request that never answered within its lease: this request runs.
    claim.run(space, key, fingerprint, now + leaseMs, now + Math.max(ttlMs, leaseMs));
    return { kind: 'run' };
  });

  return (req, res, next) => {
    const header = req.headers['idempotency-key'];
    if (header === undefined) {
      next();
      return;
    }
    const key = typeof header === 'string' ? parseIdempotencyKey(header) : undefined;
    if (key === undefined) {
      throw new ApiError(400, 'invalid_idempotency_key', 'The Idempotency-Key header must be one key of 1 to 255 characters A-Z a-z 0-9 - _ . : ~ + / =, optionally in double quotes.');
    }
    const space = scope(req);
    const decision = decide.immediate(space, key, fingerprintOf(req), clock());
    if (decision.kind === 'refuse') {
      if (decision.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(decision.retryAfterSeconds));
      throw decision.error;
    }
    if (decision.kind === 'replay') {
      const { row } = decision;
      res.status(row.status as number);
      if (row.content_type !== null) res.setHeader('content-type', row.content_type);
      res.end(row.body ?? undefined);
      return;
    }
    recordAnswer(res, (status, contentType, body) => {
      if (status >= 500 || body.length > maxAnswerBytes) release.run(space, key);
      else complete.run(status, contentType, body, clock() + ttlMs, space, key);
    });
    next();
  };
}

/** The request as far as "the same request" goes: method, path with query, content type, body. */
function fingerprintOf(req: Request): string {
  const body: unknown = req.body;
  const content = Buffer.isBuffer(body) ? body.toString('base64') : JSON.stringify(body ?? null);
  return createHash('sha256')
    .update(JSON.stringify([req.method, req.originalUrl, req.headers['content-type'] ?? '', content]))
    .digest('base64url');
}

type WriteArguments = [chunk?: unknown, ...rest: unknown[]];

/** Calls `store` with the status, content type and body once the route ends its answer, before it is sent. */
function recordAnswer(res: Response, store: (status: number, contentType: string | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  const collect = (chunk: unknown, encoding: unknown): void => {
    if (typeof chunk === 'string') chunks.push(Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
    else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
  };
  const target = res as unknown as { write: (...args: WriteArguments) => boolean; end: (...args: WriteArguments) => Response };
  const write = target.write;
  const end = target.end;
  target.write = function (this: Response, ...args: WriteArguments): boolean {
    collect(args[0], args[1]);
    return write.apply(this, args);
  };
  target.end = function (this: Response, ...args: WriteArguments): Response {
    target.end = end;
    if (typeof args[0] !== 'function') collect(args[0], args[1]);
    const type = res.getHeader('content-type');
    try {
      store(res.statusCode, typeof type === 'string' ? type : null, Buffer.concat(chunks));
    } catch {
      // The key could not be recorded (storage failing): the answer still goes out; the key's
      // lease runs out and a repeat is processed again, as without the header.
    }
    return end.apply(this, args);
  };
}

function checkCount(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`idempotency ${name} must be a positive whole number.`);
  return value;
}

function checkMs(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`idempotency ${name} must be a positive whole number of milliseconds.`);
  return value;
}
