/**
 * A stand-in for the Lync server in Exchange's tests: an OAuth certificate, a token issuer, its
 * metadata endpoints, and a conference route that records what Exchange sends it. And helpers to
 * start an Exchange server in a temporary data folder.
 */
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { pino } from 'pino';
import { OAuthCertificate, TokenIssuer, metadataRouter, type UserContext } from '@s2sauth/issuer';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { startExchange, type ExchangeOptions, type ExchangeServer } from '../src/index.js';

/** One certificate for every fake Lync of a test run: key generation is slow. */
let sharedCertificate: Promise<OAuthCertificate> | undefined;

/** A request the fake Lync received. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: unknown;
}

/** The fake Lync. */
export interface FakeLync {
  readonly url: string;
  readonly metadataUrl: string;
  readonly issuer: TokenIssuer;
  readonly requests: RecordedRequest[];
  /** What the conference route answers from now on. */
  answer(status: number, body: unknown): void;
  close(): Promise<void>;
}

/** Starts a fake Lync on 127.0.0.1 at an ephemeral port. */
export async function startFakeLync(realm = 'contoso.com'): Promise<FakeLync> {
  sharedCertificate ??= OAuthCertificate.create({ realms: [realm] });
  const certificate = await sharedCertificate;
  const issuer = new TokenIssuer({ principal: WellKnownPrincipal.lync, realm, certificates: certificate });
  const requests: RecordedRequest[] = [];
  let status = 201;
  let reply: unknown = { id: 'conf-1', joinUrl: 'https://lync.contoso.com/meet/alice/conf-1' };
  const app = express();
  app.use(metadataRouter({ principal: WellKnownPrincipal.lync, realm, certificates: certificate }));
  app.post('/api/conferences', express.json(), (req, res) => {
    requests.push({ method: req.method, path: req.path, headers: req.headers, rawHeaders: req.rawHeaders, body: req.body });
    res.status(status).json(reply);
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    metadataUrl: `${url}/metadata/json/1`,
    issuer,
    requests,
    answer(nextStatus, body) {
      status = nextStatus;
      reply = body;
    },
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** The people every test Exchange knows. */
export const USERS = [
  { username: 'alice@contoso.com', password: 'alice-Pa55word', displayName: 'Alice Smith' },
  { username: 'bob@contoso.com', password: 'bob-Pa55word' },
] as const;

/** Every scope of the partner routes. */
export const ALL_SCOPES = ['contacts.read', 'contacts.write', 'archive.read', 'archive.write'];

/** A temporary data folder. */
export async function tempDataDir(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 's2sauth-exchange-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Starts an Exchange for tests: quiet logs, no audit, the test users. */
export function startTestExchange(dataDir: string, overrides: Partial<ExchangeOptions> = {}): Promise<ExchangeServer> {
  return startExchange({
    dataDir,
    realm: 'contoso.com',
    port: 0,
    users: [...USERS],
    audit: false,
    logger: pino({ level: 'silent' }),
    ...overrides,
  });
}

/** Registers the fake Lync in Exchange as `microsoft.lync` with `scopes`. */
export async function trustLync(exchange: ExchangeServer, lync: FakeLync, scopes: readonly string[] = ALL_SCOPES): Promise<void> {
  await exchange.registry.add({ identity: 'microsoft.lync', metadataUrl: lync.metadataUrl, allowLoopback: true, scopes });
}

/** Exchange's audience as Lync addresses it. */
export function exchangeAudience(exchange: ExchangeServer, realm = 'contoso.com'): string {
  return `${WellKnownPrincipal.exchange}/${exchange.authority}@${realm}`;
}

/** Lync's user context for a user name. */
export function userContext(username: string): UserContext {
  return { nameid: username, smtp: username, upn: username, sip: `sip:${username}` };
}
