/**
 * Runs the code examples of the package READMEs (`packages/*\/README.md`) as a reader would, so
 * that they cannot drift from the code. A runnable example is a ```ts block between
 * `<!-- readme-example:start -->` and `<!-- readme-example:end -->`, the marker of the root README's
 * example (test/readme.test.ts); its expected output is written in the block as `// prints: <line>`
 * comments, in order, and must be exactly what it prints. Every ```ts block of a package README is
 * such an example: a fragment that cannot run has no place there.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** One package README and its ```ts blocks. */
interface PackageReadme {
  readonly name: string;
  readonly runnable: readonly string[];
  readonly unmarked: number;
}

/** Reads every package README now, so that each example becomes a test of its own. */
const readmes: PackageReadme[] = [];
for (const name of (await readdir(join(root, 'packages'))).sort()) {
  const file = join(root, 'packages', name, 'README.md');
  if (!existsSync(file)) continue;
  const markdown = await readFile(file, 'utf8');
  const runnable = [...markdown.matchAll(/<!-- readme-example:start -->\s*```ts\n([\s\S]*?)```\s*<!-- readme-example:end -->/g)].map((match) => match[1] as string);
  const blocks = [...markdown.matchAll(/^```ts$/gm)].length;
  readmes.push({ name, runnable, unmarked: blocks - runnable.length });
}

/** The output a block announces, one `// prints: <line>` comment per line. */
function announcedOutput(example: string): string[] {
  return [...example.matchAll(/\/\/ prints: (.*)$/gm)].map((match) => (match[1] as string).trimEnd());
}

describe('package README examples', () => {
  // Written inside the repository, so that they resolve the workspace packages as a user's file
  // would; run in an empty folder of their own, so that the files they create (.data/...) land there.
  const dir = join(root, 'test', '.tmp', 'package-readmes');
  after(() => rm(dir, { recursive: true, force: true }));

  it('finds every package README', () => {
    expect(readmes.map((readme) => readme.name)).to.include.members(['cli', 'issuer', 'middleware', 'protocol', 'store']);
  });

  for (const readme of readmes) {
    it(`packages/${readme.name}/README.md has a runnable example and no other ts block`, () => {
      expect(readme.runnable, 'marked examples').to.not.be.empty;
      expect(readme.unmarked, 'ts blocks without the readme-example marker').to.equal(0);
    });

    readme.runnable.forEach((example, index) => {
      it(`packages/${readme.name}/README.md example ${index + 1} runs as printed and prints what it says`, async function () {
        this.timeout(60_000);
        const expected = announcedOutput(example);
        expect(expected, 'the block announces its output with // prints: comments').to.not.be.empty;
        await mkdir(dir, { recursive: true });
        const file = join(dir, `${readme.name}-${index + 1}-${process.pid}.ts`);
        await writeFile(file, example);
        const cwd = await mkdtemp(join(tmpdir(), `s2sauth-readme-${readme.name}-`));
        try {
          // A separate process, as a reader runs it (tsx named by its location, since cwd is elsewhere);
          // kept out of coverage (an empty NODE_V8_COVERAGE).
          const tsx = import.meta.resolve('tsx');
          const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=s2sauth-source', `--import=${tsx}`, file], {
            cwd,
            env: { ...process.env, NODE_V8_COVERAGE: '' },
          });
          expect(stdout.trimEnd().split('\n')).to.deep.equal(expected);
        } finally {
          await rm(cwd, { recursive: true, force: true });
        }
      });
    });
  }
});
