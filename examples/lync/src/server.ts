/**
 * Starting and stopping the Lync server: the data folder, the OAuth certificate and token issuer,
 * the partner registry and verifier, the S2S client to Exchange when one is configured (with
 * self-issued tokens on premises, STS-issued ones with `sts`), the archiving outbox worker, and the
 * HTTP server with its routes.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  answerClientErrors,
  checkStsConnection,
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
  type StsConnection,
} from '@s2sauth/example-support';
import { CertificateSet, metadataRouter, S2SClient, S2SClientError, StsTokenSource, TokenIssuer, type PartnerEndpoint, type TokenSource } from '@s2sauth/issuer';
import { createVerifier, PartnerRegistry, pinoAuditSink, type AuditSink } from '@s2sauth/middleware';
import { authorityOf, isPrincipalId, isRealm, optionNames, refuseUnknownOptions, WellKnownPrincipal } from '@s2sauth/protocol';
import { SqliteStore } from '@s2sauth/store';
import express from 'express';
import { pino, type Logger } from 'pino';
import { Accounts } from './accounts.js';
import { Conferences } from './conferences.js';
import { LocalContactStore, UnifiedContactStore, type ContactStore } from './contact-store.js';
import { Conversations } from './conversations.js';
import { openLyncDatabase } from './database.js';
import { ExchangePartner, isExchangeOutage } from './exchange-partner.js';
import { Outbox } from './outbox.js';
import { meetingRoutes } from './meeting-routes.js';
import { partnerRoutes } from './partner-routes.js';
import { peopleRoutes } from './people-routes.js';


/** Options of {@link startLync}. */
export interface LyncOptions {
  /** The data folder: created on first start (mode 0700), reused afterwards. */
  readonly dataDir: string;
  /** The primary realm (the default SIP domain), e.g. `contoso.com`: the certificate's CN and the tokens' realm. */
  readonly realm: string;
  /** Extra SIP domains this server serves, added to the certificate's Subject Alternative Names and accepted as realms. */
  readonly realms?: readonly string[];
  /** The address to listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /** The port; 0 picks a free one. */
  readonly port: number;
  /** Users created on the first start only (a later start never re-creates them). */
  readonly users?: readonly { readonly username: string; readonly password: string; readonly displayName?: string }[];
  /**
   * The Exchange server Lync keeps contacts in and archives transcripts to. Absent: contacts stay in
   * Lync and ended conversations are kept locally (server-to-server authentication is not needed).
   */
  readonly exchange?: {
    /** Exchange's base URL: `https:`, or `http:` to a loopback address. */
    readonly url: string;
    /** Exchange's principal id. Default `00000002-0000-0ff1-ce00-000000000000`. */
    readonly principal?: string;
  };
  /**
   * Reach Exchange through an authorization server instead of the built-in issuer (cloud and
   * hybrid). Absent: self-issued tokens in `realm` (on premises). The launcher registers Lync at
   * the STS with {@link LyncServer.certificatePem}, and the STS and Exchange in {@link LyncServer.registry}.
   */
  readonly sts?: StsConnection;
  /** The archiving outbox worker. */
  readonly outbox?: {
    /** First retry delay in ms. Default 1000. */
    readonly retryBaseMs?: number;
    /** Longest retry delay in ms. Default 60000. */
    readonly retryMaxMs?: number;
    /** Longest sleep between passes in ms. Default 30000. */
    readonly pollMs?: number;
    /** Most deliveries in flight at once. Default 4. */
    readonly concurrency?: number;
    /** While Exchange is failing, the pause between two probes in ms. Default 2000. */
    readonly probeMs?: number;
  };
  /** Where the verifier's accept/reject decisions go; `false` for nowhere. Default: the logger. */
  readonly audit?: AuditSink | false;
  /** Default `pino({ name: 'lync' })` to standard output. */
  readonly logger?: Logger;
}

/** A running Lync server. */
export interface LyncServer {
  /** `http://host:port`, the actual port. */
  readonly url: string;
  /** `host:port` as it appears in audiences addressed to this server. */
  readonly authority: string;
  /** The partner applications Lync trusts (register Exchange here: `registry.add({ identity, metadataUrl, ... })`). */
  readonly registry: PartnerRegistry;
  /** Lync's OAuth certificate (`oauth-cert.pem`), PEM: its credential to register at an STS. */
  readonly certificatePem: string;
  /** Runs one delivery pass over every transcript in the outbox now (for tests). @returns how many were delivered. */
  deliverOutbox(): Promise<number>;
  /** Stops the outbox worker, the HTTP server (dropping open connections) and closes the stores. Idempotent. */
  close(): Promise<void>;
}

const OPTION_NAMES = optionNames<LyncOptions>({
  dataDir: true, realm: true, realms: true, host: true, port: true,
  users: true, exchange: true, sts: true, outbox: true, audit: true, logger: true,
});
const OUTBOX_OPTION_NAMES = optionNames<NonNullable<LyncOptions['outbox']>>({ retryBaseMs: true, retryMaxMs: true, pollMs: true, concurrency: true, probeMs: true });

function checkOptions(options: LyncOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('startLync needs options: { dataDir, realm, port }.');
  refuseUnknownOptions('startLync', options, OPTION_NAMES);
  if (typeof options.outbox === 'object' && options.outbox !== null) refuseUnknownOptions('startLync: options.outbox', options.outbox, OUTBOX_OPTION_NAMES);
  if (typeof options.dataDir !== 'string' || options.dataDir === '') throw new TypeError('options.dataDir must be a folder path.');
  if (typeof options.realm !== 'string' || !isRealm(options.realm)) throw new TypeError('options.realm must be a lowercase DNS name like contoso.com.');
  if (options.realms !== undefined && (!Array.isArray(options.realms) || !options.realms.every((realm) => typeof realm === 'string' && isRealm(realm)))) {
    throw new TypeError('options.realms must be an array of lowercase DNS names.');
  }
  if (options.host !== undefined && (typeof options.host !== 'string' || options.host === '')) throw new TypeError('options.host must be a host name or address.');
  if (typeof options.port !== 'number' || !Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new TypeError('options.port must be a port number (0 for a free one).');
  }
  if (options.users !== undefined && !Array.isArray(options.users)) throw new TypeError('options.users must be an array of { username, password, displayName? }.');
  if (options.exchange !== undefined) {
    if (typeof options.exchange !== 'object' || options.exchange === null || typeof options.exchange.url !== 'string') {
      throw new TypeError('options.exchange must be { url, principal? }.');
    }
    if (options.exchange.principal !== undefined && !isPrincipalId(options.exchange.principal)) {
      throw new TypeError('options.exchange.principal must be a lowercase GUID.');
    }
  }
  if (options.sts !== undefined) checkStsConnection(options.sts);
  if (options.audit !== undefined && options.audit !== false && typeof options.audit !== 'function') throw new TypeError('options.audit must be a function or false.');
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error): void => reject(error);
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve(server.address() as AddressInfo);
    });
  });
}

function exchangeEndpoint(client: S2SClient, exchange: NonNullable<LyncOptions['exchange']>, realm: string): PartnerEndpoint {
  try {
    // A token is always in its issuer's realm (Lync's own, or the STS tenant; protocol.md 3.3 step 4): no discovery needed to mint.
    return client.partner({ principal: exchange.principal ?? WellKnownPrincipal.exchange, baseUrl: exchange.url, realm });
  } catch (error) {
    if (error instanceof S2SClientError || error instanceof TypeError) {
      throw new TypeError(`options.exchange.url: ${error.message} (https:, or http: to a loopback address).`, { cause: error });
    }
    throw error;
  }
}

/**
 * Starts a Lync server. The first start creates the data folder, the database, the OAuth
 * certificate (`oauth-cert.pem`, `oauth-key.pem`, mode 0600) and the session secret; later starts
 * reuse them. Transcripts left in the outbox by an earlier run are delivered once Exchange answers.
 *
 * @throws TypeError for bad options; the error of a port in use or an unwritable data folder.
 */
export async function startLync(options: LyncOptions): Promise<LyncServer> {
  checkOptions(options);
  const logger = options.logger ?? pino({ name: 'lync' });
  const host = options.host ?? '127.0.0.1';
  const realms = [...new Set([options.realm, ...(options.realms ?? [])])];

  const folder = await openDataFolder(options.dataDir, 'lync.sqlite');
  const { certificate, created } = await loadOrCreateCertificate(folder, realms);
  if (created) logger.info({ x5t: certificate.x5t, realms }, 'created the OAuth certificate');
  const sessionSecret = await loadOrCreateSessionSecret(folder);

  const db = openLyncDatabase(folder.database);
  const cleanup: (() => unknown)[] = [() => db.close()];
  const runCleanup = async (): Promise<void> => {
    for (const step of cleanup.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        logger.warn({ err: error }, 'error while closing');
      }
    }
  };
  try {
    const accounts = new Accounts(db);
    await accounts.seedOnce(options.users ?? []);

    checkWritableDatabase(folder.registryDatabase);
    const store = SqliteStore.open(folder.registryDatabase);
    cleanup.push(() => store.close());
    const registry = new PartnerRegistry({ store });
    cleanup.push(() => registry.close());

    const certificates = new CertificateSet({ current: certificate });
    const issuer = new TokenIssuer({ principal: WellKnownPrincipal.lync, realm: options.realm, certificates });
    let exchange: ExchangePartner | undefined;
    if (options.exchange !== undefined) {
      const sts = options.sts;
      const tokens: TokenSource =
        sts === undefined
          ? issuer
          : new StsTokenSource({
              principal: WellKnownPrincipal.lync,
              realm: sts.realm,
              certificates,
              sts: { metadataUrl: sts.metadataUrl },
              // checkStsConnection admitted http: only to a loopback host; StsTokenSource refuses it unless told.
              allowLoopbackHttp: new URL(sts.metadataUrl).protocol === 'http:',
            });
      // options.exchange.url may be http: to a loopback address (the demo's); any other http: is still refused.
      const client = new S2SClient({ issuer: tokens, allowLoopbackHttp: true });
      exchange = new ExchangePartner(exchangeEndpoint(client, options.exchange, sts?.realm ?? options.realm));
    }

    const sessionStore = new SqliteSessionStore(db);
    cleanup.push(() => sessionStore.close());
    const outbox = new Outbox({
      db,
      logger: logger.child({ component: 'outbox' }),
      deliver: async (entry, signal) => {
        // Without Exchange nothing is ever queued; rows from a run that had Exchange wait for it.
        if (exchange === undefined) throw new Error('No Exchange partner is configured; the transcript waits until one is.');
        await exchange.archive({ username: entry.organizer }, entry.transcript, signal);
      },
      isOutage: isExchangeOutage,
      ...options.outbox,
    });
    cleanup.push(() => outbox.close());

    const server = createServer();
    answerClientErrors(server);
    const address = await listen(server, options.port, host);
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : host}:${address.port}`;
    const authority = authorityOf(url);

    const audit = options.audit ?? pinoAuditSink(logger.child({ component: 's2sauth-audit' }));
    const verifier = createVerifier({
      principal: WellKnownPrincipal.lync,
      // Partners reached through the STS address Lync in the tenant realm; the certificate need not name it.
      realms: options.sts === undefined ? realms : [...new Set([...realms, options.sts.realm])],
      authorities: [...new Set([authority, `localhost:${address.port}`])],
      registry,
      audit,
    });
    cleanup.push(() => verifier.close());

    const conversations = new Conversations(db);
    const conferences = new Conferences(db, url);
    const contacts: ContactStore = exchange === undefined ? new LocalContactStore(db) : new UnifiedContactStore(db, exchange);

    const health = new StorageHealth({ logger, files: [folder.database, folder.registryDatabase], database: db });
    const app = express();
    app.disable('x-powered-by');
    app.use(requestTarget(), health.watch());
    app.get('/healthz', health.handler());
    app.use(metadataRouter({ principal: WellKnownPrincipal.lync, realm: options.realm, name: 'Lync', certificates }));
    // Every user belongs to one realm of the organization; the STS tenant (cloud, hybrid) holds them all.
    const organization = new Organization({ realms, tenant: options.sts?.realm });
    app.use('/api', partnerRoutes({ verifier, accounts, conferences, organization, db }));
    app.use('/api', notFound());
    app.use(meetingRoutes({ conferences }));
    app.use(
      peopleRoutes({
        accounts,
        contacts,
        conversations,
        conferences,
        sessionSecret,
        sessionStore,
        archiving: exchange !== undefined,
        onTranscriptQueued: () => outbox.wake(),
      }),
    );
    app.use(notFound());
    app.use(errorHandler(logger, { storage: health }));
    server.on('request', app);

    outbox.start();
    logger.info({ url, realms, exchange: exchange?.origin ?? null, sts: options.sts?.metadataUrl ?? null }, 'Lync is ready');

    let closing: Promise<void> | undefined;
    return {
      url,
      authority,
      registry,
      certificatePem: certificate.pem,
      deliverOutbox: () => outbox.deliverNow(),
      close: () => (closing ??= runCleanup()),
    };
  } catch (error) {
    await runCleanup();
    throw error;
  }
}
