import { expect } from 'chai';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { openMailboxDatabase } from '../src/mailbox-database.js';
import { tempDataDir } from './fake-lync.js';

describe('openMailboxDatabase', () => {
  it('creates the schema once and opens an existing file without migrating it again', async () => {
    const dir = await tempDataDir();
    try {
      const path = join(dir.path, 'exchange.sqlite');
      const first = openMailboxDatabase(path);
      expect(first.pragma('user_version', { simple: true })).to.equal(2);
      expect(first.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'idempotency_keys'").get()).to.deep.equal({ name: 'idempotency_keys' });
      first.close();
      const second = openMailboxDatabase(path);
      expect(second.pragma('journal_mode', { simple: true })).to.equal('wal');
      second.close();
    } finally {
      await dir.remove();
    }
  });

  it('refuses a file written by a newer version of the server', async () => {
    const dir = await tempDataDir();
    try {
      const path = join(dir.path, 'exchange.sqlite');
      const db = new Database(path);
      db.pragma('user_version = 99');
      db.close();
      expect(() => openMailboxDatabase(path)).to.throw(TypeError, 'schema version 99');
    } finally {
      await dir.remove();
    }
  });
});
