/**
 * Rows of `SqliteStore`'s tables and the records they hold: a row read back becomes a record
 * through the same check as a caller's input (a row that fails it is `corrupt`, naming its
 * identity), and a checked record becomes the named parameters of its write.
 */
import type { ClientCredentials, ClientRecord } from './client.js';
import { clientRecord } from './client.js';
import { oauthServerRecord, type OAuthServerRecord } from './oauth-server.js';
import { partnerApplicationRecord, type PartnerApplication } from './partner-application.js';
import type {
  ClientParameters,
  ClientRow,
  CredentialRow,
  OAuthServerParameters,
  OAuthServerRow,
  PartnerParameters,
  PartnerRow,
} from './sqlite-statements.js';
import { StoreError } from './store-error.js';

/**
 * The credentials of a client row of another realm. A row whose certificates cannot be read has
 * none: it cannot authenticate (reading it as a client fails as corrupt), so it shares nothing,
 * and an unrelated damaged row must not block every registration.
 */
export function credentialsOf(row: CredentialRow): ClientCredentials {
  let certificates: string[] = [];
  try {
    const parsed: unknown = typeof row.certificates === 'string' ? JSON.parse(row.certificates) : [];
    if (Array.isArray(parsed)) certificates = parsed.filter((text): text is string => typeof text === 'string');
  } catch {
    // unreadable: no certificates (see above)
  }
  return { principal: row.principal, realm: row.realm, certificates, ...(typeof row.metadata_url === 'string' ? { metadataUrl: row.metadata_url } : {}) };
}

function sqliteBoolean(value: boolean): number {
  return value ? 1 : 0;
}

/** An optional boolean column: `null` when the record leaves it out. */
function optionalSqliteBoolean(value: boolean | undefined): number | null {
  return value === undefined ? null : sqliteBoolean(value);
}

/** 1 and 0 become booleans; anything else is passed on for the record check to reject. */
function storedBoolean(value: unknown): unknown {
  return value === 1 ? true : value === 0 ? false : value;
}

function storedJson(value: unknown, column: string, subject: string): unknown {
  try {
    return JSON.parse(value as string) as unknown;
  } catch {
    // The parser's own message quotes the text, which may hold a certificate: say less.
    throw new TypeError(`${subject}: ${column} is not valid JSON`);
  }
}

/** Turns a record check's `TypeError` into a `corrupt` error: the row is wrong, not the caller. */
function readRow<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new StoreError('corrupt', `corrupt row in "${path}": ${(error as Error).message}`, { cause: error });
  }
}

/** The partner application of `row` of the registry file at `path`; `StoreError` `corrupt` for a row that fails the record check. */
export function partnerFromRow(row: PartnerRow, path: string): PartnerApplication {
  const subject = `partner application "${row.identity}"`;
  return readRow(path, () =>
    partnerApplicationRecord(
      {
        identity: row.identity,
        applicationId: row.application_id,
        realm: row.realm,
        keySource: storedJson(row.key_source, 'key_source', subject),
        trustLevel: row.trust_level,
        scopes: storedJson(row.scopes, 'scopes', subject),
        enabled: storedBoolean(row.enabled),
        acceptUnsignedUserContext: storedBoolean(row.accept_unsigned_user_context),
      },
      row.created_at as number,
      row.updated_at as number,
    ),
  );
}

/** The OAuth server of `row` of the registry file at `path`; `StoreError` `corrupt` for a row that fails the record check. */
export function serverFromRow(row: OAuthServerRow, path: string): OAuthServerRecord {
  return readRow(path, () =>
    oauthServerRecord(
      {
        identity: row.identity,
        metadataUrl: row.metadata_url,
        issuer: row.issuer,
        realm: row.realm,
        allowLoopback: row.allow_loopback === null ? undefined : storedBoolean(row.allow_loopback),
        enabled: storedBoolean(row.enabled),
      },
      row.created_at as number,
      row.updated_at as number,
    ),
  );
}

/** The STS client of `row` of the registry file at `path`; `StoreError` `corrupt` for a row that fails the record check. */
export function clientFromRow(row: ClientRow, path: string): ClientRecord {
  const subject = `client "${row.principal}@${row.realm}"`;
  return readRow(path, () =>
    clientRecord(
      {
        principal: row.principal,
        realm: row.realm,
        displayName: row.display_name === null ? undefined : row.display_name,
        certificates: storedJson(row.certificates, 'certificates', subject),
        metadataUrl: row.metadata_url === null ? undefined : row.metadata_url,
        allowLoopback: row.allow_loopback === null ? undefined : storedBoolean(row.allow_loopback),
        hostNames: storedJson(row.host_names, 'host_names', subject),
        grants: storedJson(row.grants, 'grants', subject),
        enabled: storedBoolean(row.enabled),
      },
      row.created_at as number,
      row.updated_at as number,
    ),
  );
}

/** The parameters that write the checked partner application `record`. */
export function partnerParameters(record: PartnerApplication): PartnerParameters {
  return {
    identity: record.identity,
    application_id: record.applicationId,
    realm: record.realm,
    key_source: JSON.stringify(record.keySource),
    trust_level: record.trustLevel,
    scopes: JSON.stringify(record.scopes),
    enabled: sqliteBoolean(record.enabled),
    accept_unsigned_user_context: sqliteBoolean(record.acceptUnsignedUserContext),
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}

/** The parameters that write the checked OAuth server `record`. */
export function serverParameters(record: OAuthServerRecord): OAuthServerParameters {
  return {
    identity: record.identity,
    metadata_url: record.metadataUrl,
    issuer: record.issuer,
    realm: record.realm,
    allow_loopback: optionalSqliteBoolean(record.allowLoopback),
    enabled: sqliteBoolean(record.enabled),
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}

/** The parameters that write the checked STS client `record`. */
export function clientParameters(record: ClientRecord): ClientParameters {
  return {
    principal: record.principal,
    realm: record.realm,
    display_name: record.displayName ?? null,
    certificates: JSON.stringify(record.certificates),
    metadata_url: record.metadataUrl ?? null,
    allow_loopback: optionalSqliteBoolean(record.allowLoopback),
    host_names: JSON.stringify(record.hostNames),
    grants: JSON.stringify(record.grants),
    enabled: sqliteBoolean(record.enabled),
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}
