/**
 * IM conversations: started by an organizer with other Lync users, messages from participants,
 * and an end. Ending a conversation and putting its transcript in the archiving outbox happen in
 * one transaction: a conversation is never ended without its transcript being kept for Exchange.
 */
import { randomUUID } from 'node:crypto';
import { ApiError } from '@s2sauth/example-support';
import type { LyncUser } from './accounts.js';
import type { LyncDatabase } from './database.js';
import type { Transcript } from './exchange-partner.js';
import { enqueueTranscript, outboxStatus, type OutboxStatus } from './outbox.js';

/** A message as Lync's routes and Exchange's archive carry it. */
export interface ConversationMessage {
  readonly from: string;
  readonly text: string;
  readonly sentAt: string;
}

/**
 * Where a conversation's transcript is: `open` (not ended), `local` (ended, kept in Lync because no
 * Exchange partner is configured), `pending` (in the outbox; `outbox` says how delivery goes),
 * `archived` (Exchange has it).
 */
export type ArchiveStatus = 'open' | 'local' | 'pending' | 'archived';

/** A conversation as `/me/conversations` shows it. */
export interface ConversationView {
  readonly id: string;
  readonly subject: string;
  readonly organizer: string;
  readonly participants: readonly string[];
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly messages: readonly ConversationMessage[];
  readonly archive: { readonly status: ArchiveStatus; readonly outbox?: OutboxStatus };
}

/** The most participants of one conversation, the organizer included. */
export const MAX_PARTICIPANTS = 50;
/** The most messages of one conversation. */
export const MAX_MESSAGES = 5000;

interface ConversationRow {
  readonly id: string;
  readonly organizer: string;
  readonly subject: string;
  readonly participants: string;
  readonly started_at: number;
  readonly ended_at: number | null;
  readonly archive_status: ArchiveStatus;
}

/** The conversations table and its messages. */
export class Conversations {
  readonly #db: LyncDatabase;

  constructor(db: LyncDatabase) {
    this.#db = db;
  }

  /**
   * Starts a conversation of `organizer` with `others` (user names; the caller checked they exist).
   * @throws ApiError 400 for too many participants.
   */
  start(organizer: LyncUser, subject: string, others: readonly string[]): ConversationView {
    const participants = [...new Set([organizer.username, ...others])];
    if (participants.length > MAX_PARTICIPANTS) throw new ApiError(400, 'invalid_request', `A conversation has at most ${MAX_PARTICIPANTS} participants.`);
    const id = randomUUID();
    this.#db
      .prepare('INSERT INTO conversations (id, organizer, subject, participants, started_at) VALUES (?, ?, ?, ?, ?)')
      .run(id, organizer.username, subject, JSON.stringify(participants), Date.now());
    return this.view(this.#row(id) as ConversationRow);
  }

  /** The conversations `user` takes part in, newest first. */
  listFor(user: LyncUser): ConversationView[] {
    const rows = this.#db
      .prepare('SELECT c.* FROM conversations c WHERE EXISTS (SELECT 1 FROM json_each(c.participants) WHERE value = ?) ORDER BY c.started_at DESC, c.rowid DESC')
      .all(user.username) as ConversationRow[];
    return rows.map((row) => this.view(row));
  }

  /** The conversation, when `user` takes part in it. @throws ApiError 404 otherwise. */
  getFor(user: LyncUser, id: string): ConversationView {
    return this.view(this.#participantRow(user, id));
  }

  /** Adds a message from `user`. @throws ApiError 404 (not a participant), 409 (ended or full). */
  addMessage(user: LyncUser, id: string, text: string): ConversationMessage {
    return this.#db.transaction(() => {
      const row = this.#participantRow(user, id);
      if (row.ended_at !== null) throw new ApiError(409, 'conversation_ended', 'The conversation has ended; no more messages can be sent.');
      const count = this.#db.prepare('SELECT count(*) AS n FROM messages WHERE conversation_id = ?').get(id) as { n: number };
      if (count.n >= MAX_MESSAGES) throw new ApiError(409, 'conversation_full', `A conversation has at most ${MAX_MESSAGES} messages.`);
      const sentAt = Date.now();
      this.#db.prepare('INSERT INTO messages (conversation_id, sender, text, sent_at) VALUES (?, ?, ?, ?)').run(id, user.username, text, sentAt);
      return { from: user.username, text, sentAt: new Date(sentAt).toISOString() };
    })();
  }

  /**
   * Ends the conversation. With `archive`, its transcript goes to the outbox in the same
   * transaction (status `pending`); without, it stays in Lync (status `local`).
   * @throws ApiError 404 (not a participant), 409 (already ended).
   */
  end(user: LyncUser, id: string, archive: boolean): ConversationView {
    const row = this.#db.transaction(() => {
      const current = this.#participantRow(user, id);
      if (current.ended_at !== null) throw new ApiError(409, 'conversation_ended', 'The conversation has already ended.');
      const endedAt = Date.now();
      const status: ArchiveStatus = archive ? 'pending' : 'local';
      this.#db.prepare('UPDATE conversations SET ended_at = ?, archive_status = ? WHERE id = ?').run(endedAt, status, id);
      const ended: ConversationRow = { ...current, ended_at: endedAt, archive_status: status };
      if (archive) enqueueTranscript(this.#db, current.organizer, this.#transcript(ended), endedAt);
      return ended;
    })();
    return this.view(row);
  }

  /** The row as the routes show it, with messages and archive state. */
  view(row: ConversationRow): ConversationView {
    const outbox = row.archive_status === 'pending' ? outboxStatus(this.#db, row.id) : undefined;
    return {
      id: row.id,
      subject: row.subject,
      organizer: row.organizer,
      participants: JSON.parse(row.participants) as string[],
      startedAt: new Date(row.started_at).toISOString(),
      endedAt: row.ended_at === null ? null : new Date(row.ended_at).toISOString(),
      messages: this.#messages(row.id),
      archive: { status: row.archive_status, ...(outbox === undefined ? {} : { outbox }) },
    };
  }

  #transcript(row: ConversationRow): Transcript {
    return {
      conversationId: row.id,
      subject: row.subject,
      participants: JSON.parse(row.participants) as string[],
      messages: this.#messages(row.id),
      receivedAt: new Date(row.ended_at ?? Date.now()).toISOString(),
    };
  }

  #messages(id: string): ConversationMessage[] {
    const rows = this.#db.prepare('SELECT sender, text, sent_at FROM messages WHERE conversation_id = ? ORDER BY id').all(id) as {
      sender: string;
      text: string;
      sent_at: number;
    }[];
    return rows.map((m) => ({ from: m.sender, text: m.text, sentAt: new Date(m.sent_at).toISOString() }));
  }

  #row(id: string): ConversationRow | undefined {
    return this.#db.prepare('SELECT * FROM conversations WHERE id = ?').get(id) as ConversationRow | undefined;
  }

  /** Someone else's conversation is "not found", not "forbidden": its existence is not theirs to know. */
  #participantRow(user: LyncUser, id: string): ConversationRow {
    const row = this.#row(id);
    if (row === undefined || !(JSON.parse(row.participants) as string[]).includes(user.username)) {
      throw new ApiError(404, 'not_found', 'There is no such conversation.');
    }
    return row;
  }
}
