import Database from 'better-sqlite3';
import { expect } from 'chai';
import { StoreError } from '@s2sauth/store';
import { migrate, MIGRATIONS, SCHEMA_VERSION, type Migration } from '../src/migrations.js';

const steps: readonly Migration[] = [
  { description: 'first', sql: 'CREATE TABLE first (id INTEGER PRIMARY KEY);' },
  { description: 'second', sql: 'CREATE TABLE second (id INTEGER PRIMARY KEY);' },
];

function tables(db: Database.Database): string[] {
  return db.prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all();
}

function version(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

describe('migrations', () => {
  let db: Database.Database;

  beforeEach(() => {
    db = new Database(':memory:');
  });

  afterEach(() => {
    db.close();
  });

  it('numbers the schema by its steps, which cannot be changed at run time', () => {
    expect(SCHEMA_VERSION).to.equal(MIGRATIONS.length).and.be.greaterThan(0);
    expect(MIGRATIONS).to.be.frozen;
  });

  it('creates the whole schema in a new database', () => {
    migrate(db, 'test');
    expect(version(db)).to.equal(SCHEMA_VERSION);
    expect(tables(db)).to.include.members(['partner_applications', 'oauth_servers', 'clients', 'replay_claims', 'registry_version']);
  });

  it('counts registry writes, and only those, in registry_version', () => {
    migrate(db, 'test');
    const count = () => db.prepare('SELECT version FROM registry_version').pluck().get();
    db.exec(`INSERT INTO oauth_servers VALUES ('s', 'https://s/', 'i', '*', NULL, 1, 0, 0)`);
    db.exec(`UPDATE oauth_servers SET enabled = 0`);
    db.exec(`DELETE FROM oauth_servers`);
    db.exec(`INSERT INTO replay_claims VALUES ('i', 'j', 1)`);
    expect(count()).to.equal(3);
  });

  it('counts client writes in registry_version like partner writes', () => {
    migrate(db, 'test');
    const count = () => db.prepare('SELECT version FROM registry_version').pluck().get();
    db.exec(`INSERT INTO clients VALUES ('p', 'r', NULL, '[]', NULL, NULL, '[]', '[]', 1, 0, 0)`);
    db.exec(`UPDATE clients SET enabled = 0`);
    db.exec(`DELETE FROM clients`);
    expect(count()).to.equal(3);
  });

  it('adds the clients table to a database at schema 1 without touching its rows', () => {
    migrate(db, 'test', MIGRATIONS.slice(0, 1));
    db.exec(`INSERT INTO oauth_servers VALUES ('s', 'https://s/', 'i', '*', NULL, 1, 0, 0)`);
    expect(tables(db)).to.not.include('clients');
    migrate(db, 'test', MIGRATIONS.slice(0, 2));
    expect(version(db)).to.equal(2);
    expect(tables(db)).to.include('clients');
    expect(db.prepare('SELECT identity FROM oauth_servers').pluck().all()).to.deep.equal(['s']);
  });

  it('adds the key_documents table to a database at schema 2, keeping its rows, and does not count its writes as registry writes', () => {
    migrate(db, 'test', MIGRATIONS.slice(0, 2));
    db.exec(`INSERT INTO oauth_servers VALUES ('s', 'https://s/', 'i', '*', NULL, 1, 0, 0)`);
    expect(tables(db)).to.not.include('key_documents');
    migrate(db, 'test');
    expect(version(db)).to.equal(3);
    expect(tables(db)).to.include('key_documents');
    expect(db.prepare('SELECT identity FROM oauth_servers').pluck().all()).to.deep.equal(['s']);
    const count = () => db.prepare('SELECT version FROM registry_version').pluck().get();
    const before = count();
    db.prepare(`INSERT INTO key_documents VALUES ('https://s/', 0, ?, 1)`).run(Buffer.from('{}'));
    db.exec(`UPDATE key_documents SET fetched_at = 2`);
    db.exec(`DELETE FROM key_documents`);
    expect(count()).to.equal(before);
    expect(() => db.exec(`INSERT INTO key_documents VALUES ('https://s/', 2, x'7b7d', 1)`)).to.throw(/CHECK constraint failed/);
  });

  it('applies only the steps a database lacks', () => {
    migrate(db, 'test', steps.slice(0, 1));
    expect(version(db)).to.equal(1);
    migrate(db, 'test', steps);
    expect(version(db)).to.equal(2);
    expect(tables(db)).to.deep.equal(['first', 'second']);
  });

  it('leaves an up-to-date database alone', () => {
    migrate(db, 'test', steps);
    migrate(db, 'test', steps);
    expect(tables(db)).to.deep.equal(['first', 'second']);
  });

  it('rolls back a step that fails, version bump included', () => {
    const broken = [...steps, { description: 'broken', sql: 'CREATE TABLE third (id INTEGER); CREATE TABLE first (id INTEGER);' }];
    expect(() => migrate(db, 'test', broken)).to.throw(/first already exists/);
    expect(version(db)).to.equal(2);
    expect(tables(db)).to.deep.equal(['first', 'second']);
  });

  it('skips a step that another connection applied in the meantime', () => {
    // The other connection migrates between this one's first look at the version and its step,
    // as a second process opening the same new file would.
    class Raced extends Array<Migration> {
      override *entries(): ArrayIterator<[number, Migration]> {
        migrate(db, 'other', [...steps]);
        yield* Array.prototype.entries.call(this);
      }
    }
    migrate(db, 'test', Raced.from(steps));
    expect(version(db)).to.equal(2);
    expect(tables(db)).to.deep.equal(['first', 'second']);
  });

  it('refuses a database from a newer version, naming it and both versions', () => {
    db.pragma('user_version = 3');
    expect(() => migrate(db, '"/data/s2sauth.db"', steps))
      .to.throw(StoreError, /"\/data\/s2sauth\.db" has schema version 3, newer than version 2/)
      .with.property('code', 'schema_too_new');
    expect(tables(db)).to.deep.equal([]);
  });
});
