import { expect } from 'chai';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The README's quick-start block, exactly as a reader copies it. */
async function readmeExample(): Promise<string> {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const match = /<!-- readme-example:start -->\s*```ts\n([\s\S]*?)```\s*<!-- readme-example:end -->/.exec(readme);
  if (!match?.[1]) throw new Error('README.md has no readme-example block');
  return match[1];
}

describe('README quick start', () => {
  // Written inside the repository so that it resolves the workspace packages as a user's file would.
  const dir = join(root, 'test', '.tmp');
  after(() => rm(dir, { recursive: true, force: true }));

  it('runs as printed and a partner call is accepted with the user and scopes of the token', async () => {
    await mkdir(dir, { recursive: true });
    const file = join(dir, `readme-example-${process.pid}.ts`);
    await writeFile(file, await readmeExample());
    const printed: unknown[][] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => void printed.push(args);
    try {
      await import(pathToFileURL(file).href);
    } finally {
      console.log = log;
    }
    expect(printed).to.deep.equal([
      [200, { partner: 'microsoft.lync', user: 'alice@contoso.com', scopes: ['contacts.read'] }],
    ]);
  });
});
