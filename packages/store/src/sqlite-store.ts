import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { optionNames, refuseUnknownOptions, systemClock, type Clock } from '@s2sauth/protocol';
import { ChangeListeners, type ChangeListener } from './change-listeners.js';
import { byClientKey, clientIdentity, clientRecord, refuseSharedCredential, type ClientCredentials, type ClientInput, type ClientRecord, type ClientStore } from './client.js';
import { SqliteKeyDocuments, type KeyDocument, type KeyDocumentSource, type KeyDocumentStore } from './key-document.js';
import { migrate, SCHEMA_VERSION } from './migrations.js';
import { notARegistry, openCopy, readDatabaseCopy, registryFileState } from './registry-file.js';
import { oauthServerRecord, type OAuthServerInput, type OAuthServerRecord, type OAuthServerStore } from './oauth-server.js';
import {
  partnerApplicationRecord,
  type PartnerApplication,
  type PartnerApplicationInput,
  type PartnerStore,
} from './partner-application.js';
import { byIdentity, nextTimes, type RecordChange } from './record-shape.js';
import { checkClaim, REPLAY_PURGE_INTERVAL_MS, type ReplayStore } from './replay.js';
import { StoreError } from './store-error.js';

/** Options of {@link SqliteStore.open}. */
export interface SqliteStoreOptions {
  /** Time source for record timestamps and replay expiry; default `systemClock`. */
  readonly clock?: Clock;
  /**
   * How often (ms) to look for registry changes made by other processes while someone listens
   * (`onChange`); default 250, so that a change is seen well within a second.
   */
  readonly pollIntervalMs?: number;
  /** How long (ms) a statement waits for another process's write lock; default 5000. */
  readonly busyTimeoutMs?: number;
  /**
   * Create the file (and its folder) when missing; default true. With false, a missing file is
   * refused with `StoreError` `not_found`.
   */
  readonly create?: boolean;
  /**
   * Open a read-only copy of the file, taken when it is opened, without writing anything to the
   * file (see the README, "Opening a file"): for tools that only look. The file must exist and be
   * an s2sauth registry; one of an older schema version is brought up to date in the copy only.
   * Writes (and replay claims) are refused with `StoreError` `read_only`; changes made to the file
   * later are not seen. Default false.
   */
  readonly readOnly?: boolean;
}

const OPTION_NAMES = optionNames<SqliteStoreOptions>({ clock: true, pollIntervalMs: true, busyTimeoutMs: true, create: true, readOnly: true });

interface PartnerRow {
  readonly identity: string;
  readonly application_id: unknown;
  readonly realm: unknown;
  readonly key_source: unknown;
  readonly trust_level: unknown;
  readonly scopes: unknown;
  readonly enabled: unknown;
  readonly accept_unsigned_user_context: unknown;
  readonly created_at: unknown;
  readonly updated_at: unknown;
}

interface OAuthServerRow {
  readonly identity: string;
  readonly metadata_url: unknown;
  readonly issuer: unknown;
  readonly realm: unknown;
  readonly allow_loopback: unknown;
  readonly enabled: unknown;
  readonly created_at: unknown;
  readonly updated_at: unknown;
}

interface ClientRow {
  readonly principal: string;
  readonly realm: string;
  readonly display_name: unknown;
  readonly certificates: unknown;
  readonly metadata_url: unknown;
  readonly allow_loopback: unknown;
  readonly host_names: unknown;
  readonly grants: unknown;
  readonly enabled: unknown;
  readonly created_at: unknown;
  readonly updated_at: unknown;
}

/** The credential columns of a client row, for the shared-credential check. */
type CredentialRow = Pick<ClientRow, 'principal' | 'realm' | 'certificates' | 'metadata_url'>;

/**
 * The credentials of a client row of another realm. A row whose certificates cannot be read has
 * none: it cannot authenticate (reading it as a client fails as corrupt), so it shares nothing,
 * and an unrelated damaged row must not block every registration.
 */
function credentialsOf(row: CredentialRow): ClientCredentials {
  let certificates: string[] = [];
  try {
    const parsed: unknown = typeof row.certificates === 'string' ? JSON.parse(row.certificates) : [];
    if (Array.isArray(parsed)) certificates = parsed.filter((text): text is string => typeof text === 'string');
  } catch {
    // unreadable: no certificates (see above)
  }
  return { principal: row.principal, realm: row.realm, certificates, ...(typeof row.metadata_url === 'string' ? { metadataUrl: row.metadata_url } : {}) };
}

type ClientParameters = {
  readonly principal: string;
  readonly realm: string;
  readonly display_name: string | null;
  readonly certificates: string;
  readonly metadata_url: string | null;
  readonly allow_loopback: number | null;
  readonly host_names: string;
  readonly grants: string;
  readonly enabled: number;
  readonly created_at: number;
  readonly updated_at: number;
};

type PartnerParameters = {
  readonly identity: string;
  readonly application_id: string;
  readonly realm: string;
  readonly key_source: string;
  readonly trust_level: string;
  readonly scopes: string;
  readonly enabled: number;
  readonly accept_unsigned_user_context: number;
  readonly created_at: number;
  readonly updated_at: number;
};

type OAuthServerParameters = {
  readonly identity: string;
  readonly metadata_url: string;
  readonly issuer: string;
  readonly realm: string;
  readonly allow_loopback: number | null;
  readonly enabled: number;
  readonly created_at: number;
  readonly updated_at: number;
};

type ClaimParameters = {
  readonly issuer: string;
  readonly jti: string;
  readonly expires_at: number;
  readonly now: number;
};

function prepareStatements(db: Database.Database) {
  return {
    partner: db.prepare<[string], PartnerRow>('SELECT * FROM partner_applications WHERE identity = ?'),
    partnerByApplication: db.prepare<[string, string], PartnerRow>(
      'SELECT * FROM partner_applications WHERE application_id = ? AND realm = ?',
    ),
    partners: db.prepare<[], PartnerRow>('SELECT * FROM partner_applications'),
    // Not INSERT OR REPLACE: that would silently delete another identity holding the same
    // (application_id, realm) instead of failing on the UNIQUE constraint.
    upsertPartner: db.prepare<[PartnerParameters]>(`
      INSERT INTO partner_applications (identity, application_id, realm, key_source, trust_level, scopes,
          enabled, accept_unsigned_user_context, created_at, updated_at)
        VALUES (@identity, @application_id, @realm, @key_source, @trust_level, @scopes,
          @enabled, @accept_unsigned_user_context, @created_at, @updated_at)
        ON CONFLICT (identity) DO UPDATE SET application_id = excluded.application_id, realm = excluded.realm,
          key_source = excluded.key_source, trust_level = excluded.trust_level, scopes = excluded.scopes,
          enabled = excluded.enabled, accept_unsigned_user_context = excluded.accept_unsigned_user_context,
          updated_at = excluded.updated_at`),
    deletePartner: db.prepare<[string]>('DELETE FROM partner_applications WHERE identity = ?'),
    server: db.prepare<[string], OAuthServerRow>('SELECT * FROM oauth_servers WHERE identity = ?'),
    servers: db.prepare<[], OAuthServerRow>('SELECT * FROM oauth_servers'),
    upsertServer: db.prepare<[OAuthServerParameters]>(`
      INSERT INTO oauth_servers (identity, metadata_url, issuer, realm, allow_loopback, enabled, created_at, updated_at)
        VALUES (@identity, @metadata_url, @issuer, @realm, @allow_loopback, @enabled, @created_at, @updated_at)
        ON CONFLICT (identity) DO UPDATE SET metadata_url = excluded.metadata_url, issuer = excluded.issuer,
          realm = excluded.realm, allow_loopback = excluded.allow_loopback, enabled = excluded.enabled,
          updated_at = excluded.updated_at`),
    deleteServer: db.prepare<[string]>('DELETE FROM oauth_servers WHERE identity = ?'),
    client: db.prepare<[string, string], ClientRow>('SELECT * FROM clients WHERE principal = ? AND realm = ?'),
    clients: db.prepare<[], ClientRow>('SELECT * FROM clients'),
    credentialsOutside: db.prepare<[string], CredentialRow>('SELECT principal, realm, certificates, metadata_url FROM clients WHERE realm <> ?'),
    upsertClient: db.prepare<[ClientParameters]>(`
      INSERT INTO clients (principal, realm, display_name, certificates, metadata_url, allow_loopback, host_names,
          grants, enabled, created_at, updated_at)
        VALUES (@principal, @realm, @display_name, @certificates, @metadata_url, @allow_loopback, @host_names,
          @grants, @enabled, @created_at, @updated_at)
        ON CONFLICT (principal, realm) DO UPDATE SET display_name = excluded.display_name,
          certificates = excluded.certificates, metadata_url = excluded.metadata_url,
          allow_loopback = excluded.allow_loopback, host_names = excluded.host_names, grants = excluded.grants,
          enabled = excluded.enabled, updated_at = excluded.updated_at`),
    deleteClient: db.prepare<[string, string]>('DELETE FROM clients WHERE principal = ? AND realm = ?'),
    // One statement, so the check and the write are atomic across connections: a new pair is
    // inserted, an expired claim is taken over, an unexpired one is left alone (changes = 0).
    claim: db.prepare<[ClaimParameters]>(`
      INSERT INTO replay_claims (issuer, jti, expires_at) VALUES (@issuer, @jti, @expires_at)
        ON CONFLICT (issuer, jti) DO UPDATE SET expires_at = excluded.expires_at
        WHERE replay_claims.expires_at <= @now`),
    purgeClaims: db.prepare<[number]>('DELETE FROM replay_claims WHERE expires_at <= ?'),
    dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
    registryVersion: db.prepare<[], number>('SELECT version FROM registry_version WHERE id = 1').pluck(),
  };
}

/** How many client lookups (found or not) {@link SqliteStore.getClient} remembers before starting over. */
const CLIENT_CACHE_SIZE = 1024;

function sqliteBoolean(value: boolean): number {
  return value ? 1 : 0;
}

/** 1 and 0 become booleans; anything else is passed on for the record check to reject. */
function storedBoolean(value: unknown): unknown {
  return value === 1 ? true : value === 0 ? false : value;
}

function storedJson(value: unknown, column: string, subject: string): unknown {
  try {
    return JSON.parse(value as string) as unknown;
  } catch {
    // The parser's own message quotes the text, which may hold a certificate: say less.
    throw new TypeError(`${subject}: ${column} is not valid JSON`);
  }
}

function positiveInteger(value: number, option: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`SqliteStore.open: options.${option} must be a positive integer of milliseconds`);
  }
  return value;
}

/**
 * The stores in one SQLite file (better-sqlite3): the embedded default of architecture.md,
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
  readonly #statements: ReturnType<typeof prepareStatements>;
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
    if (typeof path !== 'string' || path.length === 0) {
      throw new TypeError('SqliteStore.open: path must be a non-empty string');
    }
    refuseUnknownOptions('SqliteStore.open', options, OPTION_NAMES);
    const { clock = systemClock, pollIntervalMs = 250, busyTimeoutMs = 5000, create = true, readOnly = false } = options;
    if (typeof clock !== 'function') throw new TypeError('SqliteStore.open: options.clock must be a function');
    positiveInteger(pollIntervalMs, 'pollIntervalMs');
    positiveInteger(busyTimeoutMs, 'busyTimeoutMs');
    if (typeof create !== 'boolean') throw new TypeError('SqliteStore.open: options.create must be true or false');
    if (typeof readOnly !== 'boolean') throw new TypeError('SqliteStore.open: options.readOnly must be true or false');
    const inMemory = path === ':memory:';
    if (!inMemory && (readOnly || !create) && !existsSync(path)) throw new StoreError('not_found', `no registry at ${path}`);
    if (readOnly) return SqliteStore.#openCopy(path, clock, pollIntervalMs, busyTimeoutMs);
    if (!inMemory) mkdirSync(dirname(path), { recursive: true });
    // Opening reads nothing yet: a file that is not a database is found out by the first read.
    const db = new Database(path, { timeout: busyTimeoutMs });
    try {
      // Before anything that writes (journal_mode included): another application's database, or
      // a file that is not a database, is refused untouched.
      const state = registryFileState(db);
      if (state.kind === 'other') throw notARegistry(path);
      // A newer registry too: migrate refuses it before it writes anything.
      if (state.kind === 'registry' && state.version > SCHEMA_VERSION) migrate(db, `"${path}"`);
      db.pragma('journal_mode = WAL');
      // Durability: replay claims commit with `synchronous = NORMAL`, registry writes with FULL
      // (see #durably and the README, "Durability").
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db, `"${path}"`);
      return new SqliteStore(db, path, clock, pollIntervalMs, false);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** See {@link SqliteStoreOptions.readOnly}. */
  static #openCopy(path: string, clock: Clock, pollIntervalMs: number, busyTimeoutMs: number): SqliteStore {
    const db = openCopy(readDatabaseCopy(path, busyTimeoutMs));
    try {
      if (registryFileState(db).kind !== 'registry') throw notARegistry(path);
      // A newer schema is refused here as on any open; an older one is brought up to date in the
      // copy, so that this package's statements can read it.
      migrate(db, `"${path}"`);
      return new SqliteStore(db, path, clock, pollIntervalMs, true);
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
    return row === undefined ? undefined : this.#partnerFromRow(row);
  }

  findByApplication(applicationId: string, realm: string): PartnerApplication | undefined {
    this.#checkOpen();
    const row = this.#statements.partnerByApplication.get(applicationId, realm);
    return row === undefined ? undefined : this.#partnerFromRow(row);
  }

  list(): PartnerApplication[] {
    this.#checkOpen();
    return this.#statements.partners.all().map((row) => this.#partnerFromRow(row)).sort(byIdentity);
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
      const current = row === undefined ? undefined : this.#partnerFromRow(row);
      const input = change(current);
      if (input === undefined) return current;
      const { createdAt, updatedAt } = nextTimes(current, Math.floor(this.#clock()));
      const checked = partnerApplicationRecord(input, createdAt, updatedAt);
      if (checked.identity !== identity) throw new TypeError(`partner application "${checked.identity}": modify("${identity}") writes only that identity`);
      try {
        this.#statements.upsertPartner.run({
          identity: checked.identity,
          application_id: checked.applicationId,
          realm: checked.realm,
          key_source: JSON.stringify(checked.keySource),
          trust_level: checked.trustLevel,
          scopes: JSON.stringify(checked.scopes),
          enabled: sqliteBoolean(checked.enabled),
          accept_unsigned_user_context: sqliteBoolean(checked.acceptUnsignedUserContext),
          created_at: createdAt,
          updated_at: updatedAt,
        });
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
    return row === undefined ? undefined : this.#serverFromRow(row);
  }

  listOAuthServers(): OAuthServerRecord[] {
    this.#checkOpen();
    return this.#statements.servers.all().map((row) => this.#serverFromRow(row)).sort(byIdentity);
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
      const current = row === undefined ? undefined : this.#serverFromRow(row);
      const input = change(current);
      if (input === undefined) return current;
      const { createdAt, updatedAt } = nextTimes(current, Math.floor(this.#clock()));
      const checked = oauthServerRecord(input, createdAt, updatedAt);
      if (checked.identity !== identity) throw new TypeError(`OAuth server "${checked.identity}": modifyOAuthServer("${identity}") writes only that identity`);
      this.#statements.upsertServer.run({
        identity: checked.identity,
        metadata_url: checked.metadataUrl,
        issuer: checked.issuer,
        realm: checked.realm,
        allow_loopback: checked.allowLoopback === undefined ? null : sqliteBoolean(checked.allowLoopback),
        enabled: sqliteBoolean(checked.enabled),
        created_at: createdAt,
        updated_at: updatedAt,
      });
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
      return row === undefined ? undefined : this.#clientFromRow(row);
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
    const record = row === undefined ? undefined : this.#clientFromRow(row);
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
    return this.#statements.clients.all().map((row) => this.#clientFromRow(row)).sort(byClientKey);
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
      const current = row === undefined ? undefined : this.#clientFromRow(row);
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
      this.#statements.upsertClient.run({
        principal,
        realm,
        display_name: checked.displayName ?? null,
        certificates: JSON.stringify(checked.certificates),
        metadata_url: checked.metadataUrl ?? null,
        allow_loopback: checked.allowLoopback === undefined ? null : sqliteBoolean(checked.allowLoopback),
        host_names: JSON.stringify(checked.hostNames),
        grants: JSON.stringify(checked.grants),
        enabled: sqliteBoolean(checked.enabled),
        created_at: createdAt,
        updated_at: updatedAt,
      });
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

  #partnerFromRow(row: PartnerRow): PartnerApplication {
    const subject = `partner application "${row.identity}"`;
    return this.#readRow(() =>
      partnerApplicationRecord(
        {
          identity: row.identity,
          applicationId: row.application_id,
          realm: row.realm,
          keySource: storedJson(row.key_source, 'key_source', subject),
          trustLevel: row.trust_level,
          scopes: storedJson(row.scopes, 'scopes', subject),
          enabled: storedBoolean(row.enabled),
          acceptUnsignedUserContext: storedBoolean(row.accept_unsigned_user_context),
        },
        row.created_at as number,
        row.updated_at as number,
      ),
    );
  }

  #serverFromRow(row: OAuthServerRow): OAuthServerRecord {
    return this.#readRow(() =>
      oauthServerRecord(
        {
          identity: row.identity,
          metadataUrl: row.metadata_url,
          issuer: row.issuer,
          realm: row.realm,
          allowLoopback: row.allow_loopback === null ? undefined : storedBoolean(row.allow_loopback),
          enabled: storedBoolean(row.enabled),
        },
        row.created_at as number,
        row.updated_at as number,
      ),
    );
  }

  #clientFromRow(row: ClientRow): ClientRecord {
    const subject = `client "${row.principal}@${row.realm}"`;
    return this.#readRow(() =>
      clientRecord(
        {
          principal: row.principal,
          realm: row.realm,
          displayName: row.display_name === null ? undefined : row.display_name,
          certificates: storedJson(row.certificates, 'certificates', subject),
          metadataUrl: row.metadata_url === null ? undefined : row.metadata_url,
          allowLoopback: row.allow_loopback === null ? undefined : storedBoolean(row.allow_loopback),
          hostNames: storedJson(row.host_names, 'host_names', subject),
          grants: storedJson(row.grants, 'grants', subject),
          enabled: storedBoolean(row.enabled),
        },
        row.created_at as number,
        row.updated_at as number,
      ),
    );
  }

  /** Turns a record check's `TypeError` into a `corrupt` error: the row is wrong, not the caller. */
  #readRow<T>(read: () => T): T {
    try {
      return read();
    } catch (error) {
      throw new StoreError('corrupt', `corrupt row in "${this.path}": ${(error as Error).message}`, { cause: error });
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError('closed', `the store "${this.path}" is closed`);
  }

  #checkWritable(): void {
    if (this.readOnly) throw new StoreError('read_only', `the store "${this.path}" was opened read-only`);
  }
}
