import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import type { LyncServer } from '../src/index.js';
import { call, signIn } from './lync-session.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { fillDisk, mountTinyDisk } from '../../support/test/tiny-disk.js';
import { dataFolder, PASSWORD, removeDataFolders, start } from './support.js';

describe('Lync server without Exchange', () => {
  let dataDir: string;
  let lync: LyncServer;

  before(async () => {
    dataDir = await dataFolder();
    lync = await start(dataDir, { realms: ['fabrikam.com'] });
  });

  after(async () => {
    await lync.close();
    await removeDataFolders();
  });

  it('answers /healthz with 200', async () => {
    const response = await call(lync.url, 'GET', '/healthz');
    expect(response.status).to.equal(200);
  });

  it('serves its metadata and JWKS', async () => {
    const metadata = await call(lync.url, 'GET', '/metadata/json/1');
    expect(metadata.status).to.equal(200);
    expect(metadata.body).to.include({ realm: 'contoso.com', serviceName: '00000004-0000-0ff1-ce00-000000000000' });
    const jwks = await call(lync.url, 'GET', '/.well-known/jwks.json');
    expect((jwks.body as { keys: unknown[] }).keys).to.have.length(1);
  });

  it('keeps its certificate, key and session secret in the data folder with mode 0600, with every realm in the SANs', async () => {
    for (const file of ['oauth-cert.pem', 'oauth-key.pem', 'session-secret']) {
      expect((await stat(join(dataDir, file))).mode & 0o777, file).to.equal(0o600);
    }
    const certificate = new X509Certificate(await readFile(join(dataDir, 'oauth-cert.pem')));
    expect(certificate.subjectAltName).to.include('DNS:contoso.com').and.include('DNS:fabrikam.com');
  });

  it('signs a user in with JSON and sets an HttpOnly, SameSite=Lax session cookie', async () => {
    const response = await call(lync.url, 'POST', '/login', { username: 'alice@contoso.com', password: PASSWORD });
    expect(response.status).to.equal(200);
    expect(response.body).to.deep.equal({ user: { username: 'alice@contoso.com', displayName: 'Alice Adams', sip: 'sip:alice@contoso.com' } });
    const cookie = response.headers.get('set-cookie') ?? '';
    expect(cookie).to.match(/^lync\.sid=/).and.match(/HttpOnly/i).and.match(/SameSite=Lax/i);
  });

  it('signs a user in with a form', async () => {
    const response = await fetch(`${lync.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'bob@contoso.com', password: PASSWORD }).toString(),
    });
    expect(response.status).to.equal(200);
    expect(((await response.json()) as { user: { username: string } }).user.username).to.equal('bob@contoso.com');
  });

  it('refuses a wrong password and an unknown user alike with 401 and no cookie', async () => {
    for (const credentials of [
      { username: 'alice@contoso.com', password: 'wrong' },
      { username: 'mallory@contoso.com', password: PASSWORD },
    ]) {
      const response = await call(lync.url, 'POST', '/login', credentials);
      expect(response.status).to.equal(401);
      expect(response.body).to.deep.include({ error: 'invalid_credentials' });
      expect(response.headers.get('set-cookie')).to.equal(null);
    }
  });

  it('answers bad input with a 400 JSON error, never a 500', async () => {
    // What the JSON parser refuses (malformed, or a bare string) is invalid_json, as at Exchange: the servers share their error handler.
    for (const [body, error] of [['{"username":', 'invalid_json'], ['"x"', 'invalid_json'], ['[]', 'invalid_request'], [{ username: 'alice@contoso.com' }, 'invalid_request'], [{ username: 1, password: 2 }, 'invalid_request']] as const) {
      const response = await call(lync.url, 'POST', '/login', body);
      expect(response.status, JSON.stringify(body)).to.equal(400);
      expect(response.body, JSON.stringify(body)).to.have.property('error', error);
      expect(JSON.stringify(response.body)).to.not.match(/at .*\.ts|stack/i);
    }
  });

  it('refuses /me without a session', async () => {
    const response = await call(lync.url, 'GET', '/me');
    expect(response.status).to.equal(401);
    expect(response.body).to.deep.include({ error: 'not_signed_in' });
  });

  it('shows the signed-in user on /me, and nothing after /logout', async () => {
    const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
    const me = await alice.call('GET', '/me');
    expect(me.status).to.equal(200);
    expect(me.body).to.deep.include({ contactStore: 'local', archiving: false });
    expect((await alice.call('POST', '/logout')).status).to.equal(204);
    expect((await alice.call('GET', '/me')).status).to.equal(401);
  });

  it('keeps contacts locally: add, list, delete', async () => {
    const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
    const created = await alice.call('POST', '/me/contacts', { displayName: 'Bob Brown', email: 'Bob@Contoso.com', sip: 'sip:bob@contoso.com', phone: '+1 425 555 0100' });
    expect(created.status).to.equal(201);
    expect(created.body).to.include({ displayName: 'Bob Brown', email: 'bob@contoso.com', sip: 'sip:bob@contoso.com', phone: '+1 425 555 0100' });
    const id = (created.body as { id: string }).id;
    const list = await alice.call('GET', '/me/contacts');
    expect(list.body).to.deep.equal([created.body]);
    const bob = await signIn(lync.url, 'bob@contoso.com', PASSWORD);
    expect((await bob.call('GET', '/me/contacts')).body).to.deep.equal([]);
    expect((await bob.call('DELETE', `/me/contacts/${id}`)).status).to.equal(404);
    expect((await alice.call('DELETE', `/me/contacts/${id}`)).status).to.equal(204);
    expect((await alice.call('GET', '/me/contacts')).body).to.deep.equal([]);
  });

  it('refuses a contact without a name or with a bad e-mail address', async () => {
    const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
    for (const body of [{ email: 'x@contoso.com' }, { displayName: 'X', email: 'not-an-address' }, { displayName: 'X', email: 'x@contoso.com', phone: 'call me' }, [1]]) {
      const response = await alice.call('POST', '/me/contacts', body);
      expect(response.status, JSON.stringify(body)).to.equal(400);
    }
    expect((await alice.call('DELETE', '/me/contacts/..%2F..')).status).to.equal(400);
  });

  it('runs a conversation and keeps the transcript locally when it ends', async () => {
    const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
    const bob = await signIn(lync.url, 'bob@contoso.com', PASSWORD);
    const started = await alice.call('POST', '/me/conversations', { subject: 'Lunch', participants: ['bob@contoso.com'] });
    expect(started.status).to.equal(201);
    const id = (started.body as { id: string }).id;
    expect((await alice.call('POST', `/me/conversations/${id}/messages`, { text: 'Lunch at noon?' })).status).to.equal(201);
    expect((await bob.call('POST', `/me/conversations/${id}/messages`, { text: 'Yes!' })).status).to.equal(201);
    const carol = await signIn(lync.url, 'carol@contoso.com', PASSWORD);
    expect((await carol.call('POST', `/me/conversations/${id}/messages`, { text: 'me too' })).status).to.equal(404);
    const ended = await bob.call('POST', `/me/conversations/${id}/end`);
    expect(ended.status).to.equal(200);
    expect(ended.body).to.deep.include({ organizer: 'alice@contoso.com', archive: { status: 'local' } });
    expect((ended.body as { messages: { from: string; text: string }[] }).messages.map((m) => [m.from, m.text])).to.deep.equal([
      ['alice@contoso.com', 'Lunch at noon?'],
      ['bob@contoso.com', 'Yes!'],
    ]);
    expect((await alice.call('POST', `/me/conversations/${id}/messages`, { text: 'late' })).status).to.equal(409);
    expect((await alice.call('POST', `/me/conversations/${id}/end`)).status).to.equal(409);
    expect(await lync.deliverOutbox()).to.equal(0);
  });

  it('refuses a conversation with an unknown participant or no participants', async () => {
    const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
    expect((await alice.call('POST', '/me/conversations', { participants: ['nobody@contoso.com'] })).status).to.equal(400);
    expect((await alice.call('POST', '/me/conversations', { participants: [] })).status).to.equal(400);
    expect((await alice.call('POST', '/me/conversations', { participants: 'bob@contoso.com' })).status).to.equal(400);
  });

  it('answers an unknown route with a 404 JSON error', async () => {
    expect((await call(lync.url, 'GET', '/nowhere')).status).to.equal(404);
    expect((await call(lync.url, 'GET', '/api/nowhere')).status).to.equal(404);
  });
});

describe('Lync server restart', () => {
  after(removeDataFolders);

  it('reuses its certificate, users and sessions, and does not seed twice', async () => {
    const dataDir = await dataFolder();
    const first = await start(dataDir);
    const jwks1 = (await call(first.url, 'GET', '/.well-known/jwks.json')).body;
    const alice = await signIn(first.url, 'alice@contoso.com', 'correct horse battery staple');
    await first.close();
    const second = await start(dataDir, { users: [{ username: 'dave@contoso.com', password: 'x' }] });
    try {
      expect((await call(second.url, 'GET', '/.well-known/jwks.json')).body).to.deep.equal(jwks1);
      expect((await call(second.url, 'POST', '/login', { username: 'dave@contoso.com', password: 'x' })).status).to.equal(401);
      const me = await call(second.url, 'GET', '/me', undefined, { cookie: alice.cookie });
      expect(me.status).to.equal(200);
    } finally {
      await second.close();
    }
  });

  it('refuses bad options with a TypeError naming the option', async () => {
    const dataDir = await dataFolder();
    for (const [options, name] of [
      [{ realm: 'Not A Realm' }, 'options.realm'],
      [{ port: -1 }, 'options.port'],
      [{ exchange: { url: 'http://exchange.example.com' } }, 'options.exchange.url'],
      [{ exchange: { url: 'http://127.0.0.1:1', principal: 'exchange' } }, 'options.exchange.principal'],
      [{ outbox: { retryBaseMs: 0 } }, 'outbox.retryBaseMs'],
      [{ verify: false }, 'verify'],
      [{ verify: false }, 'startLync: unknown option "verify"; the options are dataDir, realm, realms, host, port, users, exchange, sts, outbox, audit, logger.'],
      [{ outbox: { retryBase: 10 } }, 'startLync: options.outbox: unknown option "retryBase"; the options are retryBaseMs, retryMaxMs, pollMs, concurrency, probeMs.'],
    ] as const) {
      let error: unknown;
      try {
        const server = await start(dataDir, options as never);
        await server.close();
      } catch (caught) {
        error = caught;
      }
      expect(error, name).to.be.instanceOf(TypeError);
      expect((error as Error).message).to.include(name);
    }
  });
});

describe('Lync sign-in throttling', () => {
  let lync: LyncServer;

  before(async () => {
    lync = await start(await dataFolder());
  });

  after(async () => {
    await lync.close();
    await removeDataFolders();
  });

  it('answers 429 JSON with Retry-After after 5 wrong passwords, even to the right one, and lets other users in', async () => {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      expect((await call(lync.url, 'POST', '/login', { username: 'alice@contoso.com', password: `wrong ${attempt}` })).status).to.equal(401);
    }
    const locked = await call(lync.url, 'POST', '/login', { username: 'alice@contoso.com', password: PASSWORD });
    expect(locked.status).to.equal(429);
    expect(locked.body).to.have.property('error', 'too_many_sign_ins');
    expect(locked.body).to.have.property('message').that.is.a('string');
    expect(Number(locked.headers.get('retry-after'))).to.be.within(1, 15 * 60);
    expect(locked.headers.get('set-cookie')).to.equal(null);
    expect((await call(lync.url, 'POST', '/login', { username: 'bob@contoso.com', password: PASSWORD })).status).to.equal(200);
  });
});

describe('Lync server on a full disk', () => {
  it('answers a change with 503 storage_unavailable on a full disk (for real, on a tiny tmpfs), logs it once, and /healthz says so until a write succeeds', async function () {
    const disk = mountTinyDisk(2);
    if (disk === undefined) this.skip();
    const lines: Record<string, unknown>[] = [];
    const logger = pino(new Writable({ write: (chunk: Buffer, _encoding, done) => { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } }));
    const dataDir = join(disk.path, 'lync');
    const lync = await start(dataDir, { logger });
    try {
      const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
      const add = (): ReturnType<typeof alice.call> => alice.call('POST', '/me/contacts', { displayName: 'Bob Brown', email: 'bob@contoso.com' });
      expect((await add()).status).to.equal(201);
      const free = fillDisk(disk.path);
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const refused = await add();
        expect(refused.status).to.equal(503);
        expect(refused.body).to.deep.equal({
          error: 'storage_unavailable',
          message: 'The server cannot write its data (its disk is full or its files are not writable); try again later.',
        });
      }
      const unhealthy = await call(lync.url, 'GET', '/healthz');
      expect(unhealthy.status).to.equal(503);
      expect(unhealthy.body).to.have.property('error', 'storage_unavailable');
      const faults = lines.filter((line) => line['level'] === 50);
      expect(faults).to.have.length(1);
      expect(faults[0]?.['files']).to.deep.equal([join(dataDir, 'lync.sqlite'), join(dataDir, 's2sauth.sqlite')]);

      free();
      expect((await add()).status).to.equal(201);
      expect((await call(lync.url, 'GET', '/healthz')).status).to.equal(200);
    } finally {
      await lync.close();
      disk.unmount();
    }
  });
});
