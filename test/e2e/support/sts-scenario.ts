/**
 * The cloud and hybrid scenarios as the demo launcher starts them (`startCloud`, `startHybrid` from
 * `@s2sauth/example-demo`): the STS, Lync and Exchange on 127.0.0.1 at free ports, a temporary data
 * folder, no logs, and for the test every token decision of both servers' verifiers and every token
 * the STS issued or refused.
 */
import { Writable } from 'node:stream';
import { startCloud, startHybrid, type StsScenario } from '@s2sauth/example-demo';
import type { StsAuditEvent } from '@s2sauth/issuer';
import type { AuditEvent } from '@s2sauth/middleware';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { pino } from 'pino';
import { afterEach, after } from 'mocha';
import { join } from 'node:path';
import { removeTemporaryFolders, temporaryFolder } from './data-folders.js';
import { PASSWORD } from './on-premises.js';

/** One decision of the STS as its audit log line carries it: the issuer's own event type, never a copy. */
export type StsDecision = StsAuditEvent;

/** A running scenario, the servers' audit events and the STS's decisions. */
export interface RunningStsScenario {
  readonly scenario: StsScenario;
  /** Both verifiers' events; Exchange's name the partner `microsoft.lync`, Lync's `microsoft.exchange`. */
  readonly audit: AuditEvent[];
  readonly stsDecisions: StsDecision[];
  close(): Promise<void>;
}

/** A pino destination that keeps the STS's `sts decision` lines. */
function decisionSink(decisions: StsDecision[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        const entry = JSON.parse(line) as StsDecision & { msg?: string };
        if (entry.msg === 'sts decision') decisions.push(entry);
      }
      done();
    },
  });
}

/** Starts `kind` in `folder` with {@link PASSWORD} for the seeded users. */
export async function startStsScenario(kind: 'cloud' | 'hybrid', folder: string): Promise<RunningStsScenario> {
  const audit: AuditEvent[] = [];
  const stsDecisions: StsDecision[] = [];
  const start = kind === 'cloud' ? startCloud : startHybrid;
  const scenario = await start({
    dataDir: folder,
    stsPort: 0,
    lyncPort: 0,
    exchangePort: 0,
    password: PASSWORD,
    logger: pino({ level: 'silent' }),
    stsLogger: pino({ level: 'info' }, decisionSink(stsDecisions)),
    audit: (event) => audit.push(event),
  });
  return { scenario, audit, stsDecisions, close: () => scenario.close() };
}

/**
 * For a mocha `describe`: a function that starts `kind` for the test that calls it, in `folder` or
 * a new temporary one; every scenario it started is stopped after its test, the temporary folders
 * after the suite.
 */
export function stsScenarioPerTest(kind: 'cloud' | 'hybrid'): (folder?: string) => Promise<RunningStsScenario> {
  const running: RunningStsScenario[] = [];
  afterEach(async function () {
    for (const item of running.splice(0).reverse()) await item.close();
  });
  after(async function () {
    await removeTemporaryFolders();
  });
  return async (folder) => {
    const started = await startStsScenario(kind, folder ?? join(await temporaryFolder(), kind));
    running.push(started);
    return started;
  };
}

/** The decisions a verifier made about `partner`'s calls to paths under `path`. */
export function decisionsAbout(audit: readonly AuditEvent[], partner: string, path: string, decision: 'accept' | 'reject' = 'accept'): AuditEvent[] {
  return audit.filter((event) => event.partner === partner && event.decision === decision && (event.path ?? '').startsWith(path));
}

/** The client id the STS knows `principal` by in `tenant`. */
export function clientIdOf(principal: string, tenant: string): string {
  return `${principal}@${tenant}`;
}

/**
 * The actor token ids the STS issued to `client` for `resource` (a principal id) in `tenant`, with
 * delegation (the tokens that may carry a user).
 */
export function issuedTokenIds(decisions: readonly StsDecision[], client: string, resource: string, tenant: string): Set<string> {
  const ids = new Set<string>();
  for (const decision of decisions) {
    if (decision.decision !== 'issue' || decision.clientId !== clientIdOf(client, tenant) || decision.delegation !== true) continue;
    if (decision.resource === undefined || !decision.resource.startsWith(`${resource}/`) || !decision.resource.endsWith(`@${tenant}`)) continue;
    if (decision.tokenId !== undefined) ids.add(decision.tokenId);
  }
  return ids;
}

/** The registration identities the launcher uses (as `LYNC_PARTNER`, `EXCHANGE_PARTNER` in the demo). */
export const PARTNERS = {
  lync: { identity: 'microsoft.lync', principal: WellKnownPrincipal.lync },
  exchange: { identity: 'microsoft.exchange', principal: WellKnownPrincipal.exchange },
} as const;
