/**
 * The demo STS (protocol.md section 6): an ACS-like authorization server with its own OAuth
 * certificate in a data folder, a SQLite client registry and replay store, and the token endpoint
 * and metadata of `stsRouter`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import express from 'express';
import { pino, type Logger } from 'pino';
import { answerClientErrors, checkWritableDatabase, errorHandler, isStorageFault, notFound, requestTarget, StorageHealth } from '@s2sauth/example-support';
import { ClientKeySets, OAuthCertificate, stsRouter, stsTokenPath } from '@s2sauth/issuer';
import { isRealm, optionNames, refuseUnknownOptions, stsIssuerId } from '@s2sauth/protocol';
import { SqliteStore, type ClientInput, type ReplayStore } from '@s2sauth/store';

/** Options of {@link startSts}. */
export interface StsOptions {
  /** Folder of `oauth-cert.pem`, `oauth-key.pem` (0600) and `sts.sqlite`; created when missing. */
  readonly dataDir: string;
  /** Address to bind; default `127.0.0.1`. */
  readonly host?: string;
  /** Port; 0 for an ephemeral one. */
  readonly port: number;
  /** Realms served (tenant GUIDs or DNS names); the first is the certificate's CN. */
  readonly realms: readonly string[];
  /** Clients to register or update at start. */
  readonly clients?: readonly ClientInput[];
  /** Logger for start-up and audit; default pino named `sts`. */
  readonly logger?: Logger;
}

const OPTION_NAMES = optionNames<StsOptions>({ dataDir: true, host: true, port: true, realms: true, clients: true, logger: true });

/** A running STS. */
export interface RunningSts {
  readonly url: string;
  issuerId(realm: string): string;
  tokenEndpoint(realm: string): string;
  readonly store: SqliteStore;
  close(): Promise<void>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function certificateIn(dataDir: string, realms: readonly string[]): Promise<OAuthCertificate> {
  const certificatePath = join(dataDir, 'oauth-cert.pem');
  const keyPath = join(dataDir, 'oauth-key.pem');
  if ((await exists(certificatePath)) && (await exists(keyPath))) {
    const certificate = await OAuthCertificate.load(certificatePath, keyPath);
    certificate.validate({ realms });
    return certificate;
  }
  const certificate = await OAuthCertificate.create({ realms });
  await certificate.save(certificatePath, keyPath);
  return certificate;
}

/**
 * Starts the STS and resolves once it listens.
 * @throws TypeError for bad or unknown options; `CertificateError` for an unusable certificate in the data folder.
 */
export async function startSts(options: StsOptions): Promise<RunningSts> {
  if (typeof options !== 'object' || options === null) throw new TypeError('startSts: options must be an object.');
  refuseUnknownOptions('startSts', options, OPTION_NAMES);
  const { dataDir, host = '127.0.0.1', port, realms } = options;
  if (typeof dataDir !== 'string' || dataDir === '') throw new TypeError('startSts: options.dataDir must be a folder path.');
  if (!Array.isArray(realms) || realms.length === 0 || !realms.every((realm) => typeof realm === 'string' && isRealm(realm))) {
    throw new TypeError('startSts: options.realms must be a non-empty array of lowercase realms.');
  }
  const logger = options.logger ?? pino({ name: 'sts' });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const certificate = await certificateIn(dataDir, realms);
  const database = join(dataDir, 'sts.sqlite');
  checkWritableDatabase(database);
  const store = SqliteStore.open(database);
  try {
    for (const client of options.clients ?? []) store.putClient(client);
    const audit = logger.child({ component: 's2sauth-sts-audit' });
    // Cached per client: unauthenticated requests reach clientKeys (see stsRouter).
    const keySets = new ClientKeySets();
    const clientKeys = keySets.keys.bind(keySets);
    const health = new StorageHealth({ logger, files: [database] });
    const app = express();
    app.disable('x-powered-by');
    app.use(requestTarget(), health.watch());
    app.get('/healthz', health.handler());
    // The one write of a token request: a full disk is 503 (stsRouter answers an error with status
    // 503 as temporarily_unavailable), logged once, and /healthz says so until a claim succeeds.
    const replay: ReplayStore = {
      claim: (issuer, jti, expiresAt) => {
        try {
          return store.claim(issuer, jti, expiresAt);
        } catch (error) {
          throw isStorageFault(error) ? health.fault(error) : error;
        }
      },
    };
    app.use(stsRouter({ realms, certificates: certificate, clients: store, replay, clientKeys, audit: (event) => audit.info(event, 'sts decision') }));
    // Every other answer is JSON `{error, message}` too: an unknown route, a body Express refused.
    app.use(notFound());
    app.use(errorHandler(logger, { storage: health }));
    const server: Server = createServer(app);
    answerClientErrors(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const bound = (server.address() as AddressInfo).port;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
    logger.info({ url, realms, x5t: certificate.x5t }, 'STS listening');
    let closing: Promise<void> | undefined;
    return {
      url,
      store,
      issuerId: (realm) => stsIssuerId(realm),
      tokenEndpoint: (realm) => `${url}${stsTokenPath(realm)}`,
      close: () => {
        closing ??= new Promise<void>((resolve) => {
          server.close(() => {
            keySets.close();
            store.close();
            resolve();
          });
          server.closeIdleConnections();
        });
        return closing;
      },
    };
  } catch (error) {
    store.close();
    throw error;
  }
}
