/**
 * HTTP throughput of `s2sAuth`: autocannon against a bare Express 5 JSON route and the same route
 * behind `s2sAuth`, once with one REUSED token (the Lync/Exchange pattern: one token for its whole
 * lifetime, so every request after the first is a verification-cache hit) and once with a NEW
 * token on every request (every request a full verification). Target: the reused-token route at
 * least 0.95x the bare route's requests per second. The new-token route has no target; it shows
 * the cost of a full verification per request. Two reference routes put the target in context: the
 * same route behind a middleware that only calls `next()`, and behind one that only writes the
 * audit line s2sAuth writes for a cached accept (through the same pino sink): the issue requires
 * one audit event per call, so the second is a floor for any implementation of it.
 *
 * Set-up, and why: the servers run in a child process (bench/http-server.ts) and autocannon in
 * this one, so on a 2-core machine each has a core; in one process, client and server would share
 * one event loop and the client's per-request cost would hide part of the middleware's. All three
 * runs send the same `Authorization` header bytes (the bare route ignores it), so the difference
 * is only what `s2sAuth` does. The audit sink is the real pino sink writing to /dev/null.
 *
 * Method: 10 connections, no pipelining; a warm-up run of each, then rounds of one short run of
 * each route (order alternating), ratios per round against that round's bare run, medians over
 * rounds. Many short rounds rather than a few long ones: on a shared 2-core machine the load of
 * other processes drifts within seconds, and a ratio is only fair between runs close in time.
 *
 * Besides req/s and latency, the server's CPU time per request (all its threads, from
 * `process.cpuUsage()`) is printed: it is far less sensitive than req/s to other processes'
 * load, and the difference between two routes is what the middleware costs per request.
 *
 * The new-token pool is larger than the verifier's cache (default 10,000 entries) and handed out
 * in order, so even if a run wraps around the pool a token is evicted before it comes back; the
 * server counts cached accepts and the run is reported invalid if a "new" token ever hit.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import autocannon from 'autocannon';
import { DEFAULT_CACHE_ENTRIES } from '@s2sauth/middleware';
import type { BenchOutcome } from './run.js';
import { benchPartner } from './bench-partner.js';
import type { ServerMessage } from './http-server.js';
import { median } from './paired-rounds.js';
import { askStats, nextMessage as nextMessageOf, stopChild } from './child-messages.js';
import { printTable, printTargets } from './table.js';

const TARGET_REUSED_RATIO = 0.95;
const CONNECTIONS = 10;
const RUN_SECONDS = Number(process.env['BENCH_HTTP_SECONDS'] ?? 2);
const WARM_UP_SECONDS = 1;
const ROUNDS = 5;
const POOL_SIZE = DEFAULT_CACHE_ENTRIES + 2000;
const PATH = '/api/contacts';

type RunName = 'bare' | 'noop' | 'audited' | 'reused' | 'new';
const RUN_LABELS: Readonly<Record<RunName, string>> = {
  bare: 'bare Express route',
  noop: 'reference: next() only',
  audited: 'reference: pino audit line only',
  reused: 's2sAuth, reused token',
  new: 's2sAuth, new token each',
};

interface Measurement {
  readonly reqPerSec: number;
  readonly p50: number;
  readonly p99: number;
  /** Server process CPU time (all threads) per answered request, in microseconds. */
  readonly cpuPerRequest: number;
}

type StatsMessage = Extract<ServerMessage, { type: 'stats' }>;

function nextMessage<T extends ServerMessage['type']>(child: ChildProcess, type: T): Promise<Extract<ServerMessage, { type: T }>> {
  return nextMessageOf<ServerMessage, T>(child, type, 'http.bench');
}

function stats(child: ChildProcess): Promise<StatsMessage> {
  return askStats<ServerMessage>(child, 'http.bench');
}

export default async function httpBench(): Promise<BenchOutcome> {
  const loadBefore = loadavg()[0]?.toFixed(2);
  const bench = await benchPartner();
  const pool = bench.tokens(POOL_SIZE);
  const reusedToken = bench.mintOne();
  const metadata = await bench.partner.serveMetadata();
  const child = fork(new URL('./http-server.ts', import.meta.url), [metadata.url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const { barePort, noopPort, auditedPort, authPort } = await nextMessage(child, 'ready');
    const bareUrl = `http://127.0.0.1:${barePort}${PATH}`;
    const authUrl = `http://127.0.0.1:${authPort}${PATH}`;
    const referenceUrls: Readonly<Record<'noop' | 'audited', string>> = {
      noop: `http://127.0.0.1:${noopPort}${PATH}`,
      audited: `http://127.0.0.1:${auditedPort}${PATH}`,
    };
    const problems: string[] = [];

    // The set-up answers as it should before anything is timed.
    const checks: Array<[string, string | undefined, number]> = [
      [bareUrl, reusedToken, 200],
      [referenceUrls.noop, reusedToken, 200],
      [referenceUrls.audited, reusedToken, 200],
      [authUrl, reusedToken, 200],
      [authUrl, undefined, 401],
    ];
    for (const [url, token, status] of checks) {
      const response = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
      await response.arrayBuffer();
      if (response.status !== status) problems.push(`${url} answered ${response.status}, expected ${status}`);
    }
    await stats(child);

    let next = 0;
    const run = async (name: RunName, seconds: number): Promise<Measurement> => {
      const common = { connections: CONNECTIONS, duration: seconds, pipelining: 1 } as const;
      const header = { authorization: `Bearer ${reusedToken}` };
      const options: autocannon.Options =
        name === 'new'
          ? {
              ...common,
              url: authUrl,
              requests: [
                {
                  method: 'GET',
                  path: PATH,
                  setupRequest: (request) => ({ ...request, headers: { ...request.headers, authorization: `Bearer ${pool[next++ % pool.length] as string}` } }),
                },
              ],
            }
          : { ...common, url: name === 'bare' ? bareUrl : name === 'reused' ? authUrl : referenceUrls[name], headers: header };
      const result = await autocannon(options);
      const served = await stats(child);
      if (result.non2xx > 0 || result.errors > 0) problems.push(`${name}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
      if (served.rejects > 0) problems.push(`${name}: the server rejected ${served.rejects} tokens`);
      if (name === 'new' && served.cachedAccepts > 0) problems.push(`new: ${served.cachedAccepts} "new" tokens hit the cache (pool too small)`);
      return {
        reqPerSec: result.requests.total / result.duration,
        p50: result.latency.p50,
        p99: result.latency.p99,
        cpuPerRequest: served.cpuMicros / Math.max(result.requests.total, 1),
      };
    };

    const names: readonly RunName[] = ['bare', 'noop', 'audited', 'reused', 'new'];
    for (const name of names) await run(name, WARM_UP_SECONDS);
    const rounds: Array<Record<RunName, Measurement>> = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? names : [...names].reverse();
      const measured: Partial<Record<RunName, Measurement>> = {};
      for (const name of order) measured[name] = await run(name, RUN_SECONDS);
      rounds.push(measured as Record<RunName, Measurement>);
    }

    const summary = (name: RunName): Measurement => ({
      reqPerSec: median(rounds.map((r) => r[name].reqPerSec)),
      p50: median(rounds.map((r) => r[name].p50)),
      p99: median(rounds.map((r) => r[name].p99)),
      cpuPerRequest: median(rounds.map((r) => r[name].cpuPerRequest)),
    });
    const ratio = (name: RunName): number => median(rounds.map((r) => r[name].reqPerSec / r.bare.reqPerSec));

    console.log(
      `child-process Express 5 servers, autocannon ${CONNECTIONS} connections; ${ROUNDS} rounds x ${RUN_SECONDS} s per route ` +
        `(after ${WARM_UP_SECONDS} s warm-up each), medians over rounds; ratio = median of per-round ratios to bare; ` +
        `audit: pino to /dev/null; new-token pool ${pool.length} tokens, ${next} used; load average ${loadBefore} before, ${loadavg()[0]?.toFixed(2)} after`,
    );
    printTable(
      ['route', 'req/s', 'p50 ms', 'p99 ms', 'vs bare', 'server CPU us/req'],
      names.map((name) => {
        const m = summary(name);
        return [
          RUN_LABELS[name],
          m.reqPerSec.toFixed(0),
          m.p50.toFixed(1),
          m.p99.toFixed(1),
          name === 'bare' ? '1.00x' : `${ratio(name).toFixed(2)}x`,
          m.cpuPerRequest.toFixed(0),
        ];
      }),
    );
    console.log(`per round, req/s ${names.join('/')}: ${rounds.map((r) => names.map((name) => r[name].reqPerSec.toFixed(0)).join('/')).join(', ')}`);
    for (const problem of problems) console.log(`INVALID  ${problem}`);

    const reusedRatio = ratio('reused');
    const targets = [
      {
        ok: reusedRatio >= TARGET_REUSED_RATIO && problems.length === 0,
        summary: `s2sAuth (reused token) at ${reusedRatio.toFixed(2)}x bare req/s (target >= ${TARGET_REUSED_RATIO.toFixed(2)}x)${problems.length > 0 ? ', measurement INVALID' : ''}`,
      },
    ];
    printTargets(targets);
    console.log(`info  s2sAuth (new token each) at ${ratio('new').toFixed(2)}x bare req/s (no target)`);
    console.log(
      `info  references: next() only at ${ratio('noop').toFixed(2)}x, a pino audit line only at ${ratio('audited').toFixed(2)}x bare req/s ` +
        `(what any middleware, and any middleware that audits every call, costs)`,
    );
    return {
      ok: targets.every((t) => t.ok),
      summary: `${targets[0]?.summary}; new token each at ${ratio('new').toFixed(2)}x bare`,
    };
  } finally {
    await stopChild(child);
    await metadata.close();
  }
}
