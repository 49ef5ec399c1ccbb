import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { pino } from 'pino';
import { errorHandler } from '../src/error-handler.js';
import { DEFAULT_IDEMPOTENCY_TTL_MS, IDEMPOTENCY_MIGRATION, idempotencyKeys } from '../src/idempotency.js';
import { openSqliteDatabase, type SqliteDatabase } from '../src/sqlite-database.js';

describe('idempotencyKeys', () => {
  let db: SqliteDatabase;
  let server: Server;
  let url: string;
  let now: number;
  /** Requests the handlers ran (not the replayed ones). */
  let created: unknown[];
  /** Releases the request held by /slow. */
  let release: (() => void) | undefined;
  let failNext: boolean;

  beforeEach(async () => {
    db = openSqliteDatabase(':memory:', [IDEMPOTENCY_MIGRATION]);
    now = Date.UTC(2031, 0, 1);
    created = [];
    release = undefined;
    failNext = false;
    const app = express();
    app.set('env', 'test');
    // The partner is whoever x-partner names, for the test.
    const idempotent = idempotencyKeys({ db, scope: (req) => String(req.headers['x-partner']), clock: () => now });
    app.post('/items', express.json(), idempotent, (req, res) => {
      if (failNext) {
        failNext = false;
        res.status(503).json({ error: 'unavailable', message: 'Try again.' });
        return;
      }
      created.push(req.body);
      res.status(201).json({ number: created.length, body: req.body as unknown });
    });
    app.delete('/items/:id', idempotent, (req, res) => {
      created.push(`delete ${req.params['id']}`);
      res.status(204).end();
    });
    app.post('/slow', express.json(), idempotent, async (_req, res) => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      created.push('slow');
      res.status(201).json({ slow: true });
    });
    app.use(errorHandler(pino({ enabled: false })));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    release?.();
    await new Promise((resolve) => server.close(resolve));
    db.close();
  });

  const post = (path: string, body: unknown, key?: string, partner = 'lync'): Promise<Response> =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-partner': partner, ...(key === undefined ? {} : { 'idempotency-key': key }) },
      body: JSON.stringify(body),
    });

  /** The release of the request /slow holds, once it holds one. */
  const heldRequest = async (): Promise<() => void> => {
    while (release === undefined) await new Promise((resolve) => setImmediate(resolve));
    return release;
  };

  const read = async (response: Response): Promise<{ status: number; type: string | null; body: unknown }> => {
    const text = await response.text();
    return { status: response.status, type: response.headers.get('content-type'), body: text === '' ? undefined : JSON.parse(text) };
  };

  it('answers a repeat with the stored answer and runs the route once', async () => {
    const first = await read(await post('/items', { name: 'Bob' }, '"8e03978e-40d5-43e8-bc93-6894a57f9324"'));
    const again = await read(await post('/items', { name: 'Bob' }, '"8e03978e-40d5-43e8-bc93-6894a57f9324"'));
    expect(first).to.deep.equal({ status: 201, type: 'application/json; charset=utf-8', body: { number: 1, body: { name: 'Bob' } } });
    expect(again).to.deep.equal(first);
    expect(created).to.have.length(1);
    // The quoted form (the draft's Structured Fields string) and the bare key are the same key.
    expect(await read(await post('/items', { name: 'Bob' }, '8e03978e-40d5-43e8-bc93-6894a57f9324'))).to.deep.equal(first);
    expect(created).to.have.length(1);
  });

  it('replays an empty answer (204 of a DELETE) too', async () => {
    const remove = (): Promise<Response> => fetch(`${url}/items/7`, { method: 'DELETE', headers: { 'x-partner': 'lync', 'idempotency-key': 'k-delete' } });
    expect((await remove()).status).to.equal(204);
    expect((await remove()).status).to.equal(204);
    expect(created).to.deep.equal(['delete 7']);
  });

  it('runs every request without the header, as before', async () => {
    await post('/items', { name: 'Bob' });
    await post('/items', { name: 'Bob' });
    expect(created).to.have.length(2);
  });

  it('refuses the same key with another request with 422, and stores nothing', async () => {
    await post('/items', { name: 'Bob' }, 'k1');
    const other = await read(await post('/items', { name: 'Carol' }, 'k1'));
    expect(other.status).to.equal(422);
    expect(other.body).to.deep.include({ error: 'idempotency_key_reused' });
    const otherPath = await read(await post('/slow', { name: 'Bob' }, 'k1'));
    expect(otherPath.status).to.equal(422);
    expect(created).to.have.length(1);
  });

  it('keeps the keys of each partner apart: another partner\'s key is a new request, never a replay', async () => {
    const lync = await read(await post('/items', { name: 'Bob' }, 'k1', 'lync'));
    const other = await read(await post('/items', { name: 'Bob' }, 'k1', 'sharepoint'));
    expect(lync.body).to.deep.include({ number: 1 });
    expect(other.body).to.deep.include({ number: 2 });
    expect(created).to.have.length(2);
  });

  it('answers 409 to a repeat while the first request is still in progress, then the stored answer', async () => {
    const first = post('/slow', {}, 'k-slow');
    // Wait until the first request holds the key.
    while (release === undefined) await new Promise((resolve) => setImmediate(resolve));
    const during = await read(await post('/slow', {}, 'k-slow'));
    expect(during.status).to.equal(409);
    expect(during.body).to.deep.include({ error: 'request_in_progress' });
    release();
    expect((await first).status).to.equal(201);
    expect(await read(await post('/slow', {}, 'k-slow'))).to.deep.include({ status: 201, body: { slow: true } });
    expect(created).to.deep.equal(['slow']);
  });

  it('runs a repeat again when the first request never answered within its lease', async () => {
    void post('/slow', {}, 'k-lost').catch(() => undefined);
    while (release === undefined) await new Promise((resolve) => setImmediate(resolve));
    const held = release;
    release = undefined;
    now += 60_001;
    const repeat = post('/slow', {}, 'k-lost');
    const second = await heldRequest();
    second();
    held();
    expect((await repeat).status).to.equal(201);
  });

  it('does not keep an answer of 500 or more: the repeat runs the route again', async () => {
    failNext = true;
    expect((await post('/items', { name: 'Bob' }, 'k-503')).status).to.equal(503);
    expect((await post('/items', { name: 'Bob' }, 'k-503')).status).to.equal(201);
    expect(created).to.have.length(1);
  });

  describe('bounds', () => {
    async function boundedApp(options: { maxKeysPerScope?: number; maxAnswerBytes?: number }): Promise<{ url: string; close: () => Promise<unknown>; runs: () => number }> {
      let runs = 0;
      const app = express();
      app.post('/items', express.json(), idempotencyKeys({ db, scope: (req) => String(req.headers['x-partner']), clock: () => now, ...options }), (req, res) => {
        runs += 1;
        res.status(201).json({ echo: req.body as unknown });
      });
      app.use(errorHandler(pino({ enabled: false })));
      const bounded = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => bounded.once('listening', resolve));
      return {
        url: `http://127.0.0.1:${(bounded.address() as AddressInfo).port}`,
        close: () => new Promise((resolve) => bounded.close(resolve)),
        runs: () => runs,
      };
    }

    const send = (base: string, key: string, body: unknown, partner = 'lync'): Promise<Response> =>
      fetch(`${base}/items`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-partner': partner, 'idempotency-key': key }, body: JSON.stringify(body) });

    it('answers 429 with Retry-After to a new key past the keys one scope may hold, and keeps replaying the held ones', async () => {
      const app = await boundedApp({ maxKeysPerScope: 3 });
      try {
        for (const key of ['k1', 'k2', 'k3']) expect((await send(app.url, key, { key })).status).to.equal(201);
        const refused = await send(app.url, 'k4', { key: 'k4' });
        expect(refused.status).to.equal(429);
        expect(await refused.json()).to.have.property('error', 'too_many_idempotency_keys');
        expect(Number(refused.headers.get('retry-after'))).to.be.within(1, DEFAULT_IDEMPOTENCY_TTL_MS / 1000);
        expect(app.runs()).to.equal(3);
        // A held key still replays; another scope is not affected; expired keys free the room.
        expect((await send(app.url, 'k1', { key: 'k1' })).status).to.equal(201);
        expect((await send(app.url, 'k4', { key: 'k4' }, 'exchange')).status).to.equal(201);
        expect(app.runs()).to.equal(4);
        now += DEFAULT_IDEMPOTENCY_TTL_MS + 1;
        expect((await send(app.url, 'k4', { key: 'k4' })).status).to.equal(201);
        expect(app.runs()).to.equal(5);
      } finally {
        await app.close();
      }
    });

    it('does not keep an answer larger than maxAnswerBytes: the key is released and a repeat runs again', async () => {
      const app = await boundedApp({ maxAnswerBytes: 100 });
      try {
        expect((await send(app.url, 'small', { text: 'x' })).status).to.equal(201);
        expect((await send(app.url, 'small', { text: 'x' })).status).to.equal(201);
        expect(app.runs()).to.equal(1);
        const large = { text: 'y'.repeat(200) };
        expect((await send(app.url, 'large', large)).status).to.equal(201);
        expect((await send(app.url, 'large', large)).status).to.equal(201);
        expect(app.runs()).to.equal(3);
        expect(db.prepare("SELECT COUNT(*) FROM idempotency_keys WHERE key = 'large'").pluck().get()).to.equal(0);
      } finally {
        await app.close();
      }
    });

    it('refuses bounds that are not positive whole numbers with a TypeError', () => {
      expect(() => idempotencyKeys({ db, scope: () => 's', maxKeysPerScope: 0 })).to.throw(TypeError, 'maxKeysPerScope');
      expect(() => idempotencyKeys({ db, scope: () => 's', maxAnswerBytes: 1.5 })).to.throw(TypeError, 'maxAnswerBytes');
    });
  });

  it('forgets a key 24 hours after its answer', async () => {
    await post('/items', { name: 'Bob' }, 'k-day');
    now += DEFAULT_IDEMPOTENCY_TTL_MS - 1;
    expect((await read(await post('/items', { name: 'Bob' }, 'k-day'))).body).to.deep.include({ number: 1 });
    now += 1;
    expect((await read(await post('/items', { name: 'Bob' }, 'k-day'))).body).to.deep.include({ number: 2 });
    expect(db.prepare('SELECT count(*) AS n FROM idempotency_keys').get()).to.deep.equal({ n: 1 });
  });

  for (const [name, value] of [
    ['an empty key', ''],
    ['a key of 256 characters', 'a'.repeat(256)],
    ['two keys', '"k1", "k2"'],
    ['a space', 'k 1'],
    ['an unmatched quote', '"k1'],
    ['a character outside the set', 'k1;drop'],
  ] as const) {
    it(`refuses ${name} with 400 invalid_idempotency_key, running nothing`, async () => {
      const answer = await read(await post('/items', { name: 'Bob' }, value));
      expect(answer.status).to.equal(400);
      expect(answer.body).to.deep.include({ error: 'invalid_idempotency_key' });
      expect(created).to.have.length(0);
    });
  }

  it('accepts a key of 255 characters', async () => {
    expect((await post('/items', { name: 'Bob' }, `"${'A1-_.:~+/='.repeat(25)}abcde"`)).status).to.equal(201);
  });
});
