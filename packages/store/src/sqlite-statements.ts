/**
 * The SQL of `SqliteStore`: the shape of each table's rows as read, the named parameters of each
 * write, and every statement, prepared once per connection.
 */
import type Database from 'better-sqlite3';

/** A `partner_applications` row as read: typed `unknown` until the record check has passed. */
export interface PartnerRow {
  readonly identity: string;
  readonly application_id: unknown;
  readonly realm: unknown;
  readonly key_source: unknown;
  readonly trust_level: unknown;
  readonly scopes: unknown;
  readonly enabled: unknown;
  readonly accept_unsigned_user_context: unknown;
  readonly created_at: unknown;
  readonly updated_at: unknown;
}

/** An `oauth_servers` row as read. */
export interface OAuthServerRow {
  readonly identity: string;
  readonly metadata_url: unknown;
  readonly issuer: unknown;
  readonly realm: unknown;
  readonly allow_loopback: unknown;
  readonly enabled: unknown;
  readonly created_at: unknown;
  readonly updated_at: unknown;
}

/** A `clients` row as read. */
export interface ClientRow {
  readonly principal: string;
  readonly realm: string;
  readonly display_name: unknown;
  readonly certificates: unknown;
  readonly metadata_url: unknown;
  readonly allow_loopback: unknown;
  readonly host_names: unknown;
  readonly grants: unknown;
  readonly enabled: unknown;
  readonly created_at: unknown;
  readonly updated_at: unknown;
}

/** The credential columns of a client row, for the shared-credential check. */
export type CredentialRow = Pick<ClientRow, 'principal' | 'realm' | 'certificates' | 'metadata_url'>;

/** The named parameters of a `clients` write. */
export type ClientParameters = {
  readonly principal: string;
  readonly realm: string;
  readonly display_name: string | null;
  readonly certificates: string;
  readonly metadata_url: string | null;
  readonly allow_loopback: number | null;
  readonly host_names: string;
  readonly grants: string;
  readonly enabled: number;
  readonly created_at: number;
  readonly updated_at: number;
};

/** The named parameters of a `partner_applications` write. */
export type PartnerParameters = {
  readonly identity: string;
  readonly application_id: string;
  readonly realm: string;
  readonly key_source: string;
  readonly trust_level: string;
  readonly scopes: string;
  readonly enabled: number;
  readonly accept_unsigned_user_context: number;
  readonly created_at: number;
  readonly updated_at: number;
};

/** The named parameters of an `oauth_servers` write. */
export type OAuthServerParameters = {
  readonly identity: string;
  readonly metadata_url: string;
  readonly issuer: string;
  readonly realm: string;
  readonly allow_loopback: number | null;
  readonly enabled: number;
  readonly created_at: number;
  readonly updated_at: number;
};

/** The named parameters of a replay claim. */
export type ClaimParameters = {
  readonly issuer: string;
  readonly jti: string;
  readonly expires_at: number;
  readonly now: number;
};

/** The prepared statements of one connection. */
export interface SqliteStatements {
  readonly partner: Database.Statement<[string], PartnerRow>;
  readonly partnerByApplication: Database.Statement<[string, string], PartnerRow>;
  readonly partners: Database.Statement<[], PartnerRow>;
  readonly upsertPartner: Database.Statement<[PartnerParameters]>;
  readonly deletePartner: Database.Statement<[string]>;
  readonly server: Database.Statement<[string], OAuthServerRow>;
  readonly servers: Database.Statement<[], OAuthServerRow>;
  readonly upsertServer: Database.Statement<[OAuthServerParameters]>;
  readonly deleteServer: Database.Statement<[string]>;
  readonly client: Database.Statement<[string, string], ClientRow>;
  readonly clients: Database.Statement<[], ClientRow>;
  readonly credentialsOutside: Database.Statement<[string], CredentialRow>;
  readonly upsertClient: Database.Statement<[ClientParameters]>;
  readonly deleteClient: Database.Statement<[string, string]>;
  readonly claim: Database.Statement<[ClaimParameters]>;
  readonly purgeClaims: Database.Statement<[number]>;
  readonly dataVersion: Database.Statement<[], number>;
  readonly registryVersion: Database.Statement<[], number>;
}

/** Prepares every statement of the store on `db`, whose schema is up to date. */
export function prepareStatements(db: Database.Database): SqliteStatements {
  return {
    partner: db.prepare<[string], PartnerRow>('SELECT * FROM partner_applications WHERE identity = ?'),
    partnerByApplication: db.prepare<[string, string], PartnerRow>(
      'SELECT * FROM partner_applications WHERE application_id = ? AND realm = ?',
    ),
    partners: db.prepare<[], PartnerRow>('SELECT * FROM partner_applications'),
    // Not INSERT OR REPLACE: that would silently delete another identity holding the same
    // (application_id, realm) instead of failing on the UNIQUE constraint.
    upsertPartner: db.prepare<[PartnerParameters]>(`
      INSERT INTO partner_applications (identity, application_id, realm, key_source, trust_level, scopes,
          enabled, accept_unsigned_user_context, created_at, updated_at)
        VALUES (@identity, @application_id, @realm, @key_source, @trust_level, @scopes,
          @enabled, @accept_unsigned_user_context, @created_at, @updated_at)
        ON CONFLICT (identity) DO UPDATE SET application_id = excluded.application_id, realm = excluded.realm,
          key_source = excluded.key_source, trust_level = excluded.trust_level, scopes = excluded.scopes,
          enabled = excluded.enabled, accept_unsigned_user_context = excluded.accept_unsigned_user_context,
          updated_at = excluded.updated_at`),
    deletePartner: db.prepare<[string]>('DELETE FROM partner_applications WHERE identity = ?'),
    server: db.prepare<[string], OAuthServerRow>('SELECT * FROM oauth_servers WHERE identity = ?'),
    servers: db.prepare<[], OAuthServerRow>('SELECT * FROM oauth_servers'),
    upsertServer: db.prepare<[OAuthServerParameters]>(`
      INSERT INTO oauth_servers (identity, metadata_url, issuer, realm, allow_loopback, enabled, created_at, updated_at)
        VALUES (@identity, @metadata_url, @issuer, @realm, @allow_loopback, @enabled, @created_at, @updated_at)
        ON CONFLICT (identity) DO UPDATE SET metadata_url = excluded.metadata_url, issuer = excluded.issuer,
          realm = excluded.realm, allow_loopback = excluded.allow_loopback, enabled = excluded.enabled,
          updated_at = excluded.updated_at`),
    deleteServer: db.prepare<[string]>('DELETE FROM oauth_servers WHERE identity = ?'),
    client: db.prepare<[string, string], ClientRow>('SELECT * FROM clients WHERE principal = ? AND realm = ?'),
    clients: db.prepare<[], ClientRow>('SELECT * FROM clients'),
    credentialsOutside: db.prepare<[string], CredentialRow>('SELECT principal, realm, certificates, metadata_url FROM clients WHERE realm <> ?'),
    upsertClient: db.prepare<[ClientParameters]>(`
      INSERT INTO clients (principal, realm, display_name, certificates, metadata_url, allow_loopback, host_names,
          grants, enabled, created_at, updated_at)
        VALUES (@principal, @realm, @display_name, @certificates, @metadata_url, @allow_loopback, @host_names,
          @grants, @enabled, @created_at, @updated_at)
        ON CONFLICT (principal, realm) DO UPDATE SET display_name = excluded.display_name,
          certificates = excluded.certificates, metadata_url = excluded.metadata_url,
          allow_loopback = excluded.allow_loopback, host_names = excluded.host_names, grants = excluded.grants,
          enabled = excluded.enabled, updated_at = excluded.updated_at`),
    deleteClient: db.prepare<[string, string]>('DELETE FROM clients WHERE principal = ? AND realm = ?'),
    // One statement, so the check and the write are atomic across connections: a new pair is
    // inserted, an expired claim is taken over, an unexpired one is left alone (changes = 0).
    claim: db.prepare<[ClaimParameters]>(`
      INSERT INTO replay_claims (issuer, jti, expires_at) VALUES (@issuer, @jti, @expires_at)
        ON CONFLICT (issuer, jti) DO UPDATE SET expires_at = excluded.expires_at
        WHERE replay_claims.expires_at <= @now`),
    purgeClaims: db.prepare<[number]>('DELETE FROM replay_claims WHERE expires_at <= ?'),
    dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
    registryVersion: db.prepare<[], number>('SELECT version FROM registry_version WHERE id = 1').pluck(),
  };
}
