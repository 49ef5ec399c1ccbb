import { expect } from 'chai';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { EXCHANGE_PARTNER, LYNC_PARTNER, ONPREM_USERS, startOnPremises, type OnPremises } from '../src/onprem.js';
import { removeTemporaryFolders, temporaryFolder } from './support.js';

const PASSWORD = 'correct horse battery staple';
const silent = pino({ level: 'silent' });

function start(dataDir: string, ports: { lyncPort?: number; exchangePort?: number } = {}): Promise<OnPremises> {
  return startOnPremises({ dataDir, lyncPort: 0, exchangePort: 0, password: PASSWORD, logger: silent, audit: false, ...ports });
}

async function signingKeys(baseUrl: string): Promise<string[]> {
  const response = await fetch(`${baseUrl}/metadata/json/1`);
  const document = (await response.json()) as { keys: { keyinfo: { x5t: string } }[] };
  return document.keys.map((key) => key.keyinfo.x5t);
}

async function login(baseUrl: string, username: string, password: string): Promise<Response> {
  return fetch(`${baseUrl}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

describe('startOnPremises', () => {
  const running: OnPremises[] = [];
  afterEach(async () => {
    for (const pair of running.splice(0)) await pair.close();
  });
  after(removeTemporaryFolders);

  it('starts Lync and Exchange on free ports, both answering /healthz with 200', async () => {
    const pair = await start(join(await temporaryFolder(), 'onprem'));
    running.push(pair);
    for (const url of [pair.lync.url, pair.exchange.url]) {
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      const response = await fetch(`${url}/healthz`);
      expect(response.status).to.equal(200);
    }
    expect(pair.lync.url).to.not.equal(pair.exchange.url);
    expect(pair.users).to.deep.equal(['alice@contoso.com', 'bob@contoso.com', 'carol@contoso.com']);
  });

  it('registers each server in the other by metadata URL with full trust and the scenario scopes', async () => {
    const pair = await start(join(await temporaryFolder(), 'onprem'));
    running.push(pair);
    const lyncInExchange = pair.exchange.registry.get(LYNC_PARTNER.identity);
    expect(lyncInExchange).to.include({ applicationId: '00000004-0000-0ff1-ce00-000000000000', realm: 'contoso.com', trustLevel: 'full', enabled: true });
    expect(lyncInExchange?.keySource).to.deep.equal({ kind: 'metadata', metadataUrl: `${pair.lync.url}/metadata/json/1`, allowLoopback: true });
    expect(lyncInExchange?.scopes).to.have.members(['contacts.read', 'contacts.write', 'archive.read', 'archive.write']);
    const exchangeInLync = pair.lync.registry.get(EXCHANGE_PARTNER.identity);
    expect(exchangeInLync).to.include({ applicationId: '00000002-0000-0ff1-ce00-000000000000', realm: 'contoso.com', trustLevel: 'full', enabled: true });
    expect(exchangeInLync?.keySource).to.deep.equal({ kind: 'metadata', metadataUrl: `${pair.exchange.url}/metadata/json/1`, allowLoopback: true });
    expect(exchangeInLync?.scopes).to.have.members(['conferences.read', 'conferences.write']);
  });

  it('seeds alice, bob and carol in both servers with the given password', async () => {
    const pair = await start(join(await temporaryFolder(), 'onprem'));
    running.push(pair);
    for (const { username } of ONPREM_USERS) {
      expect((await login(pair.lync.url, username, PASSWORD)).status, `Lync ${username}`).to.equal(200);
      expect((await login(pair.exchange.url, username, PASSWORD)).status, `Exchange ${username}`).to.equal(200);
    }
    expect((await login(pair.exchange.url, 'alice@contoso.com', 'wrong')).status).to.equal(401);
  });

  it('issues certificates for contoso.com with fabrikam.com as a second SIP domain', async () => {
    const { X509Certificate } = await import('node:crypto');
    const { readFile } = await import('node:fs/promises');
    const dataDir = join(await temporaryFolder(), 'onprem');
    running.push(await start(dataDir));
    for (const server of ['lync', 'exchange']) {
      const certificate = new X509Certificate(await readFile(join(dataDir, server, 'oauth-cert.pem')));
      expect(certificate.subject).to.include('CN=contoso.com');
      expect(certificate.subjectAltName).to.include('DNS:contoso.com').and.include('DNS:fabrikam.com');
    }
  });

  it('reuses the certificates, the users and the registrations on a restart', async () => {
    const dataDir = join(await temporaryFolder(), 'onprem');
    const first = await start(dataDir);
    const keys = { lync: await signingKeys(first.lync.url), exchange: await signingKeys(first.exchange.url) };
    await first.close();

    // A different password on a later start does not change existing users.
    const second = await startOnPremises({ dataDir, lyncPort: 0, exchangePort: 0, password: 'another one', logger: silent, audit: false });
    running.push(second);
    expect(await signingKeys(second.lync.url)).to.deep.equal(keys.lync);
    expect(await signingKeys(second.exchange.url)).to.deep.equal(keys.exchange);
    expect((await login(second.lync.url, 'alice@contoso.com', PASSWORD)).status).to.equal(200);
    expect((await login(second.exchange.url, 'alice@contoso.com', PASSWORD)).status).to.equal(200);
    expect(second.exchange.registry.list().map((partner) => partner.identity)).to.deep.equal([LYNC_PARTNER.identity]);
    expect(second.lync.registry.list().map((partner) => partner.identity)).to.deep.equal([EXCHANGE_PARTNER.identity]);
    // The new ports are in the updated metadata URLs.
    expect(second.exchange.registry.get(LYNC_PARTNER.identity)?.keySource).to.include({ metadataUrl: `${second.lync.url}/metadata/json/1` });
    expect(second.lync.registry.get(EXCHANGE_PARTNER.identity)?.keySource).to.include({ metadataUrl: `${second.exchange.url}/metadata/json/1` });
  });

  it('keeps a partner an administrator disabled disabled on a restart', async () => {
    const dataDir = join(await temporaryFolder(), 'onprem');
    const first = await start(dataDir);
    await first.exchange.registry.disable(LYNC_PARTNER.identity);
    await first.close();

    const second = await start(dataDir);
    running.push(second);
    expect(second.exchange.registry.get(LYNC_PARTNER.identity)).to.include({ enabled: false });
    expect(second.exchange.registry.get(LYNC_PARTNER.identity)?.keySource).to.include({ metadataUrl: `${second.lync.url}/metadata/json/1` });
    expect(second.lync.registry.get(EXCHANGE_PARTNER.identity)).to.include({ enabled: true });
  });

  it('updates a registration an administrator made under another name instead of adding a second one', async () => {
    const dataDir = join(await temporaryFolder(), 'onprem');
    const first = await start(dataDir);
    first.exchange.registry.remove(LYNC_PARTNER.identity);
    await first.exchange.registry.add({ identity: 'lync-pool', metadataUrl: `${first.lync.url}/metadata/json/1`, allowLoopback: true, scopes: ['contacts.read'] });
    await first.close();

    const second = await start(dataDir);
    running.push(second);
    const partners = second.exchange.registry.list();
    expect(partners.map((partner) => partner.identity)).to.deep.equal(['lync-pool']);
    expect(partners[0]?.scopes).to.have.members(['contacts.read', 'contacts.write', 'archive.read', 'archive.write']);
  });

  it('lets Lync store contacts in Exchange and Exchange schedule meetings in Lync', async () => {
    const pair = await start(join(await temporaryFolder(), 'onprem'));
    running.push(pair);
    const session = async (url: string): Promise<string> => {
      const response = await login(url, 'alice@contoso.com', PASSWORD);
      return (response.headers.get('set-cookie') ?? '').split(';')[0] as string;
    };
    const lyncCookie = await session(pair.lync.url);
    const exchangeCookie = await session(pair.exchange.url);
    const added = await fetch(`${pair.lync.url}/me/contacts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: lyncCookie },
      body: JSON.stringify({ displayName: 'Bob Brown', email: 'bob@contoso.com' }),
    });
    expect(added.status).to.equal(201);
    const contacts = (await (await fetch(`${pair.exchange.url}/me/contacts`, { headers: { cookie: exchangeCookie } })).json()) as { email: string }[];
    expect(contacts.map((contact) => contact.email)).to.deep.equal(['bob@contoso.com']);
    const meeting = await fetch(`${pair.exchange.url}/me/meetings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: exchangeCookie },
      body: JSON.stringify({ subject: 'Design review' }),
    });
    expect(meeting.status).to.equal(201);
    const conferences = (await (await fetch(`${pair.lync.url}/me/conferences`, { headers: { cookie: lyncCookie } })).json()) as { subject: string }[];
    expect(conferences.map((conference) => conference.subject)).to.deep.equal(['Design review']);
  });

  it('stops Exchange again and rethrows when Lync cannot take its port', async () => {
    const blocker = createServer();
    const lyncPort = await listen(blocker);
    try {
      const dataDir = join(await temporaryFolder(), 'onprem');
      const error = await start(dataDir, { lyncPort }).then(
        () => undefined,
        (failure: unknown) => failure as NodeJS.ErrnoException,
      );
      expect(error?.code).to.equal('EADDRINUSE');
      // Exchange was stopped: its data folder opens again in a new pair.
      running.push(await start(dataDir));
    } finally {
      blocker.close();
    }
  });

  it('listens on ::1 with bracketed URLs when asked, with the default logger and audit', async function () {
    const probe = createServer();
    const available = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(0, '::1', () => probe.close(() => resolve(true)));
    });
    if (!available) this.skip();
    const pair = await startOnPremises({ dataDir: join(await temporaryFolder(), 'onprem'), host: '::1', lyncPort: 0, exchangePort: 0, password: PASSWORD });
    running.push(pair);
    expect(pair.lync.url).to.match(/^http:\/\/\[::1\]:\d+$/);
    expect(pair.exchange.url).to.match(/^http:\/\/\[::1\]:\d+$/);
    expect(pair.exchange.registry.get(LYNC_PARTNER.identity)?.keySource).to.include({ metadataUrl: `${pair.lync.url}/metadata/json/1` });
    expect((await fetch(`${pair.exchange.url}/healthz`)).status).to.equal(200);
  });

  it('closes once however often close is called', async () => {
    const pair = await start(join(await temporaryFolder(), 'onprem'));
    await Promise.all([pair.close(), pair.close()]);
    const error = await fetch(`${pair.lync.url}/healthz`).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).to.be.an('error');
  });
});
