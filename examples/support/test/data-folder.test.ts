import { X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadOrCreateCertificate, loadOrCreateSessionSecret, openDataFolder, type DataFolder } from '../src/data-folder.js';

/** What `promise` rejects with; `undefined` when it resolves. */
const failure = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (error: unknown) => error);

describe('data folder', () => {
  let root: string;
  let folder: DataFolder;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 's2sauth-support-'));
    folder = await openDataFolder(join(root, 'nested', 'server'), 'server.sqlite');
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates the folder with mode 0700 and names its files', async () => {
    expect((await stat(folder.path)).mode & 0o777).to.equal(0o700);
    expect(folder).to.deep.equal({
      path: folder.path,
      database: join(folder.path, 'server.sqlite'),
      registryDatabase: join(folder.path, 's2sauth.sqlite'),
      certificate: join(folder.path, 'oauth-cert.pem'),
      privateKey: join(folder.path, 'oauth-key.pem'),
      sessionSecret: join(folder.path, 'session-secret'),
    });
  });

  it('makes an existing folder readable by its owner only', async () => {
    await chmod(folder.path, 0o755);
    const again = await openDataFolder(folder.path, 'server.sqlite');
    expect((await stat(again.path)).mode & 0o777).to.equal(0o700);
  });

  it('creates the OAuth certificate for every realm with both files 0600, then loads the same one', async () => {
    const first = await loadOrCreateCertificate(folder, ['contoso.com', 'fabrikam.com']);
    expect(first.created).to.equal(true);
    for (const file of [folder.certificate, folder.privateKey]) expect((await stat(file)).mode & 0o777, file).to.equal(0o600);
    const x509 = new X509Certificate(await readFile(folder.certificate));
    expect(x509.subject).to.equal('CN=contoso.com');
    expect(x509.subjectAltName).to.equal('DNS:contoso.com, DNS:fabrikam.com');

    // A key copied in with a looser mode is tightened on load.
    await chmod(folder.privateKey, 0o644);
    const second = await loadOrCreateCertificate(folder, ['contoso.com']);
    expect(second.created).to.equal(false);
    expect(second.certificate.x5t).to.equal(first.certificate.x5t);
    expect((await stat(folder.privateKey)).mode & 0o777).to.equal(0o600);
  });

  it('refuses a saved certificate that does not cover a realm added since', async () => {
    await loadOrCreateCertificate(folder, ['contoso.com']);
    const error = await failure(loadOrCreateCertificate(folder, ['contoso.com', 'fabrikam.com']));
    expect(error).to.be.instanceOf(TypeError);
    expect((error as Error).message).to.contain('fabrikam.com');
  });

  it('refuses half a key pair, naming the missing file', async () => {
    await loadOrCreateCertificate(folder, ['contoso.com']);
    await unlink(folder.certificate);
    const error = await failure(loadOrCreateCertificate(folder, ['contoso.com']));
    expect(error).to.be.instanceOf(TypeError);
    expect((error as Error).message).to.contain('oauth-key.pem but no oauth-cert.pem');
  });

  it('creates a 256-bit session secret with mode 0600 once, and reads it back', async () => {
    const secret = await loadOrCreateSessionSecret(folder);
    expect(secret).to.match(/^[0-9a-f]{64}$/);
    expect((await stat(folder.sessionSecret)).mode & 0o777).to.equal(0o600);
    expect(await loadOrCreateSessionSecret(folder)).to.equal(secret);
  });

  it('reads a secret written in another form (trimmed), tightens its mode, and refuses one too short', async () => {
    const kept = `${'A'.repeat(43)}\n`;
    await writeFile(folder.sessionSecret, kept, { mode: 0o644 });
    expect(await loadOrCreateSessionSecret(folder)).to.equal('A'.repeat(43));
    expect((await stat(folder.sessionSecret)).mode & 0o777).to.equal(0o600);

    await writeFile(folder.sessionSecret, 'short');
    const error = await failure(loadOrCreateSessionSecret(folder));
    expect(error).to.be.instanceOf(TypeError);
    expect((error as Error).message).to.contain('session secret');
  });
});
