/**
 * `SqliteStore`: the registries (partner applications, OAuth servers, STS clients), the replay
 * store and the key documents in one SQLite file, shared by several processes. Opening the file is
 * in `sqlite-open`, the SQL in `sqlite-statements`, rows and records in `sqlite-rows`.
 */
import Database from 'better-sqlite3';
import type { Clock } from '@s2sauth/protocol';
import { ChangeListeners, type ChangeListener } from './change-listeners.js';
import { byClientKey, clientIdentity, clientRecord, refuseSharedCredential, type ClientInput, type ClientRecord, type ClientStore } from './client.js';
import { SqliteKeyDocuments, type KeyDocument, type KeyDocumentSource, type KeyDocumentStore } from './key-document.js';
import { oauthServerRecord, type OAuthServerInput, type OAuthServerRecord, type OAuthServerStore } from './oauth-server.js';
import {
  partnerApplicationRecord,
  type PartnerApplication,
  type PartnerApplicationInput,
  type PartnerStore,
} from './partner-application.js';
import { byIdentity, nextTimes, type RecordChange } from './record-shape.js';
import { checkClaim, REPLAY_PURGE_INTERVAL_MS, type ReplayStore } from './replay.js';
import { openRegistry, type SqliteStoreOptions } from './sqlite-open.js';
import { clientFromRow, clientParameters, credentialsOf, partnerFromRow, partnerParameters, serverFromRow, serverParameters } from './sqlite-rows.js';
import { prepareStatements, type SqliteStatements } from './sqlite-statements.js';
import { StoreError } from './store-error.js';

export type { SqliteStoreOptions } from './sqlite-open.js';

/** How many client lookups (found or not) {@link SqliteStore.getClient} remembers before starting over. */
const CLIENT_CACHE_SIZE = 1024;

/**
 * The stores in one SQLite file (better-sqlite3): the embedded default of docs/architecture.md,
 * "Persistence". Several processes may open the same file (server instances, the admin CLI):
 * writes are serialized by SQLite (WAL mode, busy timeout), replay claims are atomic across them,
 * and each store notices registry writes made by the others (see {@link SqliteStore.onChange}).
 *
 * Calls are synchronous, like better-sqlite3 itself: reads take microseconds and the registry is
 * small. Records are validated when read back; a row that does not make sense (edited by hand,
 * written by a buggy tool) raises a `StoreError` with code `corrupt` naming its identity.
 *
 * @example
 * ```ts
 * const store = SqliteStore.open('.data/exchange/s2sauth.db');
 * const stop = store.onChange((identity) => console.log('registry changed', identity ?? '(elsewhere)'));
 * ```
 */
export class SqliteStore implements PartnerStore, OAuthServerStore, ClientStore, ReplayStore, KeyDocumentStore {
  /** The database file, as given to {@link SqliteStore.open}. */
  readonly path: string;
  /** Whether this is a read-only copy ({@link SqliteStoreOptions.readOnly}). */
  readonly readOnly: boolean;
  readonly #db: Database.Database;
  readonly #statements: SqliteStatements;
  readonly #clock: Clock;
  readonly #pollIntervalMs: number;
  readonly #listeners = new ChangeListeners();
  readonly #keyDocuments: SqliteKeyDocuments;
  /** Runs `body` as one registry write: `BEGIN IMMEDIATE` (the write lock first), synced (see #durably). */
  readonly #write: <T>(body: () => T) => T;
  #timer: NodeJS.Timeout | undefined;
  /** What this connection last saw of `PRAGMA data_version` and of the registry counter. */
  #dataVersion: number;
  #registryVersion: number;
  #nextPurge = Number.NEGATIVE_INFINITY;
  #closed = false;
  /**
   * Clients read by {@link SqliteStore.getClient} (`null`: none registered), by realm then
   * principal, valid while `PRAGMA data_version` stays at {@link #clientsDataVersion} (nothing
   * committed through another connection) and emptied by every registry write through this one.
   * The STS looks up two clients per token request; each lookup is a row read, three JSON parses
   * and a record check, several times the cost of the `data_version` read that replaces it.
   */
  readonly #clients = new Map<string, Map<string, ClientRecord | null>>();
  #clientCount = 0;
  #clientsDataVersion = Number.NaN;

  /**
   * Opens (creating it and its parent folder if missing, unless `create` is false) the SQLite file
   * at `path` and brings its schema up to date (migrations in code, version in
   * `PRAGMA user_version`). The connection uses WAL journaling, a busy timeout and
   * `foreign_keys = ON`. A file that holds anything but an s2sauth registry (another
   * application's database, or not a database) is refused untouched with a `StoreError`
   * `not_a_registry`; an empty file becomes a registry. Throws a `TypeError` for bad options, a
   * `StoreError` `schema_too_new` for a file written by a newer version of this package, and
   * `not_found` for a missing file with `create: false` or `readOnly`. `readOnly` opens a copy
   * instead (see {@link SqliteStoreOptions.readOnly}). `:memory:` opens a private in-memory database.
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    const { db, clock, pollIntervalMs, readOnly } = openRegistry(path, options);
    try {
      return new SqliteStore(db, path, clock, pollIntervalMs, readOnly);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  private constructor(db: Database.Database, path: string, clock: Clock, pollIntervalMs: number, readOnly: boolean) {
    this.path = path;
    this.readOnly = readOnly;
    this.#db = db;
    this.#clock = clock;
    this.#pollIntervalMs = pollIntervalMs;
    this.#keyDocuments = new SqliteKeyDocuments(db, path);
    const statements = prepareStatements(db);
    this.#statements = statements;
    this.#dataVersion = statements.dataVersion.get() as number;
    this.#registryVersion = statements.registryVersion.get() as number;
    // Each write reads the counter its own triggers bumped, inside its transaction, so that the
    // poll does not report this store's own writes back to it as changes from elsewhere; a change
    // from elsewhere committed before the write (the counter had moved when the write began) is
    // reported after it, instead of being hidden by it.
    const write = db.transaction((body: () => unknown) => {
      const before = statements.registryVersion.get() as number;
      const result = body();
      const missed = before !== this.#registryVersion;
      this.#registryVersion = statements.registryVersion.get() as number;
      return { result, missed };
    });
    this.#write = <T>(body: () => T): T => {
      const { result, missed } = this.#durably(() => write.immediate(body));
      if (missed) this.#listeners.notify(undefined, undefined);
      return result as T;
    };
  }

  getKeyDocument(source: KeyDocumentSource): KeyDocument | undefined {
    this.#checkOpen();
    return this.#keyDocuments.getKeyDocument(source);
  }

  putKeyDocument(document: KeyDocument): void {
    this.#checkOpen();
    this.#checkWritable();
    this.#keyDocuments.putKeyDocument(document);
  }

  removeKeyDocumentsFetchedBefore(time: number): number {
    this.#checkOpen();
    this.#checkWritable();
    return this.#keyDocuments.removeKeyDocumentsFetchedBefore(time);
  }

  get(identity: string): PartnerApplication | undefined {
    this.#checkOpen();
    const row = this.#statements.partner.get(identity);
    return row === undefined ? undefined : partnerFromRow(row, this.path);
  }

  findByApplication(applicationId: string, realm: string): PartnerApplication | undefined {
    this.#checkOpen();
    const row = this.#statements.partnerByApplication.get(applicationId, realm);
    return row === undefined ? undefined : partnerFromRow(row, this.path);
  }

  list(): PartnerApplication[] {
    this.#checkOpen();
    return this.#statements.partners.all().map((row) => partnerFromRow(row, this.path)).sort(byIdentity);
  }

  put(app: PartnerApplicationInput): PartnerApplication {
    this.#checkOpen();
    const { identity } = partnerApplicationRecord(app, 0, 0);
    return this.modify(identity, () => app) as PartnerApplication;
  }

  modify(identity: string, change: RecordChange<PartnerApplication, PartnerApplicationInput>): PartnerApplication | undefined {
    this.#checkOpen();
    this.#checkWritable();
    let written = false;
    const record = this.#write(() => {
      const row = this.#statements.partner.get(identity);
      const current = row === undefined ? undefined : partnerFromRow(row, this.path);
      const input = change(current);
      if (input === undefined) return current;
      const { createdAt, updatedAt } = nextTimes(current, Math.floor(this.#clock()));
      const checked = partnerApplicationRecord(input, createdAt, updatedAt);
      if (checked.identity !== identity) throw new TypeError(`partner application "${checked.identity}": modify("${identity}") writes only that identity`);
      try {
        this.#statements.upsertPartner.run(partnerParameters(checked));
      } catch (error) {
        if (!(error instanceof Database.SqliteError && error.code === 'SQLITE_CONSTRAINT_UNIQUE')) throw error;
        const holder = this.#statements.partnerByApplication.get(checked.applicationId, checked.realm);
        throw new StoreError(
          'conflict',
          `partner application "${checked.identity}": application ${checked.applicationId} in realm ${checked.realm} is already registered as "${holder?.identity ?? '?'}"`,
          { cause: error },
        );
      }
      written = true;
      return checked;
    });
    if (written) this.#listeners.notify(identity, 'partnerApplication');
    return record;
  }

  remove(identity: string): boolean {
    this.#checkOpen();
    this.#checkWritable();
    if (!this.#write(() => this.#statements.deletePartner.run(identity).changes > 0)) return false;
    this.#listeners.notify(identity, 'partnerApplication');
    return true;
  }

  getOAuthServer(identity: string): OAuthServerRecord | undefined {
    this.#checkOpen();
    const row = this.#statements.server.get(identity);
    return row === undefined ? undefined : serverFromRow(row, this.path);
  }

  listOAuthServers(): OAuthServerRecord[] {
    this.#checkOpen();
    return this.#statements.servers.all().map((row) => serverFromRow(row, this.path)).sort(byIdentity);
  }

  putOAuthServer(server: OAuthServerInput): OAuthServerRecord {
    this.#checkOpen();
    const { identity } = oauthServerRecord(server, 0, 0);
    return this.modifyOAuthServer(identity, () => server) as OAuthServerRecord;
  }

  modifyOAuthServer(identity: string, change: RecordChange<OAuthServerRecord, OAuthServerInput>): OAuthServerRecord | undefined {
    this.#checkOpen();
    this.#checkWritable();
    let written = false;
    const record = this.#write(() => {
      const row = this.#statements.server.get(identity);
      const current = row === undefined ? undefined : serverFromRow(row, this.path);
      const input = change(current);
      if (input === undefined) return current;
      const { createdAt, updatedAt } = nextTimes(current, Math.floor(this.#clock()));
      const checked = oauthServerRecord(input, createdAt, updatedAt);
      if (checked.identity !== identity) throw new TypeError(`OAuth server "${checked.identity}": modifyOAuthServer("${identity}") writes only that identity`);
      this.#statements.upsertServer.run(serverParameters(checked));
      written = true;
      return checked;
    });
    if (written) this.#listeners.notify(identity, 'oauthServer');
    return record;
  }

  removeOAuthServer(identity: string): boolean {
    this.#checkOpen();
    this.#checkWritable();
    if (!this.#write(() => this.#statements.deleteServer.run(identity).changes > 0)) return false;
    this.#listeners.notify(identity, 'oauthServer');
    return true;
  }

  getClient(principal: string, realm: string): ClientRecord | undefined {
    this.#checkOpen();
    if (typeof principal !== 'string' || typeof realm !== 'string') {
      const row = this.#statements.client.get(principal, realm);
      return row === undefined ? undefined : clientFromRow(row, this.path);
    }
    // Any commit by another connection (process, admin CLI, sqlite3 shell) moves data_version,
    // so a client changed elsewhere is read afresh at once, as without the cache.
    const dataVersion = this.#statements.dataVersion.get() as number;
    if (dataVersion !== this.#clientsDataVersion) {
      this.#forgetClients();
      this.#clientsDataVersion = dataVersion;
    }
    const cached = this.#clients.get(realm)?.get(principal);
    if (cached !== undefined) return cached ?? undefined;
    const row = this.#statements.client.get(principal, realm);
    const record = row === undefined ? undefined : clientFromRow(row, this.path);
    // Bounded: unknown principals are the caller's choice.
    if (this.#clientCount >= CLIENT_CACHE_SIZE) this.#forgetClients();
    let inRealm = this.#clients.get(realm);
    if (inRealm === undefined) {
      inRealm = new Map();
      this.#clients.set(realm, inRealm);
    }
    inRealm.set(principal, record ?? null);
    this.#clientCount += 1;
    return record;
  }

  listClients(): ClientRecord[] {
    this.#checkOpen();
    return this.#statements.clients.all().map((row) => clientFromRow(row, this.path)).sort(byClientKey);
  }

  putClient(client: ClientInput): ClientRecord {
    this.#checkOpen();
    const { principal, realm } = clientRecord(client, 0, 0);
    return this.modifyClient(principal, realm, () => client) as ClientRecord;
  }

  modifyClient(principal: string, realm: string, change: RecordChange<ClientRecord, ClientInput>): ClientRecord | undefined {
    this.#checkOpen();
    this.#checkWritable();
    let written = false;
    const record = this.#write(() => {
      const row = this.#statements.client.get(principal, realm);
      const current = row === undefined ? undefined : clientFromRow(row, this.path);
      const input = change(current);
      if (input === undefined) return current;
      const { createdAt, updatedAt } = nextTimes(current, Math.floor(this.#clock()));
      const checked = clientRecord(input, createdAt, updatedAt);
      if (checked.principal !== principal || checked.realm !== realm) {
        throw new TypeError(`client "${checked.principal}@${checked.realm}": modifyClient("${principal}@${realm}") writes only that client`);
      }
      // Inside the write transaction: two processes registering one certificate in two realms at
      // once cannot both pass.
      refuseSharedCredential(checked, this.#statements.credentialsOutside.all(realm).map(credentialsOf));
      this.#statements.upsertClient.run(clientParameters(checked));
      written = true;
      return checked;
    });
    if (written) this.#listeners.notify(clientIdentity(record as ClientRecord), 'client');
    return record;
  }

  removeClient(principal: string, realm: string): boolean {
    this.#checkOpen();
    this.#checkWritable();
    if (!this.#write(() => this.#statements.deleteClient.run(principal, realm).changes > 0)) return false;
    this.#listeners.notify(clientIdentity({ principal, realm }), 'client');
    return true;
  }

  claim(issuer: string, jti: string, expiresAt: number): boolean {
    this.#checkOpen();
    this.#checkWritable();
    checkClaim(issuer, jti, expiresAt);
    const now = this.#clock();
    if (now >= this.#nextPurge) {
      this.#nextPurge = now + REPLAY_PURGE_INTERVAL_MS;
      this.#statements.purgeClaims.run(Math.floor(now));
    }
    if (expiresAt <= now) return false;
    // Whole milliseconds for the INTEGER column, rounded towards remembering longer.
    const until = Math.min(Math.ceil(expiresAt), Number.MAX_SAFE_INTEGER);
    return this.#statements.claim.run({ issuer, jti, expires_at: until, now: Math.floor(now) }).changes === 1;
  }

  /**
   * Subscribes to registry changes (see `PartnerStore.onChange`). While at least one listener is
   * subscribed, a timer that does not keep the process alive checks every `pollIntervalMs`
   * whether another connection changed the registry ({@link SqliteStore.checkForChanges}), and
   * notifies with `undefined` if so. An error thrown by a listener during such a check is not
   * caught: like an exception in any timer, it reaches `uncaughtException`.
   */
  onChange(listener: ChangeListener): () => void {
    this.#checkOpen();
    const unsubscribe = this.#listeners.add(listener);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.checkForChanges(), this.#pollIntervalMs);
      this.#timer.unref();
    }
    return () => {
      unsubscribe();
      if (this.#listeners.size === 0) this.#stopPolling();
    };
  }

  /**
   * Looks now, rather than at the next poll, for registry changes written through other
   * connections since the last look, and notifies the listeners with `undefined` if there are any.
   * `PRAGMA data_version` tells cheaply whether anything at all was committed by others; only then
   * is the registry's change counter read, so that replay claims are not mistaken for registry
   * changes. Returns whether the registry had changed.
   */
  checkForChanges(): boolean {
    this.#checkOpen();
    const dataVersion = this.#statements.dataVersion.get() as number;
    if (dataVersion === this.#dataVersion) return false;
    this.#dataVersion = dataVersion;
    const registryVersion = this.#statements.registryVersion.get() as number;
    if (registryVersion === this.#registryVersion) return false;
    this.#registryVersion = registryVersion;
    this.#listeners.notify(undefined, undefined);
    return true;
  }

  /** Stops the change poll, drops the listeners and closes the database. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopPolling();
    this.#listeners.clear();
    this.#db.close();
  }

  /**
   * Runs a registry write with `synchronous = FULL`, so that it is on disk when it returns.
   *
   * The connection otherwise runs with `synchronous = NORMAL`, SQLite's documented setting for WAL
   * mode (https://sqlite.org/pragma.html#pragma_synchronous): a commit is appended to the WAL
   * without an fsync, which happens at checkpoints. That cannot corrupt the database, and a
   * process crash loses nothing (the OS has the WAL), but a power loss or OS crash may undo the
   * last commits. For replay claims, one per token request, that is the trade-off taken: the
   * claims of at most the last moments before a power loss could be forgotten, so an assertion
   * captured then could be replayed within its own lifetime (at most 300 s) after the restart;
   * one fsync per token request would instead cost more than the rest of the claim. (This is
   * also what the connection did before it was said explicitly: better-sqlite3 builds SQLite with
   * `SQLITE_DEFAULT_WAL_SYNCHRONOUS=1`.) A registry write is rare and must not come undone
   * (a disabled client coming back to life), so it is synced, which also makes every claim
   * committed before it durable. `synchronous` cannot change inside a transaction: this wraps
   * the whole `BEGIN IMMEDIATE ... COMMIT`.
   */
  #durably<T>(write: () => T): T {
    this.#db.pragma('synchronous = FULL');
    try {
      return write();
    } finally {
      // Also after a failed write: whatever it did or did not change, read clients afresh.
      this.#forgetClients();
      this.#db.pragma('synchronous = NORMAL');
    }
  }

  #forgetClients(): void {
    this.#clients.clear();
    this.#clientCount = 0;
  }

  #stopPolling(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError('closed', `the store "${this.path}" is closed`);
  }

  #checkWritable(): void {
    if (this.readOnly) throw new StoreError('read_only', `the store "${this.path}" was opened read-only`);
  }
}
