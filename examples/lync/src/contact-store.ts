/**
 * Where a user's contacts live. Without an Exchange partner, in Lync's own table
 * ({@link LocalContactStore}); with one, in Exchange's unified contact store
 * ({@link UnifiedContactStore}), after the user's local contacts were moved there exactly once.
 *
 * The move, per user, the first time any contact operation runs for them:
 * 1. read the local contacts and Exchange's list;
 * 2. post each local contact that Exchange does not already hold (same e-mail address, case-
 *    insensitively, and same display name);
 * 3. in ONE transaction: delete the moved local contacts, record `local id -> Exchange id` in
 *    `ucs_moves`, and set the user's `ucs_migrated` flag.
 *
 * Interrupted between 2 and 3 (Exchange down half-way, Lync stopped), the flag is still 0 and the
 * local contacts are still there; the next attempt finds the contacts already posted in Exchange's
 * list (step 2 skips them), so nothing is posted twice. Within one process a per-user lock keeps two
 * requests from moving the same contacts concurrently. Once the flag is set the local rows are gone
 * and the move never runs again.
 */
import { randomUUID } from 'node:crypto';
import { ApiError } from '@s2sauth/example-support';
import type { LyncUser } from './accounts.js';
import { contactIdentity, type Contact, type NewContact } from './contact.js';
import type { LyncDatabase } from './database.js';
import type { ExchangePartner } from './exchange-partner.js';

/** A user's contact list, wherever it is kept. */
export interface ContactStore {
  /** `local` (Lync's table) or `exchange` (the unified contact store). */
  readonly kind: 'local' | 'exchange';
  list(user: LyncUser): Promise<Contact[]>;
  add(user: LyncUser, contact: NewContact): Promise<Contact>;
  /** @returns false when the user has no contact with this id. */
  remove(user: LyncUser, id: string): Promise<boolean>;
}

/** A user may keep at most this many local contacts (Lync Server 2013's limit is 1000). */
export const MAX_LOCAL_CONTACTS = 1000;

interface ContactRow {
  readonly id: string;
  readonly display_name: string;
  readonly email: string;
  readonly sip: string | null;
  readonly phone: string | null;
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

/** Contacts in Lync's own database. */
export class LocalContactStore implements ContactStore {
  readonly kind = 'local';
  readonly #db: LyncDatabase;

  constructor(db: LyncDatabase) {
    this.#db = db;
  }

  async list(user: LyncUser): Promise<Contact[]> {
    return this.listSync(user);
  }

  /** The user's local contacts, oldest first. */
  listSync(user: LyncUser): Contact[] {
    const rows = this.#db
      .prepare('SELECT id, display_name, email, sip, phone FROM contacts WHERE user_id = ? ORDER BY created_at, rowid')
      .all(user.id) as ContactRow[];
    return rows.map(toContact);
  }

  async add(user: LyncUser, contact: NewContact): Promise<Contact> {
    const count = this.#db.prepare('SELECT count(*) AS n FROM contacts WHERE user_id = ?').get(user.id) as { n: number };
    if (count.n >= MAX_LOCAL_CONTACTS) throw new ApiError(409, 'too_many_contacts', `A user can keep at most ${MAX_LOCAL_CONTACTS} contacts.`);
    const created: Contact = { id: randomUUID(), ...contact };
    this.#db
      .prepare('INSERT INTO contacts (id, user_id, display_name, email, sip, phone, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(created.id, user.id, created.displayName, created.email, created.sip ?? null, created.phone ?? null, Date.now());
    return created;
  }

  async remove(user: LyncUser, id: string): Promise<boolean> {
    return this.#db.prepare('DELETE FROM contacts WHERE id = ? AND user_id = ?').run(id, user.id).changes > 0;
  }
}

/** Contacts in Exchange's unified contact store, with the one-time move of the local ones. */
export class UnifiedContactStore implements ContactStore {
  readonly kind = 'exchange';
  readonly #db: LyncDatabase;
  readonly #local: LocalContactStore;
  readonly #exchange: ExchangePartner;
  /** Moves in progress, per user id, so concurrent requests share one. */
  readonly #moving = new Map<number, Promise<void>>();

  constructor(db: LyncDatabase, exchange: ExchangePartner) {
    this.#db = db;
    this.#local = new LocalContactStore(db);
    this.#exchange = exchange;
  }

  async list(user: LyncUser): Promise<Contact[]> {
    await this.moveLocalContacts(user);
    return this.#exchange.listContacts(user);
  }

  async add(user: LyncUser, contact: NewContact): Promise<Contact> {
    await this.moveLocalContacts(user);
    return this.#exchange.addContact(user, contact);
  }

  async remove(user: LyncUser, id: string): Promise<boolean> {
    await this.moveLocalContacts(user);
    return this.#exchange.deleteContact(user, id);
  }

  /** True once the user's local contacts were moved to Exchange. */
  isMoved(user: LyncUser): boolean {
    const row = this.#db.prepare('SELECT ucs_migrated FROM users WHERE id = ?').get(user.id) as { ucs_migrated: number } | undefined;
    return row?.ucs_migrated === 1;
  }

  /**
   * Moves the user's local contacts to Exchange unless that was done already (see the file comment).
   * @throws ApiError when Exchange cannot be reached or refuses; nothing is marked moved then.
   */
  moveLocalContacts(user: LyncUser): Promise<void> {
    if (this.isMoved(user)) return Promise.resolve();
    let moving = this.#moving.get(user.id);
    if (moving === undefined) {
      moving = this.#move(user).finally(() => this.#moving.delete(user.id));
      this.#moving.set(user.id, moving);
    }
    return moving;
  }

  async #move(user: LyncUser): Promise<void> {
    if (this.isMoved(user)) return;
    const local = this.#local.listSync(user);
    const moved: { localId: string; exchangeId: string }[] = [];
    if (local.length > 0) {
      const inExchange = new Map((await this.#exchange.listContacts(user)).map((contact) => [contactIdentity(contact), contact.id]));
      for (const contact of local) {
        const { id, ...fields } = contact;
        const existing = inExchange.get(contactIdentity(contact));
        const exchangeId = existing ?? (await this.#exchange.addContact(user, fields)).id;
        inExchange.set(contactIdentity(contact), exchangeId);
        moved.push({ localId: id, exchangeId });
      }
    }
    const now = Date.now();
    this.#db.transaction(() => {
      const record = this.#db.prepare('INSERT OR REPLACE INTO ucs_moves (user_id, local_id, exchange_id, moved_at) VALUES (?, ?, ?, ?)');
      const remove = this.#db.prepare('DELETE FROM contacts WHERE id = ? AND user_id = ?');
      for (const { localId, exchangeId } of moved) {
        record.run(user.id, localId, exchangeId, now);
        remove.run(localId, user.id);
      }
      this.#db.prepare('UPDATE users SET ucs_migrated = 1 WHERE id = ?').run(user.id);
    })();
  }
}
