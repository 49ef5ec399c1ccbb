import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { pino } from 'pino';
import { EXCHANGE_PARTNER, LYNC_PARTNER } from '../src/onprem.js';
import { startCloud, startHybrid, STS_IDENTITY, type StsScenario, type StsScenarioOptions } from '../src/sts-scenarios.js';
import { freePort, removeTemporaryFolders, temporaryFolder } from './support.js';

const PASSWORD = 'correct horse battery staple';
const silent = pino({ level: 'silent' });
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function options(dataDir: string, ports: Partial<Pick<StsScenarioOptions, 'stsPort' | 'lyncPort' | 'exchangePort'>> = {}): StsScenarioOptions {
  return { dataDir, stsPort: 0, lyncPort: 0, exchangePort: 0, password: PASSWORD, logger: silent, audit: false, ...ports };
}

async function login(baseUrl: string, password = PASSWORD): Promise<number> {
  const response = await fetch(`${baseUrl}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'alice@contoso.com', password }),
  });
  return response.status;
}

async function stsSigningKeys(scenario: StsScenario): Promise<string[]> {
  const document = (await (await fetch(scenario.stsMetadataUrl)).json()) as { issuer: string; keys: { keyinfo: { x5t: string } }[] };
  expect(document.issuer).to.equal(`${WellKnownPrincipal.sts}@${scenario.tenant}`);
  return document.keys.map((key) => key.keyinfo.x5t);
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

function portOf(url: string): string {
  return new URL(url).port;
}

/** What a launcher-made registration at the STS and in each server must be, in either scenario. */
function expectStsTrust(scenario: StsScenario): void {
  const { sts, lync, exchange, tenant } = scenario;
  const lyncClient = sts.store.getClient(WellKnownPrincipal.lync, tenant);
  expect(lyncClient).to.include({ enabled: true });
  expect(lyncClient?.certificates).to.deep.equal([lync.certificatePem]);
  expect(lyncClient?.hostNames).to.deep.equal([`127.0.0.1:${portOf(lync.url)}`, `localhost:${portOf(lync.url)}`]);
  expect(lyncClient?.grants).to.deep.equal([{ resource: WellKnownPrincipal.exchange, scopes: [...LYNC_PARTNER.scopes], delegation: true }]);
  const exchangeClient = sts.store.getClient(WellKnownPrincipal.exchange, tenant);
  expect(exchangeClient?.certificates).to.deep.equal([exchange.certificatePem]);
  expect(exchangeClient?.hostNames).to.deep.equal([`127.0.0.1:${portOf(exchange.url)}`, `localhost:${portOf(exchange.url)}`]);
  expect(exchangeClient?.grants).to.deep.equal([{ resource: WellKnownPrincipal.lync, scopes: [...EXCHANGE_PARTNER.scopes], delegation: true }]);
  expect(sts.store.listClients()).to.have.length(2);

  for (const [server, partner] of [
    [exchange, LYNC_PARTNER],
    [lync, EXCHANGE_PARTNER],
  ] as const) {
    const servers = server.registry.listOAuthServers();
    expect(servers).to.have.length(1);
    expect(servers[0]).to.include({ identity: STS_IDENTITY, metadataUrl: scenario.stsMetadataUrl, realm: tenant, issuer: `${WellKnownPrincipal.sts}@${tenant}`, enabled: true });
    // No direct trust: the one partner is trusted through the STS, never by metadata URL or certificate.
    const partners = server.registry.list();
    expect(partners.map((registration) => registration.identity)).to.deep.equal([partner.identity]);
    expect(partners[0]).to.include({ applicationId: partner.principal, realm: tenant, trustLevel: 'full', enabled: true });
    expect(partners[0]?.keySource).to.deep.equal({ kind: 'oauthServer' });
    expect(partners[0]?.scopes).to.have.members([...partner.scopes]);
  }
}

describe('startCloud and startHybrid', () => {
  const running: StsScenario[] = [];
  afterEach(async () => {
    for (const scenario of running.splice(0)) await scenario.close();
  });
  after(removeTemporaryFolders);

  it('starts the STS, Lync and Exchange of the cloud scenario on free ports, all answering /healthz with 200', async () => {
    const dataDir = join(await temporaryFolder(), 'cloud');
    const cloud = await startCloud(options(dataDir));
    running.push(cloud);
    expect(cloud.tenant).to.match(GUID);
    expect(cloud.stsMetadataUrl).to.equal(`${cloud.sts.url}/${cloud.tenant}/metadata/json/1`);
    expect(new Set([cloud.sts.url, cloud.lync.url, cloud.exchange.url])).to.have.property('size', 3);
    for (const url of [cloud.sts.url, cloud.lync.url, cloud.exchange.url]) {
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${url}/healthz`)).status, url).to.equal(200);
    }
    expect(cloud.users).to.deep.equal(['alice@contoso.com', 'bob@contoso.com', 'carol@contoso.com']);
    expect(await login(cloud.lync.url)).to.equal(200);
    expect(await login(cloud.exchange.url)).to.equal(200);
    expect(await stsSigningKeys(cloud)).to.have.length(1);
  });

  it('puts both cloud servers in the tenant and registers only trust through the STS', async () => {
    const cloud = await startCloud(options(join(await temporaryFolder(), 'cloud')));
    running.push(cloud);
    expect(new X509Certificate(cloud.lync.certificatePem).subject).to.include(`CN=${cloud.tenant}`);
    expect(new X509Certificate(cloud.exchange.certificatePem).subject).to.include(`CN=${cloud.tenant}`);
    expectStsTrust(cloud);
  });

  it('keeps Lync on premises in the hybrid scenario, with its contoso.com certificate as its credential at the STS', async () => {
    const hybrid = await startHybrid(options(join(await temporaryFolder(), 'hybrid')));
    running.push(hybrid);
    const lyncCertificate = new X509Certificate(hybrid.lync.certificatePem);
    expect(lyncCertificate.subject).to.include('CN=contoso.com');
    expect(lyncCertificate.subjectAltName).to.include('DNS:fabrikam.com');
    expect(new X509Certificate(hybrid.exchange.certificatePem).subject).to.include(`CN=${hybrid.tenant}`);
    expectStsTrust(hybrid);
    for (const url of [hybrid.sts.url, hybrid.lync.url, hybrid.exchange.url]) expect((await fetch(`${url}/healthz`)).status).to.equal(200);
  });

  it('reuses the tenant, the certificates, the users and the registrations on a restart, updated for new ports', async () => {
    for (const start of [startCloud, startHybrid]) {
      const dataDir = join(await temporaryFolder(), start.name);
      const first = await start(options(dataDir));
      const before = {
        tenant: first.tenant,
        sts: await stsSigningKeys(first),
        lync: first.lync.certificatePem,
        exchange: first.exchange.certificatePem,
        ports: [first.lync.url, first.exchange.url],
      };
      await first.close();

      // A different password on a later start does not change existing users.
      const second = await start({ ...options(dataDir), password: 'another one' });
      running.push(second);
      expect(second.tenant, start.name).to.equal(before.tenant);
      expect(await stsSigningKeys(second)).to.deep.equal(before.sts);
      expect(second.lync.certificatePem).to.equal(before.lync);
      expect(second.exchange.certificatePem).to.equal(before.exchange);
      expect(await login(second.lync.url)).to.equal(200);
      expect(await login(second.exchange.url)).to.equal(200);
      expect([second.lync.url, second.exchange.url]).to.not.deep.equal(before.ports);
      expectStsTrust(second);
    }
  });

  it('keeps what an administrator disabled disabled on a restart: the STS client, the OAuth server and the partner', async () => {
    const dataDir = join(await temporaryFolder(), 'cloud');
    const first = await startCloud(options(dataDir));
    const lyncClient = first.sts.store.getClient(WellKnownPrincipal.lync, first.tenant);
    if (lyncClient === undefined) throw new Error('the launcher did not register Lync at the STS');
    first.sts.store.putClient({ ...lyncClient, enabled: false });
    await first.lync.registry.disableOAuthServer(STS_IDENTITY);
    await first.exchange.registry.disable(LYNC_PARTNER.identity);
    await first.close();

    const second = await startCloud(options(dataDir));
    running.push(second);
    expect(second.sts.store.getClient(WellKnownPrincipal.lync, second.tenant)).to.include({ enabled: false });
    expect(second.sts.store.getClient(WellKnownPrincipal.exchange, second.tenant)).to.include({ enabled: true });
    expect(second.lync.registry.getOAuthServer(STS_IDENTITY)).to.include({ enabled: false });
    expect(second.exchange.registry.getOAuthServer(STS_IDENTITY)).to.include({ enabled: true });
    expect(second.exchange.registry.get(LYNC_PARTNER.identity)).to.include({ enabled: false });
    expect(second.lync.registry.get(EXCHANGE_PARTNER.identity)).to.include({ enabled: true });
  });

  it('updates registrations an administrator made under other names instead of adding second ones', async () => {
    const dataDir = join(await temporaryFolder(), 'cloud');
    const first = await startCloud(options(dataDir));
    const { lync, tenant, stsMetadataUrl } = first;
    lync.registry.remove(EXCHANGE_PARTNER.identity);
    lync.registry.removeOAuthServer(STS_IDENTITY);
    await lync.registry.addOAuthServer({ identity: 'acs', metadataUrl: stsMetadataUrl, realm: tenant, allowLoopback: true });
    await lync.registry.add({ identity: 'exchange-online', applicationId: WellKnownPrincipal.exchange, realm: tenant, useOAuthServer: true, scopes: ['conferences.read'] });
    await first.close();

    const second = await startCloud(options(dataDir));
    running.push(second);
    expect(second.lync.registry.listOAuthServers().map((server) => [server.identity, server.metadataUrl])).to.deep.equal([['acs', second.stsMetadataUrl]]);
    const partners = second.lync.registry.list();
    expect(partners.map((partner) => partner.identity)).to.deep.equal(['exchange-online']);
    expect(partners[0]?.scopes).to.have.members([...EXCHANGE_PARTNER.scopes]);
  });

  it('answers the STS port in use with EADDRINUSE before starting anything else', async () => {
    const blocker = createServer();
    const stsPort = await listen(blocker);
    try {
      const lyncPort = await freePort();
      const error = await startCloud(options(join(await temporaryFolder(), 'cloud'), { stsPort, lyncPort })).then(
        () => undefined,
        (failure: unknown) => failure as NodeJS.ErrnoException & { port?: number },
      );
      expect(error?.code).to.equal('EADDRINUSE');
      expect(error?.port).to.equal(stsPort);
      // Lync never started: its port is still free.
      const probe = createServer();
      await new Promise<void>((resolve, reject) => {
        probe.once('error', reject);
        probe.listen(lyncPort, '127.0.0.1', () => probe.close(() => resolve()));
      });
    } finally {
      blocker.close();
    }
  });

  it('stops the STS and Exchange again and rethrows when Lync cannot take its port', async () => {
    const blocker = createServer();
    const lyncPort = await listen(blocker);
    try {
      const dataDir = join(await temporaryFolder(), 'hybrid');
      const stsPort = await freePort();
      const error = await startHybrid(options(dataDir, { stsPort, lyncPort })).then(
        () => undefined,
        (failure: unknown) => failure as NodeJS.ErrnoException,
      );
      expect(error?.code).to.equal('EADDRINUSE');
      // The STS and Exchange were stopped: the same port and data folders start again.
      const again = await startHybrid(options(dataDir, { stsPort }));
      running.push(again);
      expect(again.sts.url).to.equal(`http://127.0.0.1:${stsPort}`);
    } finally {
      blocker.close();
    }
  });

  it('closes once however often close is called, STS included', async () => {
    const cloud = await startCloud(options(join(await temporaryFolder(), 'cloud')));
    await Promise.all([cloud.close(), cloud.close()]);
    for (const url of [cloud.sts.url, cloud.lync.url, cloud.exchange.url]) {
      const error = await fetch(`${url}/healthz`).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error, url).to.be.an('error');
    }
  });
});
