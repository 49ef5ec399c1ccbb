/**
 * Lync's user accounts: user name (a SIP-style address, `alice@contoso.com`), display name, and a
 * password hash (`@s2sauth/example-support`'s scrypt hashes: a per-user salt, compared in constant
 * time, and an unknown user name costs the same scrypt as a wrong password, so timing tells
 * nothing about who exists).
 */
import { checkPassword, hashPassword } from '@s2sauth/example-support';
import type { LyncDatabase } from './database.js';

/** A Lync user as routes and other servers see it (never the password hash). */
export interface LyncUser {
  readonly id: number;
  /** The sign-in name and the user's SIP/SMTP address, lowercase: `alice@contoso.com`. */
  readonly username: string;
  readonly displayName: string;
}

/** A user to create: `username` is an address like `alice@contoso.com`. */
export interface NewUser {
  readonly username: string;
  readonly password: string;
  /** Default: the part of the user name before `@`. */
  readonly displayName?: string;
}

/** `local@domain`, lowercase, the shape of a SIP URI's user part without `sip:`. */
const USERNAME = /^[a-z0-9._%+-]{1,64}@[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})+$/;

/** True when `value` is a well-formed Lync user name (lowercase address). */
export function isUsername(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 254 && USERNAME.test(value);
}

interface UserRow {
  readonly id: number;
  readonly username: string;
  readonly display_name: string;
  /** `scrypt$N$r$p$salt$hash`. */
  readonly password_hash: string;
}

function toUser(row: Pick<UserRow, 'id' | 'username' | 'display_name'>): LyncUser {
  return { id: row.id, username: row.username, displayName: row.display_name };
}

/** The user accounts table. */
export class Accounts {
  readonly #db: LyncDatabase;

  constructor(db: LyncDatabase) {
    this.#db = db;
  }

  /**
   * Creates a user.
   * @throws TypeError when the user name is not a lowercase address, the password is empty, or the user exists.
   */
  async create(user: NewUser): Promise<LyncUser> {
    if (!isUsername(user.username)) throw new TypeError(`users: "${String(user.username)}" is not a user name like alice@contoso.com (lowercase).`);
    if (typeof user.password !== 'string' || user.password === '') throw new TypeError(`users: the password of ${user.username} must be a non-empty string.`);
    const displayName = user.displayName ?? user.username.slice(0, user.username.indexOf('@'));
    const hash = await hashPassword(user.password);
    try {
      const result = this.#db
        .prepare('INSERT INTO users (username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?)')
        .run(user.username, displayName, hash, Date.now());
      return { id: Number(result.lastInsertRowid), username: user.username, displayName };
    } catch (error) {
      if (error instanceof Error && 'code' in error && error.code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new TypeError(`users: ${user.username} exists already.`);
      }
      throw error;
    }
  }

  /**
   * Creates `users` the first time the server starts (a `meta` flag records it, so deleting a
   * seeded user later does not bring it back). @returns whether this call seeded.
   */
  async seedOnce(users: readonly NewUser[]): Promise<boolean> {
    if (this.#db.prepare("SELECT 1 FROM meta WHERE name = 'users_seeded'").get() !== undefined) return false;
    for (const user of users) {
      if (this.findByUsername(user.username) === undefined) await this.create(user);
    }
    this.#db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES ('users_seeded', ?)").run(new Date().toISOString());
    return true;
  }

  /** The user named `username` (lowercase address), if any. */
  findByUsername(username: string): LyncUser | undefined {
    const row = this.#db.prepare('SELECT id, username, display_name FROM users WHERE username = ?').get(username) as UserRow | undefined;
    return row === undefined ? undefined : toUser(row);
  }

  /** The user with this id, if any. */
  findById(id: number): LyncUser | undefined {
    const row = this.#db.prepare('SELECT id, username, display_name FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return row === undefined ? undefined : toUser(row);
  }

  /**
   * The user when `password` is theirs; `undefined` for a wrong password or an unknown user (the
   * caller cannot tell which, by answer or by time).
   */
  async authenticate(username: string, password: string): Promise<LyncUser | undefined> {
    const row = (isUsername(username)
      ? this.#db.prepare('SELECT id, username, display_name, password_hash FROM users WHERE username = ?').get(username)
      : undefined) as UserRow | undefined;
    const matches = await checkPassword(password, row?.password_hash);
    return matches && row !== undefined ? toUser(row) : undefined;
  }
}
