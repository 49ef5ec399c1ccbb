/**
 * One partner's signing keys, as the verifier looks them up by `x5t` (= `kid` in this protocol).
 *
 * A partner registered by metadata URL gets a {@link RemoteKeySet}: keys from its metadata
 * document, refreshed in the background, refetched when a token names a key we do not know (the
 * partner may have rolled its certificate), and kept through outages of the partner's metadata
 * endpoint up to a maximum staleness, after which verification fails closed (protocol.md
 * section 4, "Refresh"). The hygiene follows panva/jose's remote key sets: one fetch in flight at
 * a time, a cooldown between refetches so that a flood of tokens with made-up key ids cannot turn
 * into a flood of fetches, and a maximum age. The cooldown is against floods, not against the
 * first rollover: an unknown key id refetches at once unless the last fetch was itself for an
 * unknown key id. A set can start from a last good document kept from an earlier process
 * (`lastGood`), aged from when that document was fetched.
 *
 * A partner registered by certificate gets a {@link StaticKeySet}. Both answer the same
 * {@link KeySet} interface.
 */
import { KeysUnavailableError, systemClock, type Clock, type ParsedMetadata, type SigningKey } from '@s2sauth/protocol';

/** Default background refresh interval: one hour (protocol.md section 4). */
export const KEY_REFRESH_INTERVAL_MS = 60 * 60 * 1000;

/** Default minimum time between two loads triggered by an unknown key id: 30 s (protocol.md section 4). */
export const UNKNOWN_KEY_COOLDOWN_MS = 30 * 1000;

/** Default maximum age of the last good keys before verification fails closed: 24 h (protocol.md section 4). */
export const KEY_MAX_STALENESS_MS = 24 * 60 * 60 * 1000;

/** What the verifier needs from a partner's keys. */
export interface KeySet {
  /**
   * The key whose `x5t` is `keyId`, if it is known and its certificate is valid now; `undefined`
   * otherwise. Rejects with `KeysUnavailableError` (503) when the keys cannot be trusted to be
   * current, never with anything else.
   */
  getKey(keyId: string): Promise<SigningKey | undefined>;
  /**
   * The key whose `x5t` is `keyId` when that can be answered without waiting and it is valid now:
   * the keys are current, not due for a refresh and not being loaded. `undefined` means only
   * {@link KeySet.getKey} can answer (it never means the key was refused).
   */
  keyNow(keyId: string): SigningKey | undefined;
  /** Changes whenever the set of keys changes, so caches of verification results can tell. */
  readonly version: number;
  /** Stops background work. */
  close(): void;
}

/** Options of {@link RemoteKeySet}'s timing, as a registry passes them to every set. */
export interface KeySetOptions {
  /** Background refresh interval in ms. Default 3600000 (1 h). */
  readonly refreshIntervalMs?: number;
  /** Minimum time between two loads, in ms, when a key id is unknown. Default 30000 (30 s). */
  readonly unknownKeyCooldownMs?: number;
  /** How old the last good keys may get, in ms, while loading fails. Default 86400000 (24 h). */
  readonly maxStalenessMs?: number;
  /** Time source; default the system clock. */
  readonly clock?: Clock;
}

/** Keys loaded earlier (by another process, or another key set of the same source), and when. */
export interface LastGoodKeys {
  /** The metadata, parsed and checked as a load would have. */
  readonly metadata: ParsedMetadata;
  /** When (clock ms) the document was fetched; the maximum staleness counts from here. */
  readonly loadedAt: number;
}

/** Options of {@link RemoteKeySet}: {@link KeySetOptions} and where to start from. */
export interface RemoteKeySetOptions extends KeySetOptions {
  /**
   * Start with these keys instead of none. They are answered, like loaded keys, until they are
   * older than `maxStalenessMs` (counted from their `loadedAt`, never from now), and refreshed
   * in the background by the first lookup after they are `refreshIntervalMs` old, as loaded keys
   * are. A `loadedAt` in the future counts as now.
   */
  readonly lastGood?: LastGoodKeys;
}

function isValidAt(key: SigningKey, now: number): boolean {
  return key.notBefore <= now && now <= key.notAfter;
}

function positiveMs(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`RemoteKeySet: options.${name} must be a positive number of milliseconds`);
  }
  return value;
}

function isMetadata(value: unknown): value is ParsedMetadata {
  return typeof value === 'object' && value !== null && Array.isArray((value as { keys?: unknown }).keys);
}

/** A name for an error that is safe for the audit log: its code or class, never its message. */
function describeError(error: unknown): string {
  if (error === undefined) return 'none';
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (error instanceof Error) return error.name;
  }
  return typeof error;
}

/**
 * The keys of one partner application, loaded from its metadata document.
 *
 * `load` fetches and parses the document (the registry wires `fetchMetadata`,
 * `parseMetadataDocument` and the checks against the registration into it). It is called:
 * on the first `getKey` (when the set started from `lastGood` keys, as a background refresh once
 * they are due); every
 * `refreshIntervalMs` in the background (an unref'd timer, started after the first successful
 * load); when `getKey` meets an unknown key id, at once if the previous load was not itself for an
 * unknown key id (a partner's certificate rollover is picked up by the first token signed with
 * the new key) and otherwise at most once per `unknownKeyCooldownMs` (so a stream of made-up key
 * ids costs at most one load per cooldown); and by {@link RemoteKeySet.refresh}. Only one load runs
 * at a time; concurrent callers wait for the same one, and a lookup that waited for a load does
 * not start another. A failed load keeps the last good keys, until they are older than
 * `maxStalenessMs`; then `getKey` fails closed with `KeysUnavailableError`.
 */
export class RemoteKeySet implements KeySet {
  readonly #load: () => Promise<ParsedMetadata>;
  readonly #refreshIntervalMs: number;
  readonly #cooldownMs: number;
  readonly #maxStalenessMs: number;
  readonly #clock: Clock;

  #keys: ReadonlyMap<string, SigningKey> = new Map();
  #metadata: ParsedMetadata | undefined;
  #fingerprint = '';
  #version = 0;
  #loadedAt: number | undefined;
  #attemptedAt: number | undefined;
  /** Whether the most recent load was started by a lookup of an unknown key id. */
  #attemptForUnknownKey = false;
  #lastError: unknown;
  #inFlight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /**
   * @param load - Fetches and parses the partner's metadata document; a rejection is a failed load.
   * @param options - Intervals, clock and last good keys; see {@link RemoteKeySetOptions}.
   * @throws TypeError when `load` is not a function, an option is not a positive duration, or
   *   `lastGood` is not metadata with a time.
   */
  constructor(load: () => Promise<ParsedMetadata>, options: RemoteKeySetOptions = {}) {
    if (typeof load !== 'function') throw new TypeError('RemoteKeySet: load must be a function returning a Promise<ParsedMetadata>');
    this.#load = load;
    this.#refreshIntervalMs = positiveMs(options.refreshIntervalMs, KEY_REFRESH_INTERVAL_MS, 'refreshIntervalMs');
    this.#cooldownMs = positiveMs(options.unknownKeyCooldownMs, UNKNOWN_KEY_COOLDOWN_MS, 'unknownKeyCooldownMs');
    this.#maxStalenessMs = positiveMs(options.maxStalenessMs, KEY_MAX_STALENESS_MS, 'maxStalenessMs');
    const clock = options.clock ?? systemClock;
    if (typeof clock !== 'function') throw new TypeError('RemoteKeySet: options.clock must be a function returning milliseconds');
    this.#clock = clock;
    const { lastGood } = options;
    if (lastGood !== undefined) {
      if (!isMetadata(lastGood.metadata) || typeof lastGood.loadedAt !== 'number' || !Number.isFinite(lastGood.loadedAt)) {
        throw new TypeError('RemoteKeySet: options.lastGood must be { metadata: ParsedMetadata, loadedAt: milliseconds }');
      }
      this.#install(lastGood.metadata);
      // A time ahead of ours (another machine's clock) must not stretch the staleness bound.
      this.#loadedAt = Math.min(lastGood.loadedAt, clock());
    }
  }

  /** Starts at 0; increments each time a load yields a different set of certificates. */
  get version(): number {
    return this.#version;
  }

  /** The last successfully loaded metadata, or `undefined` before the first successful load. */
  get metadata(): ParsedMetadata | undefined {
    return this.#metadata;
  }

  /** When (clock ms) the last successful load completed, or `undefined` if none has. */
  get loadedAt(): number | undefined {
    return this.#loadedAt;
  }

  /**
   * What the most recent load threw, for diagnostics; `undefined` when the most recent load
   * succeeded or none has run. Never thrown to callers of `getKey`.
   */
  get lastError(): unknown {
    return this.#lastError;
  }

  /**
   * Looks up a key by `x5t`/`kid` (see {@link KeySet.getKey}). Loads first if nothing was loaded
   * yet or the keys are past their maximum staleness; refetches once, cooldown permitting, if the
   * id is unknown.
   */
  async getKey(keyId: string): Promise<SigningKey | undefined> {
    // A lookup that waited for a load has keys as fresh as a refetch would give it.
    let waited = false;
    if (this.#inFlight) {
      await this.#inFlight;
      waited = true;
    }
    let now = this.#clock();
    if (!this.#isCurrent(now)) {
      if (this.#mayLoad(now)) {
        await this.#loadOnce(false);
        waited = true;
      }
      now = this.#clock();
      if (!this.#isCurrent(now)) throw this.#unavailable(now);
    } else if (this.#dueForRefresh(now) && this.#mayLoad(now)) {
      // The timer should have refreshed by now but did not (a suspended machine, a blocked loop,
      // or last good keys handed in, with no timer yet): refresh in the background and answer
      // from the keys we have.
      void this.#loadOnce(false);
    }
    const key = this.#keys.get(keyId);
    if (key) return isValidAt(key, now) ? key : undefined;
    // The first unknown key id after a load that succeeded is a rollover until proven otherwise;
    // after a load for an unknown id, or one that failed (the endpoint is down: asking again at
    // once would not help), the cooldown holds a flood of made-up ids to one load per window.
    if (waited || (!this.#mayLoad(now) && (this.#attemptForUnknownKey || this.#lastError !== undefined))) return undefined;
    await this.#loadOnce(true);
    now = this.#clock();
    const reloaded = this.#keys.get(keyId);
    return reloaded && isValidAt(reloaded, now) ? reloaded : undefined;
  }

  /** See {@link KeySet.keyNow}. */
  keyNow(keyId: string): SigningKey | undefined {
    if (this.#inFlight) return undefined;
    const now = this.#clock();
    if (!this.#isCurrent(now) || this.#dueForRefresh(now)) return undefined;
    const key = this.#keys.get(keyId);
    return key && isValidAt(key, now) ? key : undefined;
  }

  /**
   * Loads now, regardless of the cooldown (or joins the load in flight). Never rejects: a failure
   * keeps the previous keys and is reported by {@link RemoteKeySet.lastError}.
   */
  refresh(): Promise<void> {
    return this.#loadOnce(false);
  }

  /** Stops the background refresh timer. The set still answers `getKey` from what it has. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #isCurrent(now: number): boolean {
    return this.#loadedAt !== undefined && now - this.#loadedAt <= this.#maxStalenessMs;
  }

  /** The keys are older than the refresh interval (last good keys handed in included). */
  #dueForRefresh(now: number): boolean {
    return now - (this.#loadedAt ?? now) >= this.#refreshIntervalMs;
  }

  #mayLoad(now: number): boolean {
    // `abs` so that a clock stepped backwards cannot block loads until it catches up.
    return this.#attemptedAt === undefined || Math.abs(now - this.#attemptedAt) >= this.#cooldownMs;
  }

  #loadOnce(forUnknownKey: boolean): Promise<void> {
    if (this.#inFlight) return this.#inFlight;
    this.#attemptedAt = this.#clock();
    this.#attemptForUnknownKey = forUnknownKey;
    const attempt = this.#runLoad().finally(() => {
      this.#inFlight = undefined;
    });
    this.#inFlight = attempt;
    return attempt;
  }

  async #runLoad(): Promise<void> {
    try {
      const metadata = await this.#load();
      if (!isMetadata(metadata)) {
        throw new TypeError('RemoteKeySet: load resolved to something that is not ParsedMetadata');
      }
      this.#install(metadata);
      this.#lastError = undefined;
      this.#loadedAt = this.#clock();
      this.#startTimer();
    } catch (error) {
      this.#lastError = error;
    }
  }

  #install(metadata: ParsedMetadata): void {
    const keys = new Map<string, SigningKey>();
    for (const key of metadata.keys) {
      if (!keys.has(key.x5t)) keys.set(key.x5t, key);
    }
    // x5t#S256 names a certificate exactly; the sorted list of them is the content of the set.
    const fingerprint = [...keys.values()]
      .map((key) => key.x5tS256)
      .sort()
      .join(' ');
    if (this.#loadedAt === undefined || fingerprint !== this.#fingerprint) this.#version += 1;
    this.#fingerprint = fingerprint;
    this.#keys = keys;
    this.#metadata = metadata;
  }

  #startTimer(): void {
    if (this.#closed || this.#timer) return;
    this.#timer = setInterval(() => void this.#loadOnce(false), this.#refreshIntervalMs);
    // Key refresh must never keep a process alive on its own.
    this.#timer.unref();
  }

  #unavailable(now: number): KeysUnavailableError {
    const sinceAttempt = this.#attemptedAt === undefined ? this.#cooldownMs : Math.abs(now - this.#attemptedAt);
    const retryAfter = Math.max(1, Math.ceil((this.#cooldownMs - sinceAttempt) / 1000));
    const loaded =
      this.#loadedAt === undefined
        ? 'never loaded'
        : `last loaded ${Math.round((now - this.#loadedAt) / 1000)} s ago, more than the ${Math.round(this.#maxStalenessMs / 1000)} s allowed`;
    return new KeysUnavailableError(
      `the partner's signing keys are unavailable (${loaded}; last load error: ${describeError(this.#lastError)})`,
      retryAfter,
    );
  }
}

/** Options of {@link StaticKeySet}. */
export interface StaticKeySetOptions {
  /** Time source for certificate validity; default the system clock. */
  readonly clock?: Clock;
}

/**
 * The keys of a partner registered by certificate: fixed, looked up by `x5t`, each answered only
 * while its certificate is valid (checked on every lookup, so an expiring certificate stops
 * working on time).
 */
export class StaticKeySet implements KeySet {
  readonly #keys: ReadonlyMap<string, SigningKey>;
  readonly #clock: Clock;

  /**
   * @param keys - The partner's signing keys (at least one), e.g. from `signingKeyFromCertificate`.
   * @param options - Clock; see {@link StaticKeySetOptions}.
   * @throws TypeError when `keys` is not a non-empty array.
   */
  constructor(keys: readonly SigningKey[], options: StaticKeySetOptions = {}) {
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new TypeError('StaticKeySet: keys must be a non-empty array of signing keys');
    }
    const clock = options.clock ?? systemClock;
    if (typeof clock !== 'function') throw new TypeError('StaticKeySet: options.clock must be a function returning milliseconds');
    const map = new Map<string, SigningKey>();
    for (const key of keys) {
      if (!map.has(key.x5t)) map.set(key.x5t, key);
    }
    this.#keys = map;
    this.#clock = clock;
  }

  /** Always 1: the set never changes. */
  get version(): number {
    return 1;
  }

  /** The key with this `x5t`, if its certificate is valid now. */
  getKey(keyId: string): Promise<SigningKey | undefined> {
    return Promise.resolve(this.keyNow(keyId));
  }

  /** The key with this `x5t`, if its certificate is valid now (see {@link KeySet.keyNow}). */
  keyNow(keyId: string): SigningKey | undefined {
    const key = this.#keys.get(keyId);
    return key && isValidAt(key, this.#clock()) ? key : undefined;
  }

  /** Nothing to stop; present for the {@link KeySet} interface. */
  close(): void {}
}
