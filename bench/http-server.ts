/**
 * The servers under test of bench/http.bench.ts, run in a child process (forked by it, with the
 * same `--conditions`/`--import` flags): a bare Express 5 JSON route, the same route behind a
 * middleware that only calls `next()`, behind one that only writes an audit line through the same
 * pino sink, and behind `s2sAuth`, each on its own Express app on 127.0.0.1 at an ephemeral port.
 *
 * In a child so that on a 2-core machine the server has a core to itself and the load generator
 * (autocannon, in the parent) the other: in one process they would share one event loop, and the
 * client's per-request cost would dilute the difference between the routes.
 *
 * Protocol with the parent (IPC): argv[2] is the partner's metadata URL. The child sends
 * `{ type: 'ready', barePort, noopPort, auditedPort, authPort }`; on `{ type: 'stats' }` it answers
 * `{ type: 'stats', accepts, cachedAccepts, rejects, cpuMicros }` (counted since the last stats
 * request; `cpuMicros` is the process's user + system CPU time, all threads, so the audit log's
 * writes on libuv's thread pool count too);
 * it exits on `{ type: 'exit' }` or when the parent goes away.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { s2sAuth, type AuditSink } from '@s2sauth/middleware';
import type { ParentMessage } from './child-messages.js';
import { AUDIENCE, nullAuditSink, openBenchVerifier, PARTNER_IDENTITY } from './bench-partner.js';
import { WellKnownPrincipal } from '@s2sauth/protocol';

/** What the child tells the parent. */
export type ServerMessage =
  | { readonly type: 'ready'; readonly barePort: number; readonly noopPort: number; readonly auditedPort: number; readonly authPort: number }
  | {
      readonly type: 'stats';
      readonly accepts: number;
      readonly cachedAccepts: number;
      readonly rejects: number;
      readonly cpuMicros: number;
    };


/** The audit fields of the reference route: those of s2sAuth's cached accept of a benchmark token. */
const REFERENCE_TRAIL = {
  partner: PARTNER_IDENTITY,
  applicationId: WellKnownPrincipal.lync,
  audience: AUDIENCE,
  tokenId: '8c6c2ff1-5f59-4ae0-a4a2-0c2b3b5c9d10',
} as const;

/** The route every app serves: a small JSON answer, as an API call would get. */
function route(req: Request, res: Response): void {
  res.json({ ok: true, partner: req.s2s?.partner ?? null });
}

function listen(app: express.Express): Promise<Server> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function main(metadataUrl: string): Promise<void> {
  const stats = { accepts: 0, cachedAccepts: 0, rejects: 0 };
  let cpu = process.cpuUsage();
  const pinoSink = nullAuditSink();
  // The real pino sink does the writing; counting cached accepts proves the "new token" runs missed the cache.
  const audit: AuditSink = (event) => {
    if (event.decision === 'accept') {
      stats.accepts++;
      if (event.cached === true) stats.cachedAccepts++;
    } else stats.rejects++;
    pinoSink(event);
  };
  const { verifier, close } = await openBenchVerifier(metadataUrl, audit);

  const bare = express();
  bare.get('/api/contacts', route);
  // Two reference points, not products: what any middleware layer costs, and that plus the one
  // thing the issue requires on every call whatever the implementation: a pino audit line.
  const noop = express();
  noop.get('/api/contacts', (_req: Request, _res: Response, next: NextFunction) => next(), route);
  const audited = express();
  audited.get(
    '/api/contacts',
    (req: Request, _res: Response, next: NextFunction) => {
      pinoSink({ decision: 'accept', status: 200, cached: true, ...REFERENCE_TRAIL, method: req.method, path: req.path });
      next();
    },
    route,
  );
  const auth = express();
  auth.get('/api/contacts', s2sAuth({ verifier }), route);
  const servers = [await listen(bare), await listen(noop), await listen(audited), await listen(auth)];

  const shutDown = (): void => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    close();
    process.disconnect?.();
  };
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'stats') {
      const used = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      send({ type: 'stats', ...stats, cpuMicros: used.user + used.system });
      stats.accepts = stats.cachedAccepts = stats.rejects = 0;
    } else if (message.type === 'exit') shutDown();
  });
  const [barePort, noopPort, auditedPort, authPort] = servers.map((server) => (server.address() as AddressInfo).port) as [number, number, number, number];
  send({ type: 'ready', barePort, noopPort, auditedPort, authPort });
}

function send(message: ServerMessage): void {
  process.send?.(message);
}

const metadataUrl = process.argv[2];
if (metadataUrl === undefined || process.send === undefined) {
  console.error('bench/http-server.ts is started by bench/http.bench.ts (IPC and a metadata URL needed)');
  process.exit(2);
}
await main(metadataUrl);
