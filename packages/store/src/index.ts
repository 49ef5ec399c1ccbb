/**
 * `@s2sauth/store`: persistence behind small interfaces (docs/architecture.md, "Persistence"): the
 * partner application, OAuth server and STS client registries and the replay store, in SQLite
 * (`SqliteStore`, the embedded default) or in memory (`MemoryStore`, for tests).
 * @packageDocumentation
 */
export type { ChangeListener, RegistryEntryKind } from './change-listeners.js';
export type { ClientGrant, ClientInput, ClientRecord, ClientStore } from './client.js';
export { isKeyDocumentStore, type KeyDocument, type KeyDocumentSource, type KeyDocumentStore } from './key-document.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { SCHEMA_VERSION } from './migrations.js';
export type { OAuthServerInput, OAuthServerRecord, OAuthServerStore } from './oauth-server.js';
export {
  PARTNER_KEY_SOURCE_KINDS,
  TRUST_LEVELS,
  type PartnerApplication,
  type PartnerApplicationInput,
  type PartnerKeySource,
  type PartnerStore,
  type TrustLevel,
} from './partner-application.js';
export type { RecordChange } from './record-shape.js';
export type { ReplayStore } from './replay.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export { StoreError, type StoreErrorCode } from './store-error.js';
