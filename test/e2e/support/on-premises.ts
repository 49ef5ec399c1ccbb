/**
 * An on-premises pair wired by hand: a Lync server and an Exchange server on 127.0.0.x, each
 * registered as the other's partner application by metadata URL with full trust, with explicit
 * control over each server's life (stop one, restart it on the same port with the same data
 * folder), which the end-to-end scenarios about outages need.
 *
 * The addresses are separate from the URLs the servers call each other at, so that a recording
 * proxy can sit between them (see recording-proxy.ts).
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startExchange, type ExchangeServer } from '@s2sauth/example-exchange';
import { startLync, type LyncServer } from '@s2sauth/example-lync';
import type { AuditEvent } from '@s2sauth/middleware';
import type { PartnerApplication } from '@s2sauth/store';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { pino } from 'pino';

export const REALM = 'contoso.com';
export const PASSWORD = 'correct horse battery staple';
export const USERS = [
  { username: 'alice@contoso.com', password: PASSWORD, displayName: 'Alice Adams' },
  { username: 'bob@contoso.com', password: PASSWORD, displayName: 'Bob Brown' },
  { username: 'carol@contoso.com', password: PASSWORD, displayName: 'Carol Clark' },
] as const;

/** What Exchange grants Lync, and Lync grants Exchange. */
export const LYNC_IN_EXCHANGE = { identity: 'microsoft.lync', scopes: ['contacts.read', 'contacts.write', 'archive.read', 'archive.write'] } as const;
export const EXCHANGE_IN_LYNC = { identity: 'microsoft.exchange', scopes: ['conferences.read', 'conferences.write'] } as const;

/** A free TCP port on `host` (bound and released at once). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Where the servers listen and the URLs they call each other at. */
export interface DeploymentOptions {
  /** Parent folder of `lync/` and `exchange/`. */
  readonly folder: string;
  /** Listening address of Lync. Default 127.0.0.1. */
  readonly lyncHost?: string;
  /** Listening address of Exchange. Default 127.0.0.1. */
  readonly exchangeHost?: string;
  /** Ports; default a free one each, kept for every restart. */
  readonly lyncPort?: number;
  readonly exchangePort?: number;
  /** The URL Exchange calls Lync at. Default Lync's own URL. */
  readonly lyncUrlForExchange?: string;
  /** The URL Lync calls Exchange at. Default Exchange's own URL. */
  readonly exchangeUrlForLync?: string;
}

/** A Lync + Exchange pair whose servers can be stopped and restarted one at a time. */
export class Deployment {
  readonly lyncDir: string;
  readonly exchangeDir: string;
  /** Every token decision of both servers, across restarts. */
  readonly lyncAudit: AuditEvent[] = [];
  readonly exchangeAudit: AuditEvent[] = [];
  lync: LyncServer | undefined;
  exchange: ExchangeServer | undefined;
  readonly #options: DeploymentOptions;
  readonly #lyncHost: string;
  readonly #exchangeHost: string;
  #lyncPort: number;
  #exchangePort: number;

  private constructor(options: DeploymentOptions, lyncPort: number, exchangePort: number) {
    this.#options = options;
    this.lyncDir = join(options.folder, 'lync');
    this.exchangeDir = join(options.folder, 'exchange');
    this.#lyncHost = options.lyncHost ?? '127.0.0.1';
    this.#exchangeHost = options.exchangeHost ?? '127.0.0.1';
    this.#lyncPort = lyncPort;
    this.#exchangePort = exchangePort;
  }

  /** Reserves the ports; starts nothing. */
  static async create(options: DeploymentOptions): Promise<Deployment> {
    const lyncPort = options.lyncPort ?? (await freePort(options.lyncHost));
    const exchangePort = options.exchangePort ?? (await freePort(options.exchangeHost));
    return new Deployment(options, lyncPort, exchangePort);
  }

  /** Lync's own URL (not through any proxy). */
  get lyncUrl(): string {
    return `http://${this.#lyncHost}:${this.#lyncPort}`;
  }

  /** Exchange's own URL (not through any proxy). */
  get exchangeUrl(): string {
    return `http://${this.#exchangeHost}:${this.#exchangePort}`;
  }

  /** Starts Lync (same folder and port every time), with or without its Exchange partner. */
  async startLync(options: { readonly withExchange?: boolean } = {}): Promise<LyncServer> {
    if (this.lync !== undefined) throw new Error('Lync is running already');
    const withExchange = options.withExchange ?? true;
    this.lync = await startLync({
      dataDir: this.lyncDir,
      realm: REALM,
      host: this.#lyncHost,
      port: this.#lyncPort,
      users: USERS,
      ...(withExchange ? { exchange: { url: this.#options.exchangeUrlForLync ?? this.exchangeUrl } } : {}),
      // Delivery is driven by deliverOutbox() in the tests; the worker's own retries wait long.
      outbox: { retryBaseMs: 60_000, retryMaxMs: 60_000, pollMs: 60_000 },
      audit: (event) => this.lyncAudit.push(event),
      logger: pino({ level: 'silent' }),
    });
    return this.lync;
  }

  /** Starts Exchange (same folder and port every time), configured with Lync. */
  async startExchange(): Promise<ExchangeServer> {
    if (this.exchange !== undefined) throw new Error('Exchange is running already');
    this.exchange = await startExchange({
      dataDir: this.exchangeDir,
      realm: REALM,
      host: this.#exchangeHost,
      port: this.#exchangePort,
      users: USERS,
      lync: { url: this.#options.lyncUrlForExchange ?? this.lyncUrl },
      audit: (event) => this.exchangeAudit.push(event),
      logger: pino({ level: 'silent' }),
    });
    return this.exchange;
  }

  async stopLync(): Promise<void> {
    const lync = this.lync;
    this.lync = undefined;
    await lync?.close();
  }

  async stopExchange(): Promise<void> {
    const exchange = this.exchange;
    this.exchange = undefined;
    await exchange?.close();
  }

  /**
   * Registers each running server in the other's registry by its metadata URL (full trust), unless
   * a registration from an earlier run is there already (the registries live in the data folders).
   */
  async trust(): Promise<void> {
    if (this.exchange !== undefined && this.lync !== undefined && this.exchange.registry.get(LYNC_IN_EXCHANGE.identity) === undefined) {
      await this.exchange.registry.add({
        identity: LYNC_IN_EXCHANGE.identity,
        metadataUrl: `${this.lyncUrl}/metadata/json/1`,
        allowLoopback: true,
        trustLevel: 'full',
        scopes: LYNC_IN_EXCHANGE.scopes,
      });
    }
    if (this.lync !== undefined && this.exchange !== undefined && this.lync.registry.get(EXCHANGE_IN_LYNC.identity) === undefined) {
      await this.lync.registry.add({
        identity: EXCHANGE_IN_LYNC.identity,
        metadataUrl: `${this.exchangeUrl}/metadata/json/1`,
        allowLoopback: true,
        trustLevel: 'full',
        scopes: EXCHANGE_IN_LYNC.scopes,
      });
    }
  }

  /** Starts both servers with Exchange configured in Lync, and the mutual trust. */
  async startBoth(): Promise<void> {
    await this.startLync();
    await this.startExchange();
    await this.trust();
  }

  /** Stops whatever runs. */
  async close(): Promise<void> {
    await Promise.allSettled([this.stopLync(), this.stopExchange()]);
  }
}

/** The registration of Lync in an Exchange registry, whatever identity the launcher gave it. */
export function lyncRegistration(registrations: readonly PartnerApplication[]): PartnerApplication {
  const found = registrations.find((application) => application.applicationId === WellKnownPrincipal.lync);
  if (found === undefined) throw new Error('Exchange has no registration for Lync');
  return found;
}
