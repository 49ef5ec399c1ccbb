/**
 * The STS token endpoint (client credentials with a private-key client assertion, protocol.md
 * section 6) in requests per second, against oidc-provider 8's client credentials endpoint with
 * `private_key_jwt`, measured in the same run with the same load generator. Target: our STS (with
 * SQLite, as deployed) at least 2x oidc-provider's req/s.
 *
 * Set-up, and why: the token endpoints run in a child process (bench/sts-server.ts) and autocannon
 * in this one, so on a 2-core machine each has a core. Subjects: our STS with `SqliteStore` (the
 * default deployment: client registry and assertion replay store in one SQLite file), the same
 * with `MemoryStore` (for information: what the disk costs), and oidc-provider with its default
 * in-memory adapter, configured as the interop test does (test/interop/support), so every subject
 * issues an RS256 JWT of the same protocol.md shape for the same client and resource. A fourth,
 * reference endpoint (bench/sts-floor.ts) does only what no token endpoint can skip, one RSA
 * verify and one RSA sign per request, on bare node:http: its ratio is the ceiling of the ratio
 * any implementation could reach here.
 *
 * Every request carries a NEW client assertion: both servers accept each `(iss, jti)` once. Before
 * each run, this process signs a pool of unique assertions (`signClientAssertion` for ours,
 * `aud` = our STS issuer id; the same header and claims for oidc-provider except `aud` = its token
 * endpoint, which it requires) sized from the subject's last rate with a wide margin, and
 * autocannon's `setupRequest` takes the next body. Signing happens between runs, while the server
 * is idle, and each pool is signed right before its run so no assertion nears its 300 s expiry.
 * A run that answers anything but 200, or uses up its pool, is reported INVALID.
 *
 * Method: 10 connections, no pipelining; a warm-up run of each, then rounds of one short run of
 * each subject (order rotating), medians over rounds; the ratio is the median of per-round ratios.
 * The server's CPU time per request (process.cpuUsage, all threads) is printed beside req/s.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { CLIENT_ASSERTION_TYPE, stsIssuerId } from '@s2sauth/protocol';
import { loadavg } from 'node:os';
import autocannon from 'autocannon';
import { OAuthCertificate, signClientAssertion } from '@s2sauth/issuer';
import { signProviderAssertion } from '../test/interop/support/oidc-provider-sts.js';
import type { BenchOutcome } from './run.js';
import { median } from './paired-rounds.js';
import { REALM, RESOURCE_AUDIENCE, RESOURCE_URL, SCOPE, type StsServerMessage } from './sts-wire.js';
import { askStats, nextMessage as nextMessageOf, stopChild } from './child-messages.js';
import { printTable, printTargets } from './table.js';

const TARGET_RATIO = 2;
const CONNECTIONS = 10;
const RUN_SECONDS = Number(process.env['BENCH_STS_SECONDS'] ?? 2);
const WARM_UP_SECONDS = 1;
const ROUNDS = 5;
/** Pool size = last rate x seconds x this, plus POOL_SLACK: a run never runs short unless the rate more than doubles. */
const POOL_MARGIN = 2;
const POOL_SLACK = 1000;
/** Rate guess before a subject's first run (requests per second). */
const FIRST_GUESS = 3000;

type Subject = 'sqlite' | 'memory' | 'oidc' | 'reference';
const SUBJECTS: readonly Subject[] = ['sqlite', 'memory', 'oidc', 'reference'];
const LABELS: Readonly<Record<Subject, string>> = {
  sqlite: 's2sauth STS, SqliteStore (default)',
  memory: 's2sauth STS, MemoryStore',
  oidc: 'oidc-provider 8.8, memory adapter',
  reference: 'reference: node:http, 1 RSA verify + 1 sign',
};

interface Measurement {
  readonly reqPerSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpuPerRequest: number;
  readonly poolUsed: number;
  readonly poolSize: number;
}

type Ready = Extract<StsServerMessage, { type: 'ready' }>;

function nextMessage<T extends StsServerMessage['type']>(child: ChildProcess, type: T): Promise<Extract<StsServerMessage, { type: T }>> {
  return nextMessageOf<StsServerMessage, T>(child, type, 'sts.bench');
}

async function cpuSinceLast(child: ChildProcess): Promise<number> {
  return (await askStats<StsServerMessage>(child, 'sts.bench')).cpuMicros;
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

export default async function stsBench(): Promise<BenchOutcome> {
  const loadBefore = loadavg()[0]?.toFixed(2);
  const child = fork(new URL('./sts-server.ts', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const ready: Ready = await nextMessage(child, 'ready');
    const client = OAuthCertificate.fromPem(ready.clientCertificatePem, ready.clientKeyPem);
    const clientId = `${ready.clientPrincipal}@${REALM}`;
    const urls: Readonly<Record<Subject, string>> = {
      sqlite: ready.sqliteTokenUrl,
      memory: ready.memoryTokenUrl,
      oidc: ready.oidcTokenUrl,
      reference: ready.referenceTokenUrl,
    };

    /** One form body with a new, unique client assertion for `subject`. */
    const body = (subject: Subject): string => {
      const now = Date.now();
      const ours = subject !== 'oidc';
      const assertion = ours
        ? signClientAssertion(client, { clientId, audience: stsIssuerId(REALM), now })
        : signProviderAssertion(client, clientId, urls.oidc, now);
      return new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: assertion,
        resource: ours ? RESOURCE_AUDIENCE : RESOURCE_URL,
        scope: SCOPE,
      }).toString();
    };
    const post = async (subject: Subject, form: string): Promise<{ status: number; json: Record<string, unknown> }> => {
      const response = await fetch(urls[subject], { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };

    // The set-up answers as it should before anything is timed: a 200 token of the same shape
    // from each, and the same assertion refused the second time (replay protection is on).
    const problems: string[] = [];
    for (const subject of SUBJECTS) {
      const form = body(subject);
      const first = await post(subject, form);
      const token = first.json['access_token'];
      if (first.status !== 200 || typeof token !== 'string') {
        problems.push(`${subject}: warm-up token request answered ${first.status} ${JSON.stringify(first.json)}`);
        continue;
      }
      const claims = claimsOf(token);
      if (claims['aud'] !== RESOURCE_AUDIENCE || claims['nameid'] !== clientId) problems.push(`${subject}: the token is not for ${RESOURCE_AUDIENCE} / ${clientId}`);
      const replayed = await post(subject, form);
      if (replayed.status !== 401 && replayed.status !== 400) problems.push(`${subject}: a replayed assertion answered ${replayed.status}`);
    }
    await cpuSinceLast(child);

    const lastRate: Record<Subject, number> = { sqlite: FIRST_GUESS, memory: FIRST_GUESS, oidc: FIRST_GUESS, reference: FIRST_GUESS };
    let signedTotal = 0;
    const run = async (subject: Subject, seconds: number): Promise<Measurement> => {
      const size = Math.ceil(lastRate[subject] * seconds * POOL_MARGIN) + POOL_SLACK;
      const pool = Array.from({ length: size }, () => body(subject));
      signedTotal += size;
      let next = 0;
      await cpuSinceLast(child); // the server was idle while the pool was signed
      const result = await autocannon({
        url: urls[subject],
        connections: CONNECTIONS,
        duration: seconds,
        pipelining: 1,
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            // Past the end the last body is sent again: a replay, refused, and the run INVALID.
            setupRequest: (request) => ({ ...request, body: pool[Math.min(next++, pool.length - 1)] as string }),
          },
        ],
      });
      const cpuMicros = await cpuSinceLast(child);
      if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
        problems.push(`${subject}: ${result.non2xx} non-2xx answers, ${result.errors} errors, ${result.timeouts} timeouts`);
      }
      if (next > pool.length) problems.push(`${subject}: the assertion pool (${pool.length}) ran out`);
      const reqPerSec = result.requests.total / result.duration;
      lastRate[subject] = Math.max(reqPerSec, 200);
      return {
        reqPerSec,
        p50: result.latency.p50,
        p99: result.latency.p99,
        cpuPerRequest: cpuMicros / Math.max(result.requests.total, 1),
        poolUsed: Math.min(next, pool.length),
        poolSize: pool.length,
      };
    };

    for (const subject of SUBJECTS) await run(subject, WARM_UP_SECONDS);
    const rounds: Array<Record<Subject, Measurement>> = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = SUBJECTS.map((_, index) => SUBJECTS[(index + round) % SUBJECTS.length] as Subject);
      if (round % 2 === 1) order.reverse();
      const measured: Partial<Record<Subject, Measurement>> = {};
      for (const subject of order) measured[subject] = await run(subject, RUN_SECONDS);
      rounds.push(measured as Record<Subject, Measurement>);
    }

    const summary = (subject: Subject): Measurement => ({
      reqPerSec: median(rounds.map((r) => r[subject].reqPerSec)),
      p50: median(rounds.map((r) => r[subject].p50)),
      p99: median(rounds.map((r) => r[subject].p99)),
      cpuPerRequest: median(rounds.map((r) => r[subject].cpuPerRequest)),
      poolUsed: median(rounds.map((r) => r[subject].poolUsed)),
      poolSize: median(rounds.map((r) => r[subject].poolSize)),
    });
    const ratio = (subject: Subject): number => median(rounds.map((r) => r[subject].reqPerSec / r.oidc.reqPerSec));

    console.log(
      `child-process token endpoints, autocannon ${CONNECTIONS} connections; ${ROUNDS} rounds x ${RUN_SECONDS} s per subject ` +
        `(after ${WARM_UP_SECONDS} s warm-up each), medians over rounds; ratio = median of per-round ratios to oidc-provider; ` +
        `every request a new RS256 client assertion (${signedTotal} signed in all, pools sized ${POOL_MARGIN}x the last rate); ` +
        `load average ${loadBefore} before, ${loadavg()[0]?.toFixed(2)} after`,
    );
    printTable(
      ['token endpoint', 'req/s', 'p50 ms', 'p99 ms', 'vs oidc-provider', 'server CPU us/req', 'assertions used/pool'],
      SUBJECTS.map((subject) => {
        const m = summary(subject);
        return [
          LABELS[subject],
          m.reqPerSec.toFixed(0),
          m.p50.toFixed(1),
          m.p99.toFixed(1),
          `${ratio(subject).toFixed(2)}x`,
          m.cpuPerRequest.toFixed(0),
          `${m.poolUsed.toFixed(0)}/${m.poolSize.toFixed(0)}`,
        ];
      }),
    );
    console.log(
      `per round, req/s ${SUBJECTS.join('/')}: ${rounds.map((r) => SUBJECTS.map((subject) => r[subject].reqPerSec.toFixed(0)).join('/')).join(', ')}`,
    );
    for (const problem of problems) console.log(`INVALID  ${problem}`);

    const sqliteRatio = ratio('sqlite');
    const targets = [
      {
        ok: sqliteRatio >= TARGET_RATIO && problems.length === 0,
        summary: `STS token endpoint (SQLite) at ${sqliteRatio.toFixed(2)}x oidc-provider client_credentials req/s (target >= ${TARGET_RATIO.toFixed(2)}x)${problems.length > 0 ? ', measurement INVALID' : ''}`,
      },
    ];
    printTargets(targets);
    console.log(`info  STS token endpoint (MemoryStore) at ${ratio('memory').toFixed(2)}x oidc-provider (no target)`);
    console.log(
      `info  reference (bare node:http, one RSA verify and one RSA sign, nothing else) at ${ratio('reference').toFixed(2)}x oidc-provider: ` +
        `the ceiling for any token endpoint on this machine`,
    );
    return { ok: targets.every((t) => t.ok), summary: `${targets[0]?.summary}; MemoryStore at ${ratio('memory').toFixed(2)}x` };
  } finally {
    await stopChild(child);
  }
}
