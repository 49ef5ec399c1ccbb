import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { startSts, type RunningSts } from '@s2sauth/example-sts';
import { assertion, ASSERTION_TYPE, createTestClient, EXCHANGE_ID, LYNC_RESOURCE, REALM, STS_ID } from '../../../packages/issuer/test/sts-support.js';

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
    const response = await fetch(sts.tokenEndpoint(REALM), {
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
  });
});
