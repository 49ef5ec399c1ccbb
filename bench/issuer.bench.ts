/**
 * Token issuing throughput: `TokenIssuer.issueAppOnly` against a bare `crypto.sign('sha256', ...)`
 * (RS256) of the same signing input with the same `KeyObject`.
 *
 * The RSA private-key operation dominates both, so the ratio shows what the issuer adds on top of
 * it (request checks, claims JSON, base64url, the random `jti`, choosing the certificate). Target:
 * at least 0.9x the raw signature rate.
 *
 * Method: a warm-up of both, then rounds that run the two subjects back to back, the same number
 * of iterations each, alternating which goes first. Rates are the median round of each subject;
 * the ratio is the median of the per-round ratios, so load that drifts during the run (other
 * processes, CPU frequency) affects both sides of each ratio alike.
 */
import { sign } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { OAuthCertificate, TokenIssuer } from '@s2sauth/issuer';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import type { BenchOutcome } from './run.js';

const TARGET_RATIO = 0.9;
const WARM_UP_ITERATIONS = 500;
const ROUNDS = 41;
const ITERATIONS_PER_ROUND = Number(process.env['BENCH_ITERATIONS'] ?? 100);

/** Consumes results so the work cannot be optimized away. */
let sink = 0;

/** Runs `work` `iterations` times; returns operations per second. */
function rate(work: () => number, iterations: number): number {
  const start = performance.now();
  for (let i = 0; i < iterations; i++) sink += work();
  return (iterations * 1000) / (performance.now() - start);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ');
}

export default async function issuerBench(): Promise<BenchOutcome> {
  const realm = 'contoso.com';
  const certificate = await OAuthCertificate.create({ realms: [realm] });
  const issuer = new TokenIssuer({ principal: WellKnownPrincipal.lync, realm, certificates: certificate });
  const request = { audience: `${WellKnownPrincipal.exchange}/mail.contoso.com@${realm}`, scopes: ['contacts.read'] };

  const sample = issuer.issueAppOnly(request).token;
  const signingInput = sample.slice(0, sample.lastIndexOf('.'));
  const key = certificate.privateKey;

  const subjects: ReadonlyArray<[string, () => number]> = [
    ['crypto.sign (raw RS256)', () => sign('sha256', Buffer.from(signingInput), key).length],
    ['TokenIssuer.issueAppOnly', () => issuer.issueAppOnly(request).token.length],
  ];

  for (const [, work] of subjects) rate(work, WARM_UP_ITERATIONS);

  const rates: number[][] = subjects.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which subject goes first, so neither always runs on a warmer or cooler CPU.
    const order = round % 2 === 0 ? [0, 1] : [1, 0];
    for (const index of order) rates[index]?.push(rate((subjects[index] as [string, () => number])[1], ITERATIONS_PER_ROUND));
  }
  const [raw, issued] = rates.map(median) as [number, number];
  const [rawRounds, issuedRounds] = rates as [number[], number[]];
  const ratio = median(issuedRounds.map((ops, round) => ops / (rawRounds[round] as number)));
  const ok = ratio >= TARGET_RATIO;

  console.log(`RSA ${certificate.keySize} bits, ${ROUNDS} rounds x ${ITERATIONS_PER_ROUND} iterations each (after ${WARM_UP_ITERATIONS} warm-up), median round; ratio = median of per-round ratios`);
  const widths = [26, 10, 9];
  console.log(row(['subject', 'ops/s', 'us/op'], widths));
  subjects.forEach(([name], index) => {
    const ops = index === 0 ? raw : issued;
    console.log(row([name, ops.toFixed(0), (1e6 / ops).toFixed(1)], widths));
  });
  const summary = `issueAppOnly at ${ratio.toFixed(2)}x raw RS256 (target >= ${TARGET_RATIO.toFixed(2)}x)`;
  console.log(`ratio: ${summary}${ok ? '' : '  << below target'}`);
  if (sink === -1) console.log('');
  return { ok, summary };
}
