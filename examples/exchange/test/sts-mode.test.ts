import { randomUUID, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { OAuthCertificate, S2SClient, S2SClientError, StsTokenSource, TokenIssuer, type TokenSource } from '@s2sauth/issuer';
import { WellKnownPrincipal, x5tS256 } from '@s2sauth/protocol';
import { startSts, type RunningSts } from '@s2sauth/example-sts';
import type { ExchangeServer } from '../src/index.js';
import { ALL_SCOPES, startFakeLync, startTestExchange, tempDataDir, userContext, USERS, type FakeLync } from './fake-lync.js';

const LYNC_SCOPES = ['conferences.read', 'conferences.write'];

function segment(token: string, index: number): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
}

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a refusal');
}

async function signIn(exchange: ExchangeServer, username: string, password: string): Promise<string> {
  const login = await fetch(`${exchange.url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  expect(login.status).to.equal(200);
  return (login.headers.getSetCookie()[0] as string).split(';')[0] as string;
}

function schedule(exchange: ExchangeServer, cookie: string): Promise<Response> {
  return fetch(`${exchange.url}/me/meetings`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: JSON.stringify({ subject: 'Sync', start: '2030-01-01T10:00:00Z', end: '2030-01-01T10:30:00Z', attendees: ['bob@contoso.com'] }),
  });
}

describe('Exchange with an authorization server (sts option)', () => {
  const tenant = randomUUID();
  const alice = USERS[0];
  let stsDir: { path: string; remove(): Promise<void> };
  let exchangeDir: { path: string; remove(): Promise<void> };
  let spareDir: { path: string; remove(): Promise<void> };
  let sts: RunningSts;
  let metadataUrl: string;
  let lync: FakeLync;
  let lyncCertificate: OAuthCertificate;
  /** Exchange Online: realm = tenant, tokens from the tenant's STS. */
  let exchange: ExchangeServer;

  before(async () => {
    [stsDir, exchangeDir, spareDir] = await Promise.all([tempDataDir(), tempDataDir(), tempDataDir()]);
    sts = await startSts({ dataDir: stsDir.path, port: 0, realms: [tenant], logger: pino({ level: 'silent' }) });
    metadataUrl = `${sts.url}/${tenant}/metadata/json/1`;
    lync = await startFakeLync();
    // Naming the tenant lets the same key also sign a self-issued token, which Exchange must refuse.
    lyncCertificate = await OAuthCertificate.create({ realms: [tenant] });
    exchange = await startTestExchange(exchangeDir.path, { realm: tenant, lync: { url: lync.url }, sts: { metadataUrl, realm: tenant } });

    // The launcher's part: the servers' certificates become their credentials at the STS.
    sts.store.putClient({
      principal: WellKnownPrincipal.exchange,
      realm: tenant,
      certificates: [exchange.certificatePem],
      hostNames: [exchange.authority],
      grants: [{ resource: WellKnownPrincipal.lync, scopes: LYNC_SCOPES, delegation: true }],
    });
    sts.store.putClient({
      principal: WellKnownPrincipal.lync,
      realm: tenant,
      certificates: [lyncCertificate.pem],
      hostNames: [new URL(lync.url).host],
      grants: [{ resource: WellKnownPrincipal.exchange, scopes: ALL_SCOPES, delegation: true }],
    });
    await exchange.registry.addOAuthServer({ identity: 'microsoft.sts', metadataUrl, allowLoopback: true, realm: tenant });
    await exchange.registry.add({ identity: 'microsoft.lync', applicationId: WellKnownPrincipal.lync, realm: tenant, useOAuthServer: true, scopes: ALL_SCOPES });
  });

  after(async () => {
    await Promise.all([exchange?.close(), lync?.close(), sts?.close()]);
    await Promise.all([stsDir?.remove(), exchangeDir?.remove(), spareDir?.remove()]);
  });

  it('schedules a Lync meeting with an STS-issued token wrapped in an outer token it signs', async () => {
    lync.requests.length = 0;
    const response = await schedule(exchange, await signIn(exchange, alice.username, alice.password));
    expect(response.status).to.equal(201);
    expect(((await response.json()) as { joinUrl: string }).joinUrl).to.be.a('string');

    expect(lync.requests).to.have.length(1);
    const token = /^Bearer (.+)$/.exec(lync.requests[0]?.headers.authorization ?? '')?.[1] as string;
    const header = segment(token, 0);
    const outer = segment(token, 1);
    const actor = segment(outer['actortoken'] as string, 1);
    const der = new X509Certificate(exchange.certificatePem).raw;
    expect(header['x5c']).to.deep.equal([der.toString('base64')]);
    expect(outer).to.include({ iss: `${WellKnownPrincipal.exchange}@${tenant}`, nameid: 'alice@contoso.com', aud: actor['aud'] });
    expect(actor).to.include({
      iss: `${WellKnownPrincipal.sts}@${tenant}`,
      nameid: `${WellKnownPrincipal.exchange}@${tenant}`,
      aud: `${WellKnownPrincipal.lync}/${new URL(lync.url).host}@${tenant}`,
      trustedfordelegation: 'true',
      scp: 'conferences.write',
    });
    expect(actor['cnf']).to.deep.equal({ 'x5t#S256': x5tS256(der) });
  });

  it("accepts an STS-issued user-context token from Lync and refuses Lync's self-issued one", async () => {
    const contacts = (issuer: TokenSource, method: 'GET' | 'POST'): Promise<unknown> =>
      new S2SClient({ issuer, allowLoopbackHttp: true })
        .partner({ principal: WellKnownPrincipal.exchange, baseUrl: exchange.url, realm: tenant })
        .json('/api/ucs/contacts', {
          method,
          user: userContext(alice.username),
          scopes: [method === 'GET' ? 'contacts.read' : 'contacts.write'],
          ...(method === 'POST' ? { json: { displayName: 'Dan Park', email: 'dan@fabrikam.com' } } : {}),
        });

    const viaSts = new StsTokenSource({ principal: WellKnownPrincipal.lync, realm: tenant, certificates: lyncCertificate, sts: { metadataUrl }, allowLoopbackHttp: true });
    await contacts(viaSts, 'POST');
    expect(((await contacts(viaSts, 'GET')) as { email: string }[]).map((contact) => contact.email)).to.include('dan@fabrikam.com');

    // Lync is registered through the OAuth server only: its own signature does not count.
    const selfIssued = new TokenIssuer({ principal: WellKnownPrincipal.lync, realm: tenant, certificates: lyncCertificate });
    const error = await refusal(contacts(selfIssued, 'GET'));
    expect(error).to.be.instanceOf(S2SClientError);
    expect((error as S2SClientError).code).to.equal('unauthorized');
  });

  it('exposes its OAuth certificate as certificatePem, with and without sts', async () => {
    expect(exchange.certificatePem).to.equal(await readFile(join(exchangeDir.path, 'oauth-cert.pem'), 'utf8'));
    const onPremises = await startTestExchange(spareDir.path);
    try {
      expect(onPremises.certificatePem).to.equal(await readFile(join(spareDir.path, 'oauth-cert.pem'), 'utf8'));
      expect(new X509Certificate(onPremises.certificatePem).subject).to.equal('CN=contoso.com');
    } finally {
      await onPremises.close();
    }
  });

  it('answers 502 sts_refused, naming invalid_client, when the STS refuses Exchange (its certificate is not registered, as for a disabled client)', async () => {
    // The spare folder's certificate (created here or by the test before) is not registered at the STS.
    const unregistered = await startTestExchange(spareDir.path, { lync: { url: lync.url }, sts: { metadataUrl, realm: tenant } });
    try {
      lync.requests.length = 0;
      const response = await schedule(unregistered, await signIn(unregistered, alice.username, alice.password));
      expect(response.status).to.equal(502);
      const body = (await response.json()) as { error: string; message: string };
      expect(body.error).to.equal('sts_refused');
      expect(body.message).to.include('invalid_client');
      expect(lync.requests).to.have.length(0);
    } finally {
      await unregistered.close();
    }
  });

  it('refuses a malformed sts option with a TypeError naming it', async () => {
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
      const error = await refusal(startTestExchange(spareDir.path, { sts: sts as never }));
      expect(error, JSON.stringify(sts)).to.be.instanceOf(TypeError);
      expect((error as TypeError).message, JSON.stringify(sts)).to.include(name);
    }
  });
});
