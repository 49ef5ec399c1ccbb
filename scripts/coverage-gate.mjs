// Coverage gate, run by `npm run test:packages` right after c8: every library package must keep
// >= 90% of its lines and branches covered, and every one of its source files >= 60% of its lines
// and branches (so that a file with no tests cannot hide inside its package's average). The branch
// floor applies to files with at least 5 branches: below that the count is the transpiled module's
// own (the types-only principal.ts scores 2/4 branches with nothing to test); the line floor still
// catches an untested small file. EXEMPT lists the files the per-file floor does not apply to, each
// with its reason; they still count in their package's figures. A file with no run-time code (only
// types and interfaces: esbuild compiles it to nothing) has nothing to cover; it is named in the
// report and counts neither for the floor nor in its package's figures (c8 counts a types-only file
// that no test loads as wholly uncovered).
//
// It reads c8's json-summary and refuses a summary that proves nothing: a missing or empty one, one
// whose paths are not in this checkout (copied from elsewhere), one that lacks a source file of a
// gated package (written before that file existed, or by a run that did not load the packages), one
// older than a source file it claims to measure, and a gated package with no lines at all.
//
// Usage: node scripts/coverage-gate.mjs [--root <checkout>] [--summary <file>]
// (defaults: the current folder, and <root>/coverage/coverage-summary.json). Exit 1 on a failure.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { transformSync } from 'esbuild';

/** Lines and branches every gated package must keep covered, in percent. */
const PACKAGE_THRESHOLD = 90;
/** Lines and branches every source file of a gated package must keep covered, in percent. */
const FILE_THRESHOLD = 60;
/** The packages under the gate (examples and tests are not). */
const GATED = ['packages/protocol', 'packages/discovery', 'packages/issuer', 'packages/middleware', 'packages/store', 'packages/cli'];
/** Files with fewer branches than this are held to the line floor only. */
const MIN_BRANCHES_FOR_FLOOR = 5;
/** Files exempt from the per-file floor, and why. */
const EXEMPT = new Map([
  ['packages/cli/src/bin.ts', 'the program entry point, run only in child processes (cli.test.ts) whose coverage is not collected'],
]);
const KINDS = ['lines', 'branches'];

/** True when the TypeScript file at `path` compiles to no code at all (types and interfaces only). */
function typesOnly(path) {
  return transformSync(readFileSync(path, 'utf8'), { loader: 'ts', format: 'esm' }).code.trim() === '';
}

/** The TypeScript source files of `pkg` (relative to `root`, with forward slashes), as c8 includes them. */
function sourceFiles(root, pkg) {
  const found = [];
  const walk = (folder) => {
    for (const entry of readdirSync(join(root, folder), { withFileTypes: true })) {
      const path = `${folder}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) found.push(path);
    }
  };
  if (existsSync(join(root, pkg, 'src'))) walk(`${pkg}/src`);
  return found.sort();
}

const percent = ([covered, total]) => (total === 0 ? 100 : (100 * covered) / total);
const figure = (kind, counts) => `${kind} ${percent(counts).toFixed(1)}% (${counts[0]}/${counts[1]})`;

/**
 * Checks the summary at `summaryPath` for the checkout at `root`.
 * @returns {{ report: string[], failures: string[] }} lines to print, and why it fails (empty: passes).
 */
function checkCoverage(root, summaryPath) {
  const report = [];
  const failures = [];
  if (!existsSync(summaryPath)) return { report, failures: [`no coverage summary at ${summaryPath} (c8 did not run, or wrote elsewhere)`] };
  let summary;
  try {
    summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
  } catch (error) {
    return { report, failures: [`the coverage summary ${summaryPath} is not JSON (${error.message})`] };
  }
  if (summary === null || typeof summary !== 'object') return { report, failures: [`the coverage summary ${summaryPath} is not a c8 json-summary`] };
  const summaryTime = statSync(summaryPath).mtimeMs;

  // Every measured path must be a file of this checkout.
  const measured = new Map();
  for (const [file, data] of Object.entries(summary)) {
    if (file === 'total') continue;
    const rel = relative(root, file);
    if (!isAbsolute(file) || rel.startsWith('..') || isAbsolute(rel)) {
      failures.push(`the coverage summary names a file outside this checkout (${file}): it is stale or copied, run c8 again`);
      continue;
    }
    measured.set(rel.split(sep).join('/'), data);
  }
  if (measured.size === 0) failures.push('the coverage summary measures no file');

  for (const pkg of GATED) {
    const files = sourceFiles(root, pkg);
    if (files.length === 0) {
      failures.push(`${pkg}: no source files in ${pkg}/src`);
      continue;
    }
    const totals = { lines: [0, 0], branches: [0, 0] };
    for (const file of files) {
      const data = measured.get(file);
      if (data === undefined) {
        failures.push(`${file} is not in the coverage summary: it is stale (run c8 again), or c8 does not include the file`);
        continue;
      }
      if (statSync(join(root, file)).mtimeMs > summaryTime) failures.push(`${file} changed after the coverage summary was written: run c8 again`);
      if (typesOnly(join(root, file))) {
        report.push(`coverage ${file}: types only (no run-time code), not counted`);
        continue;
      }
      const counts = {};
      for (const kind of KINDS) {
        const entry = data[kind];
        if (entry === undefined || !Number.isInteger(entry.covered) || !Number.isInteger(entry.total)) {
          failures.push(`${file}: the summary has no ${kind} counts`);
          counts[kind] = [0, 0];
          continue;
        }
        counts[kind] = [entry.covered, entry.total];
        totals[kind][0] += entry.covered;
        totals[kind][1] += entry.total;
      }
      const low = KINDS.filter((kind) => percent(counts[kind]) < FILE_THRESHOLD && (kind === 'lines' || counts[kind][1] >= MIN_BRANCHES_FOR_FLOOR));
      if (EXEMPT.has(file)) report.push(`coverage ${file}: exempt from the per-file floor (${EXEMPT.get(file)}): ${KINDS.map((kind) => figure(kind, counts[kind])).join(', ')}`);
      else if (low.length > 0) failures.push(`${file}: ${low.map((kind) => figure(kind, counts[kind])).join(', ')}, below the floor of ${FILE_THRESHOLD}% per file`);
    }
    report.push(`coverage ${pkg}: ${KINDS.map((kind) => figure(kind, totals[kind])).join(', ')} in ${files.length} files`);
    if (totals.lines[1] === 0) failures.push(`${pkg}: the summary counts no line of the package`);
    for (const kind of KINDS) {
      if (percent(totals[kind]) < PACKAGE_THRESHOLD) failures.push(`${pkg}: ${figure(kind, totals[kind])}, below ${PACKAGE_THRESHOLD}% per package`);
    }
  }
  return { report, failures };
}

const { values } = parseArgs({ options: { root: { type: 'string' }, summary: { type: 'string' } } });
const root = resolve(values.root ?? process.cwd());
const summaryPath = resolve(values.summary ?? join(root, 'coverage', 'coverage-summary.json'));
const { report, failures } = checkCoverage(root, summaryPath);
for (const line of report) console.log(line);
if (failures.length > 0) {
  for (const failure of failures) console.error(`coverage gate: ${failure}`);
  process.exit(1);
}
console.log(`coverage gate: passed (>= ${PACKAGE_THRESHOLD}% per package, >= ${FILE_THRESHOLD}% per file, of lines and branches)`);
