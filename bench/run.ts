/**
 * `npm run bench`: runs every benchmark in this directory, one after the other.
 *
 * A benchmark is a file `bench/<name>.bench.ts` whose default export is an async function that
 * measures, prints its own table and returns a {@link BenchOutcome}. Adding a benchmark is adding
 * such a file; nothing here changes.
 *
 *   npm run bench                  every benchmark
 *   npm run bench -- issuer        only those whose file name contains "issuer"
 *   npm run bench -- --check       exit with status 1 when a benchmark misses its target
 *
 * Benchmarks are for people and CI logs: numbers vary between machines and runs, so no test
 * asserts on them.
 */
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** What a benchmark reports back after printing its table. */
export interface BenchOutcome {
  /** Whether the benchmark met its target (true when it has none). */
  readonly ok: boolean;
  /** One line for the closing summary, e.g. "issueAppOnly at 0.97x raw RS256 (target >= 0.90x)". */
  readonly summary: string;
}

interface BenchModule {
  readonly default: () => Promise<BenchOutcome>;
}

const SUFFIX = '.bench.ts';

async function main(argv: readonly string[]): Promise<void> {
  const check = argv.includes('--check');
  const filters = argv.filter((arg) => !arg.startsWith('--'));
  const directory = dirname(fileURLToPath(import.meta.url));
  const files = (await readdir(directory))
    .filter((file) => file.endsWith(SUFFIX))
    .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
    .sort();
  if (files.length === 0) {
    console.error(`No benchmark matches ${filters.join(', ')}.`);
    process.exitCode = 1;
    return;
  }

  console.log(`node ${process.version}, ${process.platform}/${process.arch}`);
  const outcomes: Array<[string, BenchOutcome]> = [];
  for (const file of files) {
    const name = file.slice(0, -SUFFIX.length);
    console.log(`\n== ${name}`);
    const module = (await import(pathToFileURL(join(directory, file)).href)) as BenchModule;
    outcomes.push([name, await module.default()]);
  }

  console.log('\n== summary');
  for (const [name, outcome] of outcomes) {
    console.log(`${outcome.ok ? 'ok  ' : 'MISS'}  ${name}: ${outcome.summary}`);
  }
  if (check && outcomes.some(([, outcome]) => !outcome.ok)) process.exitCode = 1;
}

await main(process.argv.slice(2));
