/**
 * The on-premises scenario: one organization (realm `contoso.com`, second SIP domain
 * `fabrikam.com`) running Lync and Exchange, each registered in the other as a partner application
 * by metadata URL with full trust, as `New-CsPartnerApplication` and `New-PartnerApplication` do in
 * a Lync Server 2013 / Exchange 2013 deployment (docs/protocol.md section 9, "On premises").
 */
import { join } from 'node:path';
import type { ExchangeServer } from '@s2sauth/example-exchange';
import type { LyncServer } from '@s2sauth/example-lync';
import type { AuditSink, PartnerRegistry } from '@s2sauth/middleware';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { pino, type Logger } from 'pino';
import { startServerPair } from './server-pair.js';

/** The organization's primary realm (default SIP domain): the CN of both OAuth certificates. */
export const ONPREM_REALM = 'contoso.com';
/** The second SIP domain, in both certificates' Subject Alternative Names. */
export const ONPREM_EXTRA_REALM = 'fabrikam.com';

/** The people seeded in both servers on the first start. */
export const ONPREM_USERS: readonly { readonly username: string; readonly displayName: string }[] = [
  { username: 'alice@contoso.com', displayName: 'Alice Adams' },
  { username: 'bob@contoso.com', displayName: 'Bob Brown' },
  { username: 'carol@contoso.com', displayName: 'Carol Clark' },
];

/** Lync's registration in Exchange: the unified contact store and the IM archive. */
export const LYNC_PARTNER = {
  identity: 'microsoft.lync',
  principal: WellKnownPrincipal.lync,
  scopes: ['contacts.read', 'contacts.write', 'archive.read', 'archive.write'],
} as const;

/** Exchange's registration in Lync: online meetings. */
export const EXCHANGE_PARTNER = {
  identity: 'microsoft.exchange',
  principal: WellKnownPrincipal.exchange,
  scopes: ['conferences.read', 'conferences.write'],
} as const;

/** Options of {@link startOnPremises}. */
export interface OnPremisesOptions {
  /** The scenario folder, e.g. `.data/onprem`: Lync's data goes to `lync/`, Exchange's to `exchange/`. */
  readonly dataDir: string;
  /** Address both servers listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /** Lync's port; 0 picks a free one. */
  readonly lyncPort: number;
  /** Exchange's port; 0 picks a free one. */
  readonly exchangePort: number;
  /** The password of the seeded users (used on the first start only: existing users keep theirs). */
  readonly password: string;
  /** Logger of both servers. Default pino at `warn`. */
  readonly logger?: Logger;
  /** Where both verifiers audit their decisions; `false` for nowhere. Default: the logger. */
  readonly audit?: AuditSink | false;
}

/** The running pair. */
export interface OnPremises {
  readonly lync: LyncServer;
  readonly exchange: ExchangeServer;
  /** The seeded user names, e.g. `alice@contoso.com`. */
  readonly users: readonly string[];
  /** Stops Lync (and its archiving worker), then Exchange. Idempotent. */
  close(): Promise<void>;
}

/**
 * Registers `partner` (at `baseUrl`) in `registry` by its metadata URL with full trust, or brings
 * an existing registration for it up to date: the same identity, or another identity an
 * administrator gave the same application in the same realm. An existing registration keeps its
 * `enabled` state: a partner an administrator disabled stays disabled across restarts.
 */
async function trustPartner(
  registry: PartnerRegistry,
  partner: { readonly identity: string; readonly principal: string; readonly scopes: readonly string[] },
  baseUrl: string,
): Promise<void> {
  const settings = {
    metadataUrl: `${baseUrl}/metadata/json/1`,
    // Plain http to 127.0.0.1: the demo never leaves the machine.
    allowLoopback: true,
    trustLevel: 'full',
    scopes: partner.scopes,
  } as const;
  const existing = registry.get(partner.identity) ?? registry.find(partner.principal, ONPREM_REALM);
  if (existing === undefined) await registry.add({ identity: partner.identity, ...settings, enabled: true });
  else await registry.update(existing.identity, settings);
}

/**
 * Starts the on-premises pair: Exchange and Lync, each configured with the other's URL, then each
 * registered in the other as a partner application. The first start creates both data folders,
 * certificates and users; later starts reuse them and update the registrations in place.
 *
 * With Lync on port 0 a free port is picked for it first; Exchange starts first (on its port, or
 * any free one), then Lync with Exchange's actual URL.
 *
 * @throws the error of the server that failed to start (e.g. `EADDRINUSE`, `EACCES`), after
 *   stopping the other; `PartnerRegistryError` when a registration fails.
 */
export async function startOnPremises(options: OnPremisesOptions): Promise<OnPremises> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? pino({ name: 's2sauth-demo', level: 'warn' });
  const audit = options.audit === undefined ? {} : { audit: options.audit };
  const users = ONPREM_USERS.map((user) => ({ ...user, password: options.password }));
  const pair = await startServerPair({
    host,
    lyncPort: options.lyncPort,
    exchangePort: options.exchangePort,
    exchange: { dataDir: join(options.dataDir, 'exchange'), realm: ONPREM_REALM, realms: [ONPREM_EXTRA_REALM], users, logger: logger.child({ server: 'exchange' }), ...audit },
    lync: { dataDir: join(options.dataDir, 'lync'), realm: ONPREM_REALM, realms: [ONPREM_EXTRA_REALM], users, logger: logger.child({ server: 'lync' }), ...audit },
    trust: async (lync, exchange) => {
      await trustPartner(exchange.registry, LYNC_PARTNER, lync.url);
      await trustPartner(lync.registry, EXCHANGE_PARTNER, exchange.url);
    },
  });
  return { lync: pair.lync, exchange: pair.exchange, users: ONPREM_USERS.map((user) => user.username), close: pair.close };
}
