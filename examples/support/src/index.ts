/**
 * `@s2sauth/example-support`: what the Lync and Exchange demo servers have in common, so each
 * holds only what makes it Lync or Exchange. The data folder (OAuth certificate, session secret),
 * the server's SQLite file with its migrations and sessions, scrypt password hashes, JSON errors
 * and request-body readers, the rule that ties each user to one realm of the organization, and
 * the check of the STS connection option, and `Idempotency-Key` for the partner write routes.
 *
 * ```ts
 * const folder = await openDataFolder('.data/onprem/exchange', 'exchange.sqlite');
 * const { certificate } = await loadOrCreateCertificate(folder, ['contoso.com', 'fabrikam.com']);
 * const db = openSqliteDatabase(folder.database, MIGRATIONS);
 * const organization = new Organization({ realms: ['contoso.com', 'fabrikam.com'] });
 * organization.mayActFor('fabrikam.com', 'alice@contoso.com'); // false
 * ```
 * @packageDocumentation
 */
export { ApiError, invalidRequest } from './api-error.js';
export { errorHandler, notFound } from './error-handler.js';
export { loadOrCreateCertificate, loadOrCreateSessionSecret, openDataFolder, type DataFolder } from './data-folder.js';
export {
  DEFAULT_IDEMPOTENCY_LEASE_MS,
  DEFAULT_IDEMPOTENCY_TTL_MS,
  IDEMPOTENCY_MIGRATION,
  idempotencyKeys,
  type IdempotencyOptions,
} from './idempotency.js';
export { Organization, type OrganizationRealms } from './organization.js';
export { checkPassword, decoyHash, formatPasswordHash, hashPassword, verifyPassword, type ScryptCost } from './password-hash.js';
export {
  ADDRESS,
  DATE_TIME,
  readArray,
  readDateTime,
  readObject,
  readOptionalString,
  readString,
  refuseUnknownMembers,
  type StringRule,
  type TextPattern,
} from './request-body.js';
export { openSqliteDatabase, type Migration, type SqliteDatabase } from './sqlite-database.js';
export { SqliteSessionStore, type SqliteSessionStoreOptions } from './sqlite-session-store.js';
export { checkStsConnection, type StsConnection } from './sts-connection.js';
export { isStsRefusal, stsFailure } from './sts-failure.js';
