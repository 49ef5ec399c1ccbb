/**
 * The paired-rounds method of bench/issuer.bench.ts, for subjects that work through a list of
 * inputs (each input used once): a warm-up of each, then rounds that run the baseline and the
 * candidates back to back over the same slice of inputs, varying which goes first. Rates are the
 * median round of each subject; a ratio is the median of the per-round ratios, so load that
 * drifts during the run (other processes, CPU frequency, a 2-core machine) affects both sides of
 * each ratio alike.
 */
import { performance } from 'node:perf_hooks';

/**
 * Runs one subject over inputs `start` to `start + count - 1`. A synchronous subject is timed
 * without any promise machinery, so a synchronous baseline pays nothing for the candidate being
 * asynchronous.
 */
export type RoundWork = (start: number, count: number) => void | Promise<void>;

/** How many rounds and inputs. */
export interface PairedRoundsOptions {
  readonly rounds: number;
  readonly iterationsPerRound: number;
  readonly warmUpIterations: number;
}

/** What {@link pairedRounds} measured. */
export interface PairedRoundsResult {
  /** Median round rate of the baseline, operations per second. */
  readonly baseline: number;
  /** Median round rate of each candidate, operations per second. */
  readonly candidates: readonly number[];
  /** For each candidate, the median of its per-round candidate/baseline ratios. */
  readonly ratios: readonly number[];
  /** Inputs used: warm-up plus rounds, from input 0. */
  readonly inputsUsed: number;
}

/** The number of inputs {@link pairedRounds} uses with `options`. */
export function inputsNeeded(options: PairedRoundsOptions): number {
  return options.warmUpIterations + options.rounds * options.iterationsPerRound;
}

/** The median of `values` (not empty). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

async function rate(work: RoundWork, start: number, count: number): Promise<number> {
  const begin = performance.now();
  const pending = work(start, count);
  if (pending !== undefined) await pending;
  return (count * 1000) / (performance.now() - begin);
}

/**
 * Measures each of `candidates` against `baseline`. All see the same inputs in each round (the
 * warm-up too), so all work on identical data; a subject that must never see an input twice (a
 * cache) still sees each input once. Each round runs the baseline and every candidate once, in an
 * order rotated and reversed from round to round.
 */
export async function pairedRounds(baseline: RoundWork, candidates: readonly RoundWork[], options: PairedRoundsOptions): Promise<PairedRoundsResult> {
  const { rounds, iterationsPerRound, warmUpIterations } = options;
  const subjects = [baseline, ...candidates];
  for (const subject of subjects) await rate(subject, 0, warmUpIterations);
  const rates: number[][] = subjects.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const start = warmUpIterations + round * iterationsPerRound;
    // Vary which subject goes first, so none always runs on a warmer or cooler CPU.
    const order = subjects.map((_, index) => (index + Math.floor(round / 2)) % subjects.length);
    if (round % 2 === 1) order.reverse();
    for (const index of order) rates[index]?.push(await rate(subjects[index] as RoundWork, start, iterationsPerRound));
  }
  const [baselineRates = [], ...candidateRates] = rates;
  return {
    baseline: median(baselineRates),
    candidates: candidateRates.map(median),
    ratios: candidateRates.map((own) => median(own.map((ops, round) => ops / (baselineRates[round] as number)))),
    inputsUsed: inputsNeeded(options),
  };
}
