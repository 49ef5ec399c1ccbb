/**
 * The people of the organization: who may sign in with a password, and whose mailbox a partner's
 * user context names. A user name is an address (`alice@contoso.com`) and compares
 * case-insensitively, as mail addresses do in practice. Each person belongs to one realm of the
 * organization, and only partners of that realm act for them.
 */
import { checkPassword, hashPassword, type Organization } from '@s2sauth/example-support';
import type { S2SUser } from '@s2sauth/middleware';
import type { MailboxDatabase } from './mailbox-database.js';
import type { ExchangeUserSeed } from './exchange-options.js';

/** A person, as routes see them (never the password hash). */
export interface Account {
  readonly id: number;
  /** Sign-in name and primary SMTP address, as seeded. */
  readonly username: string;
  readonly displayName: string;
}

/** The public JSON form of an account (`{"user": ...}` of `POST /login` and `GET /me`). */
export interface AccountJson {
  readonly username: string;
  readonly displayName: string;
  readonly email: string;
}

/** The JSON form of an account. */
export function accountJson(account: Account): AccountJson {
  return { username: account.username, displayName: account.displayName, email: account.username };
}

interface UserRow {
  readonly id: number;
  readonly username: string;
  readonly display_name: string;
  readonly password_hash: string;
}

function toAccount(row: UserRow): Account {
  return { id: row.id, username: row.username, displayName: row.display_name };
}

/** Sign-in and look-up of accounts. */
export class Accounts {
  readonly #db: MailboxDatabase;
  readonly #organization: Organization;

  /** `organization`: the realms the accounts belong to (see {@link forPartnerUser}). */
  constructor(db: MailboxDatabase, organization: Organization) {
    this.#db = db;
    this.#organization = organization;
  }

  /**
   * Adds the users that do not exist yet (by user name, any letter case); existing users are kept
   * as they are, their passwords unchanged. Returns how many were added.
   */
  async seed(users: readonly ExchangeUserSeed[]): Promise<number> {
    let added = 0;
    for (const user of users) {
      if (this.find(user.username) !== undefined) continue;
      // Hash outside the statement: scrypt is asynchronous and a transaction must not wait on it.
      const hash = await hashPassword(user.password);
      const result = this.#db
        .prepare('INSERT OR IGNORE INTO users (username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?)')
        .run(user.username, user.displayName ?? user.username, hash, Date.now());
      added += result.changes;
    }
    return added;
  }

  /** The account with this user name or address (case-insensitive), if any. */
  find(address: string): Account | undefined {
    const row = this.#db.prepare('SELECT id, username, display_name, password_hash FROM users WHERE username = ? COLLATE NOCASE').get(address) as
      | UserRow
      | undefined;
    return row === undefined ? undefined : toAccount(row);
  }

  /**
   * The mailbox owner a partner's user context names (protocol.md section 3.2), if the partner, of
   * `partnerRealm`, may act for them. Each of `smtp`, `upn`, `nameid` and `sip` (without `sip:`)
   * that is an address is looked up. The user is found when at least one names an account and all
   * that do name the same one; claims naming two different people are refused rather than resolved
   * by a precedence rule. A claim naming no account (a SID-like `nameid`, say) is ignored. The
   * account found must then belong to the partner's realm (`Organization.mayActFor`): a partner
   * trusted in another realm of this server does not act for it.
   */
  forPartnerUser(user: S2SUser, partnerRealm: string): Account | undefined {
    const addresses = [user.smtp, user.upn, user.nameid, user.sip?.replace(/^sip:/i, '')].filter(
      (value): value is string => typeof value === 'string' && value.includes('@'),
    );
    let found: Account | undefined;
    for (const address of addresses) {
      const account = this.find(address);
      if (account === undefined) continue;
      if (found !== undefined && found.id !== account.id) return undefined;
      found = account;
    }
    return found !== undefined && this.#organization.mayActFor(partnerRealm, found.username) ? found : undefined;
  }

  /** The account with this id, if any (a session keeps the id). */
  get(id: number): Account | undefined {
    const row = this.#db.prepare('SELECT id, username, display_name, password_hash FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return row === undefined ? undefined : toAccount(row);
  }

  /**
   * The account when `password` is its password; `undefined` otherwise, after the same amount of
   * work whether or not the user name exists.
   */
  async authenticate(username: string, password: string): Promise<Account | undefined> {
    const row = this.#db.prepare('SELECT id, username, display_name, password_hash FROM users WHERE username = ? COLLATE NOCASE').get(username) as
      | UserRow
      | undefined;
    const matches = await checkPassword(password, row?.password_hash);
    return matches && row !== undefined ? toAccount(row) : undefined;
  }
}
