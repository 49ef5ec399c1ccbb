import { randomUUID, X509Certificate } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { OAuthCertificate, S2SClient, S2SClientError, StsTokenError, StsTokenSource, TokenIssuer, type TokenSource } from '@s2sauth/issuer';
import { WellKnownPrincipal, x5tS256 } from '@s2sauth/protocol';
import { startSts, type RunningSts } from '@s2sauth/example-sts';
import { exchangeFailure } from '../src/exchange-partner.js';
import type { LyncServer } from '../src/index.js';
import { FakeExchange } from './fake-exchange.js';
import { signIn } from './lync-session.js';
import { dataFolder, PASSWORD, removeDataFolders, start } from './support.js';

const EXCHANGE_SCOPES = ['contacts.read', 'contacts.write', 'archive.read', 'archive.write'];
const LYNC_SCOPES = ['conferences.read', 'conferences.write'];
const ALICE = { nameid: 'alice@contoso.com', upn: 'alice@contoso.com', smtp: 'alice@contoso.com', sip: 'sip:alice@contoso.com' };

function segment(token: string, index: number): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
}

function derBase64(pem: string): string {
  return new X509Certificate(pem).raw.toString('base64');
}

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a refusal');
}

describe('Lync with an authorization server (sts option)', () => {
  const tenant = randomUUID();
  let stsFolder: string;
  let sts: RunningSts;
  let metadataUrl: string;
  let exchange: FakeExchange;
  let exchangeCertificate: OAuthCertificate;
  /** Realm = tenant: Lync Online. */
  let cloud: LyncServer;
  /** Realm contoso.com, tokens from the tenant's STS: on-premises Lync in a hybrid deployment. */
  let hybrid: LyncServer;
  let cloudDir: string;
  let hybridDir: string;
  /** A data folder for one Lync at a time: the first start creates its certificate (slow), later ones reuse it. */
  let spareDir: Promise<string> | undefined;
  const spare = (): Promise<string> => (spareDir ??= dataFolder());

  before(async () => {
    stsFolder = await mkdtemp(join(tmpdir(), 'lync-sts-test-'));
    sts = await startSts({ dataDir: stsFolder, port: 0, realms: [tenant], logger: pino({ level: 'silent' }) });
    metadataUrl = `${sts.url}/${tenant}/metadata/json/1`;
    exchange = new FakeExchange();
    await exchange.start();
    // Naming the tenant lets the same key also sign a self-issued token, which Lync must refuse.
    exchangeCertificate = await OAuthCertificate.create({ realms: [tenant] });
    cloudDir = await dataFolder();
    hybridDir = await dataFolder();
    const connect = { exchange: { url: exchange.url }, sts: { metadataUrl, realm: tenant } };
    [cloud, hybrid] = await Promise.all([start(cloudDir, { realm: tenant, ...connect }), start(hybridDir, connect)]);

    // The launcher's part: the servers' certificates become their credentials at the STS.
    sts.store.putClient({
      principal: WellKnownPrincipal.lync,
      realm: tenant,
      certificates: [cloud.certificatePem, hybrid.certificatePem],
      hostNames: [cloud.authority, hybrid.authority],
      grants: [{ resource: WellKnownPrincipal.exchange, scopes: EXCHANGE_SCOPES, delegation: true }],
    });
    sts.store.putClient({
      principal: WellKnownPrincipal.exchange,
      realm: tenant,
      certificates: [exchangeCertificate.pem],
      hostNames: [new URL(exchange.url).host],
      grants: [{ resource: WellKnownPrincipal.lync, scopes: LYNC_SCOPES, delegation: true }],
    });
    for (const lync of [cloud, hybrid]) {
      await lync.registry.addOAuthServer({ identity: 'microsoft.sts', metadataUrl, allowLoopback: true, realm: tenant });
      await lync.registry.add({ identity: 'microsoft.exchange', applicationId: WellKnownPrincipal.exchange, realm: tenant, useOAuthServer: true, scopes: LYNC_SCOPES });
    }
  });

  after(async () => {
    await Promise.all([cloud?.close(), hybrid?.close(), exchange?.stop(), sts?.close()]);
    await rm(stsFolder, { recursive: true, force: true });
    await removeDataFolders();
  });

  for (const [scenario, server] of [
    ['cloud-style Lync (realm = tenant)', (): LyncServer => cloud],
    ['hybrid-style Lync (realm contoso.com, sts.realm = tenant)', (): LyncServer => hybrid],
  ] as const) {
    it(`${scenario} stores a contact in Exchange with an STS-issued token wrapped in an outer token it signs`, async () => {
      const lync = server();
      exchange.requests.length = 0;
      const alice = await signIn(lync.url, 'alice@contoso.com', PASSWORD);
      const email = `${randomUUID()}@fabrikam.com`;
      const added = await alice.call('POST', '/me/contacts', { displayName: 'Dan Park', email });
      expect(added.status).to.equal(201);
      expect(exchange.contactsOf('alice@contoso.com').map((contact) => contact.email)).to.include(email);

      const post = exchange.apiRequests.find((request) => request.method === 'POST' && request.path === '/api/ucs/contacts');
      expect(post?.authorization).to.have.length(1);
      const token = (post?.authorization[0] as string).replace(/^Bearer /, '');
      const header = segment(token, 0);
      const outer = segment(token, 1);
      const actorToken = outer['actortoken'] as string;
      const actor = segment(actorToken, 1);
      const stsMetadata = (await (await fetch(metadataUrl)).json()) as { keys: { keyinfo: { x5t: string } }[] };

      expect(header).to.include({ alg: 'RS256' });
      expect(header['x5c']).to.deep.equal([derBase64(lync.certificatePem)]);
      expect(outer).to.include({ iss: `${WellKnownPrincipal.lync}@${tenant}`, nameid: 'alice@contoso.com', aud: actor['aud'] });
      expect(segment(actorToken, 0)['x5t']).to.equal(stsMetadata.keys[0]?.keyinfo.x5t);
      expect(actor).to.include({
        iss: `${WellKnownPrincipal.sts}@${tenant}`,
        nameid: `${WellKnownPrincipal.lync}@${tenant}`,
        aud: `${WellKnownPrincipal.exchange}/${new URL(exchange.url).host}@${tenant}`,
        trustedfordelegation: 'true',
        scp: 'contacts.write',
      });
      expect(actor['cnf']).to.deep.equal({ 'x5t#S256': x5tS256(new X509Certificate(lync.certificatePem).raw) });
    });

    it(`${scenario} accepts an STS-issued user-context token from Exchange and refuses Exchange's self-issued one`, async () => {
      const lync = server();
      const meeting = { subject: 'Sync', start: '2030-01-01T10:00:00Z', end: '2030-01-01T10:30:00Z', attendees: ['bob@contoso.com'] };
      const call = (issuer: TokenSource): Promise<unknown> =>
        new S2SClient({ issuer, allowLoopbackHttp: true })
          .partner({ principal: WellKnownPrincipal.lync, baseUrl: lync.url, realm: tenant })
          .json('/api/conferences', { method: 'POST', user: ALICE, scopes: ['conferences.write'], json: meeting });

      const viaSts = new StsTokenSource({ principal: WellKnownPrincipal.exchange, realm: tenant, certificates: exchangeCertificate, sts: { metadataUrl }, allowLoopbackHttp: true });
      const conference = (await call(viaSts)) as { organizer: string; joinUrl: string };
      expect(conference.organizer).to.equal('alice@contoso.com');
      expect(conference.joinUrl).to.be.a('string');

      // Exchange is registered through the OAuth server only: its own signature does not count.
      const selfIssued = new TokenIssuer({ principal: WellKnownPrincipal.exchange, realm: tenant, certificates: exchangeCertificate });
      const error = await refusal(call(selfIssued));
      expect(error).to.be.instanceOf(S2SClientError);
      expect((error as S2SClientError).code).to.equal('unauthorized');
    });
  }

  it('exposes its OAuth certificate as certificatePem, with and without sts', async () => {
    expect(cloud.certificatePem).to.equal(await readFile(join(cloudDir, 'oauth-cert.pem'), 'utf8'));
    expect(hybrid.certificatePem).to.equal(await readFile(join(hybridDir, 'oauth-cert.pem'), 'utf8'));
    const onPremisesDir = await spare();
    const onPremises = await start(onPremisesDir);
    try {
      expect(onPremises.certificatePem).to.equal(await readFile(join(onPremisesDir, 'oauth-cert.pem'), 'utf8'));
      expect(new X509Certificate(onPremises.certificatePem).subject).to.equal('CN=contoso.com');
    } finally {
      await onPremises.close();
    }
  });

  it('answers 502 sts_refused, naming invalid_client, when the STS refuses Lync (its certificate is not registered, as for a disabled client)', async () => {
    // The spare folder's certificate is not registered at the STS.
    const unregistered = await start(await spare(), { exchange: { url: exchange.url }, sts: { metadataUrl, realm: tenant } });
    try {
      const alice = await signIn(unregistered.url, 'alice@contoso.com', PASSWORD);
      const response = await alice.call('POST', '/me/contacts', { displayName: 'Dan Park', email: 'dan@fabrikam.com' });
      expect(response.status).to.equal(502);
      expect(response.body).to.deep.include({ error: 'sts_refused' });
      expect((response.body as { message: string }).message).to.include('invalid_client');
    } finally {
      await unregistered.close();
    }
  });

  it('answers 502 sts_unavailable, not sts_refused, when the STS cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await start(await spare(), { exchange: { url: exchange.url }, sts: { metadataUrl: `http://127.0.0.1:${port}/${tenant}/metadata/json/1`, realm: tenant } });
    try {
      const alice = await signIn(unreachable.url, 'alice@contoso.com', PASSWORD);
      const response = await alice.call('POST', '/me/contacts', { displayName: 'Dan Park', email: 'dan@fabrikam.com' });
      expect(response.status).to.equal(502);
      expect(response.body).to.deep.include({ error: 'sts_unavailable' });
      expect((response.body as { message: string }).message).to.match(/could not be reached/);
    } finally {
      await unreachable.close();
    }
  });

  it('answers 504 sts_timeout when the STS does not answer in time', () => {
    const failure = exchangeFailure(new StsTokenError('timeout', 'The STS did not answer.', { endpoint: metadataUrl }));
    expect(failure).to.include({ status: 504, code: 'sts_timeout' });
  });

  it('refuses a malformed sts option with a TypeError naming it', async () => {
    const dataDir = await dataFolder();
    for (const [sts, name] of [
      ['http://127.0.0.1/metadata/json/1', 'options.sts'],
      [null, 'options.sts'],
      [{ metadataUrl, realm: tenant, issuer: 'x' }, 'options.sts'],
      [{ realm: tenant }, 'options.sts.metadataUrl'],
      [{ metadataUrl: 'not a url', realm: tenant }, 'options.sts.metadataUrl'],
      [{ metadataUrl: 'ftp://127.0.0.1/metadata/json/1', realm: tenant }, 'options.sts.metadataUrl'],
      [{ metadataUrl: 'http://sts.contoso.com/metadata/json/1', realm: tenant }, 'options.sts.metadataUrl'],
      [{ metadataUrl: 'https://user:secret@sts.contoso.com/metadata/json/1', realm: tenant }, 'options.sts.metadataUrl'],
      [{ metadataUrl }, 'options.sts.realm'],
      [{ metadataUrl, realm: 'Contoso.COM' }, 'options.sts.realm'],
    ] as const) {
      const error = await refusal(start(dataDir, { sts: sts as never }));
      expect(error, JSON.stringify(sts)).to.be.instanceOf(TypeError);
      expect((error as TypeError).message, JSON.stringify(sts)).to.include(name);
    }
  });
});
