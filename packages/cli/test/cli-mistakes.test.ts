/**
 * Mistakes an administrator makes on the command line get an answer that names the mistake: a
 * file given as a certificate that is not one, a metadata URL that is not a URL (a usage error,
 * exit 2), and a name that differs from a registered one only in letter case.
 */
import { expect } from 'chai';
import { after, before, describe, it } from 'mocha';
import { existsSync, writeFileSync } from 'node:fs';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { SqliteStore } from '@s2sauth/store';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { createCertificate } from '@s2sauth/test-support/partners';
import { failed, s2sauth, succeeded, temporaryFolder, type CliRun } from './run-cli.js';

const CRM = '5b1f8d6e-3f5a-4c1e-9a57-0c9e2d6f4b21';
const CLIENT = `${WellKnownPrincipal.exchange}@contoso.com`;

describe('s2sauth: command-line mistakes', () => {
  const folder = temporaryFolder();
  let certificate: OAuthCertificate;
  let files = 0;
  const newRegistry = (): string => folder.file(`registry-${(files += 1)}.sqlite`);

  before(async () => {
    certificate = await createCertificate(['contoso.com']);
  });

  after(() => folder.remove());

  describe('--certificate given a file that is not a certificate', () => {
    const addWith = (file: string, store: string): Promise<CliRun> =>
      s2sauth(['partner', 'add', 'contoso.crm', '--certificate', file, '--application-id', CRM, '--realm', 'contoso.com', '--store', store]);

    it('says the file is not a PEM certificate, for text and for binary bytes, and stores nothing', async () => {
      const store = newRegistry();
      const notes = folder.file('notes.txt');
      writeFileSync(notes, 'These are my notes about the partner certificate\n');
      const bytes = folder.file('random.bin');
      writeFileSync(bytes, Buffer.from([0x01, 0x02, 0x03, 0x04, 0xff, 0xfe, 0x00, 0x10]));
      for (const file of [notes, bytes]) {
        const message = failed(await addWith(file, store), 1);
        expect(message).to.equal(
          `s2sauth: ${file} is not a PEM certificate: give a file with a -----BEGIN CERTIFICATE----- block (or one DER certificate, binary or base64)`,
        );
        expect(message).to.not.include('secret');
      }
      expect(existsSync(store)).to.equal(false);
      // The client commands read certificate files the same way.
      expect(failed(await s2sauth(['client', 'add', CLIENT, '--certificate', notes, '--store', store]), 1)).to.match(/notes\.txt is not a PEM certificate/);
    });

    it('still refuses a private key with its own message, in DER as in PEM', async () => {
      const store = newRegistry();
      const der = folder.file('key.der');
      writeFileSync(der, certificate.privateKey.export({ type: 'pkcs8', format: 'der' }));
      const base64 = folder.file('key.b64');
      writeFileSync(base64, certificate.privateKey.export({ type: 'pkcs1', format: 'der' }).toString('base64'));
      for (const file of [der, base64]) {
        expect(failed(await addWith(file, store), 1)).to.equal(
          `s2sauth: ${file} contains a private key: give a file with the certificate only (the registry never holds private keys)`,
        );
      }
    });

    it('accepts a certificate in binary DER and in base64 DER', async () => {
      const binary = folder.file('crm.der');
      writeFileSync(binary, certificate.der);
      const base64 = folder.file('crm.b64');
      writeFileSync(base64, `${certificate.der.toString('base64')}\n`);
      for (const file of [binary, base64]) succeeded(await addWith(file, newRegistry()));
    });
  });

  describe('a malformed --metadata-url', () => {
    it('is a command-line mistake (exit 2) for every command that takes one, and nothing is written', async () => {
      const store = newRegistry();
      const attempts: readonly (readonly string[])[] = [
        ['partner', 'add', 'microsoft.lync', '--metadata-url'],
        ['partner', 'set', 'microsoft.lync', '--metadata-url'],
        ['oauth-server', 'add', 'microsoft.sts', '--metadata-url'],
        ['oauth-server', 'set', 'microsoft.sts', '--metadata-url'],
        ['client', 'add', CLIENT, '--metadata-url'],
        ['client', 'set', CLIENT, '--metadata-url'],
      ];
      for (const args of attempts) {
        for (const url of ['not a url', 'mail.contoso.com/metadata/json/1', 'https://']) {
          const message = failed(await s2sauth([...args, url, '--store', store]), 2);
          expect(message, `${args.join(' ')} ${url}`).to.match(/expected an absolute URL, e\.g\. https:\/\/mail\.contoso\.com\/metadata\/json\/1/);
        }
      }
      expect(existsSync(store)).to.equal(false);
    });
  });

  describe('names that differ only in letter case', () => {
    let store: string;

    before(() => {
      store = newRegistry();
      const registry = SqliteStore.open(store);
      registry.put({ identity: 'microsoft.lync', applicationId: WellKnownPrincipal.lync, realm: 'contoso.com', keySource: { kind: 'oauthServer' }, trustLevel: 'full', scopes: [], enabled: true });
      registry.putOAuthServer({ identity: 'microsoft.sts', metadataUrl: 'https://sts.contoso.com/metadata/json/1', issuer: `${WellKnownPrincipal.sts}@contoso.com`, realm: 'contoso.com', enabled: true });
      registry.close();
    });

    it('are named in the refusal of get, set, enable, disable and remove: names are case-sensitive', async () => {
      for (const args of [['get'], ['set', '--scope', 'a'], ['enable'], ['disable'], ['remove']]) {
        const [verb, ...rest] = args as [string, ...string[]];
        expect(failed(await s2sauth(['partner', verb, 'Microsoft.Lync', ...rest, '--store', store]), 1), verb).to.equal(
          's2sauth: no partner application named "Microsoft.Lync"; did you mean "microsoft.lync"? (names are case-sensitive)',
        );
        expect(failed(await s2sauth(['oauth-server', verb === 'set' ? 'disable' : verb, 'MICROSOFT.STS', '--store', store]), 1)).to.equal(
          's2sauth: no OAuth server named "MICROSOFT.STS"; did you mean "microsoft.sts"? (names are case-sensitive)',
        );
      }
      // A name with no such twin gets the plain refusal.
      expect(failed(await s2sauth(['partner', 'get', 'microsoft.exchange', '--store', store]), 1)).to.equal('s2sauth: no partner application named "microsoft.exchange"');
      // Nothing was changed by the refused commands.
      const registry = SqliteStore.open(store, { readOnly: true });
      expect(registry.get('microsoft.lync')).to.deep.include({ enabled: true, scopes: [] });
      expect(registry.getOAuthServer('microsoft.sts')?.enabled).to.equal(true);
      registry.close();
    });

    it('cannot be added: names are lowercase, so no two differ only in case', async () => {
      expect(failed(await s2sauth(['partner', 'add', 'Microsoft.Lync', '--use-oauth-server', '--application-id', CRM, '--realm', 'contoso.com', '--store', store]), 1)).to.match(
        /^s2sauth: identity: must be 1 to 64 lowercase letters/,
      );
      const registry = SqliteStore.open(store, { readOnly: true });
      expect(registry.list().map((partner) => partner.identity)).to.deep.equal(['microsoft.lync']);
      registry.close();
    });
  });
});
