import { expect } from 'chai';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEMO_PASSWORD_FILE, resolveDemoPassword } from '../src/demo-password.js';
import { removeTemporaryFolders, temporaryFolder } from './support.js';

describe('resolveDemoPassword', () => {
  after(removeTemporaryFolders);

  it('generates a password on the first start and keeps it in <data>/demo-password with mode 0600', async () => {
    const dataDir = join(await temporaryFolder(), 'data');
    const result = await resolveDemoPassword(dataDir, {});
    expect(result.source).to.equal('generated');
    expect(result.password).to.match(/^[A-Za-z0-9]{16}$/);
    expect(result.file).to.equal(join(dataDir, DEMO_PASSWORD_FILE));
    expect(await readFile(result.file, 'utf8')).to.equal(`${result.password}\n`);
    expect((await stat(result.file)).mode & 0o777).to.equal(0o600);
    expect(result.differsFromStored).to.equal(false);
  });

  it('reuses the kept password on later starts', async () => {
    const dataDir = join(await temporaryFolder(), 'data');
    const first = await resolveDemoPassword(dataDir, {});
    const second = await resolveDemoPassword(dataDir, {});
    expect(second).to.deep.equal({ ...first, source: 'stored' });
  });

  it('generates different passwords for different data folders', async () => {
    const a = await resolveDemoPassword(join(await temporaryFolder(), 'data'), {});
    const b = await resolveDemoPassword(join(await temporaryFolder(), 'data'), {});
    expect(a.password).to.not.equal(b.password);
  });

  it('uses S2SAUTH_DEMO_PASSWORD when set and keeps it for starts without the variable', async () => {
    const dataDir = join(await temporaryFolder(), 'data');
    const fromEnvironment = await resolveDemoPassword(dataDir, { S2SAUTH_DEMO_PASSWORD: "it's a secret" });
    expect(fromEnvironment).to.include({ password: "it's a secret", source: 'environment', differsFromStored: false });
    const later = await resolveDemoPassword(dataDir, {});
    expect(later).to.include({ password: "it's a secret", source: 'stored' });
  });

  it('says when S2SAUTH_DEMO_PASSWORD differs from the kept password, and still uses the variable', async () => {
    const dataDir = join(await temporaryFolder(), 'data');
    const first = await resolveDemoPassword(dataDir, {});
    const changed = await resolveDemoPassword(dataDir, { S2SAUTH_DEMO_PASSWORD: 'something else' });
    expect(changed).to.include({ password: 'something else', source: 'environment', differsFromStored: true });
    expect(await readFile(first.file, 'utf8')).to.equal(`${first.password}\n`);
  });

  it('treats an empty S2SAUTH_DEMO_PASSWORD as unset', async () => {
    const dataDir = join(await temporaryFolder(), 'data');
    expect((await resolveDemoPassword(dataDir, { S2SAUTH_DEMO_PASSWORD: '' })).source).to.equal('generated');
  });

  it('reads a kept password written without a final newline, or with CRLF', async () => {
    const dataDir = join(await temporaryFolder(), 'data');
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, DEMO_PASSWORD_FILE), 'typed by hand');
    expect((await resolveDemoPassword(dataDir, {})).password).to.equal('typed by hand');
    await writeFile(join(dataDir, DEMO_PASSWORD_FILE), 'from windows\r\n');
    expect((await resolveDemoPassword(dataDir, {})).password).to.equal('from windows');
  });

  it('refuses an empty password file with a message naming it', async () => {
    const dataDir = join(await temporaryFolder(), 'data');
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, DEMO_PASSWORD_FILE), '\n');
    const error = await resolveDemoPassword(dataDir, {}).catch((failure: unknown) => failure as Error);
    expect(error).to.be.instanceOf(TypeError);
    expect((error as Error).message).to.include(DEMO_PASSWORD_FILE).and.include('empty');
  });

  it('passes on the file system error for a data folder that cannot be created', async () => {
    const file = join(await temporaryFolder(), 'a-file');
    await writeFile(file, '');
    const error = await resolveDemoPassword(join(file, 'data'), {}).catch((failure: unknown) => failure as NodeJS.ErrnoException);
    expect((error as NodeJS.ErrnoException).code).to.equal('ENOTDIR');
  });
});
