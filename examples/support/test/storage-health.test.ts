import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import express from 'express';
import { pino } from 'pino';
import { errorHandler } from '../src/error-handler.js';
import { openSqliteDatabase, type SqliteDatabase } from '../src/sqlite-database.js';
import { isStorageFault, StorageHealth } from '../src/storage-health.js';

describe('storage faults', () => {
  let root: string;
  let db: SqliteDatabase;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 's2sauth-storage-'));
    db = openSqliteDatabase(join(root, 'server.sqlite'), ['CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)']);
  });

  afterEach(async () => {
    db.close();
    await rm(root, { recursive: true, force: true });
  });

  it('tells storage faults (SQLite and file-system codes) from other errors', () => {
    for (const code of ['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_IOERR_WRITE', 'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED', 'SQLITE_CANTOPEN', 'ENOSPC', 'EROFS']) {
      expect(isStorageFault(Object.assign(new Error('x'), { code })), code).to.equal(true);
    }
    for (const code of ['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_BUSY', 'ENOENT', 'SQLITE_FULLX', undefined, 42]) {
      expect(isStorageFault(Object.assign(new Error('x'), { code })), String(code)).to.equal(false);
    }
    expect(isStorageFault('SQLITE_FULL')).to.equal(false);
  });

  it('does not clear a fault for a 2xx change that wrote nothing (a replayed answer), only for one the database committed', async () => {
    const logger = pino(new Writable({ write: (_chunk: Buffer, _encoding, done) => done() }));
    const health = new StorageHealth({ logger, files: [join(root, 'server.sqlite')], database: db });
    const app = express();
    app.use(health.watch());
    app.get('/healthz', health.handler());
    // A replay: answered 200 from what was stored, no row written.
    app.post('/replayed', (_req, res) => {
      res.status(200).json({ replayed: true });
    });
    app.post('/written', (_req, res) => {
      db.prepare('INSERT INTO notes (text) VALUES (?)').run('a row');
      res.status(201).json({ ok: true });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      health.fault(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
      expect((await fetch(`${url}/replayed`, { method: 'POST' })).status).to.equal(200);
      expect((await fetch(`${url}/healthz`)).status, 'after a 2xx that wrote nothing').to.equal(503);
      expect((await fetch(`${url}/written`, { method: 'POST' })).status).to.equal(201);
      expect((await fetch(`${url}/healthz`)).status, 'after a committed write').to.equal(200);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('answers a full disk (a real SQLITE_FULL) with 503 storage_unavailable, logs it once with the files, and /healthz says so until a write succeeds', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino(new Writable({ write: (chunk: Buffer, _encoding, done) => { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } }));
    const file = join(root, 'server.sqlite');
    const health = new StorageHealth({ logger, files: [file] });
    const app = express();
    app.set('env', 'test');
    app.use(health.watch());
    app.get('/healthz', health.handler());
    app.post('/notes', express.json(), (req, res) => {
      db.prepare('INSERT INTO notes (text) VALUES (?)').run(String((req.body as { text: string }).text));
      res.status(201).json({ ok: true });
    });
    app.use(errorHandler(logger, { storage: health }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const post = (): Promise<Response> => fetch(`${url}/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'x'.repeat(3000) }) });
    try {
      expect((await post()).status).to.equal(201);
      // The database may not grow past the pages it has: the next rows need pages it cannot get.
      const pages = db.pragma('page_count', { simple: true }) as number;
      db.pragma(`max_page_count = ${pages}`);
      const answers = [await post(), await post(), await post()];
      for (const answer of answers) {
        expect(answer.status).to.equal(503);
        expect(await answer.json()).to.deep.equal({
          error: 'storage_unavailable',
          message: 'The server cannot write its data (its disk is full or its files are not writable); try again later.',
        });
      }
      const health503 = await fetch(`${url}/healthz`);
      expect(health503.status).to.equal(503);
      expect(await health503.json()).to.have.property('error', 'storage_unavailable');
      const faults = lines.filter((line) => line['level'] === 50);
      expect(faults).to.have.length(1);
      expect(faults[0]).to.include({ code: 'SQLITE_FULL' });
      expect(faults[0]?.['files']).to.deep.equal([file]);
      expect(String(faults[0]?.['msg'])).to.contain('cannot write');

      db.pragma('max_page_count = 1000000');
      expect((await post()).status).to.equal(201);
      const healthy = await fetch(`${url}/healthz`);
      expect(healthy.status).to.equal(200);
      expect(await healthy.json()).to.deep.equal({ status: 'ok' });
      expect(lines.filter((line) => line['msg'] === 'storage writable again')).to.have.length(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
