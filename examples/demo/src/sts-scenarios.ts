/**
 * The cloud and hybrid scenarios: an authorization server (the STS, an ACS stand-in) issues every
 * server-to-server token for a tenant, and Lync and Exchange trust the STS instead of each other's
 * keys (protocol.md sections 5 and 6).
 *
 * - **cloud**: Lync Online and Exchange Online, both in the tenant realm (a GUID). Each server is a
 *   client of the STS (its OAuth certificate is its credential there) and trusts the STS as an OAuth
 *   server and the other only as a partner with `useOAuthServer`: no metadata URL or certificate of
 *   the other is registered anywhere.
 * - **hybrid**: Lync on premises (realm `contoso.com`, `fabrikam.com`, its own certificate as on
 *   premises) and Exchange Online in the tenant. Lync's on-premises OAuth certificate is registered
 *   at the STS as its client credential, as a cross-premises Lync deployment uploads its certificate
 *   to the cloud's service principal for Lync (`New-MsolServicePrincipalCredential`,
 *   docs/protocol.md section 9, "Hybrid"); calls in both directions use STS tokens for the tenant.
 *
 * Users are alice, bob and carol@contoso.com in both: the UPN domain is not the tenant realm.
 */
import { join } from 'node:path';
import type { ExchangeServer } from '@s2sauth/example-exchange';
import type { LyncServer } from '@s2sauth/example-lync';
import { startSts, type RunningSts } from '@s2sauth/example-sts';
import type { AuditSink, PartnerRegistry } from '@s2sauth/middleware';
import type { ClientStore } from '@s2sauth/store';
import { pino, type Logger } from 'pino';
import { EXCHANGE_PARTNER, LYNC_PARTNER, ONPREM_EXTRA_REALM, ONPREM_REALM, ONPREM_USERS } from './onprem.js';
import { authoritiesOf, startServerPair } from './server-pair.js';
import { resolveTenant } from './tenant.js';

/** The name both servers give their registration of the STS (`New-CsOAuthServer -Identity`). */
export const STS_IDENTITY = 'microsoft.sts';

/** Options of {@link startCloud} and {@link startHybrid}. */
export interface StsScenarioOptions {
  /**
   * The scenario folder, e.g. `.data/cloud`: the STS's data goes to `sts/`, Lync's to `lync/`,
   * Exchange's to `exchange/`, and the tenant GUID to `tenant`.
   */
  readonly dataDir: string;
  /** Address the three servers listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /** The STS's port; 0 picks a free one. */
  readonly stsPort: number;
  /** Lync's port; 0 picks a free one. */
  readonly lyncPort: number;
  /** Exchange's port; 0 picks a free one. */
  readonly exchangePort: number;
  /** The password of the seeded users (used on the first start only: existing users keep theirs). */
  readonly password: string;
  /** Logger of Lync and Exchange. Default pino at `warn`. */
  readonly logger?: Logger;
  /**
   * Logger of the STS: its start and, at `info`, every token it issues or refuses (`sts decision`).
   * Default a child of `logger`.
   */
  readonly stsLogger?: Logger;
  /** Where both servers' verifiers audit their decisions; `false` for nowhere. Default: the logger. */
  readonly audit?: AuditSink | false;
}

/** A running cloud or hybrid scenario. */
export interface StsScenario {
  readonly sts: RunningSts;
  readonly lync: LyncServer;
  readonly exchange: ExchangeServer;
  /** The tenant realm (a lowercase GUID), kept in `<dataDir>/tenant`. */
  readonly tenant: string;
  /** The STS's metadata document for the tenant, as both servers registered it. */
  readonly stsMetadataUrl: string;
  /** The seeded user names, e.g. `alice@contoso.com`. */
  readonly users: readonly string[];
  /** Stops Lync, then Exchange, then the STS. Idempotent. */
  close(): Promise<void>;
}

/** What distinguishes the two scenarios: the realms each server is in. */
interface Layout {
  readonly lync: { readonly realm: string; readonly realms: readonly string[] };
  readonly exchange: { readonly realm: string; readonly realms: readonly string[] };
}

/** A partner as the launcher wires it, see `LYNC_PARTNER` and `EXCHANGE_PARTNER`. */
type Partner = { readonly identity: string; readonly principal: string; readonly scopes: readonly string[] };

/**
 * Registers `server` at the STS as the client `client.principal@tenant`: its OAuth certificate as
 * the credential, its authorities as the host names a token for it may name, and the right to ask
 * `resource` for the scopes the partner registration grants it (`client.scopes`), with delegation
 * (user context). Replaces an earlier registration (new ports, say).
 */
function registerClient(clients: ClientStore, tenant: string, server: LyncServer | ExchangeServer, client: Partner, resource: string): void {
  clients.putClient({
    principal: client.principal,
    realm: tenant,
    displayName: client.identity,
    certificates: [server.certificatePem],
    hostNames: authoritiesOf(server),
    grants: [{ resource, scopes: client.scopes, delegation: true }],
    // A client an administrator disabled at the STS stays disabled across restarts.
    enabled: clients.getClient(client.principal, tenant)?.enabled ?? true,
  });
}

/**
 * Makes `registry` trust the STS for `tenant` (`New-CsOAuthServer`) and `partner` through it only
 * (`New-CsPartnerApplication -UseOAuthServer`), with full trust and the scenario scopes. Brings
 * earlier registrations up to date instead of adding new ones: the same identity, or another
 * identity an administrator gave the same STS realm or the same application in the tenant. An
 * existing registration keeps its `enabled` state: what an administrator disabled stays disabled.
 */
async function trustThroughSts(registry: PartnerRegistry, metadataUrl: string, tenant: string, partner: Partner): Promise<void> {
  const server = { metadataUrl, realm: tenant, allowLoopback: true } as const;
  const existingServer = registry.getOAuthServer(STS_IDENTITY) ?? registry.listOAuthServers().find((registered) => registered.realm === tenant);
  if (existingServer === undefined) await registry.addOAuthServer({ identity: STS_IDENTITY, ...server, enabled: true });
  else await registry.updateOAuthServer(existingServer.identity, server);

  const settings = { applicationId: partner.principal, realm: tenant, useOAuthServer: true, trustLevel: 'full', scopes: partner.scopes } as const;
  const existing = registry.get(partner.identity) ?? registry.find(partner.principal, tenant);
  if (existing === undefined) await registry.add({ identity: partner.identity, ...settings, enabled: true });
  else await registry.update(existing.identity, settings);
}

async function startStsScenario(options: StsScenarioOptions, layout: (tenant: string) => Layout): Promise<StsScenario> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? pino({ name: 's2sauth-demo', level: 'warn' });
  const audit = options.audit === undefined ? {} : { audit: options.audit };
  const users = ONPREM_USERS.map((user) => ({ ...user, password: options.password }));
  const { realm: tenant } = await resolveTenant(options.dataDir);
  const realms = layout(tenant);

  const sts = await startSts({ dataDir: join(options.dataDir, 'sts'), host, port: options.stsPort, realms: [tenant], logger: options.stsLogger ?? logger.child({ server: 'sts' }) });
  const stsMetadataUrl = `${sts.url}/${tenant}/metadata/json/1`;
  const viaSts = { sts: { metadataUrl: stsMetadataUrl, realm: tenant } };
  try {
    const pair = await startServerPair({
      host,
      lyncPort: options.lyncPort,
      exchangePort: options.exchangePort,
      exchange: { dataDir: join(options.dataDir, 'exchange'), ...realms.exchange, users, logger: logger.child({ server: 'exchange' }), ...audit, ...viaSts },
      lync: { dataDir: join(options.dataDir, 'lync'), ...realms.lync, users, logger: logger.child({ server: 'lync' }), ...audit, ...viaSts },
      trust: async (lync, exchange) => {
        // The servers ask the STS for tokens only when they first call each other, so the clients
        // can be registered after they started (their certificates exist only then).
        registerClient(sts.store, tenant, lync, LYNC_PARTNER, EXCHANGE_PARTNER.principal);
        registerClient(sts.store, tenant, exchange, EXCHANGE_PARTNER, LYNC_PARTNER.principal);
        await trustThroughSts(exchange.registry, stsMetadataUrl, tenant, LYNC_PARTNER);
        await trustThroughSts(lync.registry, stsMetadataUrl, tenant, EXCHANGE_PARTNER);
      },
    });
    let closing: Promise<void> | undefined;
    return {
      sts,
      lync: pair.lync,
      exchange: pair.exchange,
      tenant,
      stsMetadataUrl,
      users: ONPREM_USERS.map((user) => user.username),
      close: () =>
        (closing ??= (async () => {
          await pair.close();
          await sts.close();
        })()),
    };
  } catch (error) {
    await sts.close();
    throw error;
  }
}

/**
 * Starts the cloud scenario: the STS (tenant realm generated on the first start), then Exchange
 * Online and Lync Online in the tenant, each registered at the STS as a client and trusting the
 * STS and the other through it. Later starts reuse the tenant, certificates, users and
 * registrations (updated in place for new ports).
 *
 * @throws the error of the server that failed to start (e.g. `EADDRINUSE` with its `port`), after
 *   stopping the others; `PartnerRegistryError` when a registration fails.
 */
export function startCloud(options: StsScenarioOptions): Promise<StsScenario> {
  return startStsScenario(options, (tenant) => ({ lync: { realm: tenant, realms: [] }, exchange: { realm: tenant, realms: [] } }));
}

/**
 * Starts the hybrid scenario: the STS, Exchange Online in the tenant, and Lync on premises
 * (realm `contoso.com` with `fabrikam.com`, its own OAuth certificate) whose certificate is its
 * credential at the STS. Both call each other with STS tokens for the tenant.
 *
 * @throws as {@link startCloud}.
 */
export function startHybrid(options: StsScenarioOptions): Promise<StsScenario> {
  return startStsScenario(options, (tenant) => ({ lync: { realm: ONPREM_REALM, realms: [ONPREM_EXTRA_REALM] }, exchange: { realm: tenant, realms: [] } }));
}
