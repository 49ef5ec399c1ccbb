import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { startSts, type RunningSts } from '@s2sauth/example-sts';
import { Writable } from 'node:stream';
import { assertion, ASSERTION_TYPE, createTestClient, EXCHANGE_ID, LYNC_RESOURCE, REALM, STS_ID } from '../../../packages/issuer/test/sts-support.js';
import { fillDisk, mountTinyDisk } from '../../support/test/tiny-disk.js';

/** Exchange asks `sts` for a token for Lync, authenticated with `client`'s assertion. */
function askToken(sts: RunningSts, client: Awaited<ReturnType<typeof createTestClient>>): Promise<Response> {
  return fetch(sts.tokenEndpoint(REALM), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: EXCHANGE_ID,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion(client, EXCHANGE_ID, Math.floor(Date.now() / 1000)),
      resource: LYNC_RESOURCE,
    }).toString(),
  });
}

describe('startSts', () => {
  let folder: string;
  let sts: RunningSts | undefined;

  before(() => {
    folder = mkdtempSync(join(tmpdir(), 's2sauth-example-sts-'));
  });

  afterEach(async () => {
    await sts?.close();
    sts = undefined;
  });

  after(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  it('serves health, metadata and tokens for seeded clients, and keeps its certificate private', async () => {
    const client = await createTestClient();
    sts = await startSts({
      dataDir: folder,
      port: 0,
      realms: [REALM],
      logger: pino({ level: 'silent' }),
      clients: [
        { principal: WellKnownPrincipal.exchange, realm: REALM, certificates: [client.pem], grants: [{ resource: WellKnownPrincipal.lync, scopes: [], delegation: false }] },
        { principal: WellKnownPrincipal.lync, realm: REALM, hostNames: ['pool.contoso.com'] },
      ],
    });
    expect(sts.issuerId(REALM)).to.equal(STS_ID);
    expect((await fetch(`${sts.url}/healthz`)).status).to.equal(200);
    expect(statSync(join(folder, 'oauth-key.pem')).mode & 0o777).to.equal(0o600);
    const metadata = (await (await fetch(`${sts.url}/metadata/json/1`)).json()) as { issuer: string };
    expect(metadata.issuer).to.equal(STS_ID);
    const response = await askToken(sts, client);
    expect(response.status).to.equal(200);
    expect(sts.store.listClients()).to.have.length(2);
  });

  it('reuses the certificate of its data folder and refuses bad options', async () => {
    // The first start writes the folder's certificate (whether or not another test did already).
    sts = await startSts({ dataDir: folder, port: 0, realms: [REALM], logger: pino({ level: 'silent' }) });
    await sts.close();
    sts = undefined;
    const first = statSync(join(folder, 'oauth-cert.pem')).mtimeMs;
    sts = await startSts({ dataDir: folder, port: 0, realms: [REALM], logger: pino({ level: 'silent' }) });
    expect(statSync(join(folder, 'oauth-cert.pem')).mtimeMs).to.equal(first);
    await sts.close();
    sts = undefined;
    for (const bad of [{ dataDir: '', port: 0, realms: [REALM] }, { dataDir: folder, port: 0, realms: [] }]) {
      let error: unknown;
      try {
        await startSts(bad);
      } catch (caught) {
        error = caught;
      }
      expect(error).to.be.instanceOf(TypeError);
    }
    let misspelt: unknown;
    try {
      await startSts({ dataDir: folder, port: 0, realms: [REALM], client: [] } as never);
    } catch (caught) {
      misspelt = caught;
    }
    expect(misspelt).to.be.instanceOf(TypeError);
    expect((misspelt as Error).message).to.equal('startSts: unknown option "client"; the options are dataDir, host, port, realms, clients, logger.');
  });

  it('answers JSON {error, message} for an unknown route and a body Express refused', async () => {
    sts = await startSts({ dataDir: folder, port: 0, realms: [REALM], logger: pino({ level: 'silent' }) });
    const unknown = await fetch(`${sts.url}/nowhere`);
    expect(unknown.status).to.equal(404);
    expect(unknown.headers.get('content-type')).to.equal('application/json; charset=utf-8');
    expect(await unknown.json()).to.deep.equal({ error: 'not_found', message: 'There is no such route.' });
    const percent = await fetch(`${sts.url}/${REALM}/metadata/json/%E0%A4%A`);
    expect(percent.status).to.equal(404);
    expect(await percent.json()).to.have.all.keys('error', 'message');
  });

  it('answers a full disk (for real, on a tiny tmpfs) with 503 temporarily_unavailable, logs it once, and /healthz says so until a token is issued again', async function () {
    const disk = mountTinyDisk(2);
    if (disk === undefined) this.skip();
    const lines: Record<string, unknown>[] = [];
    const logger = pino(new Writable({ write: (chunk: Buffer, _encoding, done) => { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } }));
    try {
      const client = await createTestClient();
      const running = await startSts({
        dataDir: join(disk.path, 'sts'),
        port: 0,
        realms: [REALM],
        logger,
        clients: [
          { principal: WellKnownPrincipal.exchange, realm: REALM, certificates: [client.pem], grants: [{ resource: WellKnownPrincipal.lync, scopes: [], delegation: false }] },
          { principal: WellKnownPrincipal.lync, realm: REALM, hostNames: ['pool.contoso.com'] },
        ],
      });
      sts = running;
      const ask = (): Promise<Response> => askToken(running, client);
      expect((await ask()).status).to.equal(200);
      const free = fillDisk(disk.path);
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const refused = await ask();
        expect(refused.status).to.equal(503);
        expect(await refused.json()).to.deep.equal({
          error: 'temporarily_unavailable',
          error_description: 'The authorization server cannot issue tokens right now; try again later.',
          message: 'The authorization server cannot issue tokens right now; try again later.',
        });
      }
      const unhealthy = await fetch(`${running.url}/healthz`);
      expect(unhealthy.status).to.equal(503);
      expect(await unhealthy.json()).to.have.property('error', 'storage_unavailable');
      const faults = lines.filter((line) => line['level'] === 50);
      expect(faults).to.have.length(1);
      expect(faults[0]).to.include({ code: 'SQLITE_FULL' });
      expect(faults[0]?.['files']).to.deep.equal([join(disk.path, 'sts', 'sts.sqlite')]);

      free();
      expect((await ask()).status).to.equal(200);
      expect((await fetch(`${running.url}/healthz`)).status).to.equal(200);
    } finally {
      await sts?.close();
      sts = undefined;
      disk.unmount();
    }
  });
});
