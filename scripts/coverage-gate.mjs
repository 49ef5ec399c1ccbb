// Coverage gate: every library package must keep >= 90% of its lines and branches covered.
// Reads c8's json-summary (coverage/coverage-summary.json) and adds the files up per package.
import { readFileSync } from 'node:fs';
import { relative, sep } from 'node:path';

const THRESHOLD = 90;
const GATED = ['packages/protocol', 'packages/issuer', 'packages/middleware', 'packages/store', 'packages/cli'];

const summary = JSON.parse(readFileSync('coverage/coverage-summary.json', 'utf8'));
const totals = new Map(GATED.map((p) => [p, { lines: [0, 0], branches: [0, 0] }]));
for (const [file, data] of Object.entries(summary)) {
  if (file === 'total') continue;
  const rel = relative(process.cwd(), file).split(sep).join('/');
  const pkg = GATED.find((p) => rel.startsWith(`${p}/src/`));
  if (!pkg) continue;
  const t = totals.get(pkg);
  for (const kind of ['lines', 'branches']) {
    t[kind][0] += data[kind].covered;
    t[kind][1] += data[kind].total;
  }
}
let failed = false;
for (const [pkg, t] of totals) {
  const parts = [];
  for (const kind of ['lines', 'branches']) {
    const [covered, total] = t[kind];
    const pct = total === 0 ? 100 : (100 * covered) / total;
    if (pct < THRESHOLD) failed = true;
    parts.push(`${kind} ${pct.toFixed(1)}% (${covered}/${total})`);
  }
  console.log(`coverage ${pkg}: ${parts.join(', ')}`);
}
if (failed) {
  console.error(`coverage gate: a package is below ${THRESHOLD}% of lines or branches`);
  process.exit(1);
}
