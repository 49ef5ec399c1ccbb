import { expect } from 'chai';
import { after, before, beforeEach, describe, it } from 'mocha';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import type { OAuthServerRecord } from '@s2sauth/store';
import { createPartner, type MetadataServer, type TestPartner } from '@s2sauth/test-support/partners';
import type { OAuthServerView } from '../src/oauth-server-commands.js';
import { failed, readStore, runOn, secretMarkers, succeeded, temporaryFolder, type CliRun } from './run-cli.js';

const STS = WellKnownPrincipal.sts;
const TENANT = '7c3e4f0a-1b2c-4d5e-8f90-a1b2c3d4e5f6';

describe('s2sauth oauth-server', () => {
  const folder = temporaryFolder();
  let sts: TestPartner;
  let stsServer: MetadataServer;
  let tokenEndpoint: string;
  let markers: string[];
  let registryFile: string;
  let count = 0;

  const run = (...args: string[]): Promise<CliRun> => runOn(registryFile, markers, ...args);

  const stored = (): OAuthServerRecord[] => readStore(registryFile, (store) => store.listOAuthServers());

  /** The STS's document for the tenant, advertising its token endpoint. */
  function stsDocument(): Record<string, unknown> {
    return sts.metadataDocument({ overrides: { endpoints: [{ location: tokenEndpoint, protocol: 'OAuth2', usage: 'issuance' }] } });
  }

  before(async () => {
    sts = await createPartner({ principal: STS, realm: TENANT, identity: 'microsoft.sts' });
    stsServer = await sts.serveMetadata();
    tokenEndpoint = `${new URL(stsServer.url).origin}/${TENANT}/tokens/OAuth/2`;
    markers = secretMarkers([sts.certificate]);
  });

  after(async () => {
    await stsServer.close();
    folder.remove();
  });

  beforeEach(() => {
    registryFile = folder.file(`registry-${++count}.sqlite`);
    stsServer.respondWith(stsDocument());
  });

  it('adds an OAuth server by metadata URL, fetched and checked first, and shows its token endpoint', async () => {
    const out = succeeded(await run('oauth-server', 'add', 'microsoft.sts', '--metadata-url', stsServer.url, '--allow-loopback'));
    expect(out).to.match(/^added OAuth server microsoft\.sts\n/);
    expect(out).to.match(new RegExp(`\\nissuer: +${STS}@${TENANT}\\n`));
    expect(out).to.match(new RegExp(`\\ntoken endpoint: +${tokenEndpoint}\\n`));
    expect(stored()).to.have.length(1);
    expect(stored()[0]).to.deep.include({ identity: 'microsoft.sts', realm: TENANT, issuer: `${STS}@${TENANT}`, allowLoopback: true, enabled: true, metadataUrl: stsServer.url });
  });

  it('adds one for every realm (*), disabled, and prints it as JSON', async () => {
    const json = JSON.parse(succeeded(await run('oauth-server', 'add', 'any.sts', '--metadata-url', stsServer.url, '--allow-loopback', '--realm', '*', '--disabled', '--json'))) as OAuthServerView;
    expect(json).to.deep.include({ identity: 'any.sts', realm: '*', enabled: false, allowLoopback: true, authorizationUri: tokenEndpoint });
    expect(succeeded(await run('oauth-server', 'get', 'any.sts'))).to.match(/\nrealm: +\* \(every realm this server serves\)\n/);
  });

  it('refuses a document for another realm, a second server for one realm, and a missing --metadata-url; stores nothing', async () => {
    expect(failed(await run('oauth-server', 'add', 'microsoft.sts', '--metadata-url', stsServer.url, '--allow-loopback', '--realm', 'contoso.com'), 1)).to.equal(
      `s2sauth: --metadata-url: the document's issuer is not ${STS}@contoso.com, which contradicts the registration`,
    );
    stsServer.respondWith('nonsense');
    expect(failed(await run('oauth-server', 'add', 'microsoft.sts', '--metadata-url', stsServer.url, '--allow-loopback'), 1)).to.match(/^s2sauth: --metadata-url: /);
    expect(failed(await run('oauth-server', 'add', 'microsoft.sts'), 2)).to.equal("s2sauth: required option '--metadata-url <url>' not specified (see --help)");
    expect(stored()).to.deep.equal([]);
    stsServer.respondWith(stsDocument());
    succeeded(await run('oauth-server', 'add', 'microsoft.sts', '--metadata-url', stsServer.url, '--allow-loopback'));
    expect(failed(await run('oauth-server', 'add', 'other.sts', '--metadata-url', stsServer.url, '--allow-loopback'), 1)).to.equal(
      `s2sauth: --realm: OAuth server "microsoft.sts" is already registered for realm ${TENANT}`,
    );
    expect(stored().map((server) => server.identity)).to.deep.equal(['microsoft.sts']);
  });

  it('changes only the options given, lists, disables, enables and removes', async () => {
    succeeded(await run('oauth-server', 'add', 'microsoft.sts', '--metadata-url', stsServer.url, '--allow-loopback'));
    expect(succeeded(await run('oauth-server', 'set', 'microsoft.sts', '--realm', '*'))).to.match(/^changed OAuth server microsoft\.sts\n/);
    expect(stored()[0]).to.deep.include({ realm: '*', enabled: true });
    succeeded(await run('oauth-server', 'set', 'microsoft.sts', '--disabled'));
    expect(stored()[0]).to.deep.include({ realm: '*', enabled: false });
    succeeded(await run('oauth-server', 'set', 'microsoft.sts', '--enabled', '--realm', TENANT));
    expect(stored()[0]).to.deep.include({ realm: TENANT, enabled: true });
    expect(failed(await run('oauth-server', 'set', 'microsoft.sts', '--no-allow-loopback'), 1)).to.match(/^s2sauth: --metadata-url: must be an https URL/);

    const lines = succeeded(await run('oauth-server', 'list')).trimEnd().split('\n');
    expect(lines[0]).to.match(/^IDENTITY +REALM +ENABLED +ISSUER +METADATA URL$/);
    expect(lines[1]?.split(/ {2,}/)).to.deep.equal(['microsoft.sts', TENANT, 'yes', `${STS}@${TENANT}`, stsServer.url]);
    const json = JSON.parse(succeeded(await run('oauth-server', 'list', '--json'))) as OAuthServerView[];
    expect(json.map((server) => server.identity)).to.deep.equal(['microsoft.sts']);
    // Another process (this command) has not read the document: no token endpoint to show.
    expect(json[0]).not.to.have.property('authorizationUri');

    expect(succeeded(await run('oauth-server', 'disable', 'microsoft.sts'))).to.match(/^disabled OAuth server microsoft\.sts\n[\s\S]*\nenabled: +no\n/);
    expect(stored()[0]?.enabled).to.equal(false);
    expect((JSON.parse(succeeded(await run('oauth-server', 'enable', 'microsoft.sts', '--json'))) as OAuthServerView).enabled).to.equal(true);
    expect(succeeded(await run('oauth-server', 'remove', 'microsoft.sts', '--json'))).to.equal('{\n  "removed": true,\n  "identity": "microsoft.sts"\n}\n');
    expect(succeeded(await run('oauth-server', 'list'))).to.equal('no OAuth servers\n');
  });

  it('refuses an unknown identity (exit 1) and nothing to change (exit 2)', async () => {
    succeeded(await run('oauth-server', 'add', 'microsoft.sts', '--metadata-url', stsServer.url, '--allow-loopback'));
    for (const command of ['get', 'remove', 'enable', 'disable']) {
      expect(failed(await run('oauth-server', command, 'nobody'), 1)).to.equal('s2sauth: no OAuth server named "nobody"');
    }
    expect(failed(await run('oauth-server', 'set', 'nobody', '--disabled'), 1)).to.equal('s2sauth: no OAuth server named "nobody"');
    expect(failed(await run('oauth-server', 'set', 'microsoft.sts'), 2)).to.equal('s2sauth: nothing to change: give at least one option (see s2sauth oauth-server set --help)');
    expect(succeeded(await run('oauth-server', 'remove', 'microsoft.sts'))).to.equal('removed OAuth server microsoft.sts\n');
  });
});
