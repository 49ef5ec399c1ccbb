import { randomBytes, scryptSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatabase } from '@s2sauth/example-support';
import { expect } from 'chai';
import { Accounts } from '../src/accounts.js';
import { LYNC_MIGRATIONS, LYNC_SCHEMA_VERSION, openLyncDatabase } from '../src/database.js';

describe('openLyncDatabase', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'lync-database-'));
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates the current schema, passwords stored as scrypt text hashes', async () => {
    const db = openLyncDatabase(join(root, 'lync.sqlite'));
    try {
      expect(db.pragma('user_version', { simple: true })).to.equal(LYNC_SCHEMA_VERSION);
      const accounts = new Accounts(db);
      await accounts.create({ username: 'alice@contoso.com', password: 'pw' });
      expect(db.prepare('SELECT password_hash FROM users').get()).to.have.property('password_hash').that.matches(/^scrypt\$32768\$8\$1\$/);
      expect(await accounts.authenticate('alice@contoso.com', 'pw')).to.include({ username: 'alice@contoso.com' });
    } finally {
      db.close();
    }
  });

  it('upgrades a version 1 file: the salt and hash BLOBs become the text hash, and every password still signs in', async () => {
    const path = join(root, 'lync.sqlite');
    const v1 = openSqliteDatabase(path, LYNC_MIGRATIONS.slice(0, 1));
    // How version 1 stored a password: scrypt (N 2^15, r 8, p 1) of the NFC form, 64 bytes, salt and hash as BLOBs.
    const salt = randomBytes(16);
    const hash = scryptSync('caf\u00e9 au lait', salt, 64, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    v1.prepare('INSERT INTO users (username, display_name, password_salt, password_hash, created_at) VALUES (?, ?, ?, ?, ?)').run('alice@contoso.com', 'Alice', salt, hash, Date.now());
    v1.prepare("INSERT INTO contacts (id, user_id, display_name, email, created_at) VALUES ('c1', 1, 'Bob', 'bob@contoso.com', 0)").run();
    v1.close();

    const db = openLyncDatabase(path);
    try {
      // Version 2 rewrote the hashes; version 3 added the idempotency keys of the partner routes.
      expect(db.pragma('user_version', { simple: true })).to.equal(3);
      expect(db.prepare('SELECT count(*) AS n FROM idempotency_keys').get()).to.deep.equal({ n: 0 });
      const columns = (db.pragma('table_info(users)') as { name: string }[]).map((column) => column.name);
      expect(columns).to.include('password_hash').and.not.include('password_salt').and.not.include('password');
      expect(db.prepare('SELECT password_hash FROM users').get()).to.deep.equal({
        password_hash: `scrypt$32768$8$1$${salt.toString('base64url')}$${hash.toString('base64url')}`,
      });
      // The rest of the user's data is untouched.
      expect(db.prepare('SELECT id, user_id FROM contacts').all()).to.deep.equal([{ id: 'c1', user_id: 1 }]);
      const accounts = new Accounts(db);
      expect(await accounts.authenticate('alice@contoso.com', 'cafe\u0301 au lait')).to.deep.equal({ id: 1, username: 'alice@contoso.com', displayName: 'Alice' });
      expect(await accounts.authenticate('alice@contoso.com', 'cafe au lait')).to.equal(undefined);
      await accounts.create({ username: 'bob@contoso.com', password: 'pw' });
      expect(await accounts.authenticate('bob@contoso.com', 'pw')).to.include({ username: 'bob@contoso.com' });
    } finally {
      db.close();
    }
  });
});
