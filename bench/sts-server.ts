/**
 * The token endpoints under test of bench/sts.bench.ts, in a child process (forked by it with the
 * same `--conditions`/`--import` flags), each on its own port on 127.0.0.1:
 *
 * - `sqlite`: our STS (`stsRouter` on Express 5) with `SqliteStore` in a file, as a deployment
 *   runs it (examples/sts): the client registry and the replay store of client assertions in one
 *   SQLite database (WAL), every assertion's `(iss, jti)` claimed in it;
 * - `memory`: the same STS with `MemoryStore` (no disk), to show what SQLite costs;
 * - `oidc`: oidc-provider 8 with the client credentials grant, `private_key_jwt` and RS256 JWT
 *   access tokens for a resource indicator, configured as the interop test does
 *   (test/interop/support/oidc-provider-sts.ts, protocol.md mapping on, so both issue tokens of
 *   the same shape and size), with its default in-memory adapter (replay detection included).
 *
 * - `reference`: bench/sts-floor.ts, bare `node:http` doing only one RSA verify and one RSA sign
 *   per request (a ceiling for any token endpoint on Node, not a product).
 *
 * All four issue for the same client (one certificate) and the same resource, each with its own
 * 2048-bit STS certificate. The child creates every certificate and sends the client's (with its
 * private key, over IPC only) to the parent, which signs the client assertions.
 *
 * IPC: the child sends `{ type: 'ready', ... }`; on `{ type: 'stats' }` it answers
 * `{ type: 'stats', cpuMicros }` (process CPU time, all threads, since the last stats request);
 * it exits on `{ type: 'exit' }` or when the parent goes away, removing its SQLite folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { stsIssuerId } from '@s2sauth/protocol';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { OAuthCertificate, stsRouter } from '@s2sauth/issuer';
import { MemoryStore, SqliteStore, type ClientStore, type ReplayStore } from '@s2sauth/store';
import { fullMapping, startOidcProviderSts, type OidcProviderSts } from '../test/interop/support/oidc-provider-sts.js';
import { startReferenceEndpoint } from './sts-floor.js';
import { REALM, RESOURCE_HOST, RESOURCE_PRINCIPAL, RESOURCE_URL, SCOPE, type StsServerMessage } from './sts-wire.js';
import type { ParentMessage } from './child-messages.js';

function listen(app: express.Express): Promise<Server> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function register(store: ClientStore, clientPrincipal: string, clientCertificate: OAuthCertificate): void {
  store.putClient({ principal: RESOURCE_PRINCIPAL, realm: REALM, hostNames: [RESOURCE_HOST] });
  store.putClient({
    principal: clientPrincipal,
    realm: REALM,
    certificates: [clientCertificate.pem],
    grants: [{ resource: RESOURCE_PRINCIPAL, scopes: [SCOPE], delegation: false }],
  });
}

async function ourSts(store: ClientStore & ReplayStore, certificate: OAuthCertificate): Promise<Server> {
  const app = express();
  app.use(stsRouter({ realms: [REALM], certificates: certificate, clients: store, replay: store }));
  return listen(app);
}

function send(message: StsServerMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const create = (): Promise<OAuthCertificate> => OAuthCertificate.create({ realms: [REALM] });
  const [sqliteCertificate, memoryCertificate, oidcCertificate, referenceCertificate, clientCertificate] = await Promise.all([
    create(),
    create(),
    create(),
    create(),
    create(),
  ]);
  const clientPrincipal = crypto.randomUUID();

  const folder = mkdtempSync(join(tmpdir(), 's2sauth-sts-bench-'));
  const sqlite = SqliteStore.open(join(folder, 'sts.sqlite'));
  const memory = new MemoryStore();
  register(sqlite, clientPrincipal, clientCertificate);
  register(memory, clientPrincipal, clientCertificate);
  const servers = [
    await ourSts(sqlite, sqliteCertificate),
    await ourSts(memory, memoryCertificate),
    await startReferenceEndpoint(clientCertificate, referenceCertificate, stsIssuerId(REALM)),
  ];
  const oidc: OidcProviderSts = await startOidcProviderSts({
    realm: REALM,
    signingCertificate: oidcCertificate,
    clients: [{ principal: clientPrincipal, certificate: clientCertificate }],
    resourceServers: [{ url: RESOURCE_URL, principal: RESOURCE_PRINCIPAL, scope: SCOPE }],
    mapping: fullMapping(),
  });

  let cpu = process.cpuUsage();
  const shutDown = (): void => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    void oidc.close();
    sqlite.close();
    memory.close();
    rmSync(folder, { recursive: true, force: true });
    process.disconnect?.();
  };
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'stats') {
      const used = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      send({ type: 'stats', cpuMicros: used.user + used.system });
    } else if (message.type === 'exit') shutDown();
  });
  const [sqlitePort, memoryPort, referencePort] = servers.map((server) => (server.address() as AddressInfo).port) as [number, number, number];
  send({
    type: 'ready',
    sqliteTokenUrl: `http://127.0.0.1:${sqlitePort}/${REALM}/tokens/OAuth/2`,
    memoryTokenUrl: `http://127.0.0.1:${memoryPort}/${REALM}/tokens/OAuth/2`,
    oidcTokenUrl: oidc.tokenEndpoint,
    referenceTokenUrl: `http://127.0.0.1:${referencePort}/${REALM}/tokens/OAuth/2`,
    clientPrincipal,
    clientCertificatePem: clientCertificate.pem,
    clientKeyPem: clientCertificate.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  });
}

if (process.send === undefined) {
  console.error('bench/sts-server.ts is started by bench/sts.bench.ts (IPC needed)');
  process.exit(2);
}
await main();
