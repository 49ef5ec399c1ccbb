import { expect } from 'chai';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import type { ExchangeServer } from '../src/index.js';
import { startFakeLync, startTestExchange, tempDataDir, type FakeLync } from './fake-lync.js';

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('POST /me/meetings', () => {
  let dir: { path: string; remove(): Promise<void> };
  let lync: FakeLync;
  let exchange: ExchangeServer;
  let cookie: string;

  before(async () => {
    dir = await tempDataDir();
    lync = await startFakeLync();
    exchange = await startTestExchange(dir.path, { lync: { url: lync.url } });
    const login = await fetch(`${exchange.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice@contoso.com', password: 'alice-Pa55word' }),
    });
    cookie = (login.headers.getSetCookie()[0] as string).split(';')[0] as string;
  });

  after(async () => {
    await exchange.close();
    await lync.close();
    await dir.remove();
  });

  beforeEach(() => {
    lync.requests.length = 0;
    lync.answer(201, { id: 'conf-1', joinUrl: 'https://lync.contoso.com/meet/alice/conf-1', subject: 'Sync' });
  });

  const schedule = (body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${exchange.url}/me/meetings`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('schedules a meeting in Lync on behalf of the signed-in user and returns the join URL', async () => {
    const meeting = { subject: 'Sync', start: '2030-01-01T10:00:00Z', end: '2030-01-01T10:30:00Z', attendees: ['bob@contoso.com'] };
    const response = await schedule(meeting);
    expect(response.status).to.equal(201);
    expect(await response.json()).to.deep.equal({ id: 'conf-1', joinUrl: 'https://lync.contoso.com/meet/alice/conf-1', subject: 'Sync' });

    expect(lync.requests).to.have.length(1);
    const request = lync.requests[0]!;
    expect(request.body).to.deep.equal(meeting);
    // One bearer token and no cookie: the session never leaves Exchange.
    const authorizations = request.rawHeaders.filter((_, i) => i % 2 === 0 && request.rawHeaders[i]?.toLowerCase() === 'authorization');
    expect(authorizations).to.have.length(1);
    expect(request.headers.cookie).to.equal(undefined);
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] as string;
    const outer = payloadOf(token);
    expect(outer).to.include({ nameid: 'alice@contoso.com', smtp: 'alice@contoso.com', upn: 'alice@contoso.com', iss: `${WellKnownPrincipal.exchange}@contoso.com` });
    const actor = payloadOf(outer['actortoken'] as string);
    const lyncAuthority = new URL(lync.url).host;
    expect(actor).to.include({
      aud: `${WellKnownPrincipal.lync}/${lyncAuthority}@contoso.com`,
      trustedfordelegation: 'true',
      scp: 'conferences.write',
    });
  });

  it('fills in the start (next whole minute), a 30-minute end and no attendees', async () => {
    const before = Date.now();
    expect((await schedule({ subject: 'Now' })).status).to.equal(201);
    const sent = lync.requests[0]?.body as { subject: string; start: string; end: string; attendees: string[] };
    expect(sent.subject).to.equal('Now');
    expect(sent.attendees).to.deep.equal([]);
    const start = Date.parse(sent.start);
    expect(start % 60_000).to.equal(0);
    expect(start).to.be.within(before, before + 60_000);
    expect(Date.parse(sent.end) - start).to.equal(30 * 60_000);
  });

  it('reuses one token for the same user\'s next meeting', async () => {
    await schedule({ subject: 'One' });
    await schedule({ subject: 'Two' });
    const [first, second] = lync.requests.map((r) => r.headers.authorization);
    expect(first).to.be.a('string');
    expect(second).to.equal(first);
  });

  it('answers 401 without a session and calls nobody', async () => {
    const response = await fetch(`${exchange.url}/me/meetings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"subject":"x"}' });
    expect(response.status).to.equal(401);
    expect(lync.requests).to.have.length(0);
  });

  const bad: [string, unknown, string][] = [
    ['no subject', {}, 'subject must be a string'],
    ['an end before the start', { subject: 'x', start: '2030-01-01T10:00:00Z', end: '2030-01-01T09:00:00Z' }, 'end must be after start'],
    ['an end more than a day after the start', { subject: 'x', start: '2030-01-01T10:00:00Z', end: '2030-01-02T10:00:01Z' }, 'at most 24 hours'],
    ['a subject longer than 200 characters', { subject: 'x'.repeat(201) }, 'at most 200'],
    ['an attendee that is not an address', { subject: 'x', attendees: ['bob'] }, 'attendees[0] must be an address'],
    ['an unknown member', { subject: 'x', organizer: 'bob@contoso.com' }, 'unknown member "organizer"'],
  ];
  for (const [name, body, message] of bad) {
    it(`refuses a meeting with ${name} with 400 and calls nobody`, async () => {
      const response = await schedule(body);
      expect(response.status).to.equal(400);
      expect(((await response.json()) as { message: string }).message).to.contain(message);
      expect(lync.requests).to.have.length(0);
    });
  }

  it('refuses a meeting sent as a form with 400', async () => {
    const response = await fetch(`${exchange.url}/me/meetings`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: 'subject=x' });
    expect(response.status).to.equal(400);
  });

  it('answers 502 with a clear error when Lync refuses the call', async () => {
    lync.answer(403, { error: 'insufficient_scope' });
    const response = await schedule({ subject: 'x' });
    expect(response.status).to.equal(502);
    const answer = (await response.json()) as { error: string; message: string };
    expect(answer.error).to.equal('lync_refused');
    expect(answer.message).to.contain('partner application registration in Lync');
  });

  it('answers 502 when Lync fails', async () => {
    lync.answer(500, { error: 'boom' });
    const response = await schedule({ subject: 'x' });
    expect(response.status).to.equal(502);
    expect(await response.json()).to.have.property('error', 'lync_unavailable');
  });

  it('answers 502 when Lync answers without a join URL', async () => {
    lync.answer(201, { id: 'conf-2', joinUrl: 'javascript:alert(1)' });
    const response = await schedule({ subject: 'x' });
    expect(response.status).to.equal(502);
    expect(await response.json()).to.have.property('error', 'lync_invalid_answer');
  });
});

describe('POST /me/meetings with Lync down', () => {
  it('answers 502 when Lync cannot be reached', async () => {
    const dir = await tempDataDir();
    const lync = await startFakeLync();
    const url = lync.url;
    await lync.close();
    const exchange = await startTestExchange(dir.path, { lync: { url } });
    try {
      const login = await fetch(`${exchange.url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'alice@contoso.com', password: 'alice-Pa55word' }),
      });
      const cookie = (login.headers.getSetCookie()[0] as string).split(';')[0] as string;
      const response = await fetch(`${exchange.url}/me/meetings`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{"subject":"x"}' });
      expect(response.status).to.equal(502);
      expect(await response.json()).to.have.property('error', 'lync_unavailable');
    } finally {
      await exchange.close();
      await dir.remove();
    }
  });
});
