import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { openSqliteDatabase, UnwritableDatabaseError, type Migration } from '../src/sqlite-database.js';

/**
 * `folder` as a folder this process cannot write: by permissions for an ordinary user; for root
 * (whom permissions do not stop), a read-only bind mount of it. Returns the path to use and how to
 * undo it, or undefined when neither is possible here.
 */
function readOnlyView(folder: string): { path: string; undo: () => void } | undefined {
  if (process.getuid?.() !== 0) {
    chmodSync(folder, 0o500);
    return { path: folder, undo: () => chmodSync(folder, 0o700) };
  }
  const view = `${folder}-ro`;
  mkdirSync(view);
  try {
    execFileSync('mount', ['--bind', folder, view], { stdio: 'ignore' });
    execFileSync('mount', ['-o', 'remount,bind,ro', view], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('umount', [view], { stdio: 'ignore' });
    } catch {
      // Not mounted.
    }
    rmdirSync(view);
    return undefined;
  }
  return {
    path: view,
    undo: () => {
      execFileSync('umount', [view], { stdio: 'ignore' });
      rmdirSync(view);
    },
  };
}

describe('openSqliteDatabase', () => {
  let root: string;
  let path: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 's2sauth-support-'));
    path = join(root, 'server.sqlite');
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('runs only the migrations a file has not run yet, SQL and functions alike, and sets WAL and foreign keys', () => {
    const first: Migration[] = ["CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL); INSERT INTO notes (text) VALUES ('hello')"];
    const db = openSqliteDatabase(path, first);
    expect(db.pragma('user_version', { simple: true })).to.equal(1);
    expect(db.pragma('journal_mode', { simple: true })).to.equal('wal');
    expect(db.pragma('foreign_keys', { simple: true })).to.equal(1);
    db.close();

    const upper: Migration = (connection) => {
      connection.prepare('UPDATE notes SET text = upper(text)').run();
    };
    const again = openSqliteDatabase(path, [...first, upper]);
    try {
      expect(again.pragma('user_version', { simple: true })).to.equal(2);
      // The first migration did not run twice.
      expect(again.prepare('SELECT text FROM notes').all()).to.deep.equal([{ text: 'HELLO' }]);
    } finally {
      again.close();
    }
  });

  it('makes the file readable by its owner only, whether new or already there', () => {
    openSqliteDatabase(path, []).close();
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    chmodSync(path, 0o644);
    const db = openSqliteDatabase(path, ['CREATE TABLE t (x)']);
    try {
      expect(statSync(path).mode & 0o777).to.equal(0o600);
      expect(statSync(`${path}-wal`).mode & 0o777, 'the WAL file takes the database file mode').to.equal(0o600);
    } finally {
      db.close();
    }
    openSqliteDatabase(':memory:', []).close();
  });

  it('rolls a failing migration back whole and reports the failure', () => {
    openSqliteDatabase(path, ['CREATE TABLE notes (text TEXT)']).close();
    const broken: Migration = (connection) => {
      connection.exec("INSERT INTO notes (text) VALUES ('half')");
      throw new Error('migration failed');
    };
    expect(() => openSqliteDatabase(path, ['CREATE TABLE notes (text TEXT)', broken])).to.throw('migration failed');
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('user_version', { simple: true })).to.equal(1);
      expect(db.prepare('SELECT COUNT(*) AS n FROM notes').get()).to.deep.equal({ n: 0 });
    } finally {
      db.close();
    }
  });

  it('refuses a file written by a newer version of the server', () => {
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    expect(() => openSqliteDatabase(path, ['CREATE TABLE notes (text TEXT)'])).to.throw(TypeError, 'schema version 99');
  });

  it('names the file and what to change when the database or its folder cannot be written (a read-only data folder)', function () {
    openSqliteDatabase(path, ['CREATE TABLE notes (id INTEGER PRIMARY KEY)']).close();
    const view = readOnlyView(root);
    if (view === undefined) this.skip();
    try {
      const file = join(view.path, 'server.sqlite');
      let failure: unknown;
      try {
        openSqliteDatabase(file, ['CREATE TABLE notes (id INTEGER PRIMARY KEY)']).close();
      } catch (error) {
        failure = error;
      }
      expect(failure).to.be.instanceOf(UnwritableDatabaseError);
      const error = failure as UnwritableDatabaseError;
      expect([view.path, file]).to.include(error.path);
      expect(['EACCES', 'EROFS', 'EPERM']).to.include(error.code);
      expect(error.message).to.match(new RegExp(`^Cannot write ${error.path} \\(${error.code}\\): give the user running the server \\(uid \\d+\\) write permission on it and on its folder \\(chown or chmod u\\+w\\)`));
      // A new file in that folder: the same.
      expect(() => openSqliteDatabase(join(view.path, 'new.sqlite'), [])).to.throw(UnwritableDatabaseError, `Cannot write ${view.path} `);
    } finally {
      view.undo();
    }
  });
});
