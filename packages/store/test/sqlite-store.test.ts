import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { SCHEMA_VERSION, SqliteStore, StoreError, type RegistryEntryKind } from '@s2sauth/store';
import { migrate, MIGRATIONS } from '../src/migrations.js';
import { runInChildProcess } from '@s2sauth/test-support/child-process';
import { exchange, exchangeClient, sharepoint, START, storeBehaviour, sts, TENANT } from './store-behaviour.js';

type Change = readonly [string | undefined, RegistryEntryKind | undefined];

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The sha256 of the database file and of its -wal and -shm (`absent` when missing). */
function filesOf(path: string): Record<string, string> {
  return Object.fromEntries(['', '-wal', '-shm'].map((suffix) => [suffix, existsSync(`${path}${suffix}`) ? sha256(`${path}${suffix}`) : 'absent']));
}

/** Resolves with the first change `store` reports. */
function nextChange(store: SqliteStore): Promise<Change> {
  return new Promise((resolve) => {
    const unsubscribe = store.onChange((identity, kind) => {
      unsubscribe();
      resolve([identity, kind]);
    });
  });
}

describe('SqliteStore', () => {
  let folder: string;
  let opened: SqliteStore[];
  let files = 0;

  /** Opens a store that the suite closes afterwards. */
  function open(path: string, options: Parameters<typeof SqliteStore.open>[1] = {}): SqliteStore {
    const store = SqliteStore.open(path, options);
    opened.push(store);
    return store;
  }

  function newPath(): string {
    files += 1;
    return join(folder, `store-${files}.db`);
  }

  before(() => {
    folder = mkdtempSync(join(tmpdir(), 's2sauth-store-'));
  });

  beforeEach(() => {
    opened = [];
  });

  afterEach(() => {
    for (const store of opened) store.close();
  });

  after(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  storeBehaviour((clock) => SqliteStore.open(newPath(), { clock }));

  describe('opening', () => {
    it('creates the parent folders and a database in WAL mode at the current schema version', () => {
      const path = join(folder, 'nested', 'deeper', 's2sauth.db');
      const store = open(path);
      expect(store.path).to.equal(path);
      expect(existsSync(path)).to.equal(true);
      const raw = new Database(path, { readonly: true });
      try {
        expect(raw.pragma('journal_mode', { simple: true })).to.equal('wal');
        expect(raw.pragma('user_version', { simple: true })).to.equal(SCHEMA_VERSION);
      } finally {
        raw.close();
      }
    });

    it('keeps what was stored when the file is opened again', () => {
      const path = newPath();
      const first = open(path, { clock: () => START });
      first.put(exchange);
      first.putOAuthServer(sts);
      first.claim('client', 'jti', Number.MAX_SAFE_INTEGER);
      first.close();
      const second = open(path);
      expect(second.get('microsoft.exchange')).to.deep.equal({
        ...exchange,
        acceptUnsignedUserContext: false,
        createdAt: START,
        updatedAt: START,
      });
      expect(second.getOAuthServer('microsoft.sts')?.issuer).to.equal(sts.issuer);
      expect(second.claim('client', 'jti', Number.MAX_SAFE_INTEGER)).to.equal(false);
    });

    it('keeps a client when the file is opened again', () => {
      const path = newPath();
      const first = open(path, { clock: () => START });
      const stored = first.putClient({ ...exchangeClient, metadataUrl: 'https://mail.contoso.com/metadata/json/1' });
      first.close();
      expect(open(path).getClient(WellKnownPrincipal.exchange, TENANT)).to.deep.equal(stored);
    });

    it('brings a schema 1 file to the current schema, keeping its partners, servers and claims', () => {
      const path = newPath();
      const raw = new Database(path);
      migrate(raw, 'old', MIGRATIONS.slice(0, 1));
      raw
        .prepare(
          `INSERT INTO partner_applications VALUES ('microsoft.exchange', ?, 'contoso.com',
             '{"kind":"oauthServer"}', 'full', '["contacts.read"]', 1, 0, ?, ?)`,
        )
        .run(WellKnownPrincipal.exchange, START, START);
      raw.prepare(`INSERT INTO replay_claims VALUES ('client', 'jti', ?)`).run(Number.MAX_SAFE_INTEGER);
      expect(raw.pragma('user_version', { simple: true })).to.equal(1);
      const versionBefore = raw.prepare('SELECT version FROM registry_version').pluck().get() as number;
      raw.close();

      const store = open(path, { clock: () => START });
      expect(store.get('microsoft.exchange')).to.include({ trustLevel: 'full', createdAt: START });
      expect(store.claim('client', 'jti', Number.MAX_SAFE_INTEGER)).to.equal(false);
      expect(store.listClients()).to.deep.equal([]);
      store.putClient(exchangeClient);
      expect(store.getClient(WellKnownPrincipal.exchange, TENANT)?.displayName).to.equal(exchangeClient.displayName);

      const check = new Database(path, { readonly: true });
      try {
        expect(check.pragma('user_version', { simple: true })).to.equal(SCHEMA_VERSION);
        expect(check.prepare('SELECT version FROM registry_version').pluck().get()).to.equal(versionBefore + 1);
      } finally {
        check.close();
      }
    });

    it('opens a private in-memory database for :memory:', () => {
      const store = open(':memory:');
      store.put(exchange);
      expect(store.list()).to.have.length(1);
      expect(open(':memory:').list()).to.deep.equal([]);
    });

    it('refuses a registry written by a newer schema version, naming both versions, and leaves it alone', () => {
      const path = newPath();
      const raw = new Database(path);
      migrate(raw, 'new', MIGRATIONS);
      raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      raw.close();
      const before = sha256(path);
      for (const options of [{}, { create: false }, { readOnly: true }]) {
        expect(() => open(path, options))
          .to.throw(StoreError, new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than version ${SCHEMA_VERSION}`))
          .with.property('code', 'schema_too_new');
      }
      expect(sha256(path)).to.equal(before);
      const check = new Database(path, { readonly: true });
      expect(check.pragma('user_version', { simple: true })).to.equal(SCHEMA_VERSION + 1);
      check.close();
    });

    it('refuses a database of another application (a newer version number and none of our tables), and leaves it alone', () => {
      const path = newPath();
      const raw = new Database(path);
      raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      raw.exec('CREATE TABLE mailboxes (id INTEGER PRIMARY KEY)');
      raw.close();
      const before = sha256(path);
      for (const options of [{}, { create: false }, { readOnly: true }]) {
        expect(() => open(path, options)).to.throw(StoreError, `not an s2sauth registry: ${path}`).with.property('code', 'not_a_registry');
      }
      expect(sha256(path)).to.equal(before);
      expect(existsSync(`${path}-wal`)).to.equal(false);
      const check = new Database(path, { readonly: true });
      expect(check.pragma('user_version', { simple: true })).to.equal(SCHEMA_VERSION + 1);
      expect(check.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").pluck().get()).to.equal(1);
      check.close();
    });

    it('refuses a file that is not a SQLite database', () => {
      const path = newPath();
      writeFileSync(path, 'this is not a database, just some text that is long enough to have a header'.repeat(10));
      for (const options of [{}, { create: false }, { readOnly: true }]) {
        expect(() => open(path, options)).to.throw(StoreError, /not an s2sauth registry/).with.property('code', 'not_a_registry');
      }
    });

    it('refuses read-only a file that is not a database even with a -wal beside it (read through SQLite then)', () => {
      const path = newPath();
      writeFileSync(path, 'not a database, just text that is long enough to be read as a header. '.repeat(10));
      writeFileSync(`${path}-wal`, '');
      expect(() => open(path, { readOnly: true })).to.throw(StoreError, `not an s2sauth registry: ${path}`).with.property('code', 'not_a_registry');
    });

    it('makes a registry of an empty file, and refuses a missing file without create or with readOnly', () => {
      const path = newPath();
      writeFileSync(path, '');
      open(path).put(exchange);
      const missing = newPath();
      for (const options of [{ create: false }, { readOnly: true }]) {
        expect(() => open(missing, options)).to.throw(StoreError, `no registry at ${missing}`).with.property('code', 'not_found');
      }
      expect(existsSync(missing)).to.equal(false);
    });

    describe('read-only', () => {
      it('reads a registry without changing a byte or creating a file, and refuses writes', () => {
        const path = newPath();
        const writer = SqliteStore.open(path, { clock: () => START });
        writer.put(exchange);
        writer.putClient(exchangeClient);
        writer.close();
        const before = filesOf(path);
        const reader = open(path, { readOnly: true });
        expect(reader.readOnly).to.equal(true);
        expect(reader.get('microsoft.exchange')).to.include({ identity: 'microsoft.exchange', createdAt: START });
        expect(reader.listClients()).to.have.length(1);
        const writes: readonly (() => unknown)[] = [
          () => reader.put(sharepoint),
          () => reader.modify('microsoft.exchange', (current) => current),
          () => reader.remove('microsoft.exchange'),
          () => reader.putOAuthServer(sts),
          () => reader.removeOAuthServer('microsoft.sts'),
          () => reader.putClient(exchangeClient),
          () => reader.removeClient(WellKnownPrincipal.exchange, TENANT),
          () => reader.claim('client', 'jti', Number.MAX_SAFE_INTEGER),
        ];
        for (const write of writes) expect(write).to.throw(StoreError, /opened read-only/).with.property('code', 'read_only');
        reader.close();
        expect(filesOf(path)).to.deep.equal(before);
      });

      it('reads a registry a server has open, including what is still only in its WAL, without changing the database or the WAL', () => {
        const path = newPath();
        const server = open(path, { clock: () => START });
        server.put(exchange);
        expect(existsSync(`${path}-wal`)).to.equal(true);
        const database = sha256(path);
        const wal = sha256(`${path}-wal`);
        const reader = open(path, { readOnly: true });
        expect(reader.get('microsoft.exchange')?.identity).to.equal('microsoft.exchange');
        reader.close();
        expect(sha256(path)).to.equal(database);
        expect(sha256(`${path}-wal`)).to.equal(wal);
      });

      it('reads a registry of an older schema version, bringing only its copy up to date', () => {
        const path = newPath();
        const raw = new Database(path);
        raw.pragma('journal_mode = WAL');
        migrate(raw, 'old', MIGRATIONS.slice(0, 1));
        raw
          .prepare(`INSERT INTO partner_applications VALUES ('microsoft.exchange', ?, 'contoso.com', '{"kind":"oauthServer"}', 'full', '[]', 1, 0, ?, ?)`)
          .run(WellKnownPrincipal.exchange, START, START);
        raw.close();
        const before = filesOf(path);
        const reader = open(path, { readOnly: true });
        expect(reader.get('microsoft.exchange')?.trustLevel).to.equal('full');
        expect(reader.listClients()).to.deep.equal([]);
        reader.close();
        expect(filesOf(path)).to.deep.equal(before);
      });
    });

    const badOptions: readonly (readonly [string, () => unknown, RegExp])[] = [
      ['an empty path', () => SqliteStore.open(''), /path must be a non-empty string/],
      ['a path that is not a string', () => SqliteStore.open(undefined as never), /path must be a non-empty string/],
      ['a clock that is not a function', () => SqliteStore.open(':memory:', { clock: Date.now() as never }), /options\.clock/],
      ['a poll interval of 0', () => SqliteStore.open(':memory:', { pollIntervalMs: 0 }), /options\.pollIntervalMs/],
      ['a fractional poll interval', () => SqliteStore.open(':memory:', { pollIntervalMs: 2.5 }), /options\.pollIntervalMs/],
      ['a negative busy timeout', () => SqliteStore.open(':memory:', { busyTimeoutMs: -1 }), /options\.busyTimeoutMs/],
      [
        'a misspelt option name (readonly would silently open the file for writing)',
        () => SqliteStore.open(':memory:', { readonly: true } as never),
        /^SqliteStore\.open: unknown option "readonly"; the options are clock, pollIntervalMs, busyTimeoutMs, create, readOnly\.$/,
      ],
    ];
    for (const [name, call, message] of badOptions) {
      it(`refuses ${name} with a TypeError`, () => {
        expect(call).to.throw(TypeError, message);
      });
    }
  });

  describe('writing', () => {
    it('passes on a database error that is not a conflict, such as a lock held too long', () => {
      const path = newPath();
      const store = open(path, { busyTimeoutMs: 1 });
      const changes: unknown[] = [];
      store.onChange((identity) => changes.push(identity));
      const other = new Database(path);
      other.exec('BEGIN IMMEDIATE');
      try {
        expect(() => store.put(exchange)).to.throw(Database.SqliteError).with.property('code', 'SQLITE_BUSY');
      } finally {
        other.exec('ROLLBACK');
        other.close();
      }
      expect(store.get('microsoft.exchange')).to.equal(undefined);
      expect(changes).to.deep.equal([]);
    });
  });

  describe('changes made through another connection', () => {
    it('notifies with undefined when another store on the same file puts a partner', async () => {
      const path = newPath();
      const verifier = open(path, { pollIntervalMs: 10 });
      const admin = open(path);
      const change = nextChange(verifier);
      admin.put(exchange);
      expect(await change).to.deep.equal([undefined, undefined]);
      expect(verifier.get('microsoft.exchange')?.trustLevel).to.equal('full');
    });

    it('notifies when another store removes a partner or changes an OAuth server', async () => {
      const path = newPath();
      const verifier = open(path, { pollIntervalMs: 10 });
      const admin = open(path);
      admin.put(exchange);
      admin.putOAuthServer(sts);
      verifier.checkForChanges();
      const removed = nextChange(verifier);
      admin.remove('microsoft.exchange');
      expect(await removed).to.deep.equal([undefined, undefined]);
      const changed = nextChange(verifier);
      admin.putOAuthServer({ ...sts, enabled: false });
      expect(await changed).to.deep.equal([undefined, undefined]);
      expect(verifier.getOAuthServer('microsoft.sts')?.enabled).to.equal(false);
    });

    it('notifies when another store puts or removes a client', async () => {
      const path = newPath();
      const sts = open(path, { pollIntervalMs: 10 });
      const admin = open(path);
      const put = nextChange(sts);
      admin.putClient(exchangeClient);
      expect(await put).to.deep.equal([undefined, undefined]);
      expect(sts.getClient(WellKnownPrincipal.exchange, TENANT)?.enabled).to.equal(true);
      const removed = nextChange(sts);
      admin.removeClient(WellKnownPrincipal.exchange, TENANT);
      expect(await removed).to.deep.equal([undefined, undefined]);
      expect(sts.getClient(WellKnownPrincipal.exchange, TENANT)).to.equal(undefined);
    });

    it('does not report its own client writes a second time', () => {
      const store = open(newPath());
      const changes: unknown[] = [];
      store.onChange((identity, kind) => changes.push([identity, kind]));
      store.putClient(exchangeClient);
      store.removeClient(WellKnownPrincipal.exchange, TENANT);
      expect(store.checkForChanges()).to.equal(false);
      expect(changes).to.have.length(2);
    });

    it('notifies when a partner is written by a separate Node process', async function () {
      this.timeout(60_000);
      const path = newPath();
      const verifier = open(path, { pollIntervalMs: 20 });
      const change = nextChange(verifier);
      await runInChildProcess(
        `const { SqliteStore } = await import('@s2sauth/store');
         const store = SqliteStore.open(process.argv[1]);
         store.put(JSON.parse(process.argv[2]));
         store.close();`,
        path,
        JSON.stringify(sharepoint),
      );
      expect(await change).to.deep.equal([undefined, undefined]);
      expect(verifier.get('microsoft.sharepoint')?.trustLevel).to.equal('user');
    });

    it('notices a registry row written with plain SQL, as with the sqlite3 shell', () => {
      const path = newPath();
      const store = open(path);
      const raw = new Database(path);
      raw
        .prepare(
          `INSERT INTO oauth_servers (identity, metadata_url, issuer, realm, allow_loopback, enabled, created_at, updated_at)
           VALUES ('hand.sts', 'https://sts.contoso.com/metadata/json/1', 'x@contoso.com', 'contoso.com', NULL, 1, 0, 0)`,
        )
        .run();
      raw.close();
      const changes: unknown[] = [];
      store.onChange((identity) => changes.push(identity));
      expect(store.checkForChanges()).to.equal(true);
      expect(changes).to.deep.equal([undefined]);
      expect(store.getOAuthServer('hand.sts')?.realm).to.equal('contoso.com');
    });

    it('does not mistake replay claims through another connection for registry changes', () => {
      const path = newPath();
      const verifier = open(path);
      const sts = open(path);
      const changes: unknown[] = [];
      verifier.onChange((identity) => changes.push(identity));
      sts.claim('client', 'jti', Date.now() + 60_000);
      expect(verifier.checkForChanges()).to.equal(false);
      expect(changes).to.deep.equal([]);
    });

    it('does not report its own writes a second time', () => {
      const store = open(newPath());
      const changes: unknown[] = [];
      store.onChange((identity) => changes.push(identity));
      store.put(exchange);
      store.remove('microsoft.exchange');
      store.putOAuthServer(sts);
      expect(store.checkForChanges()).to.equal(false);
      expect(changes).to.deep.equal(['microsoft.exchange', 'microsoft.exchange', 'microsoft.sts']);
    });

    it('reports a change made elsewhere between opening and subscribing', () => {
      const path = newPath();
      const verifier = open(path);
      open(path).put(exchange);
      const changes: unknown[] = [];
      verifier.onChange((identity) => changes.push(identity));
      expect(verifier.checkForChanges()).to.equal(true);
      expect(verifier.checkForChanges()).to.equal(false);
      expect(changes).to.deep.equal([undefined]);
    });

    it('refuses to look for changes once closed', () => {
      const store = open(newPath());
      store.close();
      expect(() => store.checkForChanges()).to.throw(StoreError).with.property('code', 'closed');
    });

    it('stops polling when the last listener unsubscribes and starts again for a new one', async () => {
      const path = newPath();
      const verifier = open(path, { pollIntervalMs: 10 });
      const admin = open(path);
      const first = verifier.onChange(() => undefined);
      const second = verifier.onChange(() => undefined);
      first();
      second();
      admin.put(exchange);
      const change = nextChange(verifier);
      admin.put(sharepoint);
      expect(await change).to.deep.equal([undefined, undefined]);
    });
  });

  describe('client lookups, as the STS makes two per token request', () => {
    it('sees a client changed, disabled, removed or added through another connection at the next lookup', () => {
      const path = newPath();
      const sts = open(path);
      const admin = open(path);
      expect(sts.getClient(WellKnownPrincipal.exchange, TENANT)).to.equal(undefined);
      admin.putClient(exchangeClient);
      expect(sts.getClient(WellKnownPrincipal.exchange, TENANT)?.enabled).to.equal(true);
      admin.putClient({ ...exchangeClient, enabled: false });
      expect(sts.getClient(WellKnownPrincipal.exchange, TENANT)?.enabled).to.equal(false);
      admin.putClient({ ...exchangeClient, certificates: ['MIIBrolledOver'] });
      expect(sts.getClient(WellKnownPrincipal.exchange, TENANT)?.certificates).to.deep.equal(['MIIBrolledOver']);
      expect(admin.removeClient(WellKnownPrincipal.exchange, TENANT)).to.equal(true);
      expect(sts.getClient(WellKnownPrincipal.exchange, TENANT)).to.equal(undefined);
    });

    it('sees a client row changed with plain SQL, as with the sqlite3 shell, at the next lookup', () => {
      const path = newPath();
      const sts = open(path);
      sts.putClient(exchangeClient);
      expect(sts.getClient(WellKnownPrincipal.exchange, TENANT)?.enabled).to.equal(true);
      const raw = new Database(path);
      raw.prepare(`UPDATE clients SET enabled = 0 WHERE realm = '${TENANT}'`).run();
      raw.close();
      expect(sts.getClient(WellKnownPrincipal.exchange, TENANT)?.enabled).to.equal(false);
    });

    it('sees its own client writes at once, also after looking up a client that was not there', () => {
      const store = open(newPath());
      expect(store.getClient(WellKnownPrincipal.exchange, TENANT)).to.equal(undefined);
      store.putClient(exchangeClient);
      expect(store.getClient(WellKnownPrincipal.exchange, TENANT)?.displayName).to.equal('Exchange on premises');
      store.putClient({ ...exchangeClient, hostNames: ['owa.contoso.com'] });
      expect(store.getClient(WellKnownPrincipal.exchange, TENANT)?.hostNames).to.deep.equal(['owa.contoso.com']);
      expect(store.removeClient(WellKnownPrincipal.exchange, TENANT)).to.equal(true);
      expect(store.getClient(WellKnownPrincipal.exchange, TENANT)).to.equal(undefined);
    });

    it('keeps principal and realm apart, and answers right after many unknown lookups', () => {
      const store = open(newPath());
      store.putClient(exchangeClient);
      expect(store.getClient(TENANT, WellKnownPrincipal.exchange)).to.equal(undefined);
      expect(store.getClient(`${WellKnownPrincipal.exchange}\n${TENANT}`, '')).to.equal(undefined);
      for (let index = 0; index < 3000; index++) expect(store.getClient(`unknown-${index}`, TENANT)).to.equal(undefined);
      expect(store.getClient(WellKnownPrincipal.exchange, TENANT)?.realm).to.equal(TENANT);
      store.putClient({ ...exchangeClient, enabled: false });
      expect(store.getClient(WellKnownPrincipal.exchange, TENANT)?.enabled).to.equal(false);
    });

    it('reads a client correctly while another connection claims assertions', () => {
      const path = newPath();
      const sts = open(path);
      const other = open(path);
      sts.putClient(exchangeClient);
      for (let index = 0; index < 5; index++) {
        expect(other.claim('client', `jti-${index}`, Date.now() + 60_000)).to.equal(true);
        expect(sts.getClient(WellKnownPrincipal.exchange, TENANT)?.enabled).to.equal(true);
      }
    });
  });

  describe('atomic changes across connections', () => {
    it('holds the write lock from the read to the write: another connection cannot write in between', () => {
      const path = newPath();
      const first = open(path);
      const second = open(path, { busyTimeoutMs: 1 });
      first.put(exchange);
      let refused: unknown;
      first.modify('microsoft.exchange', (current) => {
        try {
          second.modify('microsoft.exchange', (other) => other && { ...other, scopes: ['lost'] });
        } catch (error) {
          refused = error;
        }
        return current && { ...current, enabled: false };
      });
      expect(refused).to.be.instanceOf(Database.SqliteError).with.property('code', 'SQLITE_BUSY');
      expect(second.get('microsoft.exchange')).to.deep.include({ enabled: false, scopes: exchange.scopes });
      // Once the lock is free, the second connection's change lands on top of the first's.
      second.modify('microsoft.exchange', (other) => other && { ...other, scopes: ['contacts.read'] });
      expect(first.get('microsoft.exchange')).to.deep.include({ enabled: false, scopes: ['contacts.read'] });
    });

    it('still reports a change made through another connection when this one writes before its next poll', () => {
      const path = newPath();
      const first = open(path);
      const second = open(path);
      const seen: Change[] = [];
      first.onChange((identity, kind) => seen.push([identity, kind]));
      second.put(sharepoint);
      first.put(exchange);
      expect(seen).to.deep.equal([
        [undefined, undefined],
        ['microsoft.exchange', 'partnerApplication'],
      ]);
      expect(first.checkForChanges()).to.equal(false);
    });
  });

  describe('durability', () => {
    it('counts no registry change for a replay claim (no trigger on replay_claims)', () => {
      const path = newPath();
      const store = open(path);
      store.putClient(exchangeClient);
      const version = (): unknown => {
        const raw = new Database(path, { readonly: true });
        try {
          return raw.prepare('SELECT version FROM registry_version WHERE id = 1').pluck().get();
        } finally {
          raw.close();
        }
      };
      const before = version();
      for (let index = 0; index < 10; index++) expect(store.claim('client', `jti-${index}`, Date.now() + 60_000)).to.equal(true);
      expect(version()).to.equal(before);
      const raw = new Database(path, { readonly: true });
      try {
        const triggers = raw.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'replay_claims'`).all();
        expect(triggers).to.deep.equal([]);
      } finally {
        raw.close();
      }
    });

    it('keeps replay claims and registry writes across a reopen (WAL, synchronous NORMAL for claims, FULL for the registry)', () => {
      const path = newPath();
      const first = SqliteStore.open(path);
      first.putClient(exchangeClient);
      expect(first.claim('client', 'jti', Date.now() + 60_000)).to.equal(true);
      first.close();
      const second = open(path);
      expect(second.getClient(WellKnownPrincipal.exchange, TENANT)?.realm).to.equal(TENANT);
      expect(second.claim('client', 'jti', Date.now() + 60_000)).to.equal(false);
    });
  });

  describe('replay claims across connections', () => {
    it('grants exactly one of 20 concurrent claims made over two connections', async () => {
      const path = newPath();
      const stores = [open(path), open(path)];
      const expiresAt = Date.now() + 60_000;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          Promise.resolve().then(() => stores[index % 2]?.claim('client@contoso.com', 'shared-jti', expiresAt)),
        ),
      );
      expect(results.filter((granted) => granted === true)).to.have.length(1);
      expect(results.filter((granted) => granted === false)).to.have.length(19);
    });

    it('grants each jti once when two processes claim the same 200 jtis at the same time', async function () {
      this.timeout(60_000);
      const path = newPath();
      open(path).close();
      const source = `const { SqliteStore } = await import('@s2sauth/store');
        const store = SqliteStore.open(process.argv[1]);
        let granted = 0;
        for (let i = 0; i < 200; i += 1) if (store.claim('client', 'jti-' + i, Date.now() + 600000)) granted += 1;
        store.close();
        process.stdout.write(String(granted));`;
      const outputs = await Promise.all([runInChildProcess(source, path), runInChildProcess(source, path)]);
      expect(outputs.map(Number).reduce((sum, granted) => sum + granted, 0)).to.equal(200);
    });
  });

  describe('rows that do not make sense', () => {
    function corrupt(path: string, sql: string): void {
      const raw = new Database(path);
      raw.pragma('ignore_check_constraints = ON');
      raw.exec(sql);
      raw.close();
    }

    const partnerCorruptions: readonly (readonly [string, string, RegExp])[] = [
      ['a key source that is not JSON', `key_source = '{"kind":"certificate","certificates":["MIIB...SECRET'`, /key_source is not valid JSON/],
      ['a key source of an unknown kind', `key_source = '{"kind":"ftp"}'`, /keySource\.kind must be one of/],
      ['a certificate key source without certificates', `key_source = '{"kind":"certificate"}'`, /keySource\.certificates/],
      ['scopes that are not a list', `scopes = '"contacts.read"'`, /scopes must be an array/],
      ['an unknown trust level', `trust_level = 'admin'`, /trustLevel must be one of/],
      ['an enabled flag that is neither 0 nor 1', `enabled = 2`, /enabled must be a boolean/],
      ['an acceptUnsignedUserContext flag that is neither 0 nor 1', `accept_unsigned_user_context = -1`, /acceptUnsignedUserContext must be a boolean/],
      ['an empty scope', `scopes = '["contacts.read",""]'`, /scopes\[1\] must be a non-empty string/],
    ];
    for (const [name, assignment, reason] of partnerCorruptions) {
      it(`raises a corrupt error naming the partner for ${name}`, () => {
        const path = newPath();
        const store = open(path);
        store.put(exchange);
        store.put(sharepoint);
        corrupt(path, `UPDATE partner_applications SET ${assignment} WHERE identity = 'microsoft.exchange'`);
        const reads: readonly (() => unknown)[] = [
          () => store.get('microsoft.exchange'),
          () => store.findByApplication(WellKnownPrincipal.exchange, 'contoso.com'),
          () => store.list(),
        ];
        for (const read of reads) {
          const error = (() => {
            try {
              read();
            } catch (caught) {
              return caught;
            }
            return undefined;
          })();
          expect(error).to.be.instanceOf(StoreError).with.property('code', 'corrupt');
          const { message } = error as StoreError;
          expect(message).to.include('partner application "microsoft.exchange"').and.include(path);
          expect(message).to.match(reason).and.not.include('SECRET');
        }
        expect(store.get('microsoft.sharepoint')?.identity).to.equal('microsoft.sharepoint');
        expect(store.remove('microsoft.exchange')).to.equal(true);
        expect(store.list().map((app) => app.identity)).to.deep.equal(['microsoft.sharepoint']);
      });
    }

    const clientCorruptions: readonly (readonly [string, string, RegExp])[] = [
      ['certificates that are not JSON', `certificates = '["MIIB...SECRET'`, /certificates is not valid JSON/],
      ['host names that are not a list', `host_names = '"mail.contoso.com"'`, /hostNames must be an array/],
      ['grants that are not a list', `grants = '{}'`, /grants must be an array/],
      ['a grant whose delegation is not a boolean', `grants = '[{"resource":"r","scopes":[],"delegation":1}]'`, /grants\[0\]\.delegation must be a boolean/],
      ['an enabled flag that is neither 0 nor 1', `enabled = 2`, /enabled must be a boolean/],
      ['an allowLoopback flag that is neither 0 nor 1', `allow_loopback = 3`, /allowLoopback must be a boolean/],
      ['an empty display name', `display_name = ''`, /displayName must be a non-empty string/],
    ];
    for (const [name, assignment, reason] of clientCorruptions) {
      it(`raises a corrupt error naming the client for ${name}`, () => {
        const path = newPath();
        const store = open(path);
        store.putClient(exchangeClient);
        store.putClient({ ...exchangeClient, realm: 'contoso.com', certificates: ['MIIBcontoso'] });
        corrupt(path, `UPDATE clients SET ${assignment} WHERE realm = '${TENANT}'`);
        for (const read of [() => store.getClient(WellKnownPrincipal.exchange, TENANT), () => store.listClients()]) {
          expect(read)
            .to.throw(StoreError, new RegExp(`client "${WellKnownPrincipal.exchange}@${TENANT}"`))
            .with.property('code', 'corrupt');
          expect(read).to.throw(reason);
          expect(read).to.throw(StoreError).with.property('message').that.does.not.include('SECRET');
        }
        expect(store.getClient(WellKnownPrincipal.exchange, 'contoso.com')?.realm).to.equal('contoso.com');
        // A damaged row of another realm does not block registrations elsewhere.
        expect(store.putClient({ ...exchangeClient, realm: 'fabrikam.com', certificates: ['MIIBfabrikam'] }).realm).to.equal('fabrikam.com');
        expect(store.removeClient(WellKnownPrincipal.exchange, TENANT)).to.equal(true);
      });
    }

    it('raises a corrupt error naming the OAuth server for a flag that is neither 0 nor 1', () => {
      const path = newPath();
      const store = open(path);
      store.putOAuthServer({ ...sts, allowLoopback: true });
      corrupt(path, `UPDATE oauth_servers SET allow_loopback = 7 WHERE identity = 'microsoft.sts'`);
      expect(() => store.getOAuthServer('microsoft.sts'))
        .to.throw(StoreError, /OAuth server "microsoft\.sts": allowLoopback must be a boolean/)
        .with.property('code', 'corrupt');
      expect(() => store.listOAuthServers()).to.throw(StoreError, /microsoft\.sts/);
    });
  });
});
