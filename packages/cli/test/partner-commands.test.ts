import { expect } from 'chai';
import { after, afterEach, before, beforeEach, describe, it } from 'mocha';
import { writeFileSync } from 'node:fs';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { PartnerRegistry } from '@s2sauth/middleware';
import { SqliteStore, type PartnerApplication } from '@s2sauth/store';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { createCertificate, createPartner, type MetadataServer, type TestPartner } from '@s2sauth/test-support/partners';
import type { PartnerView } from '../src/partner-commands.js';
import { failed, readStore, runOn, secretMarkers, succeeded, temporaryFolder, type CliRun } from './run-cli.js';

const CRM = '5b1f8d6e-3f5a-4c1e-9a57-0c9e2d6f4b21';

describe('s2sauth partner', () => {
  const folder = temporaryFolder();
  let lync: TestPartner;
  let lyncServer: MetadataServer;
  let crmCertificate: OAuthCertificate;
  let otherCertificate: OAuthCertificate;
  let markers: string[];
  let registryFile: string;
  let count = 0;

  const run = (...args: string[]): Promise<CliRun> => runOn(registryFile, markers, ...args);

  /** What the registry file holds, read back through a store of its own. */
  const stored = (): PartnerApplication[] => readStore(registryFile, (store) => store.list());

  function storedPartner(identity: string): PartnerApplication {
    const partner = stored().find((entry) => entry.identity === identity);
    expect(partner, identity).not.to.equal(undefined);
    return partner as PartnerApplication;
  }

  before(async () => {
    crmCertificate = await createCertificate(['contoso.com']);
    otherCertificate = await createCertificate(['fabrikam.com']);
    lync = await createPartner({ principal: WellKnownPrincipal.lync, identity: 'microsoft.lync' });
    lyncServer = await lync.serveMetadata();
    markers = secretMarkers([crmCertificate, otherCertificate, lync.certificate]);
    writeFileSync(folder.file('crm.pem'), crmCertificate.pem);
    writeFileSync(folder.file('other.pem'), otherCertificate.pem);
    writeFileSync(folder.file('chain.pem'), `${crmCertificate.pem}${otherCertificate.pem.replace(/\n/g, '\r\n')}`);
    writeFileSync(folder.file('crm.b64'), `${crmCertificate.der.toString('base64')}\n`);
    writeFileSync(folder.file('crm.der'), crmCertificate.der);
    writeFileSync(folder.file('key.pem'), crmCertificate.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(folder.file('empty.pem'), '\n');
    writeFileSync(folder.file('request.pem'), '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n');
  });

  after(async () => {
    await lyncServer.close();
    folder.remove();
  });

  beforeEach(() => {
    registryFile = folder.file(`registry-${++count}.sqlite`);
    lyncServer.respondWith();
  });

  afterEach(() => {
    lyncServer.respondWith();
  });

  const byCertificate = ['--certificate', 'PATH', '--application-id', CRM, '--realm', 'contoso.com'];
  const certificateArgs = (file = 'crm.pem'): string[] => byCertificate.map((arg) => (arg === 'PATH' ? folder.file(file) : arg));

  describe('add', () => {
    it('adds a partner by certificate, creating the registry file, and shows its thumbprint, never the certificate', async () => {
      const out = succeeded(await run('partner', 'add', 'contoso.crm', ...certificateArgs(), '--trust-level', 'application', '--scope', 'contacts.read', 'contacts.write'));
      expect(out).to.match(/^added partner application contoso\.crm\n/);
      expect(out).to.include(`x5t ${crmCertificate.x5t}`);
      expect(out).to.match(/trust level: +application/);
      expect(out).to.match(/scopes: +contacts\.read contacts\.write/);
      const partner = storedPartner('contoso.crm');
      expect(partner).to.deep.include({ applicationId: CRM, realm: 'contoso.com', trustLevel: 'application', enabled: true, acceptUnsignedUserContext: false });
      expect(partner.scopes).to.deep.equal(['contacts.read', 'contacts.write']);
      expect(partner.keySource.kind).to.equal('certificate');
    });

    it('adds a partner by metadata URL with --allow-loopback, taking the application and realm from the document', async () => {
      const out = succeeded(await run('partner', 'add', 'microsoft.lync', '--metadata-url', lyncServer.url, '--allow-loopback', '--scope', 'conferences.read'));
      expect(out).to.include(`metadata ${lyncServer.url} (loopback allowed)`);
      const partner = storedPartner('microsoft.lync');
      expect(partner).to.deep.include({ applicationId: WellKnownPrincipal.lync, realm: 'contoso.com', enabled: true });
      expect(partner.keySource).to.deep.equal({ kind: 'metadata', metadataUrl: lyncServer.url, allowLoopback: true });
    });

    it('adds a partner trusted through an OAuth server, disabled, accepting unsigned user context', async () => {
      succeeded(
        await run('partner', 'add', 'microsoft.exchange', '--use-oauth-server', '--application-id', WellKnownPrincipal.exchange, '--realm', 'contoso.com', '--disabled', '--accept-unsigned-user-context'),
      );
      expect(storedPartner('microsoft.exchange')).to.deep.include({ enabled: false, acceptUnsignedUserContext: true, keySource: { kind: 'oauthServer' } });
    });

    it('reads PEM chains (CRLF too), base64 DER and binary DER certificate files', async () => {
      succeeded(await run('partner', 'add', 'chain', ...certificateArgs('chain.pem')));
      const chain = storedPartner('chain').keySource;
      expect(chain.kind === 'certificate' ? chain.certificates.length : 0).to.equal(2);
      succeeded(await run('partner', 'add', 'base64', '--certificate', folder.file('crm.b64'), '--application-id', WellKnownPrincipal.exchange, '--realm', 'contoso.com'));
      succeeded(await run('partner', 'add', 'binary', '--certificate', folder.file('crm.der'), '--application-id', WellKnownPrincipal.sharepoint, '--realm', 'contoso.com'));
      const json = JSON.parse(succeeded(await run('partner', 'list', '--json'))) as PartnerView[];
      const thumbprints = json.map((view) => (view.keySource.kind === 'certificate' ? view.keySource.certificates.map((summary) => ('x5t' in summary ? summary.x5t : '')) : []));
      expect(thumbprints).to.deep.equal([[crmCertificate.x5t], [crmCertificate.x5t], [crmCertificate.x5t, otherCertificate.x5t]]);
    });

    it('refuses a metadata document that is not valid and stores nothing', async () => {
      lyncServer.respondWith('{"keys": "not a list"}');
      const line = failed(await run('partner', 'add', 'microsoft.lync', '--metadata-url', lyncServer.url, '--allow-loopback'), 1);
      expect(line).to.match(/^s2sauth: --metadata-url: /);
      expect(stored()).to.deep.equal([]);
    });

    it('refuses a metadata document that contradicts --realm and stores nothing', async () => {
      const line = failed(await run('partner', 'add', 'microsoft.lync', '--metadata-url', lyncServer.url, '--allow-loopback', '--realm', 'fabrikam.com'), 1);
      expect(line).to.equal("s2sauth: --metadata-url: the document's issuer is not 00000004-0000-0ff1-ce00-000000000000@fabrikam.com, which contradicts the registration");
      expect(stored()).to.deep.equal([]);
    });

    it('refuses a metadata URL that cannot be fetched, or a loopback one without --allow-loopback', async () => {
      lyncServer.respondWith('gone', 500);
      expect(failed(await run('partner', 'add', 'microsoft.lync', '--metadata-url', lyncServer.url, '--allow-loopback'), 1)).to.match(
        /^s2sauth: --metadata-url: the document could not be fetched: /,
      );
      expect(failed(await run('partner', 'add', 'microsoft.lync', '--metadata-url', lyncServer.url), 1)).to.match(/^s2sauth: --metadata-url: must be an https URL/);
      expect(stored()).to.deep.equal([]);
    });

    it('refuses what the registry refuses: a bad identity, a second registration of one identity or application', async () => {
      expect(failed(await run('partner', 'add', 'Contoso CRM', ...certificateArgs()), 1)).to.match(/^s2sauth: identity: must be 1 to 64/);
      succeeded(await run('partner', 'add', 'contoso.crm', ...certificateArgs()));
      expect(failed(await run('partner', 'add', 'contoso.crm', ...certificateArgs()), 1)).to.equal('s2sauth: identity: a partner named "contoso.crm" is already registered');
      expect(failed(await run('partner', 'add', 'crm.again', ...certificateArgs()), 1)).to.match(/^s2sauth: --application-id: application .* is already registered under another identity$/);
      expect(failed(await run('partner', 'add', 'no.realm', '--certificate', folder.file('crm.pem'), '--application-id', CRM), 1)).to.equal(
        's2sauth: --realm: is required with a certificate or an OAuth server',
      );
      expect(stored().map((partner) => partner.identity)).to.deep.equal(['contoso.crm']);
    });

    it('refuses certificate files that hold a private key, nothing, or no certificate, or cannot be read', async () => {
      const attempts: [string, RegExp][] = [
        ['key.pem', /contains a private key: give a file with the certificate only/],
        ['empty.pem', /empty\.pem is empty$/],
        ['request.pem', /request\.pem holds no PEM CERTIFICATE block$/],
        ['missing.pem', /^s2sauth: cannot read the certificate file .*missing\.pem: ENOENT/],
      ];
      for (const [file, message] of attempts) {
        expect(failed(await run('partner', 'add', 'contoso.crm', ...certificateArgs(file)), 1)).to.match(message);
      }
      expect(stored()).to.deep.equal([]);
    });

    it('is a usage error (exit 2) to give no key source or two of them', async () => {
      expect(failed(await run('partner', 'add', 'contoso.crm', '--application-id', CRM, '--realm', 'contoso.com'), 2)).to.equal(
        's2sauth: give a key source: --metadata-url, --certificate or --use-oauth-server',
      );
      expect(failed(await run('partner', 'add', 'contoso.crm', ...certificateArgs(), '--use-oauth-server'), 2)).to.equal(
        's2sauth: give only one key source: --metadata-url, --certificate or --use-oauth-server',
      );
    });
  });

  describe('set', () => {
    beforeEach(async () => {
      succeeded(await run('partner', 'add', 'contoso.crm', ...certificateArgs(), '--scope', 'a', 'b'));
    });

    it('changes only the options given', async () => {
      const out = succeeded(await run('partner', 'set', 'contoso.crm', '--scope', 'c', '--trust-level', 'user', '--accept-unsigned-user-context'));
      expect(out).to.match(/^changed partner application contoso\.crm\n/);
      const partner = storedPartner('contoso.crm');
      expect(partner).to.deep.include({ trustLevel: 'user', acceptUnsignedUserContext: true, applicationId: CRM, enabled: true });
      expect(partner.scopes).to.deep.equal(['c']);
      succeeded(await run('partner', 'set', 'contoso.crm', '--no-scope', '--no-accept-unsigned-user-context', '--disabled'));
      expect(storedPartner('contoso.crm')).to.deep.include({ scopes: [], acceptUnsignedUserContext: false, enabled: false, trustLevel: 'user' });
      succeeded(await run('partner', 'set', 'contoso.crm', '--enabled'));
      expect(storedPartner('contoso.crm').enabled).to.equal(true);
    });

    it('replaces the key source: another certificate, then a metadata URL (fetched and checked), then no loopback (refused)', async () => {
      succeeded(await run('partner', 'set', 'contoso.crm', '--certificate', folder.file('other.pem')));
      const source = storedPartner('contoso.crm').keySource;
      expect(source.kind === 'certificate' ? source.certificates : []).to.have.length(1);
      const json = JSON.parse(succeeded(await run('partner', 'get', 'contoso.crm', '--json'))) as PartnerView;
      expect(json.keySource).to.deep.include({ kind: 'certificate' });
      expect(json.keySource.kind === 'certificate' ? json.keySource.certificates[0] : undefined).to.include({ x5t: otherCertificate.x5t, subject: 'CN=fabrikam.com' });

      // The document names Lync, not the application registered: refused, nothing changed.
      expect(failed(await run('partner', 'set', 'contoso.crm', '--metadata-url', lyncServer.url, '--allow-loopback'), 1)).to.match(/contradicts the registration$/);
      succeeded(await run('partner', 'set', 'contoso.crm', '--metadata-url', lyncServer.url, '--allow-loopback', '--application-id', WellKnownPrincipal.lync));
      expect(storedPartner('contoso.crm')).to.deep.include({ applicationId: WellKnownPrincipal.lync, keySource: { kind: 'metadata', metadataUrl: lyncServer.url, allowLoopback: true } });
      expect(failed(await run('partner', 'set', 'contoso.crm', '--no-allow-loopback'), 1)).to.match(/^s2sauth: --metadata-url: must be an https URL/);
      expect(storedPartner('contoso.crm').keySource).to.deep.include({ allowLoopback: true });
    });

    it('refuses an unknown identity (exit 1), nothing to change and --enabled with --disabled (exit 2)', async () => {
      expect(failed(await run('partner', 'set', 'nobody', '--scope', 'a'), 1)).to.equal('s2sauth: no partner application named "nobody"');
      expect(failed(await run('partner', 'set', 'contoso.crm'), 2)).to.equal('s2sauth: nothing to change: give at least one option (see s2sauth partner set --help)');
      expect(failed(await run('partner', 'set', 'contoso.crm', '--enabled', '--disabled'), 2)).to.equal(
        "s2sauth: option '--enabled' cannot be used with option '--disabled' (see --help)",
      );
      expect(failed(await run('partner', 'set', 'contoso.crm', '--trust-level', 'root'), 2)).to.match(/argument 'root' is invalid\. Allowed choices are full, application, user\./);
    });
  });

  describe('get, list, remove, enable, disable', () => {
    it('lists partners as a table and as JSON, and says when there are none', async () => {
      succeeded(await run('partner', 'add', 'contoso.crm', ...certificateArgs(), '--scope', 'contacts.read'));
      expect(succeeded(await run('partner', 'remove', 'contoso.crm'))).to.equal('removed partner application contoso.crm\n');
      expect(succeeded(await run('partner', 'list'))).to.equal('no partner applications\n');
      expect(JSON.parse(succeeded(await run('partner', 'list', '--json')))).to.deep.equal([]);

      succeeded(await run('partner', 'add', 'contoso.crm', ...certificateArgs(), '--scope', 'contacts.read'));
      succeeded(await run('partner', 'add', 'microsoft.lync', '--metadata-url', lyncServer.url, '--allow-loopback'));
      succeeded(await run('partner', 'add', 'microsoft.exchange', '--use-oauth-server', '--application-id', WellKnownPrincipal.exchange, '--realm', 'contoso.com'));
      const lines = succeeded(await run('partner', 'list')).trimEnd().split('\n');
      expect(lines[0]).to.match(/^IDENTITY +APPLICATION ID +REALM +ENABLED +TRUST +KEY SOURCE +SCOPES$/);
      expect(lines.slice(1).map((line) => line.split(/ {2,}/))).to.deep.equal([
        ['contoso.crm', CRM, 'contoso.com', 'yes', 'full', `certificate (1): x5t ${crmCertificate.x5t}`, 'contacts.read'],
        ['microsoft.exchange', WellKnownPrincipal.exchange, 'contoso.com', 'yes', 'full', 'OAuth server', '(none)'],
        ['microsoft.lync', WellKnownPrincipal.lync, 'contoso.com', 'yes', 'full', `metadata ${lyncServer.url} (loopback allowed)`, '(none)'],
      ]);
      const json = JSON.parse(succeeded(await run('partner', 'list', '--json'))) as PartnerView[];
      expect(json.map((view) => view.identity)).to.deep.equal(['contoso.crm', 'microsoft.exchange', 'microsoft.lync']);
      expect(json[1]).to.deep.include({ issuer: `${WellKnownPrincipal.exchange}@contoso.com`, keySource: { kind: 'oauthServer' }, trustLevel: 'full', enabled: true });
      expect(json[2]?.keySource).to.deep.equal({ kind: 'metadata', metadataUrl: lyncServer.url, allowLoopback: true });
      expect(Date.parse(json[0]?.createdAt ?? '')).to.be.closeTo(Date.now(), 60_000);
    });

    it('shows one partner as a summary and as JSON', async () => {
      succeeded(await run('partner', 'add', 'microsoft.exchange', '--use-oauth-server', '--application-id', WellKnownPrincipal.exchange, '--realm', 'contoso.com'));
      const out = succeeded(await run('partner', 'get', 'microsoft.exchange'));
      expect(out).to.match(/^identity: +microsoft\.exchange\n/);
      expect(out).to.match(/\nkey source: +OAuth server \(actor tokens from the STS registered for its realm\)\n/);
      expect(out).to.match(/\nenabled: +yes\n/);
      const json = JSON.parse(succeeded(await run('partner', 'get', 'microsoft.exchange', '--json'))) as PartnerView;
      expect(json).to.deep.include({ identity: 'microsoft.exchange', applicationId: WellKnownPrincipal.exchange, realm: 'contoso.com', scopes: [] });
    });

    it('disables and enables a partner', async () => {
      succeeded(await run('partner', 'add', 'contoso.crm', ...certificateArgs()));
      expect(succeeded(await run('partner', 'disable', 'contoso.crm'))).to.match(/^disabled partner application contoso\.crm\n[\s\S]*\nenabled: +no\n/);
      expect(storedPartner('contoso.crm').enabled).to.equal(false);
      const json = JSON.parse(succeeded(await run('partner', 'enable', 'contoso.crm', '--json'))) as PartnerView;
      expect(json.enabled).to.equal(true);
      expect(storedPartner('contoso.crm').enabled).to.equal(true);
    });

    it('refuses an unknown identity with exit 1 and one line', async () => {
      succeeded(await run('partner', 'add', 'contoso.crm', ...certificateArgs()));
      for (const command of ['get', 'remove', 'enable', 'disable']) {
        expect(failed(await run('partner', command, 'nobody'), 1)).to.equal('s2sauth: no partner application named "nobody"');
      }
      expect(stored()).to.have.length(1);
    });

    it('shows a stored certificate it cannot read as unreadable, never its text', async () => {
      const store = SqliteStore.open(registryFile);
      store.put({
        identity: 'damaged',
        applicationId: CRM,
        realm: 'contoso.com',
        keySource: { kind: 'certificate', certificates: ['bm90IGEgY2VydGlmaWNhdGU='] },
        trustLevel: 'full',
        scopes: [],
        enabled: true,
      });
      store.close();
      expect(succeeded(await run('partner', 'get', 'damaged'))).to.match(/key source: +certificate \(1\)\n +unreadable certificate\n/);
      expect(succeeded(await run('partner', 'list'))).to.include('certificate (1): unreadable');
      const json = JSON.parse(succeeded(await run('partner', 'get', 'damaged', '--json'))) as PartnerView;
      expect(json.keySource).to.deep.equal({ kind: 'certificate', certificates: [{ unreadable: true }] });
      // Disabling works with a certificate that no longer loads: the key source is kept as it is.
      succeeded(await run('partner', 'disable', 'damaged'));
    });
  });

  it('leaves a registry a running PartnerRegistry in this process sees changed at once', async () => {
    succeeded(await run('partner', 'add', 'contoso.crm', ...certificateArgs()));
    const store = SqliteStore.open(registryFile, { pollIntervalMs: 20 });
    const registry = new PartnerRegistry({ store });
    try {
      const changes: (string | undefined)[] = [];
      registry.onChange((identity) => changes.push(identity));
      succeeded(await run('partner', 'disable', 'contoso.crm'));
      store.checkForChanges();
      expect(changes).to.deep.equal([undefined]);
      expect(registry.get('contoso.crm')?.enabled).to.equal(false);
    } finally {
      registry.close();
      store.close();
    }
  });
});
