/**
 * The mailboxes: each user's contacts (the unified contact store) and archived mail items, in the
 * server's SQLite file. Every query is scoped to one mailbox (the user id), so a route can never
 * read or change another user's data by guessing an id.
 */
import { randomUUID } from 'node:crypto';
import type { Contact, ContactInput } from './contact.js';
import type { MailItem, MailItemInput, TranscriptMessage } from './mail-item.js';
import type { MailboxDatabase } from './mailbox-database.js';

interface ContactRow {
  readonly id: string;
  readonly display_name: string;
  readonly email: string;
  readonly sip: string | null;
  readonly phone: string | null;
}

interface MailItemRow {
  readonly id: string;
  readonly conversation_id: string;
  readonly subject: string;
  readonly participants: string;
  readonly messages: string;
  readonly received_at: string;
}

function toContact(row: ContactRow): Contact {
  return {
    id: row.id,
    displayName: row.display_name,
    email: row.email,
    ...(row.sip === null ? {} : { sip: row.sip }),
    ...(row.phone === null ? {} : { phone: row.phone }),
  };
}

function toMailItem(row: MailItemRow): MailItem {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    subject: row.subject,
    participants: JSON.parse(row.participants) as string[],
    messages: JSON.parse(row.messages) as TranscriptMessage[],
    receivedAt: row.received_at,
  };
}

/** The result of {@link MailboxStore.archive}. */
export interface ArchiveResult {
  readonly item: MailItem;
  /** False when the conversation was already archived: the stored item is returned unchanged. */
  readonly created: boolean;
}

/** Contacts and mail items of every mailbox. */
export class MailboxStore {
  readonly #db: MailboxDatabase;

  constructor(db: MailboxDatabase) {
    this.#db = db;
  }

  /** The user's contacts, oldest first. */
  listContacts(userId: number): Contact[] {
    const rows = this.#db
      .prepare('SELECT id, display_name, email, sip, phone FROM contacts WHERE user_id = ? ORDER BY seq')
      .all(userId) as ContactRow[];
    return rows.map(toContact);
  }

  /** Adds a contact with a new id. */
  createContact(userId: number, input: ContactInput): Contact {
    const id = randomUUID();
    this.#db
      .prepare(
        `INSERT INTO contacts (id, user_id, display_name, email, sip, phone, created_at, seq)
         VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM contacts))`,
      )
      .run(id, userId, input.displayName, input.email, input.sip ?? null, input.phone ?? null, Date.now());
    return { id, ...input };
  }

  /** Replaces a contact's fields; `undefined` when the user has no contact with this id. */
  replaceContact(userId: number, id: string, input: ContactInput): Contact | undefined {
    const result = this.#db
      .prepare('UPDATE contacts SET display_name = ?, email = ?, sip = ?, phone = ? WHERE user_id = ? AND id = ?')
      .run(input.displayName, input.email, input.sip ?? null, input.phone ?? null, userId, id);
    return result.changes === 0 ? undefined : { id, ...input };
  }

  /** Deletes a contact; false when the user has no contact with this id. */
  deleteContact(userId: number, id: string): boolean {
    return this.#db.prepare('DELETE FROM contacts WHERE user_id = ? AND id = ?').run(userId, id).changes > 0;
  }

  /**
   * Archives a conversation's transcript in the user's mailbox, once: a repeated delivery of the
   * same `conversationId` (a retry after a lost answer) stores nothing and returns the item stored
   * the first time. The check and the insert are one statement, so two deliveries racing each
   * other still store one item.
   */
  archive(userId: number, input: MailItemInput, now: Date = new Date()): ArchiveResult {
    const run = this.#db.transaction((): ArchiveResult => {
      const inserted = this.#db
        .prepare(
          `INSERT INTO mail_items (id, user_id, conversation_id, subject, participants, messages, received_at, seq)
           VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM mail_items))
           ON CONFLICT (user_id, conversation_id) DO NOTHING`,
        )
        .run(
          randomUUID(),
          userId,
          input.conversationId,
          input.subject,
          JSON.stringify(input.participants),
          JSON.stringify(input.messages),
          input.receivedAt ?? now.toISOString(),
        );
      const row = this.#db
        .prepare('SELECT id, conversation_id, subject, participants, messages, received_at FROM mail_items WHERE user_id = ? AND conversation_id = ?')
        .get(userId, input.conversationId) as MailItemRow;
      return { item: toMailItem(row), created: inserted.changes > 0 };
    });
    return run();
  }

  /** The user's mail items, oldest first. */
  listMail(userId: number): MailItem[] {
    const rows = this.#db
      .prepare('SELECT id, conversation_id, subject, participants, messages, received_at FROM mail_items WHERE user_id = ? ORDER BY seq')
      .all(userId) as MailItemRow[];
    return rows.map(toMailItem);
  }
}
