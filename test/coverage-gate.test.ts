/**
 * The coverage gate (scripts/coverage-gate.mjs) run on crafted c8 summaries in a temporary
 * checkout: it refuses a missing, empty, stale or copied summary and a file below the per-file
 * floor hidden in a good package average, and passes a good summary.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const GATE = fileURLToPath(new URL('../scripts/coverage-gate.mjs', import.meta.url));
const PACKAGES = ['protocol', 'discovery', 'issuer', 'middleware', 'store', 'cli'];

interface Counts {
  readonly lines: readonly [number, number];
  readonly branches: readonly [number, number];
}

function gate(root: string, summary = join(root, 'coverage', 'coverage-summary.json')): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [GATE, '--root', root, '--summary', summary], (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
    });
  });
}

describe('the coverage gate (scripts/coverage-gate.mjs)', () => {
  let root: string;

  /** Every source file of the fake checkout (relative), by package: two per package. */
  const files = PACKAGES.flatMap((name) => [`packages/${name}/src/index.ts`, `packages/${name}/src/nested/part.ts`]);
  const good: Counts = { lines: [95, 100], branches: [19, 20] };

  /** Writes a c8 json-summary with `counts` per relative file (default: every file good); returns its path. */
  function writeSummary(counts: Record<string, Counts> = {}, base = root): string {
    const summary: Record<string, unknown> = { total: {} };
    for (const file of files) {
      const { lines, branches } = counts[file] ?? good;
      summary[join(base, file)] = {
        lines: { covered: lines[0], total: lines[1], pct: 0, skipped: 0 },
        branches: { covered: branches[0], total: branches[1], pct: 0, skipped: 0 },
      };
    }
    const path = join(root, 'coverage', 'coverage-summary.json');
    writeFileSync(path, JSON.stringify(summary));
    return path;
  }

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 's2sauth-coverage-gate-'));
    for (const file of files) {
      mkdirSync(join(root, file, '..'), { recursive: true });
      writeFileSync(join(root, file), 'export const loaded = true;\n');
      // Sources older than any summary written by the test.
      utimesSync(join(root, file), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    }
    mkdirSync(join(root, 'coverage'));
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('passes a fresh summary of every source file above both thresholds', async () => {
    writeSummary();
    const result = await gate(root);
    expect(result.stderr).to.equal('');
    expect(result.code).to.equal(0);
    expect(result.stdout).to.include('coverage packages/cli: lines 95.0% (190/200), branches 95.0% (38/40) in 2 files');
    expect(result.stdout).to.include('coverage gate: passed (>= 90% per package, >= 60% per file, of lines and branches)');
  });

  it('refuses a missing summary and one that measures no file', async () => {
    const missing = await gate(root);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.include('coverage gate: no coverage summary at');
    writeFileSync(join(root, 'coverage', 'coverage-summary.json'), JSON.stringify({ total: {} }));
    const empty = await gate(root);
    expect(empty.code).to.equal(1);
    expect(empty.stderr).to.include('the coverage summary measures no file');
    expect(empty.stderr).to.include('packages/protocol/src/index.ts is not in the coverage summary');
  });

  it('refuses a summary copied from another checkout (its paths are elsewhere)', async () => {
    writeSummary({}, '/elsewhere/s2sauth');
    const result = await gate(root);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include('names a file outside this checkout (/elsewhere/s2sauth/packages/');
    expect(result.stderr).to.include('packages/cli/src/nested/part.ts is not in the coverage summary');
  });

  it('refuses a stale summary: one that lacks a source file, or older than a source file', async () => {
    writeSummary();
    writeFileSync(join(root, 'packages/store/src/new-file.ts'), 'export const loaded = true;\n');
    utimesSync(join(root, 'packages/store/src/new-file.ts'), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const lacking = await gate(root);
    expect(lacking.code).to.equal(1);
    expect(lacking.stderr).to.include('packages/store/src/new-file.ts is not in the coverage summary');
    rmSync(join(root, 'packages/store/src/new-file.ts'));

    utimesSync(join(root, 'packages/issuer/src/index.ts'), new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
    const older = await gate(root);
    expect(older.code).to.equal(1);
    expect(older.stderr).to.include('packages/issuer/src/index.ts changed after the coverage summary was written');
  });

  it('refuses a 0% file hidden in a package whose average is above 90%', async () => {
    writeSummary({
      'packages/middleware/src/index.ts': { lines: [1000, 1000], branches: [400, 400] },
      'packages/middleware/src/nested/part.ts': { lines: [0, 20], branches: [0, 10] },
    });
    const result = await gate(root);
    expect(result.code).to.equal(1);
    expect(result.stdout).to.include('coverage packages/middleware: lines 98.0% (1000/1020), branches 97.6% (400/410)');
    expect(result.stderr).to.equal('coverage gate: packages/middleware/src/nested/part.ts: lines 0.0% (0/20), branches 0.0% (0/10), below the floor of 60% per file\n');
  });

  it('counts a file with no run-time code (types only) neither for the floor nor in its package, and names it', async () => {
    const types = join(root, 'packages/middleware/src/nested/part.ts');
    writeFileSync(types, 'export interface Principal {\n  readonly partner: string;\n}\nexport type Kind = "a" | "b";\n');
    utimesSync(types, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    // c8 counts a types-only file no test loads as wholly uncovered.
    writeSummary({
      'packages/middleware/src/index.ts': { lines: [1000, 1000], branches: [400, 400] },
      'packages/middleware/src/nested/part.ts': { lines: [0, 55], branches: [0, 1] },
    });
    const result = await gate(root);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include('coverage packages/middleware/src/nested/part.ts: types only (no run-time code), not counted');
    expect(result.stdout).to.include('coverage packages/middleware: lines 100.0% (1000/1000), branches 100.0% (400/400)');
  });

  it('holds files with fewer than 5 branches to the line floor only, and names the exempt entry point', async () => {
    writeSummary({
      'packages/protocol/src/index.ts': { lines: [50, 50], branches: [2, 4] },
      'packages/protocol/src/nested/part.ts': { lines: [50, 50], branches: [100, 100] },
      'packages/store/src/index.ts': { lines: [50, 50], branches: [2, 5] },
      'packages/store/src/nested/part.ts': { lines: [50, 50], branches: [100, 100] },
    });
    expect((await gate(root)).stderr).to.equal('coverage gate: packages/store/src/index.ts: branches 40.0% (2/5), below the floor of 60% per file\n');

    // The package's other files carry its average; bin.ts alone is at 0%.
    writeSummary({ 'packages/cli/src/index.ts': { lines: [500, 500], branches: [40, 40] } });
    const bin = join(root, 'packages/cli/src/bin.ts');
    writeFileSync(bin, 'export const loaded = true;\n');
    utimesSync(bin, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const summaryPath = join(root, 'coverage', 'coverage-summary.json');
    const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, unknown>;
    summary[bin] = { lines: { covered: 0, total: 10 }, branches: { covered: 0, total: 1 } };
    writeFileSync(summaryPath, JSON.stringify(summary));
    const result = await gate(root);
    expect(result.stderr).to.equal('');
    expect(result.code).to.equal(0);
    expect(result.stdout).to.include('coverage packages/cli/src/bin.ts: exempt from the per-file floor (the program entry point, run only in child processes');
  });

  it('refuses a package below 90% and a package with no lines', async () => {
    writeSummary({
      'packages/store/src/index.ts': { lines: [80, 100], branches: [20, 20] },
      'packages/cli/src/index.ts': { lines: [0, 0], branches: [0, 0] },
      'packages/cli/src/nested/part.ts': { lines: [0, 0], branches: [0, 0] },
    });
    const result = await gate(root);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include('packages/store: lines 87.5% (175/200), below 90% per package');
    expect(result.stderr).to.include('packages/cli: the summary counts no line of the package');
  });
});
