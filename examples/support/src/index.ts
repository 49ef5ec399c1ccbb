/**
 * `@s2sauth/example-support`: what the Lync and Exchange demo servers have in common, so each
 * holds only what makes it Lync or Exchange. The data folder (OAuth certificate, session secret),
 * the server's SQLite file with its migrations and sessions, scrypt password hashes, JSON errors
 * and request-body readers, the answers to storage faults and to request targets Express does not
 * expect, the rule that ties each user to one realm of the organization, the throttling of failed
 * sign-ins, the check of the STS connection option and the answer to its failures, and
 * `Idempotency-Key` for the partner write routes.
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
export { clientErrorFor, errorHandler, notFound, type ErrorHandlerOptions } from './error-handler.js';
export { answerClientErrors, rawJsonResponse, requestTarget } from './http-server.js';
export { isStorageFault, StorageHealth, storageUnavailable, type StorageHealthOptions } from './storage-health.js';
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
export { checkWritableDatabase, openSqliteDatabase, UnwritableDatabaseError, type Migration, type SqliteDatabase } from './sqlite-database.js';
export { DEFAULT_SIGN_IN_LIMITS, signInThrottle, type SignInLimits } from './sign-in-throttle.js';
export { SqliteSessionStore, type SqliteSessionStoreOptions } from './sqlite-session-store.js';
export { checkStsConnection, type StsConnection } from './sts-connection.js';
export { isStsRefusal, stsFailure } from './sts-failure.js';
