/**
 * The archiving outbox (the transactional outbox pattern): a transcript is written to the `outbox`
 * table in the same transaction that ends its conversation ({@link enqueueTranscript}), and a
 * worker ({@link Outbox}) delivers it to Exchange afterwards.
 *
 * - Never lost: the row exists as soon as the conversation is ended, and is deleted only after
 *   Exchange answered 2xx. Exchange down, refusing (401/403), or Lync stopped: the row stays, with
 *   its last error, and is delivered on a later pass or after the next start.
 * - Never stored twice: delivery is at least once (a crash between Exchange's 2xx and the delete
 *   sends it again), and Exchange stores one item per `conversationId`, which makes it exactly once.
 * - Retries back off exponentially, `retryBaseMs * 2^(attempts-1)` capped at `retryMaxMs`, with
 *   "equal jitter" (a random half of the delay) so that many rows failing together do not retry in
 *   lock-step. The timer is unref'd: a pending retry never keeps the process alive.
 */
import type { Logger } from 'pino';
import type { LyncDatabase } from './database.js';
import type { Transcript } from './exchange-partner.js';

/** One transcript waiting for delivery. */
export interface OutboxEntry {
  readonly id: number;
  readonly conversationId: string;
  /** The user the transcript is delivered on behalf of. */
  readonly organizer: string;
  readonly transcript: Transcript;
  /** Failed attempts so far. */
  readonly attempts: number;
}

/** Delivers one entry; resolves after Exchange's 2xx, rejects otherwise. */
export type DeliverTranscript = (entry: OutboxEntry, signal: AbortSignal) => Promise<void>;

/** Options of {@link Outbox}. */
export interface OutboxOptions {
  readonly db: LyncDatabase;
  readonly deliver: DeliverTranscript;
  /** First retry delay in ms. Default 1000. */
  readonly retryBaseMs?: number;
  /** Longest retry delay in ms. Default 60000. */
  readonly retryMaxMs?: number;
  /** Longest sleep of the worker between passes in ms. Default 30000. */
  readonly pollMs?: number;
  readonly logger: Logger;
  /** Source of randomness in [0, 1) for the jitter; default Math.random. */
  readonly random?: () => number;
}

interface OutboxRow {
  readonly id: number;
  readonly conversation_id: string;
  readonly organizer: string;
  readonly payload: string;
  readonly attempts: number;
  readonly next_attempt_at: number;
  readonly last_error: string | null;
}

/** The delivery state of a conversation's transcript while it is in the outbox. */
export interface OutboxStatus {
  readonly attempts: number;
  readonly nextAttemptAt: string;
  readonly lastError?: string;
}

/**
 * Puts a transcript in the outbox. Call it inside the transaction that ends the conversation, so
 * that either both happen or neither does.
 */
export function enqueueTranscript(db: LyncDatabase, organizer: string, transcript: Transcript, now: number): void {
  db.prepare('INSERT INTO outbox (conversation_id, organizer, payload, attempts, next_attempt_at, created_at) VALUES (?, ?, ?, 0, ?, ?)').run(
    transcript.conversationId,
    organizer,
    JSON.stringify(transcript),
    now,
    now,
  );
}

/** The outbox state of a conversation's transcript, if it is waiting. */
export function outboxStatus(db: LyncDatabase, conversationId: string): OutboxStatus | undefined {
  const row = db.prepare('SELECT attempts, next_attempt_at, last_error FROM outbox WHERE conversation_id = ?').get(conversationId) as
    | Pick<OutboxRow, 'attempts' | 'next_attempt_at' | 'last_error'>
    | undefined;
  if (row === undefined) return undefined;
  return {
    attempts: row.attempts,
    nextAttemptAt: new Date(row.next_attempt_at).toISOString(),
    ...(row.last_error === null ? {} : { lastError: row.last_error }),
  };
}

/** `retryBaseMs * 2^(attempts-1)`, capped, with equal jitter: somewhere in [delay/2, delay]. */
export function retryDelay(attempts: number, baseMs: number, maxMs: number, random: () => number): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

function checkDelay(value: number | undefined, fallback: number, name: string): number {
  const delay = value ?? fallback;
  if (typeof delay !== 'number' || !Number.isSafeInteger(delay) || delay < 1 || delay > 2_147_483_647) {
    throw new TypeError(`outbox.${name} must be a whole number of milliseconds, at least 1.`);
  }
  return delay;
}

/** The worker that empties the outbox. */
export class Outbox {
  readonly #db: LyncDatabase;
  readonly #deliver: DeliverTranscript;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #pollMs: number;
  readonly #logger: Logger;
  readonly #random: () => number;
  readonly #abort = new AbortController();
  /** Passes run one after another, never two at once, so one row is never sent twice concurrently. */
  #passes: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #closed = false;

  /** @throws TypeError for a retry or poll delay that is not a positive whole number. */
  constructor(options: OutboxOptions) {
    this.#db = options.db;
    this.#deliver = options.deliver;
    this.#baseMs = checkDelay(options.retryBaseMs, 1000, 'retryBaseMs');
    this.#maxMs = checkDelay(options.retryMaxMs, 60_000, 'retryMaxMs');
    if (this.#maxMs < this.#baseMs) throw new TypeError('outbox.retryMaxMs must be at least outbox.retryBaseMs.');
    this.#pollMs = checkDelay(options.pollMs, 30_000, 'pollMs');
    this.#logger = options.logger;
    this.#random = options.random ?? Math.random;
  }

  /** How many transcripts are waiting. */
  get size(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
  }

  /** Starts the worker: a pass now (transcripts left from before a restart), then on its timer. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.wake();
  }

  /** Runs a pass of due entries soon (after a conversation ended). */
  wake(): void {
    if (!this.#started || this.#closed) return;
    this.#schedule(0);
  }

  /**
   * Runs one pass over EVERY waiting entry now, whether its retry is due or not (for tests and
   * operators), after any pass in progress. @returns how many were delivered.
   */
  deliverNow(): Promise<number> {
    return this.#enqueuePass(true);
  }

  /** Stops the worker: no new pass, an attempt in progress is aborted (its row stays), waits for it. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
    await this.#passes.catch(() => undefined);
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#enqueuePass(false)
        .catch((error: unknown) => this.#logger.error({ err: error }, 'outbox pass failed'))
        .finally(() => this.#scheduleNext());
    }, Math.max(0, Math.min(delayMs, this.#pollMs)));
    this.#timer.unref();
  }

  #scheduleNext(): void {
    if (this.#closed || !this.#started || this.#timer !== undefined) return;
    const next = this.#db.prepare('SELECT min(next_attempt_at) AS at FROM outbox').get() as { at: number | null };
    this.#schedule(next.at === null ? this.#pollMs : next.at - Date.now());
  }

  #enqueuePass(all: boolean): Promise<number> {
    const pass = this.#passes.then(() => this.#pass(all));
    this.#passes = pass.catch(() => undefined);
    return pass;
  }

  async #pass(all: boolean): Promise<number> {
    if (this.#closed) return 0;
    const rows = (
      all
        ? this.#db.prepare('SELECT * FROM outbox ORDER BY id').all()
        : this.#db.prepare('SELECT * FROM outbox WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id').all(Date.now())
    ) as OutboxRow[];
    let delivered = 0;
    for (const row of rows) {
      if (this.#closed) break;
      if (await this.#attempt(row)) delivered++;
    }
    return delivered;
  }

  async #attempt(row: OutboxRow): Promise<boolean> {
    let transcript: Transcript;
    try {
      transcript = JSON.parse(row.payload) as Transcript;
    } catch {
      // Written by enqueueTranscript only; a row that does not parse is kept for an operator.
      this.#failed(row, 'The stored transcript is not valid JSON.');
      return false;
    }
    const entry: OutboxEntry = { id: row.id, conversationId: row.conversation_id, organizer: row.organizer, transcript, attempts: row.attempts };
    try {
      await this.#deliver(entry, this.#abort.signal);
    } catch (error) {
      this.#failed(row, error instanceof Error ? error.message : 'delivery failed');
      return false;
    }
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM outbox WHERE id = ?').run(row.id);
      this.#db.prepare("UPDATE conversations SET archive_status = 'archived' WHERE id = ?").run(row.conversation_id);
    })();
    this.#logger.info({ conversationId: row.conversation_id, attempts: row.attempts + 1 }, 'transcript archived in Exchange');
    return true;
  }

  #failed(row: OutboxRow, message: string): void {
    const attempts = row.attempts + 1;
    const delay = retryDelay(attempts, this.#baseMs, this.#maxMs, this.#random);
    this.#db
      .prepare('UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?')
      .run(attempts, Date.now() + delay, message.slice(0, 1000), row.id);
    this.#logger.warn({ conversationId: row.conversation_id, attempts, retryInMs: delay, error: message }, 'transcript not archived yet; will retry');
  }
}
