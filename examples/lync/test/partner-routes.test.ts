import { OAuthCertificate, TokenIssuer } from '@s2sauth/issuer';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { expect } from 'chai';
import type { LyncServer } from '../src/index.js';
import { call, signIn } from './lync-session.js';
import { dataFolder, PASSWORD, removeDataFolders, start, USERS } from './support.js';

describe('partner routes (Passport strategy)', () => {
  let lync: LyncServer;
  let exchange: TokenIssuer;
  let audience: string;

  const alice = { nameid: 'alice@contoso.com', smtp: 'alice@contoso.com' };

  function userToken(scopes: string[], user: { nameid: string; smtp?: string } = alice, to = audience): string {
    return exchange.issueForUser({ audience: to, scopes }, user).token;
  }

  function bearer(token: string): Record<string, string> {
    return { authorization: `Bearer ${token}` };
  }

  const meeting = { subject: 'Quarterly review', start: '2026-05-04T09:00:00Z', end: '2026-05-04T10:00:00+00:00', attendees: ['bob@contoso.com'] };

  before(async () => {
    lync = await start(await dataFolder());
    const certificate = await OAuthCertificate.create({ realms: ['contoso.com'] });
    exchange = new TokenIssuer({ principal: WellKnownPrincipal.exchange, realm: 'contoso.com', certificates: certificate });
    await lync.registry.add({
      identity: 'microsoft.exchange',
      applicationId: WellKnownPrincipal.exchange,
      realm: 'contoso.com',
      certificate: certificate.pem,
      scopes: ['conferences.read', 'conferences.write'],
    });
    audience = `${WellKnownPrincipal.lync}/${lync.authority}@contoso.com`;
  });

  after(async () => {
    await lync.close();
    await removeDataFolders();
  });

  it('answers the join URL, without a sign-in, with the meeting as JSON; an unknown meeting or organizer with a JSON 404', async () => {
    const created = await call(lync.url, 'POST', '/api/conferences', meeting, bearer(userToken(['conferences.write'])));
    expect(created.status).to.equal(201);
    const conference = created.body as { id: string; joinUrl: string };
    const joined = await fetch(conference.joinUrl);
    expect(joined.status).to.equal(200);
    expect(joined.headers.get('content-type')).to.match(/^application\/json/);
    expect(joined.headers.get('cache-control')).to.equal('no-store');
    expect(joined.headers.get('referrer-policy')).to.equal('no-referrer');
    expect(await joined.json()).to.deep.equal(created.body);
    expect(created.body).to.include({ subject: 'Quarterly review', organizer: 'alice@contoso.com', start: '2026-05-04T09:00:00.000Z', end: '2026-05-04T10:00:00.000Z' });

    for (const path of [`/meet/alice/${conference.id.toLowerCase()}`, '/meet/alice/AAAAAAAAAA', `/meet/bob/${conference.id}`, `/meet/alice/${conference.id}/x`]) {
      const missing = await call(lync.url, 'GET', path);
      expect(missing.status, path).to.equal(404);
      expect(missing.body, path).to.have.property('error', 'not_found');
      expect(missing.body, path).to.have.property('message').that.is.a('string');
    }
  });

  it('creates a conference whose organizer is the token user, with a join URL, and no cookie', async () => {
    const response = await call(lync.url, 'POST', '/api/conferences', meeting, bearer(userToken(['conferences.write'])));
    expect(response.status).to.equal(201);
    expect(response.body).to.deep.include({
      subject: 'Quarterly review',
      organizer: 'alice@contoso.com',
      start: '2026-05-04T09:00:00.000Z',
      end: '2026-05-04T10:00:00.000Z',
      attendees: ['bob@contoso.com'],
    });
    const conference = response.body as { id: string; joinUrl: string };
    expect(conference.joinUrl).to.equal(`${lync.url}/meet/alice/${conference.id}`);
    expect(response.headers.get('set-cookie')).to.equal(null);

    const mine = await (await signIn(lync.url, 'alice@contoso.com', PASSWORD)).call('GET', '/me/conferences');
    expect((mine.body as { id: string }[]).map((c) => c.id)).to.include(conference.id);
    const bobs = await (await signIn(lync.url, 'bob@contoso.com', PASSWORD)).call('GET', '/me/conferences');
    expect((bobs.body as { id: string }[]).map((c) => c.id)).to.include(conference.id);
    const carols = await (await signIn(lync.url, 'carol@contoso.com', PASSWORD)).call('GET', '/me/conferences');
    expect(carols.body).to.deep.equal([]);
  });

  it('ignores an organizer named in the body: the token user organizes', async () => {
    const response = await call(lync.url, 'POST', '/api/conferences', { ...meeting, organizer: 'bob@contoso.com' }, bearer(userToken(['conferences.write'])));
    expect((response.body as { organizer: string }).organizer).to.equal('alice@contoso.com');
  });

  it('accepts a token addressed to localhost:<port>', async () => {
    const port = lync.authority.split(':')[1] as string;
    const token = userToken(['conferences.write'], alice, `${WellKnownPrincipal.lync}/localhost:${port}@contoso.com`);
    expect((await call(lync.url, 'POST', '/api/conferences', meeting, bearer(token))).status).to.equal(201);
  });

  it('refuses to create a conference without the conferences.write scope (403)', async () => {
    const response = await call(lync.url, 'POST', '/api/conferences', meeting, bearer(userToken(['conferences.read'])));
    expect(response.status).to.equal(403);
    expect(response.body).to.deep.include({ error: 'insufficient_scope' });
    expect(response.headers.get('www-authenticate')).to.include('scope="conferences.write"');
  });

  it('refuses an app-only call to create a conference (403)', async () => {
    const token = exchange.issueAppOnly({ audience, scopes: ['conferences.write'] }).token;
    const response = await call(lync.url, 'POST', '/api/conferences', meeting, bearer(token));
    expect(response.status).to.equal(403);
  });

  it('refuses a call without a token with 401 and the challenge', async () => {
    const response = await call(lync.url, 'POST', '/api/conferences', meeting);
    expect(response.status).to.equal(401);
    const challenge = response.headers.get('www-authenticate') ?? '';
    expect(challenge).to.match(/^Bearer realm="contoso.com"/).and.include(`client_id="${WellKnownPrincipal.lync}"`).and.include(`${WellKnownPrincipal.exchange}@contoso.com`);
  });

  it('refuses a malformed token and a token for another audience with 401 invalid_token', async () => {
    for (const token of ['abc.def.ghi', userToken(['conferences.write'], alice, `${WellKnownPrincipal.lync}/lync.example.com@contoso.com`)]) {
      const response = await call(lync.url, 'POST', '/api/conferences', meeting, bearer(token));
      expect(response.status).to.equal(401);
      expect(response.body).to.deep.include({ error: 'invalid_token' });
    }
  });

  it('refuses a user who is not a Lync user as organizer (403)', async () => {
    const token = userToken(['conferences.write'], { nameid: 'mallory@contoso.com', smtp: 'mallory@contoso.com' });
    const response = await call(lync.url, 'POST', '/api/conferences', meeting, bearer(token));
    expect(response.status).to.equal(403);
    expect(response.body).to.deep.include({ error: 'unknown_user' });
  });

  it('refuses a bad conference with 400', async () => {
    const token = userToken(['conferences.write']);
    for (const body of [
      { ...meeting, subject: '' },
      { ...meeting, start: 'tomorrow' },
      { ...meeting, end: '2026-05-04T08:00:00Z' },
      { ...meeting, end: '2026-05-06T08:00:00Z' },
      { ...meeting, attendees: ['not an address'] },
      [meeting],
    ]) {
      const response = await call(lync.url, 'POST', '/api/conferences', body, bearer(token));
      expect(response.status, JSON.stringify(body)).to.equal(400);
      expect(response.body).to.have.property('error', 'invalid_request');
    }
    const broken = await call(lync.url, 'POST', '/api/conferences', '{"subject":', bearer(token));
    expect(broken.status).to.equal(400);
  });

  it('schedules a conference once for a repeated request with the same Idempotency-Key, and answers the repeat with the first answer', async () => {
    const subject = 'Idempotent review';
    const headers = { ...bearer(userToken(['conferences.write'])), 'idempotency-key': '"meeting-7f3a"' };
    const first = await call(lync.url, 'POST', '/api/conferences', { ...meeting, subject }, headers);
    const again = await call(lync.url, 'POST', '/api/conferences', { ...meeting, subject }, { ...headers, ...bearer(userToken(['conferences.write'])) });
    expect(first.status).to.equal(201);
    expect(again.status).to.equal(201);
    expect(again.body).to.deep.equal(first.body);
    const changed = await call(lync.url, 'POST', '/api/conferences', { ...meeting, subject: 'Another review' }, headers);
    expect(changed.status).to.equal(422);
    expect(changed.body).to.deep.include({ error: 'idempotency_key_reused' });
    const listed = await call(lync.url, 'GET', '/api/conferences', undefined, bearer(userToken(['conferences.read'])));
    expect((listed.body as { subject: string }[]).filter((c) => c.subject === subject)).to.have.length(1);
  });

  it("lists the token user's conferences with conferences.read, and every conference app-only", async () => {
    // Its own conference, whatever the other tests created before it.
    expect((await call(lync.url, 'POST', '/api/conferences', meeting, bearer(userToken(['conferences.write'])))).status).to.equal(201);
    const mine = await call(lync.url, 'GET', '/api/conferences', undefined, bearer(userToken(['conferences.read'])));
    expect(mine.status).to.equal(200);
    expect((mine.body as { organizer: string }[]).every((c) => c.organizer === 'alice@contoso.com')).to.equal(true);
    expect(mine.body).to.have.length.greaterThan(0);
    const carol = await call(lync.url, 'GET', '/api/conferences', undefined, bearer(userToken(['conferences.read'], { nameid: 'carol@contoso.com' })));
    expect(carol.body).to.deep.equal([]);
    const all = await call(lync.url, 'GET', '/api/conferences', undefined, bearer(exchange.issueAppOnly({ audience, scopes: ['conferences.read'] }).token));
    expect(all.status).to.equal(200);
    expect(all.body).to.have.length((mine.body as unknown[]).length);
  });

  it('refuses to list conferences without conferences.read (403)', async () => {
    const response = await call(lync.url, 'GET', '/api/conferences', undefined, bearer(userToken(['conferences.write'])));
    expect(response.status).to.equal(403);
  });

  it('refuses every call once the partner is disabled', async () => {
    await lync.registry.disable('microsoft.exchange');
    try {
      const response = await call(lync.url, 'GET', '/api/conferences', undefined, bearer(userToken(['conferences.read'])));
      expect(response.status).to.equal(401);
    } finally {
      await lync.registry.enable('microsoft.exchange');
    }
  });
});

describe('partner routes: a partner acts only for users of its own realm', () => {
  // Lync serves contoso.com and the second SIP domain fabrikam.com. One Exchange application (one
  // certificate for both realms) is registered in fabrikam.com: it must not reach alice@contoso.com.
  const dave = { username: 'dave@fabrikam.com', password: PASSWORD };
  let lync: LyncServer;
  let certificate: OAuthCertificate;

  const meeting = { subject: 'Cross-realm', start: '2026-06-01T09:00:00Z', end: '2026-06-01T10:00:00Z' };

  before(async () => {
    certificate = await OAuthCertificate.create({ realms: ['contoso.com', 'fabrikam.com'] });
  });

  // A fresh server for each test: every test starts with no conferences, in any order.
  beforeEach(async () => {
    lync = await start(await dataFolder(), { realms: ['fabrikam.com'], users: [...USERS, dave] });
    await registerExchange('exchange.fabrikam', 'fabrikam.com');
  });

  afterEach(async () => {
    await lync.close();
    await removeDataFolders();
  });

  /** Registers the Exchange application (its certificate covers both realms) in `realm` as `identity`. */
  async function registerExchange(identity: string, realm: string): Promise<void> {
    const scopes = ['conferences.read', 'conferences.write'];
    await lync.registry.add({ identity, applicationId: WellKnownPrincipal.exchange, realm, certificate: certificate.pem, scopes });
  }

  /** A token of Exchange in `realm` (its issuer and audience realm) acting for `username`. */
  function tokenFor(realm: string, username: string, scopes: string[]): Record<string, string> {
    const issuer = new TokenIssuer({ principal: WellKnownPrincipal.exchange, realm, certificates: certificate });
    const { token } = issuer.issueForUser({ audience: `${WellKnownPrincipal.lync}/${lync.authority}@${realm}`, scopes }, { nameid: username, smtp: username });
    return { authorization: `Bearer ${token}` };
  }

  async function conferencesOf(username: string, password: string): Promise<unknown[]> {
    return (await (await signIn(lync.url, username, password)).call('GET', '/me/conferences')).body as unknown[];
  }

  it('refuses the fabrikam.com partner organizing for alice@contoso.com with 403 unknown_user, and creates nothing', async () => {
    const response = await call(lync.url, 'POST', '/api/conferences', meeting, tokenFor('fabrikam.com', 'alice@contoso.com', ['conferences.write']));
    expect(response.status).to.equal(403);
    expect(response.body).to.deep.equal({
      error: 'unknown_user',
      message: "The user the token acts for is not a Lync user of the partner's realm, so they cannot organize a conference here.",
    });
    expect(response.headers.get('www-authenticate')).to.equal(null);
    expect(await conferencesOf('alice@contoso.com', PASSWORD)).to.deep.equal([]);
  });

  it('lets the same partner organize for a user of its own realm', async () => {
    const response = await call(lync.url, 'POST', '/api/conferences', meeting, tokenFor('fabrikam.com', dave.username, ['conferences.write']));
    expect(response.status).to.equal(201);
    expect(response.body).to.include({ organizer: dave.username });
    expect(await conferencesOf(dave.username, dave.password)).to.have.length(1);
  });

  it('lets the same application act for alice once it is registered in her realm, and still not read her conferences through fabrikam.com', async () => {
    // dave's own conference, organized through fabrikam.com as the previous test does.
    const daves = await call(lync.url, 'POST', '/api/conferences', meeting, tokenFor('fabrikam.com', dave.username, ['conferences.write']));
    expect(daves.status).to.equal(201);
    await registerExchange('exchange.contoso', 'contoso.com');
    try {
      const created = await call(lync.url, 'POST', '/api/conferences', meeting, tokenFor('contoso.com', 'alice@contoso.com', ['conferences.write']));
      expect(created.status).to.equal(201);
      const mine = await call(lync.url, 'GET', '/api/conferences', undefined, tokenFor('contoso.com', 'alice@contoso.com', ['conferences.read']));
      expect(mine.status).to.equal(200);
      expect(mine.body).to.deep.equal([created.body]);

      const across = await call(lync.url, 'GET', '/api/conferences', undefined, tokenFor('fabrikam.com', 'alice@contoso.com', ['conferences.read']));
      expect(across.status).to.equal(403);
      expect(across.body).to.deep.equal({ error: 'unknown_user', message: "The user the token acts for is not a user of the partner's realm." });
      const back = await call(lync.url, 'POST', '/api/conferences', meeting, tokenFor('contoso.com', dave.username, ['conferences.write']));
      expect(back.status).to.equal(403);
      expect(await conferencesOf(dave.username, dave.password)).to.have.length(1);

      // App-only, each registration lists its own realm's conferences and none of the other's.
      const organizers = async (realm: string): Promise<string[]> => {
        const issuer = new TokenIssuer({ principal: WellKnownPrincipal.exchange, realm, certificates: certificate });
        const { token } = issuer.issueAppOnly({ audience: `${WellKnownPrincipal.lync}/${lync.authority}@${realm}`, scopes: ['conferences.read'] });
        const listed = await call(lync.url, 'GET', '/api/conferences', undefined, { authorization: `Bearer ${token}` });
        expect(listed.status, realm).to.equal(200);
        return (listed.body as Array<{ organizer: string }>).map((conference) => conference.organizer);
      };
      expect(await organizers('contoso.com')).to.deep.equal(['alice@contoso.com']);
      expect(await organizers('fabrikam.com')).to.deep.equal([dave.username]);
    } finally {
      await lync.registry.remove('exchange.contoso');
    }
  });
});
