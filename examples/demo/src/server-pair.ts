/**
 * Starting the two demo servers of every scenario: Exchange and Lync, each configured with the
 * other's URL, then the scenario's trust wiring, with both stopped again when any step fails. The
 * scenarios differ only in the servers' realms, whether they reach each other through an STS, and
 * how the trust is registered.
 */
import { createServer } from 'node:net';
import { startExchange, type ExchangeOptions, type ExchangeServer } from '@s2sauth/example-exchange';
import { startLync, type LyncOptions, type LyncServer } from '@s2sauth/example-lync';

/** Exchange's options without what the pair decides (address, port, Lync's URL). */
export type PairedExchangeOptions = Omit<ExchangeOptions, 'host' | 'port' | 'lync'>;
/** Lync's options without what the pair decides (address, port, Exchange's URL). */
export type PairedLyncOptions = Omit<LyncOptions, 'host' | 'port' | 'exchange'>;

/** Options of {@link startServerPair}. */
export interface ServerPairOptions {
  /** Address both servers listen on. */
  readonly host: string;
  /** Lync's port; 0 picks a free one. */
  readonly lyncPort: number;
  /** Exchange's port; 0 picks a free one. */
  readonly exchangePort: number;
  readonly exchange: PairedExchangeOptions;
  readonly lync: PairedLyncOptions;
  /** Registers the trust between the running servers (and wherever else the scenario needs it). */
  readonly trust: (lync: LyncServer, exchange: ExchangeServer) => Promise<void>;
  /** Picks the port for Lync when `lyncPort` is 0. Default {@link freePort}; tests pass a port already taken. */
  readonly pickPort?: (host: string) => Promise<number>;
}

/** The running pair. */
export interface ServerPair {
  readonly lync: LyncServer;
  readonly exchange: ExchangeServer;
  /** Stops Lync (and its archiving worker, which calls Exchange), then Exchange. Idempotent. */
  close(): Promise<void>;
}

/**
 * A free port on `host`, for a server whose URL must be known before it binds. The port is free
 * when this returns; another process (or an outgoing connection's ephemeral port) could take it
 * before the server binds: {@link startServerPair} then starts again with another one.
 */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** `http://host:port`, with an IPv6 address in brackets. */
export function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The authorities a server answers to as an audience: its own, and `localhost` at its port. */
export function authoritiesOf(server: { readonly url: string; readonly authority: string }): string[] {
  return [...new Set([server.authority, `localhost:${new URL(server.url).port}`])];
}

/** How often a pair starts again when the port picked for Lync was taken before Lync could bind it. */
const PICKED_PORT_ATTEMPTS = 5;

/**
 * Starts Exchange, then Lync, then calls `trust`. Each server needs the other's URL before it
 * starts: with a fixed Lync port both are known; with Lync on port 0 a free port is picked for it
 * first. Exchange starts first (on its port, or any free one), then Lync with Exchange's actual URL.
 * When the port picked for Lync is taken by then (`EADDRINUSE`), both are stopped and started
 * again with another, up to {@link PICKED_PORT_ATTEMPTS} times; a port the caller chose is never
 * replaced.
 *
 * @throws the error of the server that failed to start (e.g. `EADDRINUSE`, `EACCES`) or of `trust`,
 *   after stopping whatever had started.
 */
export async function startServerPair(options: ServerPairOptions): Promise<ServerPair> {
  for (let attempt = 1; ; attempt += 1) {
    const lyncPort = options.lyncPort === 0 ? await (options.pickPort ?? freePort)(options.host) : options.lyncPort;
    try {
      return await startPairOnce(options, lyncPort);
    } catch (error) {
      const failure = error as { code?: unknown; port?: unknown } | null;
      const pickedPortTaken = options.lyncPort === 0 && failure?.code === 'EADDRINUSE' && failure.port === lyncPort;
      if (!pickedPortTaken || attempt === PICKED_PORT_ATTEMPTS) throw error;
    }
  }
}

async function startPairOnce(options: ServerPairOptions, lyncPort: number): Promise<ServerPair> {
  const { host } = options;
  const exchange = await startExchange({ ...options.exchange, host, port: options.exchangePort, lync: { url: urlOf(host, lyncPort) } });
  let lync: LyncServer | undefined;
  try {
    lync = await startLync({ ...options.lync, host, port: lyncPort, exchange: { url: exchange.url } });
    await options.trust(lync, exchange);
  } catch (error) {
    await lync?.close();
    await exchange.close();
    throw error;
  }
  const running = lync;
  let closing: Promise<void> | undefined;
  return {
    lync: running,
    exchange,
    close: () =>
      (closing ??= (async () => {
        await running.close();
        await exchange.close();
      })()),
  };
}
