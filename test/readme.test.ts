import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

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

  it('runs as printed and prints exactly the result the README shows', async function () {
    this.timeout(60_000);
    await mkdir(dir, { recursive: true });
    const example = await readmeExample();
    const file = join(dir, `readme-example-${process.pid}.ts`);
    await writeFile(file, example);
    // A separate process, as a reader runs it; kept out of coverage (an empty NODE_V8_COVERAGE),
    // whose merge a second process loading the same sources would only blur.
    const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=s2sauth-source', '--import=tsx', file], {
      cwd: root,
      env: { ...process.env, NODE_V8_COVERAGE: '' },
    });
    const shown = /^\/\/ (200 .*)$/m.exec(example)?.[1];
    expect(shown, 'the README shows the expected output as a // comment').to.be.a('string');
    expect(stdout.trim()).to.equal(shown);
  });
});
