import { expect } from 'chai';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { OAuthCertificate, S2SClient, S2SClientError, TokenIssuer, type FetchFunction } from '@s2sauth/issuer';
import type { AuditEvent } from '@s2sauth/middleware';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import type { ExchangeServer } from '../src/index.js';
import { ALL_SCOPES, exchangeAudience, startFakeLync, startTestExchange, tempDataDir, trustLync, USERS, userContext, type FakeLync } from './fake-lync.js';

interface CallOptions {
  readonly method?: string;
  readonly token?: string;
  readonly json?: unknown;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

describe('partner routes', () => {
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

  const tokenFor = (username: string, scopes?: readonly string[]): string =>
    lync.issuer.issueForUser({ audience: exchangeAudience(exchange), ...(scopes === undefined ? {} : { scopes }) }, userContext(username)).token;

  const call = (path: string, options: CallOptions = {}): Promise<Response> => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
    let body = options.body;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    return fetch(`${exchange.url}${path}`, { method: options.method ?? 'GET', headers, ...(body === undefined ? {} : { body }) });
  };

  it('answers a call without a token with 401 and the Bearer challenge naming Lync as a trusted issuer', async () => {
    const response = await call('/api/ucs/contacts');
    expect(response.status).to.equal(401);
    const challenge = response.headers.get('www-authenticate') ?? '';
    expect(challenge).to.contain('realm="contoso.com"');
    expect(challenge).to.contain('client_id="00000002-0000-0ff1-ce00-000000000000"');
    expect(challenge).to.contain('00000004-0000-0ff1-ce00-000000000000@contoso.com');
  });

  it('creates, lists, replaces and deletes contacts in the token user\'s mailbox', async () => {
    const token = tokenFor('alice@contoso.com');
    const created = await call('/api/ucs/contacts', {
      method: 'POST',
      token,
      json: { displayName: 'Carol Jones', email: 'carol@contoso.com', sip: 'sip:carol@contoso.com', phone: '+1 425 555 0100' },
    });
    expect(created.status).to.equal(201);
    const contact = (await created.json()) as { id: string };
    expect(contact).to.deep.equal({ id: contact.id, displayName: 'Carol Jones', email: 'carol@contoso.com', sip: 'sip:carol@contoso.com', phone: '+1 425 555 0100' });

    const listed = await call('/api/ucs/contacts', { token });
    expect(listed.status).to.equal(200);
    expect(await listed.json()).to.deep.equal([contact]);

    const replaced = await call(`/api/ucs/contacts/${contact.id}`, { method: 'PUT', token, json: { id: contact.id, displayName: 'Carol J.', email: 'carol@contoso.com' } });
    expect(replaced.status).to.equal(200);
    expect(await replaced.json()).to.deep.equal({ id: contact.id, displayName: 'Carol J.', email: 'carol@contoso.com' });

    const deleted = await call(`/api/ucs/contacts/${contact.id}`, { method: 'DELETE', token });
    expect(deleted.status).to.equal(204);
    expect(await (await call('/api/ucs/contacts', { token })).json()).to.deep.equal([]);
    expect((await call(`/api/ucs/contacts/${contact.id}`, { method: 'DELETE', token })).status).to.equal(404);
  });

  it('keeps each user\'s contacts apart: another user can neither see nor change them', async () => {
    const alice = tokenFor('alice@contoso.com');
    const bob = tokenFor('bob@contoso.com');
    const created = (await (await call('/api/ucs/contacts', { method: 'POST', token: alice, json: { displayName: 'Dan', email: 'dan@contoso.com' } })).json()) as { id: string };
    expect(await (await call('/api/ucs/contacts', { token: bob })).json()).to.deep.equal([]);
    expect((await call(`/api/ucs/contacts/${created.id}`, { method: 'PUT', token: bob, json: { displayName: 'X', email: 'x@contoso.com' } })).status).to.equal(404);
    expect((await call(`/api/ucs/contacts/${created.id}`, { method: 'DELETE', token: bob })).status).to.equal(404);
    expect((await call(`/api/ucs/contacts/${created.id}`, { method: 'DELETE', token: alice })).status).to.equal(204);
  });

  it('finds the mailbox by address whatever its letter case', async () => {
    const response = await call('/api/ucs/contacts', { token: tokenFor('Alice@Contoso.COM') });
    expect(response.status).to.equal(200);
  });

  it('refuses a call whose token lacks the route\'s scope with 403 insufficient_scope', async () => {
    const token = tokenFor('alice@contoso.com', ['contacts.read']);
    expect((await call('/api/ucs/contacts', { token })).status).to.equal(200);
    const response = await call('/api/ucs/contacts', { method: 'POST', token, json: { displayName: 'Eve', email: 'eve@contoso.com' } });
    expect(response.status).to.equal(403);
    expect(response.headers.get('www-authenticate')).to.contain('error="insufficient_scope"');
    expect(response.headers.get('www-authenticate')).to.contain('scope="contacts.write"');
    expect((await call('/api/archive', { token })).status).to.equal(403);
  });

  it('refuses an app-only call with 403: the routes act for a user', async () => {
    const { token } = lync.issuer.issueAppOnly({ audience: exchangeAudience(exchange) });
    const response = await call('/api/ucs/contacts', { token });
    expect(response.status).to.equal(403);
    expect(response.headers.get('www-authenticate')).to.contain('error="insufficient_scope"');
  });

  it('refuses a user who has no mailbox here with 401 invalid_token', async () => {
    const response = await call('/api/ucs/contacts', { token: tokenFor('mallory@contoso.com') });
    expect(response.status).to.equal(401);
    expect(await response.json()).to.have.property('error', 'invalid_token');
    expect(response.headers.get('x-ms-diagnostics')).to.contain('2000005');
  });

  it('refuses a user context whose claims name two different people', async () => {
    const { token } = lync.issuer.issueForUser({ audience: exchangeAudience(exchange) }, { nameid: 'alice@contoso.com', smtp: 'bob@contoso.com' });
    expect((await call('/api/ucs/contacts', { token })).status).to.equal(401);
  });

  it('refuses a token minted for another audience', async () => {
    const { token } = lync.issuer.issueForUser({ audience: '00000002-0000-0ff1-ce00-000000000000/mail.contoso.com@contoso.com' }, userContext('alice@contoso.com'));
    expect((await call('/api/ucs/contacts', { token })).status).to.equal(401);
  });

  it('never sets a cookie on a bearer response, even when a session cookie is sent', async () => {
    const response = await call('/api/ucs/contacts', { token: tokenFor('alice@contoso.com'), headers: { cookie: 'exchange.sid=s%3Aabc.def' } });
    expect(response.status).to.equal(200);
    expect(response.headers.getSetCookie()).to.deep.equal([]);
  });

  it('answers a malformed JSON body with 400 invalid_json and no stack trace', async () => {
    const response = await call('/api/ucs/contacts', {
      method: 'POST',
      token: tokenFor('alice@contoso.com'),
      body: '{"displayName": "A", ',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).to.equal(400);
    const text = await response.text();
    expect(JSON.parse(text)).to.deep.equal({ error: 'invalid_json', message: 'The request body is not valid JSON.' });
    expect(text).not.to.contain('at ');
  });

  const badContacts: [string, unknown, string][] = [
    ['a body that is an array', [], 'JSON object'],
    ['a missing displayName', { email: 'a@contoso.com' }, 'displayName must be a string'],
    ['an empty displayName', { displayName: '', email: 'a@contoso.com' }, 'displayName must not be empty'],
    ['a too long displayName', { displayName: 'x'.repeat(257), email: 'a@contoso.com' }, 'at most 256'],
    ['a displayName with a control character', { displayName: 'A\u0000', email: 'a@contoso.com' }, 'control characters'],
    ['an email that is not an address', { displayName: 'A', email: 'nobody' }, 'email must be an address'],
    ['a malformed sip', { displayName: 'A', email: 'a@contoso.com', sip: 'tel:123' }, 'sip must be a SIP address'],
    ['a malformed phone', { displayName: 'A', email: 'a@contoso.com', phone: 'call me' }, 'phone must be'],
    ['an unknown member', { displayName: 'A', email: 'a@contoso.com', admin: true }, 'unknown member "admin"'],
  ];
  for (const [name, body, message] of badContacts) {
    it(`refuses a contact with ${name} with 400 naming the problem`, async () => {
      const response = await call('/api/ucs/contacts', { method: 'POST', token: tokenFor('alice@contoso.com'), json: body });
      expect(response.status).to.equal(400);
      const answer = (await response.json()) as { error: string; message: string };
      expect(answer.error).to.equal('invalid_request');
      expect(answer.message).to.contain(message);
    });
  }

  it('refuses a replacement whose id member contradicts the URL', async () => {
    const response = await call('/api/ucs/contacts/abc', { method: 'PUT', token: tokenFor('alice@contoso.com'), json: { id: 'xyz', displayName: 'A', email: 'a@contoso.com' } });
    expect(response.status).to.equal(400);
  });

  it('answers 404 to replacing a contact that does not exist', async () => {
    const response = await call('/api/ucs/contacts/nope', { method: 'PUT', token: tokenFor('alice@contoso.com'), json: { displayName: 'A', email: 'a@contoso.com', sip: null } });
    expect(response.status).to.equal(404);
    expect(await response.json()).to.have.property('error', 'not_found');
  });

  describe('Idempotency-Key', () => {
    const contactsNamed = (name: string): number => {
      const db = new Database(join(dir.path, 'exchange.sqlite'), { readonly: true });
      try {
        return (db.prepare('SELECT COUNT(*) AS n FROM contacts WHERE display_name = ?').get(name) as { n: number }).n;
      } finally {
        db.close();
      }
    };

    it('stores a contact once when the answer came after the client\'s deadline and the client called again with the same key', async () => {
      // Exchange stores the contact and answers, but its answer reaches the client only after the
      // client's deadline (a slow network): the first call times out, the caller calls again.
      let original: { status: number; body: string } | undefined;
      const lateFetch: FetchFunction = async (url, init) => {
        if (original !== undefined) return fetch(url, init);
        const { signal, ...rest } = init;
        const answer = await fetch(url, rest);
        original = { status: answer.status, body: await answer.text() };
        return new Promise<Response>((_resolve, reject) => {
          const late = (): void => reject(signal?.reason);
          if (signal?.aborted) late();
          else signal?.addEventListener('abort', late, { once: true });
        });
      };
      const endpoint = new S2SClient({ issuer: lync.issuer, fetch: lateFetch, allowLoopbackHttp: true }).partner({
        principal: WellKnownPrincipal.exchange,
        baseUrl: exchange.url,
        realm: 'contoso.com',
      });
      const call = { user: userContext('alice@contoso.com'), scopes: ['contacts.write'], json: { displayName: 'Late Larry', email: 'larry@contoso.com' }, idempotencyKey: 'ucs-add-1', timeoutMs: 300 };
      const failure = await endpoint.json('/api/ucs/contacts', call).then(() => undefined, (error: unknown) => error);
      expect(failure).to.be.instanceOf(S2SClientError);
      expect((failure as S2SClientError).code).to.equal('timeout');
      expect(original?.status).to.equal(201);
      expect(contactsNamed('Late Larry')).to.equal(1);

      const retried = await endpoint.json('/api/ucs/contacts', { ...call, timeoutMs: 10_000 });
      expect(retried).to.deep.equal(JSON.parse(original?.body ?? ''));
      expect(contactsNamed('Late Larry')).to.equal(1);
    });

    it('answers a repeated DELETE with its first answer, not 404', async () => {
      const token = tokenFor('alice@contoso.com');
      const { id } = (await (await call('/api/ucs/contacts', { method: 'POST', token, json: { displayName: 'Gone Gary', email: 'gary@contoso.com' } })).json()) as { id: string };
      const remove = (): Promise<Response> => call(`/api/ucs/contacts/${id}`, { method: 'DELETE', token, headers: { 'idempotency-key': `"delete-${id}"` } });
      expect((await remove()).status).to.equal(204);
      expect((await remove()).status).to.equal(204);
      expect((await call(`/api/ucs/contacts/${id}`, { method: 'DELETE', token })).status).to.equal(404);
    });

    it('keeps each user\'s keys apart, and refuses a key reused for another contact with 422', async () => {
      const headers = { 'idempotency-key': 'ucs-shared-key' };
      const add = (username: string, displayName: string): Promise<Response> =>
        call('/api/ucs/contacts', { method: 'POST', token: tokenFor(username), headers, json: { displayName, email: 'kim@contoso.com' } });
      expect((await add('alice@contoso.com', 'Kim Key')).status).to.equal(201);
      expect((await add('bob@contoso.com', 'Kim Key')).status).to.equal(201);
      expect(contactsNamed('Kim Key')).to.equal(2);
      const reused = await add('alice@contoso.com', 'Kim Other');
      expect(reused.status).to.equal(422);
      expect(await reused.json()).to.have.property('error', 'idempotency_key_reused');
      expect(contactsNamed('Kim Other')).to.equal(0);
    });

    it('scopes keys by mailbox, not by how the token spells the user', async () => {
      const headers = { 'idempotency-key': 'ucs-case-key' };
      const json = { displayName: 'Case Carl', email: 'carl@contoso.com' };
      const first = await call('/api/ucs/contacts', { method: 'POST', token: tokenFor('alice@contoso.com'), headers, json });
      const again = await call('/api/ucs/contacts', { method: 'POST', token: tokenFor('Alice@Contoso.COM'), headers, json });
      expect(again.status).to.equal(201);
      expect(await again.json()).to.deep.equal(await first.json());
      expect(contactsNamed('Case Carl')).to.equal(1);
    });

    it('refuses a malformed key with 400 JSON and stores nothing', async () => {
      const response = await call('/api/ucs/contacts', {
        method: 'POST',
        token: tokenFor('alice@contoso.com'),
        headers: { 'idempotency-key': 'two keys' },
        json: { displayName: 'Bad Key', email: 'bad@contoso.com' },
      });
      expect(response.status).to.equal(400);
      expect(await response.json()).to.have.property('error', 'invalid_idempotency_key');
      expect(contactsNamed('Bad Key')).to.equal(0);
    });
  });

  describe('archive', () => {
    const transcript = {
      conversationId: 'conv-42',
      subject: 'Budget',
      participants: ['alice@contoso.com', 'bob@contoso.com'],
      messages: [
        { from: 'alice@contoso.com', text: 'Hi Bob\nHow are you?', sentAt: '2024-05-01T10:00:00Z' },
        { from: 'bob@contoso.com', text: 'Fine.' },
      ],
      receivedAt: '2024-05-01T10:05:00Z',
    };

    it('stores a repeated delivery of the same conversation once and returns the same item', async () => {
      const token = tokenFor('alice@contoso.com');
      // What other tests archived before this one, in whatever order they ran.
      const earlier = new Set(((await (await call('/api/archive', { token })).json()) as { id: string }[]).map((stored) => stored.id));
      const first = await call('/api/archive', { method: 'POST', token, json: transcript });
      expect(first.status).to.equal(201);
      const item = (await first.json()) as { id: string };
      expect(item).to.deep.equal({ id: item.id, ...transcript });

      const again = await call('/api/archive', { method: 'POST', token, json: { ...transcript, subject: 'Changed' } });
      expect(again.status).to.equal(200);
      expect(await again.json()).to.deep.equal(item);

      const listed = await call('/api/archive', { token });
      expect(((await listed.json()) as { id: string }[]).filter((stored) => !earlier.has(stored.id))).to.deep.equal([item]);
      const db = new Database(join(dir.path, 'exchange.sqlite'), { readonly: true });
      try {
        expect(db.prepare("SELECT COUNT(*) AS n FROM mail_items WHERE conversation_id = 'conv-42'").get()).to.deep.equal({ n: 1 });
      } finally {
        db.close();
      }
    });

    it('stores two deliveries racing each other once', async () => {
      const token = tokenFor('bob@contoso.com');
      const body = { ...transcript, conversationId: 'conv-race' };
      const answers = await Promise.all([1, 2, 3].map(() => call('/api/archive', { method: 'POST', token, json: body })));
      const items = await Promise.all(answers.map((a) => a.json() as Promise<{ id: string }>));
      expect(answers.map((a) => a.status).sort()).to.deep.equal([200, 200, 201]);
      expect(new Set(items.map((i) => i.id)).size).to.equal(1);
    });

    it('defaults the subject to empty and receivedAt to the time of delivery', async () => {
      const token = tokenFor('alice@contoso.com');
      const response = await call('/api/archive', { method: 'POST', token, json: { conversationId: 'conv-min', participants: ['alice@contoso.com'], messages: [] } });
      expect(response.status).to.equal(201);
      const item = (await response.json()) as { subject: string; receivedAt: string };
      expect(item.subject).to.equal('');
      expect(Number.isFinite(Date.parse(item.receivedAt))).to.equal(true);
    });

    const badItems: [string, Record<string, unknown>, string][] = [
      ['no conversationId', { conversationId: undefined }, 'conversationId must be a string'],
      ['no participants', { participants: [] }, 'participants must have 1 to 500 elements'],
      ['participants that are not a list', { participants: 'alice' }, 'participants must be an array'],
      ['a message that is not an object', { messages: ['hi'] }, 'messages[0] must be a JSON object'],
      ['a message without text', { messages: [{ from: 'alice@contoso.com' }] }, 'messages[0].text must be a string'],
      ['a message with an unknown member', { messages: [{ from: 'a@contoso.com', text: 'x', html: '<b>' }] }, 'unknown member "html"'],
      ['an impossible sentAt', { messages: [{ from: 'a@contoso.com', text: 'x', sentAt: '2024-02-30T25:00:00Z' }] }, 'sentAt must be an RFC 3339'],
      ['a receivedAt that is not a date', { receivedAt: 'yesterday' }, 'receivedAt must be an RFC 3339'],
    ];
    for (const [name, change, message] of badItems) {
      it(`refuses a mail item with ${name} with 400`, async () => {
        const response = await call('/api/archive', { method: 'POST', token: tokenFor('alice@contoso.com'), json: { ...transcript, conversationId: 'conv-bad', ...change } });
        expect(response.status).to.equal(400);
        expect(((await response.json()) as { message: string }).message).to.contain(message);
      });
    }

    it('refuses a body larger than 2 MB with 413', async () => {
      const response = await call('/api/archive', {
        method: 'POST',
        token: tokenFor('alice@contoso.com'),
        json: { ...transcript, conversationId: 'conv-big', messages: [{ from: 'a@contoso.com', text: 'x'.repeat(3 * 1024 * 1024) }] },
      });
      expect(response.status).to.equal(413);
      expect(await response.json()).to.have.property('error', 'body_too_large');
    });
  });

  it('answers an unknown route under /api with the challenge first, then 404 JSON', async () => {
    expect((await call('/api/nothing')).status).to.equal(401);
    const response = await call('/api/nothing', { token: tokenFor('alice@contoso.com') });
    expect(response.status).to.equal(404);
    expect(await response.json()).to.have.property('error', 'not_found');
  });
});

describe('partner routes: a partner acts only for users of its own realm', () => {
  // Exchange serves contoso.com and the second SIP domain fabrikam.com. One Lync application (one
  // certificate for both realms) is registered in fabrikam.com: it must not reach alice@contoso.com.
  const dave = { username: 'dave@fabrikam.com', password: 'dave-Pa55word' };
  let dir: { path: string; remove(): Promise<void> };
  let exchange: ExchangeServer;
  let certificate: OAuthCertificate;
  const audit: AuditEvent[] = [];

  before(async () => {
    dir = await tempDataDir();
    exchange = await startTestExchange(dir.path, { realms: ['fabrikam.com'], users: [...USERS, dave], audit: (event) => audit.push(event) });
    certificate = await OAuthCertificate.create({ realms: ['contoso.com', 'fabrikam.com'] });
    await exchange.registry.add({ identity: 'lync.fabrikam', applicationId: WellKnownPrincipal.lync, realm: 'fabrikam.com', certificate: certificate.pem, scopes: ALL_SCOPES });
  });

  after(async () => {
    await exchange.close();
    await dir.remove();
  });

  /** A token of Lync in `realm` (its issuer and audience realm) acting for `username`. */
  const tokenFor = (realm: string, username: string): string =>
    new TokenIssuer({ principal: WellKnownPrincipal.lync, realm, certificates: certificate }).issueForUser({ audience: exchangeAudience(exchange, realm) }, userContext(username)).token;

  const call = (path: string, token: string, json?: unknown): Promise<Response> =>
    fetch(`${exchange.url}${path}`, {
      method: json === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });

  /** How many contacts and mail items the mailbox of `username` holds. */
  const stored = (username: string): { contacts: number; mail: number } => {
    const db = new Database(join(dir.path, 'exchange.sqlite'), { readonly: true });
    try {
      const count = (table: string): number =>
        (db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE user_id = (SELECT id FROM users WHERE username = ?)`).get(username) as { n: number }).n;
      return { contacts: count('contacts'), mail: count('mail_items') };
    } finally {
      db.close();
    }
  };

  const contact = { displayName: 'Mallory', email: 'mallory@fabrikam.com' };
  const transcript = { conversationId: 'conv-cross-realm', participants: ['alice@contoso.com'], messages: [{ from: 'alice@contoso.com', text: 'hi' }] };

  it('refuses the fabrikam.com partner acting for alice@contoso.com with 401 user_invalid, and writes nothing', async () => {
    const token = tokenFor('fabrikam.com', 'alice@contoso.com');
    // What alice has before (another test of this suite may have written for her): nothing is added.
    const before = stored('alice@contoso.com');
    audit.length = 0;
    for (const [path, body] of [['/api/ucs/contacts', contact], ['/api/archive', transcript], ['/api/ucs/contacts', undefined], ['/api/archive', undefined]] as const) {
      const response = await call(path, token, body);
      expect(response.status, path).to.equal(401);
      expect(await response.json()).to.deep.equal({
        error: 'invalid_token',
        error_description: 'The user context of the access token is invalid.',
        message: 'The user context of the access token is invalid.',
      });
      expect(response.headers.get('www-authenticate')).to.match(/^Bearer realm="contoso.com"/)
        .and.contain('error="invalid_token"')
        .and.contain('error_description="The user context of the access token is invalid."');
      expect(response.headers.get('x-ms-diagnostics')).to.equal('2000005;reason="The user context in the token is invalid.";error_category="invalid_user"');
    }
    expect(audit.map((event) => [event.decision, event.code, event.partner, event.user])).to.deep.equal(
      Array(4).fill(['reject', 'user_invalid', 'lync.fabrikam', 'alice@contoso.com']),
    );
    expect(stored('alice@contoso.com')).to.deep.equal(before);
  });

  it('lets the same partner act for a user of its own realm', async () => {
    const token = tokenFor('fabrikam.com', dave.username);
    const created = await call('/api/ucs/contacts', token, contact);
    expect(created.status).to.equal(201);
    expect((await call('/api/archive', token, { ...transcript, participants: [dave.username] })).status).to.equal(201);
    expect(await (await call('/api/ucs/contacts', token)).json()).to.deep.equal([await created.json()]);
    expect(stored(dave.username)).to.deep.equal({ contacts: 1, mail: 1 });
  });

  it('lets the same application act for alice once it is registered in her realm, and still not through fabrikam.com', async () => {
    await exchange.registry.add({ identity: 'lync.contoso', applicationId: WellKnownPrincipal.lync, realm: 'contoso.com', certificate: certificate.pem, scopes: ALL_SCOPES });
    try {
      const response = await call('/api/ucs/contacts', tokenFor('contoso.com', 'alice@contoso.com'), contact);
      expect(response.status).to.equal(201);
      expect(stored('alice@contoso.com')).to.deep.equal({ contacts: 1, mail: 0 });
      // The contoso.com partner, in turn, does not reach fabrikam.com's users.
      expect((await call('/api/ucs/contacts', tokenFor('contoso.com', dave.username))).status).to.equal(401);
      expect((await call('/api/ucs/contacts', tokenFor('fabrikam.com', 'alice@contoso.com'))).status).to.equal(401);
    } finally {
      await exchange.registry.remove('lync.contoso');
    }
  });
});
