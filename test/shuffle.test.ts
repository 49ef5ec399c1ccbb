/**
 * The seeded shuffle of `npm test` (test/support/shuffle.cjs): the same seed gives the same order,
 * every describe block is reordered (tests and suites, hooks untouched), and a bad seed is refused.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface FakeSuite {
  tests: string[];
  suites: FakeSuite[];
}
interface ShuffleModule {
  shuffleSuite(suite: FakeSuite, random: () => number): void;
  prng(seed: number): () => number;
  seedFromEnvironment(value: string | undefined): number | undefined;
}

const shuffleModule = createRequire(import.meta.url)('./support/shuffle.cjs') as ShuffleModule;
const repositoryRoot = fileURLToPath(new URL('../', import.meta.url));

function tree(): FakeSuite {
  const names = (prefix: string): string[] => Array.from({ length: 8 }, (_, i) => `${prefix}${i}`);
  return { tests: names('t'), suites: [{ tests: names('a'), suites: [] }, { tests: names('b'), suites: [{ tests: names('c'), suites: [] }] }, { tests: [], suites: [] }] };
}

describe('the seeded shuffle (test/support/shuffle.cjs)', () => {
  it('reorders tests and suites at every depth, the same way for the same seed', () => {
    const once = tree();
    const twice = tree();
    shuffleModule.shuffleSuite(once, shuffleModule.prng(20300115));
    shuffleModule.shuffleSuite(twice, shuffleModule.prng(20300115));
    expect(once).to.deep.equal(twice);
    const original = tree();
    expect(once.tests).to.not.deep.equal(original.tests);
    expect([...once.tests].sort()).to.deep.equal(original.tests);
    const b = once.suites.find((suite) => suite.suites.length > 0) as FakeSuite;
    expect(b.tests).to.not.deep.equal(original.suites[1]?.tests);
    expect(b.suites[0]?.tests).to.not.deep.equal(original.suites[1]?.suites[0]?.tests);
    expect(once.suites.map((suite) => suite.tests[0] ?? '')).to.not.deep.equal(original.suites.map((suite) => suite.tests[0] ?? ''));
    const other = tree();
    shuffleModule.shuffleSuite(other, shuffleModule.prng(1));
    expect(other).to.not.deep.equal(once);
  });

  it('takes its seed from S2S_TEST_SEED (default 20300115, "off" to keep the file order) and refuses anything else', () => {
    expect(shuffleModule.seedFromEnvironment(undefined)).to.equal(20300115);
    expect(shuffleModule.seedFromEnvironment('')).to.equal(20300115);
    expect(shuffleModule.seedFromEnvironment('42')).to.equal(42);
    expect(shuffleModule.seedFromEnvironment('off')).to.equal(undefined);
    for (const bad of ['-1', '1.5', 'abc', '0x10']) expect(() => shuffleModule.seedFromEnvironment(bad)).to.throw(TypeError, 'S2S_TEST_SEED');
  });

  it('prints its seed first and runs the tests of a file in the seed order under mocha', async function () {
    this.timeout(60_000);
    const folder = mkdtempSync(join(tmpdir(), 's2sauth-shuffle-'));
    try {
      const file = join(folder, 'order.test.cjs');
      writeFileSync(file, "const order = [];\ndescribe('x', () => {\n  for (let i = 0; i < 10; i++) it(`t${i}`, () => { order.push(i); });\n  after(() => { process.stdout.write(`order ${order.join(',')}\\n`); });\n});\n");
      const run = (seed: string): Promise<string> =>
        new Promise((resolve, reject) => {
          execFile(process.execPath, [join(repositoryRoot, 'node_modules/mocha/bin/mocha.js'), '--no-config', '--reporter', 'dot', '--require', join(repositoryRoot, 'test/support/shuffle.cjs'), file], { cwd: folder, env: { ...process.env, S2S_TEST_SEED: seed } }, (error, stdout) =>
            error ? reject(error) : resolve(stdout),
          );
        });
      const first = await run('7');
      expect(first).to.match(/^\s*mocha shuffle: seed 7 \(replay with S2S_TEST_SEED=7\)\n/);
      const order = /order ([\d,]+)/.exec(first)?.[1];
      expect(order).to.not.equal('0,1,2,3,4,5,6,7,8,9');
      expect(/order ([\d,]+)/.exec(await run('7'))?.[1]).to.equal(order);
      expect(/order ([\d,]+)/.exec(await run('off'))?.[1]).to.equal('0,1,2,3,4,5,6,7,8,9');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
