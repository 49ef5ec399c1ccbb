/**
 * Verification throughput: `createVerifier(...).verify` with a NEW token on every call, against a
 * bare `crypto.verify('sha256', signingInput, publicKey, signature)` (RS256) of the same tokens.
 *
 * Every call is a cache miss (the cache is on, the default 10,000 entries, and every token is
 * distinct), so the verifier does all of protocol.md 3.3 steps 2 to 9: the cache key (SHA-256),
 * the strict JWS parse, the registry and key lookup, the signature, claims and lifetime, audience
 * and realm, the principal, the cache insert and the audit line (real pino, to /dev/null). The
 * RSA public-key operation is the floor for both subjects; the ratio shows what the pipeline adds
 * on top of it. Target: at least 0.85x the raw verification rate.
 *
 * The baseline gets the signing input and signature already split and decoded: it is the pure
 * RSA cost. For scale, a third subject (no target) is `jsonwebtoken.verify` alone, the peer
 * library the verifier checks signatures with, over the same tokens. Tokens come from the real `TokenIssuer` and are minted before anything is timed.
 * Method: bench/paired-rounds.ts (the issuer benchmark's paired rounds and medians).
 */
import { verify } from 'node:crypto';
import { loadavg } from 'node:os';
import jwt from 'jsonwebtoken';
import type { BenchOutcome } from './run.js';
import { benchPartner, nullAuditSink, openBenchVerifier } from './bench-partner.js';
import { inputsNeeded, pairedRounds, type PairedRoundsOptions } from './paired-rounds.js';
import { printTable, printTargets } from './table.js';

const TARGET_RATIO = 0.85;
const OPTIONS: PairedRoundsOptions = {
  rounds: 41,
  iterationsPerRound: Number(process.env['BENCH_ITERATIONS'] ?? 200),
  warmUpIterations: 1000,
};

export default async function verifyBench(): Promise<BenchOutcome> {
  const bench = await benchPartner();
  const tokens = bench.tokens(inputsNeeded(OPTIONS));
  const split = tokens.map((token) => {
    const dot = token.lastIndexOf('.');
    return { signingInput: Buffer.from(token.slice(0, dot)), signature: Buffer.from(token.slice(dot + 1), 'base64url') };
  });
  const metadata = await bench.partner.serveMetadata();
  const { verifier, close } = await openBenchVerifier(metadata.url, nullAuditSink());
  try {
    const { publicKey } = bench;
    let failures = 0;
    const raw = (start: number, count: number): void => {
      for (let i = start; i < start + count; i++) {
        const { signingInput, signature } = split[i] as { signingInput: Buffer; signature: Buffer };
        if (!verify('sha256', signingInput, publicKey, signature)) failures++;
      }
    };
    const pipeline = async (start: number, count: number): Promise<void> => {
      for (let i = start; i < start + count; i++) {
        const principal = await verifier.verify(tokens[i] as string);
        if (principal.scopes.length === 0) failures++;
      }
    };
    const peer = (start: number, count: number): void => {
      for (let i = start; i < start + count; i++) {
        jwt.verify(tokens[i] as string, publicKey, { algorithms: ['RS256'], ignoreExpiration: true, ignoreNotBefore: true });
      }
    };
    const result = await pairedRounds(raw, [pipeline, peer], OPTIONS);
    const [pipelineRate = 0, peerRate = 0] = result.candidates;
    const [ratio = 0, peerRatio = 0] = result.ratios;
    if (failures > 0) throw new Error(`verify.bench: ${failures} verifications failed; the numbers are not comparable`);

    const length = Math.round(tokens.reduce((sum, token) => sum + token.length, 0) / tokens.length);
    console.log(
      `RSA ${bench.keySize} bits, tokens of ~${length} chars, ${result.inputsUsed} distinct tokens; ` +
        `${OPTIONS.rounds} rounds x ${OPTIONS.iterationsPerRound} (after ${OPTIONS.warmUpIterations} warm-up), median round; ` +
        `ratio = median of per-round ratios; audit: pino to /dev/null; load average ${loadavg()[0]?.toFixed(2)}`,
    );
    printTable(
      ['subject', 'ops/s', 'us/op', 'vs raw'],
      [
        ['crypto.verify (raw RS256)', result.baseline.toFixed(0), (1e6 / result.baseline).toFixed(1), '1.00x'],
        ['verifier.verify (new token)', pipelineRate.toFixed(0), (1e6 / pipelineRate).toFixed(1), `${ratio.toFixed(2)}x`],
        ['jsonwebtoken.verify (peer, info)', peerRate.toFixed(0), (1e6 / peerRate).toFixed(1), `${peerRatio.toFixed(2)}x`],
      ],
    );
    const overhead = 1e6 / pipelineRate - 1e6 / result.baseline;
    console.log(`pipeline overhead over the RSA verification: ~${overhead.toFixed(1)} us per token`);
    const target = {
      ok: ratio >= TARGET_RATIO,
      summary: `verify (new token) at ${ratio.toFixed(2)}x raw RS256 verify (target >= ${TARGET_RATIO.toFixed(2)}x)`,
    };
    printTargets([target]);
    return target;
  } finally {
    close();
    await metadata.close();
  }
}
