/**
 * Starts the Exchange demo server: data folder, OAuth certificate, databases, partner registry,
 * then the HTTP server. The listening port is only known after binding, and it is part of the
 * audience partners address us by, so the server binds first and builds the Express application
 * (with its verifier) once it knows its authority.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import { pino } from 'pino';
import {
  answerClientErrors,
  checkWritableDatabase,
  errorHandler,
  loadOrCreateCertificate,
  loadOrCreateSessionSecret,
  notFound,
  openDataFolder,
  Organization,
  requestTarget,
  SqliteSessionStore,
  StorageHealth,
} from '@s2sauth/example-support';
import { CertificateSet, metadataRouter, S2SClient, StsTokenSource, TokenIssuer, type TokenSource } from '@s2sauth/issuer';
import { PartnerRegistry, pinoAuditSink, s2sAuth, s2sErrorHandler, type S2SAuthMiddleware } from '@s2sauth/middleware';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { SqliteStore } from '@s2sauth/store';
import { Accounts } from './accounts.js';
import { resolveExchangeOptions, type ExchangeOptions, type ExchangeServer } from './exchange-options.js';
import { LyncMeetings } from './lync-meetings.js';
import { openMailboxDatabase, type MailboxDatabase } from './mailbox-database.js';
import { MailboxStore } from './mailbox-store.js';
import { partnerRoutes } from './partner-routes.js';
import { peopleRoutes } from './people-routes.js';

/** Exchange's principal id (protocol.md section 1). */
const PRINCIPAL = WellKnownPrincipal.exchange;

/** `host:port` for a URL: IPv6 literals in brackets, a wildcard address as the loopback one. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host.toLowerCase();
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Starts an Exchange server (principal `00000002-0000-0ff1-ce00-000000000000`) and resolves once
 * it answers `GET /healthz` with 200. See {@link ExchangeOptions} for what the data folder holds.
 *
 * @throws TypeError for bad options or an unusable data folder (a certificate that expired or does
 *   not cover the realms, half a key pair); the error of `listen` when the port is taken.
 */
export async function startExchange(options: ExchangeOptions): Promise<ExchangeServer> {
  const config = resolveExchangeOptions(options);
  const logger = config.logger ?? pino({ name: 'exchange' });
  const folder = await openDataFolder(config.dataDir, 'exchange.sqlite');
  const { certificate, created } = await loadOrCreateCertificate(folder, config.realms);
  logger.info({ x5t: certificate.x5t, created, dataDir: folder.path }, 'OAuth certificate ready');
  const secret = await loadOrCreateSessionSecret(folder);

  const opened: { close(): void }[] = [];
  const closeAll = (): void => {
    for (const resource of opened.reverse()) {
      try {
        resource.close();
      } catch (error) {
        logger.warn({ err: error }, 'closing a resource failed');
      }
    }
  };
  let server: Server | undefined;
  try {
    const db: MailboxDatabase = openMailboxDatabase(folder.database);
    opened.push(db);
    checkWritableDatabase(folder.registryDatabase);
    const store = SqliteStore.open(folder.registryDatabase);
    opened.push(store);
    const registry = new PartnerRegistry({ store });
    opened.push(registry);
    const sessions = new SqliteSessionStore(db);
    opened.push(sessions);
    // Every mailbox belongs to one realm of the organization; the STS tenant (cloud, hybrid) holds them all.
    const accounts = new Accounts(db, new Organization({ realms: config.realms, tenant: config.sts?.realm }));
    const added = await accounts.seed(config.users);
    if (added > 0) logger.info({ added }, 'users seeded');
    const mailboxes = new MailboxStore(db);

    const realm = config.realms[0] as string;
    const certificates = new CertificateSet({ current: certificate });
    const issuer = new TokenIssuer({ principal: PRINCIPAL, realm, certificates });
    const sts = config.sts;
    // With an STS, Lync is addressed in the tenant realm: a token is always in its issuer's realm.
    const tokens: TokenSource =
      sts === undefined
        ? issuer
        : new StsTokenSource({
            principal: PRINCIPAL,
            realm: sts.realm,
            certificates,
            sts: { metadataUrl: sts.metadataUrl },
            // The options check admitted http: only to a loopback host; StsTokenSource refuses it unless told.
            allowLoopbackHttp: new URL(sts.metadataUrl).protocol === 'http:',
          });
    const meetings =
      config.lync === undefined
        ? undefined
        : new LyncMeetings(
            // config.lync.url may be http: to a loopback address (the demo's); any other http: is still refused.
            new S2SClient({ issuer: tokens, allowLoopbackHttp: true }).partner({ principal: config.lync.principal, baseUrl: config.lync.url, realm: sts?.realm ?? realm }),
          );

    // Bind first: the port is part of our authority, which the verifier needs.
    let app: Express | undefined;
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (app !== undefined) {
        app(req, res);
        return;
      }
      res.statusCode = 503;
      res.setHeader('Retry-After', '1');
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(JSON.stringify({ error: 'starting', message: 'The server is starting; try again in a second.' }));
    });
    answerClientErrors(server);
    const port = await listen(server, config.port, config.host);
    const host = urlHost(config.host);
    const authority = `${host}:${port}`;

    const auth: S2SAuthMiddleware = s2sAuth({
      principal: PRINCIPAL,
      // Partners reached through the STS address Exchange in the tenant realm; the certificate need not name it.
      realms: sts === undefined ? config.realms : [...new Set([...config.realms, sts.realm])],
      authorities: [...new Set([authority, `localhost:${port}`])],
      registry,
      audit: config.audit ?? pinoAuditSink(logger.child({ component: 's2sauth-audit' })),
      // The token's user must have a mailbox here, in the partner's realm; otherwise the call is
      // refused as user_invalid (401): a partner trusted in one realm never acts for another's users.
      resolveUser: (user, partner) => accounts.forPartnerUser(user, partner.realm) !== undefined,
    });
    opened.push(auth.verifier);

    const health = new StorageHealth({ logger, files: [folder.database, folder.registryDatabase], database: db });
    app = express();
    app.disable('x-powered-by');
    app.use(requestTarget(), health.watch());
    app.get('/healthz', health.handler());
    app.use(metadataRouter({ principal: PRINCIPAL, realm, name: 'Exchange', certificates }));
    // The /api 404 ends every /api request here, so the session middleware below never sees one.
    app.use('/api', auth, partnerRoutes({ accounts, mailboxes, db }), notFound());
    app.use(peopleRoutes({ accounts, mailboxes, secret, store: sessions, meetings }));
    app.use(notFound());
    app.use(s2sErrorHandler());
    app.use(errorHandler(logger, { storage: health }));

    const url = `http://${authority}`;
    logger.info({ url, principal: PRINCIPAL, realms: config.realms, sts: sts?.metadataUrl ?? null }, 'Exchange listening');
    const running = server;
    let closing: Promise<void> | undefined;
    return {
      url,
      authority,
      registry,
      certificatePem: certificate.pem,
      close: () => {
        closing ??= new Promise<void>((resolve) => {
          running.close(() => {
            closeAll();
            resolve();
          });
          // Keep-alive connections with no request in flight would hold close() open.
          running.closeIdleConnections();
        });
        return closing;
      },
    };
  } catch (error) {
    server?.close();
    closeAll();
    throw error;
  }
}
