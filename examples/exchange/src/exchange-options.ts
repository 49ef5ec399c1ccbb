/**
 * The options of the Exchange demo server and the handle it returns, checked once at start-up:
 * a mistake in them is a `TypeError` naming the option, never a failure on the first request.
 */
import { checkStsConnection, type StsConnection } from '@s2sauth/example-support';
import type { AuditSink, PartnerRegistry } from '@s2sauth/middleware';
import { isPrincipalId, isRealm, optionNames, refuseUnknownOptions, WellKnownPrincipal } from '@s2sauth/protocol';
import type { Logger } from 'pino';

/** A person seeded into the realm on the first start (an Active Directory user in the real thing). */
export interface ExchangeUserSeed {
  /** The sign-in name and primary SMTP address, e.g. `alice@contoso.com`. */
  readonly username: string;
  /** The password; only its scrypt hash is stored. */
  readonly password: string;
  /** Display name; default the user name. */
  readonly displayName?: string;
}

/** The Lync server Exchange schedules online meetings with (`POST /me/meetings`). */
export interface LyncConnection {
  /** Lync's base URL, e.g. `https://lync.contoso.com` or `http://127.0.0.1:4401`. */
  readonly url: string;
  /** Lync's principal id. Default the well-known Lync principal `00000004-0000-0ff1-ce00-000000000000`. */
  readonly principal?: string;
}


/** Options of `startExchange`. */
export interface ExchangeOptions {
  /**
   * The data folder: created on the first start (mode 0700) with `exchange.sqlite` (mailboxes,
   * accounts, sessions), `s2sauth.sqlite` (the partner registry, a `SqliteStore`),
   * `oauth-cert.pem`, `oauth-key.pem` (0600) and `session-secret` (0600). Later starts reuse them.
   */
  readonly dataDir: string;
  /** The primary realm (the default SIP domain), e.g. `contoso.com`; the OAuth certificate's CN. */
  readonly realm: string;
  /** Extra SIP domains: realms the server also serves, added to the certificate's SANs. Default none. */
  readonly realms?: readonly string[];
  /** Address to listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  /**
   * People of the realm, seeded on the first start only: a user name that already exists is left
   * as it is (its password is not changed). Default none.
   */
  readonly users?: readonly ExchangeUserSeed[];
  /** The Lync server to schedule meetings with. Absent: `POST /me/meetings` answers 503. */
  readonly lync?: LyncConnection;
  /**
   * Reach Lync through an authorization server instead of the built-in issuer (cloud and hybrid).
   * Absent: self-issued tokens in `realm` (on premises). The launcher registers Exchange at the STS
   * with {@link ExchangeServer.certificatePem}, and the STS and Lync in {@link ExchangeServer.registry}.
   */
  readonly sts?: StsConnection;
  /** Where token decisions are audited; `false` for nowhere. Default a pino sink on `logger`. */
  readonly audit?: AuditSink | false;
  /** Logger for start-up, requests that fail and the audit log. Default `pino({ name: 'exchange' })`. */
  readonly logger?: Logger;
}

/** A running Exchange demo server. */
export interface ExchangeServer {
  /** Base URL, e.g. `http://127.0.0.1:54321` (no trailing slash). */
  readonly url: string;
  /** `host:port` the server is addressed by: the authority of its audience (protocol.md section 1). */
  readonly authority: string;
  /** The partner applications this server trusts (Lync, registered by the launcher or a test). */
  readonly registry: PartnerRegistry;
  /** Exchange's OAuth certificate (`oauth-cert.pem`), PEM: its credential to register at an STS. */
  readonly certificatePem: string;
  /** Stops accepting connections, waits for open ones to end, and closes the databases. */
  close(): Promise<void>;
}

/** {@link ExchangeOptions} after defaults and checks. */
export interface ResolvedExchangeOptions {
  readonly dataDir: string;
  /** Primary realm first, then the extra ones, without duplicates. */
  readonly realms: readonly string[];
  readonly host: string;
  readonly port: number;
  readonly users: readonly ExchangeUserSeed[];
  readonly lync: { readonly url: URL; readonly principal: string } | undefined;
  readonly sts: StsConnection | undefined;
  readonly audit: AuditSink | false | undefined;
  readonly logger: Logger | undefined;
}

const OPTION_NAMES = optionNames<ExchangeOptions>({
  dataDir: true, realm: true, realms: true, host: true, port: true,
  users: true, lync: true, sts: true, audit: true, logger: true,
});

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks {@link ExchangeOptions} and fills in the defaults.
 * @throws TypeError naming the first option that is wrong, or every unknown one.
 */
export function resolveExchangeOptions(options: ExchangeOptions): ResolvedExchangeOptions {
  if (!isObject(options)) throw new TypeError('startExchange: options must be an object.');
  refuseUnknownOptions('startExchange', options, OPTION_NAMES);
  const { dataDir, realm, host = '127.0.0.1', port, audit, logger } = options;
  if (typeof dataDir !== 'string' || dataDir === '') throw new TypeError('startExchange: options.dataDir must be a non-empty path.');
  if (typeof realm !== 'string' || !isRealm(realm)) {
    throw new TypeError('startExchange: options.realm must be a lowercase DNS name or GUID, e.g. "contoso.com".');
  }
  const extra: unknown = options.realms ?? [];
  if (!Array.isArray(extra) || !extra.every((r) => typeof r === 'string' && isRealm(r))) {
    throw new TypeError('startExchange: options.realms must be a list of lowercase DNS names (extra SIP domains).');
  }
  const realms = [...new Set([realm, ...(extra as string[])])];
  if (typeof host !== 'string' || host === '') throw new TypeError('startExchange: options.host must be a non-empty host name or address.');
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError('startExchange: options.port must be a whole number from 0 to 65535 (0 = any free port).');
  }
  const users = checkUsers(options.users ?? []);
  const lync = options.lync === undefined ? undefined : checkLync(options.lync);
  const sts = options.sts === undefined ? undefined : checkStsConnection(options.sts, 'startExchange: ');
  if (audit !== undefined && audit !== false && typeof audit !== 'function') {
    throw new TypeError('startExchange: options.audit must be an audit sink function or false.');
  }
  if (logger !== undefined && (!isObject(logger) || typeof logger.info !== 'function')) {
    throw new TypeError('startExchange: options.logger must be a pino logger.');
  }
  return { dataDir, realms, host, port, users, lync, sts, audit, logger };
}

function checkUsers(users: unknown): readonly ExchangeUserSeed[] {
  if (!Array.isArray(users)) throw new TypeError('startExchange: options.users must be a list of { username, password, displayName? }.');
  const seen = new Set<string>();
  for (const [index, user] of (users as unknown[]).entries()) {
    if (!isObject(user) || typeof user['username'] !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(user['username'])) {
      throw new TypeError(`startExchange: options.users[${index}].username must be an address like alice@contoso.com.`);
    }
    if (typeof user['password'] !== 'string' || user['password'] === '') {
      throw new TypeError(`startExchange: options.users[${index}].password must be a non-empty string.`);
    }
    if (user['displayName'] !== undefined && typeof user['displayName'] !== 'string') {
      throw new TypeError(`startExchange: options.users[${index}].displayName must be a string.`);
    }
    const key = user['username'].toLowerCase();
    if (seen.has(key)) throw new TypeError(`startExchange: options.users lists "${user['username']}" twice.`);
    seen.add(key);
  }
  return users as ExchangeUserSeed[];
}

function checkLync(lync: unknown): { url: URL; principal: string } {
  if (!isObject(lync) || typeof lync['url'] !== 'string') throw new TypeError('startExchange: options.lync must be { url, principal? }.');
  let url: URL;
  try {
    url = new URL(lync['url']);
  } catch {
    throw new TypeError('startExchange: options.lync.url must be an absolute http(s) URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('startExchange: options.lync.url must be an http(s) URL.');
  const principal = lync['principal'] ?? WellKnownPrincipal.lync;
  if (typeof principal !== 'string' || !isPrincipalId(principal)) {
    throw new TypeError('startExchange: options.lync.principal must be a lowercase GUID.');
  }
  return { url, principal };
}
