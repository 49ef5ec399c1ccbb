import { expect } from 'chai';
import type { ExchangeServer } from '../src/index.js';
import { exchangeAudience, startFakeLync, startTestExchange, tempDataDir, trustLync, userContext, type FakeLync } from './fake-lync.js';

/** The session cookie's `name=value` from a response. */
function sessionCookie(response: Response): string {
  const cookie = response.headers.getSetCookie().find((c) => c.startsWith('exchange.sid='));
  expect(cookie, 'a session cookie').to.be.a('string');
  return (cookie as string).split(';')[0] as string;
}

describe('people routes', () => {
  let dir: { path: string; remove(): Promise<void> };
  let lync: FakeLync;
  let exchange: ExchangeServer;

  before(async () => {
    dir = await tempDataDir();
    lync = await startFakeLync();
    exchange = await startTestExchange(dir.path);
    await trustLync(exchange, lync);
  });

  after(async () => {
    await exchange.close();
    await lync.close();
    await dir.remove();
  });

  const login = (body: unknown, form = false): Promise<Response> =>
    fetch(`${exchange.url}/login`, {
      method: 'POST',
      headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
      body: form ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body),
    });

  const get = (path: string, cookie?: string): Promise<Response> => fetch(`${exchange.url}${path}`, cookie === undefined ? {} : { headers: { cookie } });

  it('signs in with JSON and sets an HttpOnly, SameSite=Lax session cookie', async () => {
    const response = await login({ username: 'alice@contoso.com', password: 'alice-Pa55word' });
    expect(response.status).to.equal(200);
    expect(await response.json()).to.deep.equal({ user: { username: 'alice@contoso.com', displayName: 'Alice Smith', email: 'alice@contoso.com' } });
    const [cookie] = response.headers.getSetCookie();
    expect(cookie).to.match(/^exchange\.sid=/);
    expect(cookie).to.match(/; HttpOnly/i);
    expect(cookie).to.match(/; SameSite=Lax/i);
    expect(cookie).to.match(/; Path=\//i);
  });

  it('signs in with a form, whatever the case of the user name, and the cookie opens /me', async () => {
    const response = await login({ username: 'BOB@contoso.com', password: 'bob-Pa55word' }, true);
    expect(response.status).to.equal(200);
    const me = await get('/me', sessionCookie(response));
    expect(me.status).to.equal(200);
    expect(await me.json()).to.deep.equal({ user: { username: 'bob@contoso.com', displayName: 'bob@contoso.com', email: 'bob@contoso.com' } });
  });

  it('answers a wrong password and an unknown user alike, with 401 and no cookie', async () => {
    for (const body of [
      { username: 'alice@contoso.com', password: 'wrong' },
      { username: 'nobody@contoso.com', password: 'alice-Pa55word' },
    ]) {
      const response = await login(body);
      expect(response.status).to.equal(401);
      expect(await response.json()).to.deep.equal({ error: 'invalid_credentials', message: 'The user name or password is not correct.' });
      expect(response.headers.getSetCookie()).to.deep.equal([]);
    }
    const form = await login({ username: 'alice@contoso.com', password: 'wrong' }, true);
    expect(form.status).to.equal(401);
  });

  it('refuses a sign-in without a user name or password with 400', async () => {
    expect((await login({ username: 'alice@contoso.com' })).status).to.equal(400);
    expect((await login({ password: 'x' })).status).to.equal(400);
    expect((await login({ username: 5, password: 'x' })).status).to.equal(400);
    const empty = await fetch(`${exchange.url}/login`, { method: 'POST' });
    expect(empty.status).to.equal(400);
    expect(await empty.json()).to.have.property('error', 'invalid_request');
  });

  it('answers malformed JSON at sign-in with 400, never 500', async () => {
    const response = await fetch(`${exchange.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":' });
    expect(response.status).to.equal(400);
    expect(await response.json()).to.deep.equal({ error: 'invalid_json', message: 'The request body is not valid JSON.' });
  });

  it('answers /me and its lists with 401 without a session, and with a forged cookie', async () => {
    for (const path of ['/me', '/me/contacts', '/me/mail']) {
      const response = await get(path);
      expect(response.status, path).to.equal(401);
      expect(await response.json()).to.have.property('error', 'not_signed_in');
      expect((await get(path, 'exchange.sid=s%3Aforged.signature')).status).to.equal(401);
    }
  });

  it('lists the signed-in user\'s contacts and mail, as Lync stored them', async () => {
    const token = lync.issuer.issueForUser({ audience: exchangeAudience(exchange) }, userContext('alice@contoso.com')).token;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const contact = await (await fetch(`${exchange.url}/api/ucs/contacts`, { method: 'POST', headers, body: JSON.stringify({ displayName: 'Carol', email: 'carol@contoso.com' }) })).json();
    const item = await (
      await fetch(`${exchange.url}/api/archive`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ conversationId: 'c-1', subject: 'Hi', participants: ['alice@contoso.com'], messages: [{ from: 'alice@contoso.com', text: 'Hi' }] }),
      })
    ).json();

    const cookie = sessionCookie(await login({ username: 'alice@contoso.com', password: 'alice-Pa55word' }));
    const contacts = await get('/me/contacts', cookie);
    expect(contacts.status).to.equal(200);
    expect(await contacts.json()).to.deep.equal([contact]);
    const mail = await get('/me/mail', cookie);
    expect(await mail.json()).to.deep.equal([item]);

    const bob = sessionCookie(await login({ username: 'bob@contoso.com', password: 'bob-Pa55word' }));
    expect(await (await get('/me/contacts', bob)).json()).to.deep.equal([]);
    expect(await (await get('/me/mail', bob)).json()).to.deep.equal([]);
  });

  it('signs out: the session ends and the cookie is cleared', async () => {
    const cookie = sessionCookie(await login({ username: 'alice@contoso.com', password: 'alice-Pa55word' }));
    const response = await fetch(`${exchange.url}/logout`, { method: 'POST', headers: { cookie } });
    expect(response.status).to.equal(204);
    expect(response.headers.getSetCookie()[0]).to.match(/^exchange\.sid=;/);
    expect((await get('/me', cookie)).status).to.equal(401);
    expect((await fetch(`${exchange.url}/logout`, { method: 'POST' })).status).to.equal(204);
  });

  it('gives a new session id at sign-in, so a planted one is worthless', async () => {
    const first = sessionCookie(await login({ username: 'alice@contoso.com', password: 'alice-Pa55word' }));
    const again = await fetch(`${exchange.url}/login`, {
      method: 'POST',
      headers: { cookie: first, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bob@contoso.com', password: 'bob-Pa55word' }),
    });
    const second = sessionCookie(again);
    expect(second).not.to.equal(first);
    expect((await (await get('/me', second)).json()) as unknown).to.have.nested.property('user.username', 'bob@contoso.com');
    expect((await get('/me', first)).status).to.equal(401);
  });

  it('keeps sessions across a restart (they live in SQLite)', async () => {
    const cookie = sessionCookie(await login({ username: 'alice@contoso.com', password: 'alice-Pa55word' }));
    await exchange.close();
    exchange = await startTestExchange(dir.path);
    await trustLync(exchange, lync).catch(() => undefined); // already registered: kept in s2sauth.sqlite
    expect(exchange.registry.get('microsoft.lync')).not.to.equal(undefined);
    const me = await get('/me', cookie);
    expect(me.status).to.equal(200);
  });

  it('answers POST /me/meetings with 503 when no Lync is configured', async () => {
    const cookie = sessionCookie(await login({ username: 'alice@contoso.com', password: 'alice-Pa55word' }));
    const response = await fetch(`${exchange.url}/me/meetings`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ subject: 'Sync' }) });
    expect(response.status).to.equal(503);
    expect(await response.json()).to.deep.equal({
      error: 'lync_not_configured',
      message: 'Online meetings are not available: this Exchange server has no Lync server configured.',
    });
  });

  it('answers an unknown route with 404 JSON', async () => {
    const response = await get('/nothing');
    expect(response.status).to.equal(404);
    expect(await response.json()).to.deep.equal({ error: 'not_found', message: 'There is no such route.' });
  });
});

describe('Exchange sign-in throttling', () => {
  let dir: { path: string; remove(): Promise<void> };
  let exchange: ExchangeServer;

  before(async () => {
    dir = await tempDataDir();
    exchange = await startTestExchange(dir.path);
  });

  after(async () => {
    await exchange.close();
    await dir.remove();
  });

  const login = (username: string, password: string): Promise<Response> =>
    fetch(`${exchange.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });

  it('answers 429 JSON with Retry-After after 5 wrong passwords, even to the right one, and lets other users in', async () => {
    for (let attempt = 0; attempt < 5; attempt += 1) expect((await login('alice@contoso.com', `wrong ${attempt}`)).status).to.equal(401);
    const locked = await login('alice@contoso.com', 'alice-Pa55word');
    expect(locked.status).to.equal(429);
    expect(await locked.json()).to.have.property('error', 'too_many_sign_ins');
    expect(Number(locked.headers.get('retry-after'))).to.be.within(1, 15 * 60);
    expect(locked.headers.getSetCookie()).to.deep.equal([]);
    expect((await login('bob@contoso.com', 'bob-Pa55word')).status).to.equal(200);
  });
});
