/**
 * The admin command line never changes a file it was not asked to change: only `add` creates (or
 * migrates) a registry and says so when it created one; `get` and `list` read without writing a
 * byte; no command touches a file that is not an s2sauth registry, such as a demo server's own
 * database beside its registry; a registry of a newer schema is refused naming both versions.
 */
import { expect } from 'chai';
import { after, describe, it } from 'mocha';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { SCHEMA_VERSION, SqliteStore } from '@s2sauth/store';
import { openMailboxDatabase } from '../../../examples/exchange/src/mailbox-database.js';
import { migrate, MIGRATIONS } from '../../store/src/migrations.js';
import { failed, s2sauth, succeeded, temporaryFolder, type CliRun } from './run-cli.js';

const CLIENT = `${WellKnownPrincipal.exchange}@contoso.com`;

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The sha256 of a database file and of its -wal and -shm, `absent` for a missing one. */
function filesOf(path: string): Record<string, string> {
  return Object.fromEntries(['', '-wal', '-shm'].map((suffix) => [`file${suffix}`, existsSync(`${path}${suffix}`) ? sha256(`${path}${suffix}`) : 'absent']));
}

/** Every command, with its arguments, that needs an existing registry. */
const READ_COMMANDS: readonly (readonly string[])[] = [
  ['partner', 'list'],
  ['partner', 'get', 'microsoft.lync'],
  ['oauth-server', 'list'],
  ['oauth-server', 'get', 'microsoft.sts'],
  ['client', 'list'],
  ['client', 'get', CLIENT],
];
const WRITE_COMMANDS: readonly (readonly string[])[] = [
  ['partner', 'set', 'microsoft.lync', '--scope', 'contacts.read'],
  ['partner', 'enable', 'microsoft.lync'],
  ['partner', 'disable', 'microsoft.lync'],
  ['partner', 'remove', 'microsoft.lync'],
  ['oauth-server', 'disable', 'microsoft.sts'],
  ['oauth-server', 'remove', 'microsoft.sts'],
  ['client', 'set', CLIENT, '--display-name', 'x'],
  ['client', 'disable', CLIENT],
  ['client', 'remove', CLIENT],
];
const ADD_COMMANDS: readonly (readonly string[])[] = [
  ['partner', 'add', 'contoso.crm', '--use-oauth-server', '--application-id', WellKnownPrincipal.sharepoint, '--realm', 'contoso.com'],
  ['client', 'add', CLIENT],
];

describe('s2sauth: which commands may change the registry file', () => {
  const folder = temporaryFolder();
  let files = 0;
  const newFile = (name: string): string => folder.file(`${name}-${(files += 1)}.sqlite`);

  /** Runs `args --store file`. */
  const on = (file: string, args: readonly string[]): Promise<CliRun> => s2sauth([...args, '--store', file]);

  /** A demo Exchange server's own database (mailboxes, accounts, sessions), as its server leaves it. */
  function serverDatabase(): string {
    const file = newFile('exchange');
    openMailboxDatabase(file).close();
    return file;
  }

  after(() => folder.remove());

  describe('a file that is not an s2sauth registry', () => {
    const cases: readonly (readonly [string, () => string])[] = [
      ["a demo server's own database", serverDatabase],
      [
        'a plain SQLite file of another application',
        () => {
          const file = newFile('other');
          const db = new Database(file);
          db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES (\'keep me\')');
          db.close();
          return file;
        },
      ],
    ];
    for (const [name, make] of cases) {
      it(`is refused by every command, add included, and left byte-for-byte unchanged: ${name}`, async () => {
        const file = make();
        const before = filesOf(file);
        expect(before['file-wal']).to.equal('absent');
        for (const args of [...READ_COMMANDS, ...WRITE_COMMANDS, ...ADD_COMMANDS]) {
          expect(failed(await on(file, args), 1), args.join(' ')).to.equal(`s2sauth: not an s2sauth registry: ${file}`);
          expect(filesOf(file), args.join(' ')).to.deep.equal(before);
        }
      });
    }

    it("is refused while its server has it open, leaving the database and its WAL unchanged", async () => {
      const file = serverDatabase();
      const server = openMailboxDatabase(file);
      try {
        server.prepare('INSERT INTO users (username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?)').run('alice@contoso.com', 'Alice', 'x', 1);
        const database = sha256(file);
        const wal = sha256(`${file}-wal`);
        for (const args of [...READ_COMMANDS, ...WRITE_COMMANDS, ...ADD_COMMANDS]) {
          expect(failed(await on(file, args), 1)).to.equal(`s2sauth: not an s2sauth registry: ${file}`);
        }
        expect(sha256(file)).to.equal(database);
        expect(sha256(`${file}-wal`)).to.equal(wal);
        expect(server.pragma('user_version', { simple: true })).to.not.equal(SCHEMA_VERSION + 1000);
        expect(server.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'clients'").pluck().get()).to.equal(0);
      } finally {
        server.close();
      }
    });
  });

  describe('an s2sauth registry', () => {
    function registry(): string {
      const file = newFile('registry');
      const store = SqliteStore.open(file);
      store.put({ identity: 'microsoft.lync', applicationId: WellKnownPrincipal.lync, realm: 'contoso.com', keySource: { kind: 'oauthServer' }, trustLevel: 'full', scopes: [], enabled: true });
      store.putClient({ principal: WellKnownPrincipal.exchange, realm: 'contoso.com' });
      store.close();
      return file;
    }

    it('is read by get and list without a byte changed or a file created', async () => {
      const file = registry();
      const before = filesOf(file);
      expect(before['file-wal']).to.equal('absent');
      for (const args of READ_COMMANDS) {
        const result = await on(file, args);
        // get of an OAuth server that is not registered: refused, but read all the same.
        if (args[0] !== 'oauth-server' || args[1] !== 'get') succeeded(result);
        expect(filesOf(file), args.join(' ')).to.deep.equal(before);
      }
    });

    it('of an older schema is read by get and list as it is, and brought up to date by a command that writes', async () => {
      const file = newFile('old');
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      migrate(db, 'old', MIGRATIONS.slice(0, 1));
      db.prepare(`INSERT INTO partner_applications VALUES ('microsoft.lync', ?, 'contoso.com', '{"kind":"oauthServer"}', 'full', '[]', 1, 0, 1, 1)`).run(WellKnownPrincipal.lync);
      db.close();
      const before = filesOf(file);
      expect(succeeded(await on(file, ['partner', 'list']))).to.include('microsoft.lync');
      expect(succeeded(await on(file, ['client', 'list']))).to.equal('no clients\n');
      expect(filesOf(file)).to.deep.equal(before);
      succeeded(await on(file, ['partner', 'disable', 'microsoft.lync']));
      const check = new Database(file, { readonly: true });
      try {
        expect(check.pragma('user_version', { simple: true })).to.equal(SCHEMA_VERSION);
      } finally {
        check.close();
      }
    });

    it('of a newer schema is refused by every command, naming both versions, and left unchanged', async () => {
      const file = registry();
      const db = new Database(file);
      db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      db.close();
      const before = filesOf(file);
      for (const args of [...READ_COMMANDS, ...WRITE_COMMANDS, ...ADD_COMMANDS]) {
        expect(failed(await on(file, args), 1)).to.equal(
          `s2sauth: "${file}" has schema version ${SCHEMA_VERSION + 1}, newer than version ${SCHEMA_VERSION} that this @s2sauth/store understands; upgrade @s2sauth/store`,
        );
        expect(filesOf(file)).to.deep.equal(before);
      }
    });
  });

  describe('a missing file', () => {
    it('is refused by every command but add, and created by add, which says so on standard error', async () => {
      const file = newFile('typo');
      for (const args of [...READ_COMMANDS, ...WRITE_COMMANDS]) {
        expect(failed(await on(file, args), 1)).to.equal(`s2sauth: no registry at ${file}`);
        expect(existsSync(file)).to.equal(false);
      }
      const created = await on(file, ADD_COMMANDS[0] as readonly string[]);
      expect(created.code).to.equal(0);
      expect(created.stderr).to.equal(`s2sauth: created a new registry at ${file}\n`);
      expect(created.stdout).to.match(/^added partner application contoso\.crm\n/);
      // Adding to the registry that now exists says nothing more.
      const again = await on(file, ADD_COMMANDS[1] as readonly string[]);
      expect(again.stderr).to.equal('');
      expect(again.code).to.equal(0);
      // An add that is refused leaves no file behind, and so says nothing about creating one.
      const refused = newFile('refused');
      const result = await on(refused, ['partner', 'add', 'contoso.crm', '--use-oauth-server', '--application-id', 'not-a-guid', '--realm', 'contoso.com']);
      expect(result.stderr).to.not.include('created a new registry');
      expect(result.code).to.equal(1);
      expect(existsSync(refused)).to.equal(false);
    });
  });
});
