import { expect } from 'chai';
import { after, before, beforeEach, describe, it } from 'mocha';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { SqliteStore, type ClientRecord } from '@s2sauth/store';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { createCertificate, createPartner, type MetadataServer, type TestPartner } from '@s2sauth/test-support/partners';
import { parseClientId, parseGrant, parseHostName, type ClientView } from '../src/client-commands.js';
import { failed, readStore, runOn, secretMarkers, succeeded, temporaryFolder, type CliRun } from './run-cli.js';

const LYNC = WellKnownPrincipal.lync;
const EXCHANGE = WellKnownPrincipal.exchange;
const TENANT = '7c3e4f0a-1b2c-4d5e-8f90-a1b2c3d4e5f6';
const OTHER_TENANT = '0d9b8c7a-6f5e-4d3c-8b2a-19f8e7d6c5b4';
const LYNC_CLIENT = `${LYNC}@${TENANT}`;
const EXCHANGE_CLIENT = `${EXCHANGE}@${TENANT}`;

describe('s2sauth client', () => {
  const folder = temporaryFolder();
  let lyncCertificate: OAuthCertificate;
  let exchangeCertificate: OAuthCertificate;
  let expiredCertificate: OAuthCertificate;
  let crm: TestPartner;
  let crmServer: MetadataServer;
  let markers: string[];
  let registryFile: string;
  let count = 0;

  const run = (...args: string[]): Promise<CliRun> => runOn(registryFile, markers, ...args);

  const storedClients = (): ClientRecord[] => readStore(registryFile, (store) => store.listClients());

  function storedClient(principal: string, realm = TENANT): ClientRecord {
    const client = storedClients().find((entry) => entry.principal === principal && entry.realm === realm);
    expect(client, `${principal}@${realm}`).not.to.equal(undefined);
    return client as ClientRecord;
  }

  before(async () => {
    lyncCertificate = await createCertificate(['contoso.com']);
    exchangeCertificate = await createCertificate([TENANT]);
    expiredCertificate = await createCertificate(['contoso.com'], { notBefore: new Date(Date.now() - 10 * 86_400_000), validityDays: 2 });
    crm = await createPartner({ realm: TENANT });
    crmServer = await crm.serveMetadata();
    markers = secretMarkers([lyncCertificate, exchangeCertificate, expiredCertificate, crm.certificate]);
    writeFileSync(folder.file('lync.pem'), lyncCertificate.pem);
    writeFileSync(folder.file('exchange.pem'), exchangeCertificate.pem);
    writeFileSync(folder.file('expired.pem'), expiredCertificate.pem);
  });

  after(async () => {
    await crmServer.close();
    folder.remove();
  });

  beforeEach(() => {
    registryFile = folder.file(`sts-${++count}.sqlite`);
    crmServer.respondWith();
  });

  const lyncArgs = (): string[] => [
    'client',
    'add',
    LYNC_CLIENT,
    '--certificate',
    folder.file('lync.pem'),
    '--host-name',
    '127.0.0.1:4401',
    'localhost:4401',
    '--grant',
    `${EXCHANGE}=contacts.read,contacts.write+delegation`,
    `${WellKnownPrincipal.sharepoint}=`,
    '--display-name',
    'microsoft.lync',
  ];

  describe('add', () => {
    it('registers a client with a certificate, host names and grants, showing thumbprints only', async () => {
      const out = succeeded(await run(...lyncArgs()));
      expect(out).to.match(new RegExp(`^added client ${LYNC_CLIENT}\\n`));
      expect(out).to.include(`x5t ${lyncCertificate.x5t} (CN=contoso.com, valid `);
      expect(out).to.match(/\nhost names: +127\.0\.0\.1:4401\n +localhost:4401\n/);
      expect(out).to.include(`${EXCHANGE}=contacts.read,contacts.write+delegation`);
      const client = storedClient(LYNC);
      expect(client).to.deep.include({ displayName: 'microsoft.lync', hostNames: ['127.0.0.1:4401', 'localhost:4401'], enabled: true });
      expect(client.grants).to.deep.equal([
        { resource: EXCHANGE, scopes: ['contacts.read', 'contacts.write'], delegation: true },
        { resource: WellKnownPrincipal.sharepoint, scopes: [], delegation: false },
      ]);
      expect(client.certificates).to.have.length(1);
      expect(new X509Certificate(client.certificates[0] ?? '').fingerprint256).to.equal(lyncCertificate.certificate.fingerprint256);
      expect(client).not.to.have.property('metadataUrl');
    });

    it('refuses a certificate already registered for a client of another realm (credential_shared), storing nothing', async () => {
      succeeded(await run('client', 'add', LYNC_CLIENT, '--certificate', folder.file('lync.pem')));
      // The same realm may share it.
      succeeded(await run('client', 'add', `${WellKnownPrincipal.sharepoint}@${TENANT}`, '--certificate', folder.file('lync.pem')));
      const line = failed(await run('client', 'add', `${LYNC}@${OTHER_TENANT}`, '--certificate', folder.file('lync.pem')), 1);
      expect(line).to.include(`its certificates[0] is already a credential of client "${LYNC}@${TENANT}" in another realm`);
      expect(line).to.include('CVE-2025-53786');
      expect(storedClients().map((client) => client.realm)).to.deep.equal([TENANT, TENANT]);
    });

    it('registers a client by metadata URL (fetched and checked), disabled, and as JSON', async () => {
      const json = JSON.parse(
        succeeded(await run('client', 'add', `${crm.principal}@${TENANT}`, '--metadata-url', crmServer.url, '--allow-loopback', '--disabled', '--json')),
      ) as ClientView;
      expect(json).to.deep.include({ clientId: `${crm.principal}@${TENANT}`, metadataUrl: crmServer.url, allowLoopback: true, enabled: false, certificates: [], hostNames: [], grants: [] });
      expect(json).not.to.have.property('displayName');
      expect(storedClient(crm.principal)).to.deep.include({ metadataUrl: crmServer.url, allowLoopback: true, enabled: false });
    });

    it('refuses a metadata URL that cannot be fetched or is not a document, and an expired certificate', async () => {
      const id = `${crm.principal}@${TENANT}`;
      expect(failed(await run('client', 'add', id, '--metadata-url', crmServer.url), 1)).to.match(/^s2sauth: --metadata-url: the document could not be fetched: .*not allowed/);
      crmServer.respondWith('[]');
      expect(failed(await run('client', 'add', id, '--metadata-url', crmServer.url, '--allow-loopback'), 1)).to.match(/^s2sauth: --metadata-url: /);
      expect(failed(await run('client', 'add', id, '--certificate', folder.file('expired.pem')), 1)).to.match(/^s2sauth: --certificate .*expired\.pem: The certificate is valid from .*, not at /);
      expect(storedClients()).to.deep.equal([]);
    });

    it('refuses what the store refuses (its TypeError), storing nothing', async () => {
      expect(failed(await run('client', 'add', LYNC_CLIENT, '--display-name', ''), 1)).to.equal(`s2sauth: client "${LYNC_CLIENT}": displayName must be a non-empty string`);
      expect(storedClients()).to.deep.equal([]);
    });

    it('refuses a client that is already registered', async () => {
      succeeded(await run(...lyncArgs()));
      expect(failed(await run('client', 'add', LYNC_CLIENT), 1)).to.equal(`s2sauth: client ${LYNC_CLIENT} is already registered; change it with s2sauth client set`);
    });

    it('is a usage error (exit 2) to misspell a client id, a grant or a host name, or to allow loopback without a URL', async () => {
      const mistakes: [string[], RegExp][] = [
        [['client', 'add', 'microsoft.lync'], /^s2sauth: command-argument value 'microsoft\.lync' is invalid for argument 'client-id'\. expected <principal>@<realm>/],
        [['client', 'add', `${LYNC}@Contoso.com`], /expected <principal>@<realm>/],
        [['client', 'add', LYNC_CLIENT, '--grant', 'contacts.read'], /expected <resource-guid>=<scope>,<scope>\[\+delegation\]/],
        [['client', 'add', LYNC_CLIENT, '--grant', 'microsoft.exchange=contacts.read'], /expected <resource-guid>=/],
        [['client', 'add', LYNC_CLIENT, '--grant', `${EXCHANGE}=a b`], /each scope is one word/],
        [['client', 'add', LYNC_CLIENT, '--grant', `${EXCHANGE}=a,a`], /a scope is listed twice/],
        [['client', 'add', LYNC_CLIENT, '--grant', `${EXCHANGE}=a`, `${EXCHANGE}=b`], /the resource .* is granted twice/],
        [['client', 'add', LYNC_CLIENT, '--host-name', 'https://mail.contoso.com'], /expected a host name with an optional port/],
        [['client', 'add', LYNC_CLIENT, '--host-name', 'a.contoso.com', 'a.contoso.com'], /a\.contoso\.com is listed twice/],
        [['client', 'add', LYNC_CLIENT, '--allow-loopback'], /^s2sauth: --allow-loopback applies only to a --metadata-url$/],
      ];
      for (const [args, message] of mistakes) expect(failed(await run(...args), 2)).to.match(message);
      expect(storedClients()).to.deep.equal([]);
    });
  });

  describe('set', () => {
    beforeEach(async () => {
      succeeded(await run(...lyncArgs()));
    });

    it('changes only the options given; a list given replaces the old one, --no-... clears it', async () => {
      const before = storedClient(LYNC);
      expect(succeeded(await run('client', 'set', LYNC_CLIENT, '--grant', `${EXCHANGE}=archive.write`))).to.match(new RegExp(`^changed client ${LYNC_CLIENT}\\n`));
      const changed = storedClient(LYNC);
      expect(changed.grants).to.deep.equal([{ resource: EXCHANGE, scopes: ['archive.write'], delegation: false }]);
      expect(changed).to.deep.include({ displayName: 'microsoft.lync', hostNames: before.hostNames, certificates: before.certificates, createdAt: before.createdAt });

      succeeded(await run('client', 'set', LYNC_CLIENT, '--no-host-name', '--no-grant', '--no-display-name', '--disabled'));
      const cleared = storedClient(LYNC);
      expect(cleared).to.deep.include({ hostNames: [], grants: [], enabled: false, certificates: before.certificates });
      expect(cleared).not.to.have.property('displayName');

      succeeded(await run('client', 'set', LYNC_CLIENT, '--enabled', '--host-name', '*.contoso.com', '--display-name', 'Lync'));
      expect(storedClient(LYNC)).to.deep.include({ hostNames: ['*.contoso.com'], enabled: true, displayName: 'Lync' });
    });

    it('moves the credentials: a metadata URL (fetched), then no certificate, then another URL keeping loopback, then none', async () => {
      succeeded(await run('client', 'set', LYNC_CLIENT, '--metadata-url', crmServer.url, '--allow-loopback', '--no-certificate'));
      expect(storedClient(LYNC)).to.deep.include({ certificates: [], metadataUrl: crmServer.url, allowLoopback: true });
      const list = succeeded(await run('client', 'list'));
      expect(list).to.include(`${crmServer.url} (loopback allowed)`);

      // The URL is not fetched again when only other fields change, so a document gone bad does not block them.
      crmServer.respondWith('gone', 404);
      succeeded(await run('client', 'set', LYNC_CLIENT, '--display-name', 'still lync'));
      expect(failed(await run('client', 'set', LYNC_CLIENT, '--metadata-url', `${crmServer.url}?v=2`), 1)).to.match(/could not be fetched/);
      crmServer.respondWith();
      succeeded(await run('client', 'set', LYNC_CLIENT, '--metadata-url', `${crmServer.url}?v=2`));
      expect(storedClient(LYNC)).to.deep.include({ metadataUrl: `${crmServer.url}?v=2`, allowLoopback: true });

      expect(failed(await run('client', 'set', LYNC_CLIENT, '--no-allow-loopback'), 1)).to.match(/^s2sauth: --metadata-url: the document could not be fetched/);
      expect(failed(await run('client', 'set', LYNC_CLIENT, '--no-metadata-url', '--allow-loopback'), 2)).to.equal('s2sauth: --allow-loopback applies only to a --metadata-url');
      succeeded(await run('client', 'set', LYNC_CLIENT, '--no-metadata-url', '--certificate', folder.file('exchange.pem'), folder.file('exchange.pem')));
      const client = storedClient(LYNC);
      expect(client).not.to.have.property('metadataUrl');
      expect(client).not.to.have.property('allowLoopback');
      expect(client.certificates).to.have.length(1);
      expect(succeeded(await run('client', 'get', LYNC_CLIENT))).to.include(`x5t ${exchangeCertificate.x5t}`);
    });

    /** Runs `client set <LYNC> ...args(url)` with `url` a metadata server that lets `elsewhere` change the client while it answers. */
    async function setWhileFetching(args: (url: string) => string[], elsewhere: (store: SqliteStore) => void, before?: (url: string) => void): Promise<CliRun> {
      const server: Server = createServer((_request, response) => {
        const store = SqliteStore.open(registryFile);
        elsewhere(store);
        store.close();
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify(crm.metadataDocument()));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metadata/json/1`;
        before?.(url);
        return await run('client', 'set', LYNC_CLIENT, ...args(url));
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    }

    it('keeps a change another administrator made to other fields while it fetched the metadata document, and applies its own', async () => {
      const result = await setWhileFetching(
        (url) => ['--metadata-url', url, '--allow-loopback'],
        (store) => store.putClient({ ...storedClient(LYNC), displayName: 'changed elsewhere', enabled: false }),
      );
      expect(succeeded(result)).to.match(/^changed client /);
      expect(storedClient(LYNC)).to.deep.include({ displayName: 'changed elsewhere', enabled: false, allowLoopback: true });
      expect(storedClient(LYNC).metadataUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+\/metadata\/json\/1$/);
    });

    it('refuses a change whose metadata check no longer holds because the URL changed while it fetched', async () => {
      const other = 'https://elsewhere.contoso.com/metadata/json/1';
      // --allow-loopback alone checks the stored URL anew; meanwhile another administrator moves it.
      const result = await setWhileFetching(
        () => ['--allow-loopback'],
        (store) => store.putClient({ ...storedClient(LYNC), metadataUrl: other, displayName: 'changed elsewhere' }),
        (url) => readStore(registryFile, (store) => store.putClient({ ...storedClient(LYNC), metadataUrl: url })),
      );
      expect(failed(result, 1)).to.equal(`s2sauth: client ${LYNC_CLIENT} had its metadata URL changed meanwhile; try again`);
      expect(storedClient(LYNC)).to.deep.include({ displayName: 'changed elsewhere', metadataUrl: other });
    });

    it('refuses an unknown client (exit 1) and nothing to change (exit 2)', async () => {
      expect(failed(await run('client', 'set', EXCHANGE_CLIENT, '--disabled'), 1)).to.equal(`s2sauth: no client ${EXCHANGE_CLIENT} is registered`);
      expect(failed(await run('client', 'set', LYNC_CLIENT), 2)).to.equal('s2sauth: nothing to change: give at least one option (see s2sauth client set --help)');
    });
  });

  describe('get, list, remove, enable, disable', () => {
    it('lists clients as a table and as JSON, and says when there are none', async () => {
      expect(succeeded(await run('client', 'add', EXCHANGE_CLIENT))).to.match(/\ncertificates: +\(none\)\n/);
      expect(succeeded(await run('client', 'remove', EXCHANGE_CLIENT))).to.equal(`removed client ${EXCHANGE_CLIENT}\n`);
      expect(succeeded(await run('client', 'list'))).to.equal('no clients\n');

      succeeded(await run(...lyncArgs()));
      succeeded(await run('client', 'add', EXCHANGE_CLIENT, '--certificate', folder.file('exchange.pem')));
      succeeded(await run('client', 'add', `${crm.principal}@${TENANT}`, '--metadata-url', crmServer.url, '--allow-loopback', '--certificate', folder.file('exchange.pem')));
      succeeded(await run('client', 'add', `${WellKnownPrincipal.sharepoint}@${TENANT}`, '--host-name', 'sp.contoso.com'));
      const lines = succeeded(await run('client', 'list')).trimEnd().split('\n');
      expect(lines[0]).to.match(/^CLIENT ID +NAME +ENABLED +CREDENTIALS +HOST NAMES +GRANTS$/);
      const rows = lines.slice(1).map((line) => line.split(/ {2,}/));
      expect(rows.find((row) => row[0] === LYNC_CLIENT)).to.deep.equal([
        LYNC_CLIENT,
        'microsoft.lync',
        'yes',
        `certificate (1): x5t ${lyncCertificate.x5t}`,
        '127.0.0.1:4401 localhost:4401',
        `${EXCHANGE}=contacts.read,contacts.write+delegation ${WellKnownPrincipal.sharepoint}=`,
      ]);
      expect(lines.find((line) => line.startsWith(`${WellKnownPrincipal.sharepoint}@`))?.split(/ {2,}/)).to.deep.equal([
        `${WellKnownPrincipal.sharepoint}@${TENANT}`,
        'yes',
        '(none)',
        'sp.contoso.com',
        '(none)',
      ]);
      expect(lines.find((line) => line.startsWith(crm.principal))).to.include(`certificate (1): x5t ${exchangeCertificate.x5t}; ${crmServer.url} (loopback allowed)`);

      const json = JSON.parse(succeeded(await run('client', 'list', '--json'))) as ClientView[];
      expect(json.map((client) => client.clientId)).to.have.members([LYNC_CLIENT, EXCHANGE_CLIENT, `${crm.principal}@${TENANT}`, `${WellKnownPrincipal.sharepoint}@${TENANT}`]);
      const lync = json.find((client) => client.clientId === LYNC_CLIENT);
      expect(lync?.certificates).to.deep.equal([
        {
          x5t: lyncCertificate.x5t,
          x5tS256: lyncCertificate.x5tS256,
          subject: 'CN=contoso.com',
          notBefore: new Date(lyncCertificate.notBefore).toISOString(),
          notAfter: new Date(lyncCertificate.notAfter).toISOString(),
        },
      ]);
    });

    it('shows, disables, enables and removes a client; refuses an unknown one with exit 1', async () => {
      succeeded(await run(...lyncArgs()));
      const json = JSON.parse(succeeded(await run('client', 'get', LYNC_CLIENT, '--json'))) as ClientView;
      expect(json).to.deep.include({ principal: LYNC, realm: TENANT, displayName: 'microsoft.lync', allowLoopback: false, enabled: true });
      expect(succeeded(await run('client', 'get', LYNC_CLIENT))).to.match(new RegExp(`^client id: +${LYNC_CLIENT}\\ndisplay name: +microsoft\\.lync\\n`));
      expect(succeeded(await run('client', 'disable', LYNC_CLIENT))).to.match(/^disabled client .*\n[\s\S]*\nenabled: +no\n/);
      expect(storedClient(LYNC).enabled).to.equal(false);
      expect((JSON.parse(succeeded(await run('client', 'enable', LYNC_CLIENT, '--json'))) as ClientView).enabled).to.equal(true);
      expect(storedClient(LYNC).enabled).to.equal(true);
      for (const command of ['get', 'remove', 'enable', 'disable']) {
        expect(failed(await run('client', command, EXCHANGE_CLIENT), 1)).to.equal(`s2sauth: no client ${EXCHANGE_CLIENT} is registered`);
      }
      expect(succeeded(await run('client', 'remove', LYNC_CLIENT, '--json'))).to.equal(`{\n  "removed": true,\n  "clientId": "${LYNC_CLIENT}"\n}\n`);
      expect(storedClients()).to.deep.equal([]);
    });
  });

  describe('argument parsers', () => {
    it('parse client ids, grants and host names', () => {
      expect(parseClientId(LYNC_CLIENT)).to.deep.equal({ principal: LYNC, realm: TENANT });
      expect(() => parseClientId(`${LYNC}@${TENANT}@x`)).to.throw(/expected <principal>@<realm>/);
      expect(parseGrant(`${EXCHANGE}=a,b`, undefined)).to.deep.equal([{ resource: EXCHANGE, scopes: ['a', 'b'], delegation: false }]);
      expect(parseGrant(`${LYNC}=+delegation`, [{ resource: EXCHANGE, scopes: [], delegation: false }])).to.deep.equal([
        { resource: EXCHANGE, scopes: [], delegation: false },
        { resource: LYNC, scopes: [], delegation: true },
      ]);
      expect(parseHostName('*.contoso.com:8443', ['a'])).to.deep.equal(['a', '*.contoso.com:8443']);
      expect(() => parseHostName('*', undefined)).to.throw(/expected a host name/);
    });
  });
});
