/**
 * Lync's user accounts: user name (a SIP-style address, `alice@contoso.com`), display name, and a
 * password hashed with scrypt and a per-user salt. Passwords are compared in constant time, and an
 * unknown user name costs the same scrypt as a wrong password, so timing tells nothing about who
 * exists.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
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

const SALT_BYTES = 16;
const HASH_BYTES = 64;
/** scrypt cost (N = 2^15, r = 8: about 32 MiB and a few tens of ms), OWASP's minimum and then some. */
const SCRYPT = { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** `local@domain`, lowercase, the shape of a SIP URI's user part without `sip:`. */
const USERNAME = /^[a-z0-9._%+-]{1,64}@[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})+$/;

/** True when `value` is a well-formed Lync user name (lowercase address). */
export function isUsername(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 254 && USERNAME.test(value);
}

function hashPassword(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, HASH_BYTES, SCRYPT, (error, key) => (error === null ? resolve(key) : reject(error)));
  });
}

interface UserRow {
  readonly id: number;
  readonly username: string;
  readonly display_name: string;
  readonly password_salt: Buffer;
  readonly password_hash: Buffer;
}

function toUser(row: Pick<UserRow, 'id' | 'username' | 'display_name'>): LyncUser {
  return { id: row.id, username: row.username, displayName: row.display_name };
}

/** The user accounts table. */
export class Accounts {
  readonly #db: LyncDatabase;
  /**
   * Hashed against when the user name is unknown, so both paths cost one scrypt. Random bytes, not
   * the hash of any password: nothing can match them.
   */
  readonly #decoy = { salt: randomBytes(SALT_BYTES), hash: randomBytes(HASH_BYTES) };

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
    const salt = randomBytes(SALT_BYTES);
    const hash = await hashPassword(user.password, salt);
    try {
      const result = this.#db
        .prepare('INSERT INTO users (username, display_name, password_salt, password_hash, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(user.username, displayName, salt, hash, Date.now());
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
      ? this.#db.prepare('SELECT id, username, display_name, password_salt, password_hash FROM users WHERE username = ?').get(username)
      : undefined) as UserRow | undefined;
    if (row === undefined) {
      timingSafeEqual(await hashPassword(password, this.#decoy.salt), this.#decoy.hash);
      return undefined;
    }
    const actual = await hashPassword(password, row.password_salt);
    return actual.length === row.password_hash.length && timingSafeEqual(actual, row.password_hash) ? toUser(row) : undefined;
  }
}
