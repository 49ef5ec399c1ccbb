/**
 * `MemoryStore`: every store interface (partners, OAuth servers, clients, replay claims, key
 * documents) in memory, with the same behaviour as `SqliteStore` (one shared test suite runs
 * against both), for tests and single-process use.
 */
import { optionNames, refuseUnknownOptions, systemClock, type Clock } from '@s2sauth/protocol';
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
import { byIdentity, nextTimes, type RecordChange } from './record-shape.js';
import { checkClaim, REPLAY_PURGE_INTERVAL_MS, type ReplayStore } from './replay.js';
import { StoreError } from './store-error.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Time source for record timestamps and replay expiry; default `systemClock`. */
  readonly clock?: Clock;
}

const OPTION_NAMES = optionNames<MemoryStoreOptions>({ clock: true });

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
    refuseUnknownOptions('new MemoryStore', options, OPTION_NAMES);
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
    const { identity } = partnerApplicationRecord(app, 0, 0);
    return this.modify(identity, () => app) as PartnerApplication;
  }

  modify(identity: string, change: RecordChange<PartnerApplication, PartnerApplicationInput>): PartnerApplication | undefined {
    this.#checkOpen();
    // Synchronous from the read to the write: nothing else runs in between.
    const current = this.#partners.get(identity);
    const input = change(current);
    if (input === undefined) return current;
    const { createdAt, updatedAt } = nextTimes(current, Math.floor(this.#clock()));
    const record = partnerApplicationRecord(input, createdAt, updatedAt);
    if (record.identity !== identity) throw new TypeError(`partner application "${record.identity}": modify("${identity}") writes only that identity`);
    const holder = this.findByApplication(record.applicationId, record.realm);
    if (holder !== undefined && holder.identity !== record.identity) {
      throw new StoreError(
        'conflict',
        `partner application "${record.identity}": application ${record.applicationId} in realm ${record.realm} is already registered as "${holder.identity}"`,
      );
    }
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
    const { identity } = oauthServerRecord(server, 0, 0);
    return this.modifyOAuthServer(identity, () => server) as OAuthServerRecord;
  }

  modifyOAuthServer(identity: string, change: RecordChange<OAuthServerRecord, OAuthServerInput>): OAuthServerRecord | undefined {
    this.#checkOpen();
    const current = this.#servers.get(identity);
    const input = change(current);
    if (input === undefined) return current;
    const { createdAt, updatedAt } = nextTimes(current, Math.floor(this.#clock()));
    const record = oauthServerRecord(input, createdAt, updatedAt);
    if (record.identity !== identity) throw new TypeError(`OAuth server "${record.identity}": modifyOAuthServer("${identity}") writes only that identity`);
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
    const { principal, realm } = clientRecord(client, 0, 0);
    return this.modifyClient(principal, realm, () => client) as ClientRecord;
  }

  modifyClient(principal: string, realm: string, change: RecordChange<ClientRecord, ClientInput>): ClientRecord | undefined {
    this.#checkOpen();
    const current = this.getClient(principal, realm);
    const input = change(current);
    if (input === undefined) return current;
    const { createdAt, updatedAt } = nextTimes(current, Math.floor(this.#clock()));
    const record = clientRecord(input, createdAt, updatedAt);
    if (record.principal !== principal || record.realm !== realm) {
      throw new TypeError(`client "${record.principal}@${record.realm}": modifyClient("${principal}@${realm}") writes only that client`);
    }
    refuseSharedCredential(record, this.listClients());
    let byRealm = this.#clients.get(principal);
    if (byRealm === undefined) {
      byRealm = new Map();
      this.#clients.set(principal, byRealm);
    }
    byRealm.set(realm, record);
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
