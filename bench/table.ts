/**
 * The small tables and target verdicts the middleware benchmarks print, in the layout of
 * bench/issuer.bench.ts: first column left-aligned, the others right-aligned.
 */

/** Prints `header` and `rows` as aligned columns. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

/** One target and whether it was met. */
export interface TargetResult {
  readonly ok: boolean;
  /** e.g. "verify at 0.91x raw RS256 (target >= 0.85x)". */
  readonly summary: string;
}

/** Prints `PASS`/`MISS` and the summary of each target. */
export function printTargets(targets: readonly TargetResult[]): void {
  for (const target of targets) console.log(`${target.ok ? 'PASS' : 'MISS'}  ${target.summary}`);
}
