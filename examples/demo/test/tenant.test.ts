import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveTenant, TENANT_FILE } from '../src/tenant.js';
import { removeTemporaryFolders, temporaryFolder } from './support.js';

describe('resolveTenant', () => {
  after(removeTemporaryFolders);

  it('generates a lowercase GUID on the first start and keeps it in <scenario>/tenant', async () => {
    const folder = join(await temporaryFolder(), 'cloud');
    const tenant = await resolveTenant(folder);
    expect(tenant.realm).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(tenant).to.include({ file: join(folder, TENANT_FILE), created: true });
    expect(await readFile(tenant.file, 'utf8')).to.equal(`${tenant.realm}\n`);
  });

  it('returns the kept tenant on later starts', async () => {
    const folder = await temporaryFolder();
    const first = await resolveTenant(folder);
    const second = await resolveTenant(folder);
    expect(second).to.deep.equal({ ...first, created: false });
  });

  it('gives each new scenario folder its own tenant', async () => {
    const [a, b] = [await resolveTenant(await temporaryFolder()), await resolveTenant(await temporaryFolder())];
    expect(a.realm).to.not.equal(b.realm);
  });

  it('refuses a tenant file that does not hold a lowercase GUID', async () => {
    const folder = await temporaryFolder();
    for (const content of ['', 'contoso.com\n', '3F2A9C1E-7B4D-4E8F-9A6B-1C2D3E4F5A6B\n']) {
      await writeFile(join(folder, TENANT_FILE), content);
      const error = await resolveTenant(folder).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error, JSON.stringify(content)).to.be.instanceOf(TypeError);
      expect((error as TypeError).message).to.equal(`The tenant file ${join(folder, TENANT_FILE)} does not hold a lowercase GUID; remove the scenario folder to start over.`);
    }
  });

  it('passes on a file-system error other than an existing file', async () => {
    const file = join(await temporaryFolder(), 'not-a-folder');
    await writeFile(file, '');
    const error = await resolveTenant(join(file, 'cloud')).then(
      () => undefined,
      (failure: unknown) => failure as NodeJS.ErrnoException,
    );
    expect(error?.code).to.equal('ENOTDIR');
  });
});
