/**
 * The on-premises pair as the demo launcher starts it (`startOnPremises` from
 * `@s2sauth/example-demo`): both servers on 127.0.0.1, free ports, a temporary data folder, no
 * logs, and every token decision of both servers collected for the test.
 */
import { startOnPremises, type OnPremises } from '@s2sauth/example-demo';
import type { AuditEvent } from '@s2sauth/middleware';
import { pino } from 'pino';
import { PASSWORD } from './on-premises.js';

/** A running launcher pair and the audit events of both its verifiers. */
export interface DemoPair {
  readonly pair: OnPremises;
  readonly audit: AuditEvent[];
  close(): Promise<void>;
}

/** Starts the pair in `folder` with {@link PASSWORD} for the seeded users. */
export async function startDemoPair(folder: string): Promise<DemoPair> {
  const audit: AuditEvent[] = [];
  const pair = await startOnPremises({
    dataDir: folder,
    lyncPort: 0,
    exchangePort: 0,
    password: PASSWORD,
    logger: pino({ level: 'silent' }),
    audit: (event) => audit.push(event),
  });
  return { pair, audit, close: () => pair.close() };
}
