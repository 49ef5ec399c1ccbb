import { systemClock, type Clock } from '@s2sauth/protocol';
import { ChangeListeners, type ChangeListener } from './change-listeners.js';
import { byClientKey, clientIdentity, clientRecord, refuseSharedCredential, type ClientInput, type ClientRecord, type ClientStore } from './client.js';
import { MemoryKeyDocuments, type KeyDocument, type KeyDocumentSource, type KeyDocumentStore } from './key-document.js';
import { oauthServerRecord, type OAuthServerInput, type OAuthServerRecord, type OAuthServerStore } from './oauth-server.js';
import {
  partnerApplicationRecord,
  type PartnerApplication,
  type PartnerApplicationInput,
  type PartnerStore,
} from './partner-application.js';
import { byIdentity } from './record-shape.js';
import { checkClaim, REPLAY_PURGE_INTERVAL_MS, type ReplayStore } from './replay.js';
import { StoreError } from './store-error.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Time source for record timestamps and replay expiry; default `systemClock`. */
  readonly clock?: Clock;
}

/**
 * The stores in memory, for unit tests and single-process experiments: the same behaviour as
 * `SqliteStore` (the same test suite runs against both) without persistence, and without
 * notifications from other processes since nothing is shared with them.
 *
 * @example
 * ```ts
 * const store = new MemoryStore();
 * store.put({ identity: 'microsoft.exchange', applicationId: '00000002-0000-0ff1-ce00-000000000000',
 *   realm: 'contoso.com', keySource: { kind: 'metadata', metadataUrl: 'https://mail.contoso.com/metadata/json/1' },
 *   trustLevel: 'full', scopes: [], enabled: true });
 * ```
 */
export class MemoryStore implements PartnerStore, OAuthServerStore, ClientStore, ReplayStore, KeyDocumentStore {
  readonly #clock: Clock;
  readonly #partners = new Map<string, PartnerApplication>();
  readonly #servers = new Map<string, OAuthServerRecord>();
  /** principal → realm → client; nested so that no separator can make two keys collide. */
  readonly #clients = new Map<string, Map<string, ClientRecord>>();
  /** issuer → jti → expiresAt (ms); nested so that no separator can make two pairs collide. */
  readonly #claims = new Map<string, Map<string, number>>();
  readonly #listeners = new ChangeListeners();
  readonly #keyDocuments = new MemoryKeyDocuments();
  #nextPurge = Number.NEGATIVE_INFINITY;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    const { clock = systemClock } = options;
    if (typeof clock !== 'function') throw new TypeError('MemoryStore: options.clock must be a function');
    this.#clock = clock;
  }

  get(identity: string): PartnerApplication | undefined {
    this.#checkOpen();
    return this.#partners.get(identity);
  }

  findByApplication(applicationId: string, realm: string): PartnerApplication | undefined {
    this.#checkOpen();
    for (const app of this.#partners.values()) {
      if (app.applicationId === applicationId && app.realm === realm) return app;
    }
    return undefined;
  }

  list(): PartnerApplication[] {
    this.#checkOpen();
    return [...this.#partners.values()].sort(byIdentity);
  }

  put(app: PartnerApplicationInput): PartnerApplication {
    this.#checkOpen();
    const now = Math.floor(this.#clock());
    const checked = partnerApplicationRecord(app, now, now);
    const holder = this.findByApplication(checked.applicationId, checked.realm);
    if (holder !== undefined && holder.identity !== checked.identity) {
      throw new StoreError(
        'conflict',
        `partner application "${checked.identity}": application ${checked.applicationId} in realm ${checked.realm} is already registered as "${holder.identity}"`,
      );
    }
    const createdAt = this.#partners.get(checked.identity)?.createdAt ?? now;
    const record = createdAt === now ? checked : Object.freeze({ ...checked, createdAt });
    this.#partners.set(record.identity, record);
    this.#listeners.notify(record.identity, 'partnerApplication');
    return record;
  }

  remove(identity: string): boolean {
    this.#checkOpen();
    if (!this.#partners.delete(identity)) return false;
    this.#listeners.notify(identity, 'partnerApplication');
    return true;
  }

  getOAuthServer(identity: string): OAuthServerRecord | undefined {
    this.#checkOpen();
    return this.#servers.get(identity);
  }

  listOAuthServers(): OAuthServerRecord[] {
    this.#checkOpen();
    return [...this.#servers.values()].sort(byIdentity);
  }

  putOAuthServer(server: OAuthServerInput): OAuthServerRecord {
    this.#checkOpen();
    const now = Math.floor(this.#clock());
    const checked = oauthServerRecord(server, now, now);
    const createdAt = this.#servers.get(checked.identity)?.createdAt ?? now;
    const record = createdAt === now ? checked : Object.freeze({ ...checked, createdAt });
    this.#servers.set(record.identity, record);
    this.#listeners.notify(record.identity, 'oauthServer');
    return record;
  }

  removeOAuthServer(identity: string): boolean {
    this.#checkOpen();
    if (!this.#servers.delete(identity)) return false;
    this.#listeners.notify(identity, 'oauthServer');
    return true;
  }

  getClient(principal: string, realm: string): ClientRecord | undefined {
    this.#checkOpen();
    return this.#clients.get(principal)?.get(realm);
  }

  listClients(): ClientRecord[] {
    this.#checkOpen();
    return [...this.#clients.values()].flatMap((byRealm) => [...byRealm.values()]).sort(byClientKey);
  }

  putClient(client: ClientInput): ClientRecord {
    this.#checkOpen();
    const now = Math.floor(this.#clock());
    const checked = clientRecord(client, now, now);
    refuseSharedCredential(checked, this.listClients());
    let byRealm = this.#clients.get(checked.principal);
    if (byRealm === undefined) {
      byRealm = new Map();
      this.#clients.set(checked.principal, byRealm);
    }
    const createdAt = byRealm.get(checked.realm)?.createdAt ?? now;
    const record = createdAt === now ? checked : Object.freeze({ ...checked, createdAt });
    byRealm.set(record.realm, record);
    this.#listeners.notify(clientIdentity(record), 'client');
    return record;
  }

  removeClient(principal: string, realm: string): boolean {
    this.#checkOpen();
    const byRealm = this.#clients.get(principal);
    if (byRealm === undefined || !byRealm.delete(realm)) return false;
    if (byRealm.size === 0) this.#clients.delete(principal);
    this.#listeners.notify(clientIdentity({ principal, realm }), 'client');
    return true;
  }

  claim(issuer: string, jti: string, expiresAt: number): boolean {
    this.#checkOpen();
    checkClaim(issuer, jti, expiresAt);
    const now = this.#clock();
    if (now >= this.#nextPurge) this.#purge(now);
    if (expiresAt <= now) return false;
    let claims = this.#claims.get(issuer);
    if (claims === undefined) {
      claims = new Map();
      this.#claims.set(issuer, claims);
    }
    const held = claims.get(jti);
    if (held !== undefined && held > now) return false;
    claims.set(jti, expiresAt);
    return true;
  }

  getKeyDocument(source: KeyDocumentSource): KeyDocument | undefined {
    this.#checkOpen();
    return this.#keyDocuments.getKeyDocument(source);
  }

  putKeyDocument(document: KeyDocument): void {
    this.#checkOpen();
    this.#keyDocuments.putKeyDocument(document);
  }

  removeKeyDocumentsFetchedBefore(time: number): number {
    this.#checkOpen();
    return this.#keyDocuments.removeKeyDocumentsFetchedBefore(time);
  }

  onChange(listener: ChangeListener): () => void {
    this.#checkOpen();
    return this.#listeners.add(listener);
  }

  close(): void {
    this.#closed = true;
    this.#listeners.clear();
  }

  #purge(now: number): void {
    this.#nextPurge = now + REPLAY_PURGE_INTERVAL_MS;
    for (const [issuer, claims] of this.#claims) {
      for (const [jti, expiresAt] of claims) {
        if (expiresAt <= now) claims.delete(jti);
      }
      if (claims.size === 0) this.#claims.delete(issuer);
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError('closed', 'the store is closed');
  }
}
