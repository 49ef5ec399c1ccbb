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
 *   Every delivery of a transcript carries the same `Idempotency-Key` (`transcript-<conversationId>`).
 * - At most `concurrency` (4) deliveries are in flight, a row never twice at once, so an Exchange
 *   that accepts connections and never answers holds 4 rows, not the whole queue.
 * - Retries back off exponentially, `retryBaseMs * 2^(attempts-1)` capped at `retryMaxMs`, with
 *   "equal jitter" (a random half of the delay) so that many rows failing together do not retry in
 *   lock-step. The timer is unref'd: a pending retry never keeps the process alive.
 * - An outage (Exchange down, frozen, 5xx, refusing Lync: `isOutage`) switches to probing: one
 *   attempt at a time, with the waiting row due first whatever its backoff (so the probes take the
 *   rows in turn), `probeMs` (2 s) after the previous probe ended. The first delivery that gets through (or any answer that is not an outage)
 *   makes every waiting row due at once, so a returning Exchange drains the queue within seconds
 *   instead of after each row's backoff (up to a minute).
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
  /**
   * Whether a failed delivery means Exchange itself is failing (down, frozen, refusing Lync), so
   * the outbox probes instead of trying every row; false for a failure of that one transcript (the
   * partner answered, but refused this row). Default: every failure is Exchange failing.
   */
  readonly isOutage?: (error: unknown) => boolean;
  /** Most deliveries in flight at once. Default 4. */
  readonly concurrency?: number;
  /** While Exchange is failing, how long after one probe ends the next starts, in ms. Default 2000. */
  readonly probeMs?: number;
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

/** How one attempt ended. */
type AttemptResult = 'delivered' | 'row_failed' | 'outage';

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

function checkPositive(value: number | undefined, fallback: number, name: string): number {
  const number = value ?? fallback;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 1 || number > 1000) {
    throw new TypeError(`outbox.${name} must be a whole number from 1 to 1000.`);
  }
  return number;
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
  readonly #isOutage: (error: unknown) => boolean;
  readonly #concurrency: number;
  readonly #probeMs: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #pollMs: number;
  readonly #logger: Logger;
  readonly #random: () => number;
  readonly #abort = new AbortController();
  /** Rows being delivered: a row is never sent twice at once. */
  readonly #inFlight = new Set<number>();
  /** The attempts in flight, for close() and deliverNow() to wait on. */
  readonly #running = new Set<Promise<AttemptResult>>();
  /** Exchange's last answer was an outage: only one probe at a time is sent until one gets through. */
  #failing = false;
  #probing = false;
  /** When the next probe may start (ms since the epoch). */
  #probeAt = 0;
  /** deliverNow() is running: the worker starts nothing of its own meanwhile. */
  #manual: Promise<number> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #closed = false;

  /** @throws TypeError for a retry, probe or poll delay or a concurrency that is not a positive whole number. */
  constructor(options: OutboxOptions) {
    this.#db = options.db;
    this.#deliver = options.deliver;
    this.#isOutage = options.isOutage ?? (() => true);
    this.#concurrency = checkPositive(options.concurrency, 4, 'concurrency');
    this.#probeMs = checkDelay(options.probeMs, 2000, 'probeMs');
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

  /** Starts the worker: due transcripts now (those left from before a restart), then on its timer. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.wake();
  }

  /** Tries due entries soon (after a conversation ended). */
  wake(): void {
    if (!this.#started || this.#closed) return;
    this.#schedule(0);
  }

  /**
   * Tries EVERY waiting entry now, whether its retry is due or not and whether Exchange is failing
   * or not (for tests and operators), at most `concurrency` at once, after the attempts in
   * progress. @returns how many were delivered.
   */
  deliverNow(): Promise<number> {
    const previous = this.#manual ?? Promise.resolve(0);
    const run = previous.catch(() => 0).then(() => this.#deliverAll());
    this.#manual = run;
    const done = (): void => {
      if (this.#manual === run) this.#manual = undefined;
      this.#pump();
    };
    run.then(done, done);
    return run;
  }

  /** Stops the worker: nothing new starts, the attempts in progress are aborted (their rows stay), waits for them. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
    await this.#manual?.catch(() => undefined);
    await Promise.allSettled([...this.#running]);
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pump();
    }, Math.max(0, Math.min(delayMs, this.#pollMs)));
    this.#timer.unref();
  }

  /** Starts attempts while there is room and a row to try, then sets the timer for the next one. */
  #pump(): void {
    if (this.#closed || !this.#started || this.#manual !== undefined) return;
    try {
      while (this.#inFlight.size < this.#concurrency) {
        const next = this.#next();
        if (next === undefined) break;
        void this.#launch(next.row, next.probe);
      }
    } catch (error) {
      this.#logger.error({ err: error }, 'outbox pass failed');
    }
    this.#scheduleNext();
  }

  /**
   * The row to try next: the row due first (the oldest when none has failed yet). While Exchange is
   * failing, that row is the one probe (when no probe is out and the interval has passed), whether
   * its retry is due or not; a failed probe's backoff moves the next probe on to another row, so
   * one transcript that Exchange cannot take never holds the probe.
   */
  #next(): { row: OutboxRow; probe: boolean } | undefined {
    const limit = this.#inFlight.size + 1;
    if (this.#failing) {
      if (this.#probing || Date.now() < this.#probeAt) return undefined;
      const rows = this.#db.prepare('SELECT * FROM outbox ORDER BY next_attempt_at, id LIMIT ?').all(limit) as OutboxRow[];
      const row = rows.find((candidate) => !this.#inFlight.has(candidate.id));
      return row === undefined ? undefined : { row, probe: true };
    }
    const rows = this.#db.prepare('SELECT * FROM outbox WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?').all(Date.now(), limit) as OutboxRow[];
    const row = rows.find((candidate) => !this.#inFlight.has(candidate.id));
    return row === undefined ? undefined : { row, probe: false };
  }

  /**
   * Sets the timer for the next attempt. None while every slot is taken or a probe is out: the end
   * of an attempt calls {@link Outbox.#pump}. Rows in flight are left out, or their past due time
   * would wake the worker at once, again and again.
   */
  #scheduleNext(): void {
    if (this.#closed || !this.#started || this.#manual !== undefined) return;
    if (this.#inFlight.size >= this.#concurrency || (this.#failing && this.#probing)) return;
    const next = this.#db
      .prepare('SELECT min(next_attempt_at) AS at FROM outbox WHERE id NOT IN (SELECT value FROM json_each(?))')
      .get(JSON.stringify([...this.#inFlight])) as { at: number | null };
    if (next.at === null) this.#schedule(this.#pollMs);
    // While failing, the next probe goes at its time, whatever the rows' own backoff.
    else this.#schedule((this.#failing ? this.#probeAt : next.at) - Date.now());
  }

  /** One attempt, counted in flight until it ends; then the worker looks for more. */
  #launch(row: OutboxRow, probe: boolean): Promise<AttemptResult> {
    this.#inFlight.add(row.id);
    if (probe) this.#probing = true;
    const attempt = this.#attempt(row, probe).catch((error: unknown): AttemptResult => {
      this.#logger.error({ err: error, conversationId: row.conversation_id }, 'outbox attempt failed');
      return 'row_failed';
    });
    this.#running.add(attempt);
    void attempt.then(() => {
      this.#running.delete(attempt);
      this.#inFlight.delete(row.id);
      if (probe) {
        this.#probing = false;
        this.#probeAt = Date.now() + this.#probeMs;
      }
      this.#pump();
    });
    return attempt;
  }

  /** Every waiting row not in flight, `concurrency` at a time. */
  async #deliverAll(): Promise<number> {
    if (this.#closed) return 0;
    await Promise.allSettled([...this.#running]);
    const queue = this.#db.prepare('SELECT * FROM outbox ORDER BY id').all() as OutboxRow[];
    let delivered = 0;
    const worker = async (): Promise<void> => {
      for (let row = queue.shift(); row !== undefined && !this.#closed; row = queue.shift()) {
        if (this.#inFlight.has(row.id)) continue;
        if ((await this.#launch(row, false)) === 'delivered') delivered++;
      }
    };
    await Promise.all(Array.from({ length: this.#concurrency }, worker));
    return delivered;
  }

  async #attempt(row: OutboxRow, probe: boolean): Promise<AttemptResult> {
    let transcript: Transcript;
    try {
      transcript = JSON.parse(row.payload) as Transcript;
    } catch {
      // Written by enqueueTranscript only; a row that does not parse is kept for an operator.
      this.#failed(row, 'The stored transcript is not valid JSON.', false);
      return 'row_failed';
    }
    const entry: OutboxEntry = { id: row.id, conversationId: row.conversation_id, organizer: row.organizer, transcript, attempts: row.attempts };
    try {
      await this.#deliver(entry, this.#abort.signal);
    } catch (error) {
      if (this.#closed) return 'outage';
      const outage = this.#isOutage(error);
      this.#failed(row, error instanceof Error ? error.message : 'delivery failed', outage && (probe || this.#failing));
      if (!outage) {
        // Exchange answered (refusing this transcript only): it is up.
        this.#recovered();
        return 'row_failed';
      }
      if (!this.#failing) {
        this.#failing = true;
        this.#probeAt = Date.now() + this.#probeMs;
        this.#logger.warn({ probeMs: this.#probeMs }, 'Exchange is failing; one transcript at a time probes until it answers');
      }
      return 'outage';
    }
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM outbox WHERE id = ?').run(row.id);
      this.#db.prepare("UPDATE conversations SET archive_status = 'archived' WHERE id = ?").run(row.conversation_id);
    })();
    this.#logger.info({ conversationId: row.conversation_id, attempts: row.attempts + 1 }, 'transcript archived in Exchange');
    this.#recovered();
    return 'delivered';
  }

  /** Exchange answered: after an outage, every waiting transcript is due now instead of after its backoff. */
  #recovered(): void {
    if (!this.#failing) return;
    this.#failing = false;
    const now = Date.now();
    const waiting = this.#db.prepare('UPDATE outbox SET next_attempt_at = ? WHERE next_attempt_at > ?').run(now, now).changes;
    this.#logger.warn({ waiting }, 'Exchange answers again; delivering every waiting transcript now');
  }

  /** Records a failed attempt and the row's next retry; `quiet` for a probe during an outage (logged once, not per probe). */
  #failed(row: OutboxRow, message: string, quiet: boolean): void {
    const attempts = row.attempts + 1;
    const delay = retryDelay(attempts, this.#baseMs, this.#maxMs, this.#random);
    this.#db
      .prepare('UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?')
      .run(attempts, Date.now() + delay, message.slice(0, 1000), row.id);
    this.#logger[quiet ? 'debug' : 'warn']({ conversationId: row.conversation_id, attempts, retryInMs: delay, error: message }, 'transcript not archived yet; will retry');
  }
}
