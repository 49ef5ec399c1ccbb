import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeysUnavailableError, x5t, x5tS256, type ParsedMetadata, type SigningKey } from '@s2sauth/protocol';
import {
  KEY_MAX_STALENESS_MS,
  KEY_REFRESH_INTERVAL_MS,
  RemoteKeySet,
  StaticKeySet,
  UNKNOWN_KEY_COOLDOWN_MS,
  type KeySet,
  type KeySetOptions,
  type RemoteKeySetOptions,
} from '../src/key-set.js';

const SECOND = 1000;
const HOUR = 3600 * SECOND;

/** Makes a self-signed certificate with openssl and turns it into a SigningKey. */
function makeKey(directory: string, name: string, days: number): SigningKey {
  const certPath = join(directory, `${name}.pem`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', String(days), '-keyout', join(directory, `${name}.key`), '-out', certPath, '-subj', `/CN=${name}`],
    { stdio: 'ignore' },
  );
  const certificate = new X509Certificate(readFileSync(certPath));
  return {
    x5t: x5t(certificate.raw),
    x5tS256: x5tS256(certificate.raw),
    certificate,
    publicKey: certificate.publicKey,
    notBefore: Date.parse(certificate.validFrom),
    notAfter: Date.parse(certificate.validTo),
  };
}

function metadataOf(...keys: SigningKey[]): ParsedMetadata {
  return { issuer: '00000002-0000-0ff1-ce00-000000000000@contoso.com', realm: 'contoso.com', keys, endpoints: [] };
}

/** A loader that counts its calls and answers whatever the test put in `next`. */
interface FakeLoader {
  (): Promise<ParsedMetadata>;
  calls: number;
  next: () => Promise<ParsedMetadata>;
}

function fakeLoader(initial: ParsedMetadata): FakeLoader {
  const loader = (() => {
    loader.calls += 1;
    return loader.next();
  }) as FakeLoader;
  loader.calls = 0;
  loader.next = () => Promise.resolve(initial);
  return loader;
}

/** A promise the test resolves or rejects by hand, to hold a load in flight. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return expect.fail('the promise resolved');
}

describe('key-set', () => {
  let directory: string;
  let keyA: SigningKey;
  let keyB: SigningKey;
  let keyC: SigningKey;
  let expired: SigningKey;
  let now: number;
  const clock = (): number => now;
  const sets: KeySet[] = [];

  function remote(loader: FakeLoader, options: RemoteKeySetOptions = {}): RemoteKeySet {
    const set = new RemoteKeySet(loader, { clock, ...options });
    sets.push(set);
    return set;
  }

  before(() => {
    directory = mkdtempSync(join(tmpdir(), 's2sauth-keys-'));
    keyA = makeKey(directory, 'a', 30);
    keyB = makeKey(directory, 'b', 30);
    keyC = makeKey(directory, 'c', 30);
    // openssl cannot make an already expired certificate simply; a key whose window is past does.
    expired = { ...makeKey(directory, 'old', 1), notBefore: 0, notAfter: 1 };
  });

  after(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  beforeEach(() => {
    now = keyA.notBefore + HOUR;
  });

  afterEach(() => {
    for (const set of sets.splice(0)) set.close();
  });

  describe('RemoteKeySet', () => {
    it('loads on the first lookup and finds a key by x5t', async () => {
      const loader = fakeLoader(metadataOf(keyA, keyB));
      const set = remote(loader);
      expect(set.version).to.equal(0);
      expect(set.metadata).to.equal(undefined);
      expect(await set.getKey(keyB.x5t)).to.equal(keyB);
      expect(loader.calls).to.equal(1);
      expect(set.version).to.equal(1);
      expect(set.metadata?.realm).to.equal('contoso.com');
      expect(set.loadedAt).to.equal(now);
      expect(set.lastError).to.equal(undefined);
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
      expect(loader.calls).to.equal(1);
    });

    it('lets concurrent lookups share one load in flight', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const pending = deferred<ParsedMetadata>();
      loader.next = () => pending.promise;
      const set = remote(loader);
      const lookups = Array.from({ length: 50 }, (_, i) => set.getKey(i % 2 === 0 ? keyA.x5t : 'unknown'));
      const refreshed = set.refresh();
      expect(loader.calls).to.equal(1);
      pending.resolve(metadataOf(keyA));
      const results = await Promise.all(lookups);
      await refreshed;
      expect(results.filter((key) => key === keyA)).to.have.length(25);
      expect(results.filter((key) => key === undefined)).to.have.length(25);
      expect(loader.calls).to.equal(1);
    });

    it('turns a flood of 1000 concurrent unknown-key lookups into one load per cooldown window', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const set = remote(loader);
      await set.getKey(keyA.x5t);
      expect(loader.calls).to.equal(1);

      // Right after a load: one refetch for the whole flood (its first id might be a rollover).
      const early = await Promise.all(Array.from({ length: 1000 }, (_, i) => set.getKey(`forged-${i}`)));
      expect(early.every((key) => key === undefined)).to.equal(true);
      expect(loader.calls).to.equal(2);

      // Within the cooldown of that refetch: none at all.
      now += UNKNOWN_KEY_COOLDOWN_MS - 1;
      const again = await Promise.all(Array.from({ length: 1000 }, (_, i) => set.getKey(`forged-again-${i}`)));
      expect(again.every((key) => key === undefined)).to.equal(true);
      expect(loader.calls).to.equal(2);

      // Cooldown over: exactly one refetch for the whole flood.
      now += 1;
      const flood = await Promise.all(Array.from({ length: 1000 }, (_, i) => set.getKey(`forged-${i}`)));
      expect(flood.every((key) => key === undefined)).to.equal(true);
      expect(loader.calls).to.equal(3);
    });

    it('turns 1000 sequential unknown-key lookups within the cooldown into at most one load', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const set = remote(loader);
      await set.getKey(keyA.x5t);
      now += UNKNOWN_KEY_COOLDOWN_MS;
      for (let i = 0; i < 1000; i += 1) {
        expect(await set.getKey(`forged-${i}`)).to.equal(undefined);
        now += 25; // 1000 lookups spread over 25 s, inside one 30 s window
      }
      expect(loader.calls).to.equal(2);
      // The next window opens 30 s after the refetch, not before.
      now = (set.loadedAt ?? 0) + UNKNOWN_KEY_COOLDOWN_MS - 1;
      await set.getKey('forged');
      expect(loader.calls).to.equal(2);
      now += 1;
      await set.getKey('forged');
      expect(loader.calls).to.equal(3);
    });

    it('holds a flood of unknown key ids to one load per cooldown window while the endpoint fails, past the refresh interval', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const set = remote(loader);
      await set.getKey(keyA.x5t);
      const loadedAt = now;
      loader.next = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'network' }));
      // Two hours on: the keys are due for a refresh that keeps failing, and still served.
      now = loadedAt + 2 * HOUR;
      const before = loader.calls;
      for (let second = 0; second < 300; second += 1) {
        expect(await set.getKey(`forged-${second}`)).to.equal(undefined);
        now += SECOND;
      }
      // One load per 30 s window (a failed background refresh is not followed by an unknown-key refetch).
      expect(loader.calls - before).to.equal(300 / (UNKNOWN_KEY_COOLDOWN_MS / SECOND));
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
    });

    it('picks up a rolled key through the unknown-key refetch at once, and a second roll once the cooldown allows', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const set = remote(loader, { unknownKeyCooldownMs: 10 * SECOND });
      await set.getKey(keyA.x5t);
      // The partner rolls to B: the first token signed with B refetches at once (no 10 s of key_unknown).
      loader.next = () => Promise.resolve(metadataOf(keyA, keyB));
      now += 1 * SECOND;
      expect(await set.getKey(keyB.x5t)).to.equal(keyB);
      expect(loader.calls).to.equal(2);
      expect(set.version).to.equal(2);
      // Rolled again to C right after: the last load was for an unknown key, so the cooldown holds.
      loader.next = () => Promise.resolve(metadataOf(keyB, keyC));
      now += 5 * SECOND;
      expect(await set.getKey(keyC.x5t)).to.equal(undefined);
      expect(loader.calls).to.equal(2);
      now += 5 * SECOND;
      expect(await set.getKey(keyC.x5t)).to.equal(keyC);
      expect(loader.calls).to.equal(3);
      expect(set.version).to.equal(3);
    });

    it('picks up a rolled key through refresh(), and changes version only when the keys change', async () => {
      const loader = fakeLoader(metadataOf(keyA, keyB));
      const set = remote(loader);
      await set.refresh();
      expect(set.version).to.equal(1);
      // Same certificates, other order, one listed twice: same content.
      loader.next = () => Promise.resolve(metadataOf(keyB, keyA, keyA));
      await set.refresh();
      expect(set.version).to.equal(1);
      // Rolled: A retired, C added.
      loader.next = () => Promise.resolve(metadataOf(keyB, keyC));
      await set.refresh();
      expect(set.version).to.equal(2);
      expect(await set.getKey(keyC.x5t)).to.equal(keyC);
      // A retired key id is unknown: one refetch (the last load was not for an unknown key), then none.
      expect(await set.getKey(keyA.x5t)).to.equal(undefined);
      expect(await set.getKey(keyA.x5t)).to.equal(undefined);
      expect(loader.calls).to.equal(4);
    });

    it('refreshes in the background once the refresh interval has passed, answering from the keys it has', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const set = remote(loader);
      await set.getKey(keyA.x5t);
      const pending = deferred<ParsedMetadata>();
      loader.next = () => pending.promise;
      now += KEY_REFRESH_INTERVAL_MS;
      // Answers at once from the current keys while the load runs.
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
      expect(loader.calls).to.equal(2);
      pending.resolve(metadataOf(keyA, keyB));
      await set.refresh(); // joins the load in flight
      expect(loader.calls).to.equal(2);
      expect(await set.getKey(keyB.x5t)).to.equal(keyB);
    });

    it('answers keyNow only while the keys are current, not due for a refresh and not loading, and never loads', async () => {
      const loader = fakeLoader(metadataOf(keyA, expired));
      const set = remote(loader);
      expect(set.keyNow(keyA.x5t), 'nothing loaded yet').to.equal(undefined);
      expect(loader.calls).to.equal(0);
      await set.getKey(keyA.x5t);
      const loadedAt = now;
      expect(set.keyNow(keyA.x5t)).to.equal(keyA);
      expect(set.keyNow(keyB.x5t), 'unknown id').to.equal(undefined);
      expect(set.keyNow(expired.x5t), 'expired certificate').to.equal(undefined);
      const pending = deferred<ParsedMetadata>();
      loader.next = () => pending.promise;
      const refreshed = set.refresh();
      expect(set.keyNow(keyA.x5t), 'a load in flight').to.equal(undefined);
      pending.resolve(metadataOf(keyA));
      await refreshed;
      expect(set.keyNow(keyA.x5t)).to.equal(keyA);
      now = set.loadedAt! + KEY_REFRESH_INTERVAL_MS;
      expect(set.keyNow(keyA.x5t), 'due for a refresh').to.equal(undefined);
      now = loadedAt + KEY_MAX_STALENESS_MS + 1;
      expect(set.keyNow(keyA.x5t), 'past the staleness bound').to.equal(undefined);
      expect(loader.calls).to.equal(2);
    });

    it('runs the background timer after the first successful load and stops it on close()', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const second = deferred<void>();
      loader.next = () => {
        if (loader.calls === 2) second.resolve();
        return Promise.resolve(metadataOf(keyA, keyB));
      };
      const set = remote(loader, { refreshIntervalMs: 20 });
      await set.getKey(keyA.x5t);
      await second.promise; // the timer fired and loaded again
      set.close();
      const calls = loader.calls;
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(loader.calls).to.equal(calls);
      expect(await set.getKey(keyB.x5t)).to.equal(keyB);
    });

    it('does not start the timer when closed before the first load completes', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const set = remote(loader, { refreshIntervalMs: 10 });
      set.close();
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(loader.calls).to.equal(1);
    });

    it('serves the last good keys while loading fails, until the maximum staleness, then fails closed with 503', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const set = remote(loader);
      await set.getKey(keyA.x5t);
      const loadedAt = now;
      const outage = Object.assign(new Error('connect ECONNREFUSED 203.0.113.9:443 and a secret'), { code: 'network' });
      loader.next = () => Promise.reject(outage);

      now = loadedAt + HOUR;
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
      now = loadedAt + 12 * HOUR;
      expect(await set.getKey('unknown')).to.equal(undefined);
      await set.refresh();
      expect(set.lastError).to.equal(outage);
      now = loadedAt + KEY_MAX_STALENESS_MS;
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);

      now = loadedAt + KEY_MAX_STALENESS_MS + 1;
      const error = await rejection(set.getKey(keyA.x5t));
      expect(error).to.be.instanceOf(KeysUnavailableError);
      const unavailable = error as KeysUnavailableError;
      expect(unavailable.status).to.equal(503);
      expect(unavailable.code).to.equal('keys_unavailable');
      expect(unavailable.retryAfter).to.be.within(1, UNKNOWN_KEY_COOLDOWN_MS / SECOND);
      expect(unavailable.reason).to.contain('network');
      expect(unavailable.reason).to.not.contain('secret');
      expect(unavailable.message).to.not.contain('secret');
      expect(set.metadata?.keys).to.deep.equal([keyA]);
    });

    it('recovers when loading works again', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const set = remote(loader);
      await set.getKey(keyA.x5t);
      loader.next = () => Promise.reject(new Error('down'));
      now += KEY_MAX_STALENESS_MS + 1;
      await rejection(set.getKey(keyA.x5t));
      const failedLoads = loader.calls;
      // Within the cooldown the failure is answered without another load.
      await rejection(set.getKey(keyA.x5t));
      expect(loader.calls).to.equal(failedLoads);

      loader.next = () => Promise.resolve(metadataOf(keyA, keyB));
      now += UNKNOWN_KEY_COOLDOWN_MS;
      expect(await set.getKey(keyB.x5t)).to.equal(keyB);
      expect(loader.calls).to.equal(failedLoads + 1);
      expect(set.lastError).to.equal(undefined);
      expect(set.version).to.equal(2);
    });

    it('fails closed with 503 when the keys have never been loaded, and retries after the cooldown', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      loader.next = () => Promise.reject(new TypeError('parse failed'));
      const set = remote(loader);
      const results = await Promise.allSettled(Array.from({ length: 100 }, () => set.getKey(keyA.x5t)));
      expect(results.every((r) => r.status === 'rejected' && r.reason instanceof KeysUnavailableError)).to.equal(true);
      expect(loader.calls).to.equal(1);
      const first = results[0] as PromiseRejectedResult;
      expect((first.reason as KeysUnavailableError).reason).to.contain('never loaded');
      expect((first.reason as KeysUnavailableError).reason).to.contain('TypeError');

      now += UNKNOWN_KEY_COOLDOWN_MS - 1;
      await rejection(set.getKey(keyA.x5t));
      expect(loader.calls).to.equal(1);
      now += 1;
      loader.next = () => Promise.resolve(metadataOf(keyA));
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
      expect(loader.calls).to.equal(2);
    });

    it('treats a loader that throws synchronously or resolves to something else as a failed load', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      loader.next = () => {
        throw new Error('synchronous');
      };
      const set = remote(loader);
      expect(await rejection(set.getKey(keyA.x5t))).to.be.instanceOf(KeysUnavailableError);
      expect((set.lastError as Error).message).to.equal('synchronous');

      for (const bogus of [undefined, null, 'metadata', { keys: 'none' }]) {
        loader.next = () => Promise.resolve(bogus as unknown as ParsedMetadata);
        now += UNKNOWN_KEY_COOLDOWN_MS;
        expect(await rejection(set.getKey(keyA.x5t))).to.be.instanceOf(KeysUnavailableError);
        expect(set.lastError).to.be.instanceOf(TypeError);
      }
      // A thrown non-Error is described by its type, never by its content.
      loader.next = () => Promise.reject('a string with a secret');
      now += UNKNOWN_KEY_COOLDOWN_MS;
      const error = (await rejection(set.getKey(keyA.x5t))) as KeysUnavailableError;
      expect(error.reason).to.contain('string');
      expect(error.reason).to.not.contain('secret');
    });

    it('answers undefined for a listed key whose certificate is not valid now, without refetching', async () => {
      const notYet = { ...keyB, notBefore: now + HOUR };
      const loader = fakeLoader(metadataOf(keyA, expired, notYet));
      const set = remote(loader);
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
      now += UNKNOWN_KEY_COOLDOWN_MS;
      expect(await set.getKey(expired.x5t)).to.equal(undefined);
      expect(await set.getKey(notYet.x5t)).to.equal(undefined);
      expect(loader.calls).to.equal(1);
      now += HOUR;
      expect(await set.getKey(notYet.x5t)).to.equal(notYet);
    });

    it('answers undefined for a key that the refetch brings back expired', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const set = remote(loader);
      await set.getKey(keyA.x5t);
      loader.next = () => Promise.resolve(metadataOf(keyA, expired));
      now += UNKNOWN_KEY_COOLDOWN_MS;
      expect(await set.getKey(expired.x5t)).to.equal(undefined);
      expect(loader.calls).to.equal(2);
    });

    it('keeps loading when the clock is stepped backwards', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const set = remote(loader);
      await set.getKey(keyA.x5t);
      now -= HOUR;
      await set.getKey('unknown');
      expect(loader.calls).to.equal(2);
    });

    const badOptions: readonly (readonly [string, KeySetOptions])[] = [
      ['refreshIntervalMs', { refreshIntervalMs: 0 }],
      ['unknownKeyCooldownMs', { unknownKeyCooldownMs: -1 }],
      ['maxStalenessMs', { maxStalenessMs: Number.NaN }],
      ['maxStalenessMs', { maxStalenessMs: '1' as unknown as number }],
      ['clock', { clock: 42 as unknown as () => number }],
    ];
    for (const [name, options] of badOptions) {
      it(`throws a TypeError naming ${name} when it is invalid`, () => {
        expect(() => new RemoteKeySet(fakeLoader(metadataOf(keyA)), options)).to.throw(TypeError, name);
      });
    }

    it('starts from lastGood keys younger than the refresh interval without loading', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const set = remote(loader, { lastGood: { metadata: metadataOf(keyA, keyB), loadedAt: now - 10 * 60 * SECOND } });
      expect(set.keyNow(keyB.x5t)).to.equal(keyB);
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
      expect(loader.calls).to.equal(0);
    });

    it('starts from lastGood keys: answers them at once, refreshes them in the background once due, and ages them from their loadedAt', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      const failing = deferred<ParsedMetadata>();
      loader.next = () => failing.promise;
      const fetchedAt = now - 23 * HOUR;
      const set = remote(loader, { lastGood: { metadata: metadataOf(keyA), loadedAt: fetchedAt } });
      expect(set.loadedAt).to.equal(fetchedAt);
      expect(set.version).to.equal(1);
      expect(set.keyNow(keyA.x5t), 'due for a refresh: only getKey answers').to.equal(undefined);
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
      expect(loader.calls, 'background refresh').to.equal(1);
      failing.reject(new Error('down'));
      await set.refresh().catch(() => undefined);
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
      now = fetchedAt + KEY_MAX_STALENESS_MS + 1;
      await rejection(set.getKey(keyA.x5t)).then((error) => expect(error).to.be.instanceOf(KeysUnavailableError));
    });

    it('counts a lastGood loadedAt in the future as now', async () => {
      const loader = fakeLoader(metadataOf(keyA));
      loader.next = () => Promise.reject(new Error('down'));
      const set = remote(loader, { lastGood: { metadata: metadataOf(keyA), loadedAt: now + 10 * KEY_MAX_STALENESS_MS } });
      expect(set.loadedAt).to.equal(now);
      now += KEY_MAX_STALENESS_MS + 1;
      await rejection(set.getKey(keyA.x5t)).then((error) => expect(error).to.be.instanceOf(KeysUnavailableError));
    });

    it('throws a TypeError naming lastGood when it is not metadata with a time', () => {
      for (const lastGood of [{ metadata: {}, loadedAt: now }, { metadata: metadataOf(keyA), loadedAt: Number.NaN }, { metadata: metadataOf(keyA) }]) {
        expect(() => new RemoteKeySet(fakeLoader(metadataOf(keyA)), { lastGood } as unknown as RemoteKeySetOptions)).to.throw(TypeError, 'lastGood');
      }
    });

    it('throws a TypeError when load is not a function', () => {
      expect(() => new RemoteKeySet(undefined as unknown as () => Promise<ParsedMetadata>)).to.throw(TypeError, 'load');
    });

    it('uses the system clock by default', async () => {
      const set = new RemoteKeySet(fakeLoader(metadataOf(keyA)));
      sets.push(set);
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
      expect(set.loadedAt).to.be.a('number');
    });
  });

  describe('StaticKeySet', () => {
    it('finds a registered certificate by x5t and nothing else', async () => {
      const set = new StaticKeySet([keyA, keyB, keyA], { clock });
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
      expect(await set.getKey(keyB.x5t)).to.equal(keyB);
      expect(await set.getKey(keyC.x5t)).to.equal(undefined);
      expect(await set.getKey('__proto__')).to.equal(undefined);
      expect(set.version).to.equal(1);
      set.close();
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
    });

    it('stops answering a certificate once it has expired', async () => {
      const set = new StaticKeySet([keyA, expired], { clock });
      expect(await set.getKey(expired.x5t)).to.equal(undefined);
      expect(await set.getKey(keyA.x5t)).to.equal(keyA);
      now = keyA.notAfter + 1;
      expect(await set.getKey(keyA.x5t)).to.equal(undefined);
    });

    it('answers keyNow as getKey does', () => {
      const set = new StaticKeySet([keyA, expired], { clock });
      expect(set.keyNow(keyA.x5t)).to.equal(keyA);
      expect(set.keyNow(expired.x5t)).to.equal(undefined);
      expect(set.keyNow(keyB.x5t)).to.equal(undefined);
      now = keyA.notAfter + 1;
      expect(set.keyNow(keyA.x5t)).to.equal(undefined);
    });

    it('uses the system clock by default', async () => {
      expect(await new StaticKeySet([keyA]).getKey(keyA.x5t)).to.equal(keyA);
    });

    it('throws a TypeError for no keys or a bad clock', () => {
      expect(() => new StaticKeySet([])).to.throw(TypeError, 'keys');
      expect(() => new StaticKeySet(undefined as unknown as SigningKey[])).to.throw(TypeError, 'keys');
      expect(() => new StaticKeySet([keyA], { clock: 'now' as unknown as () => number })).to.throw(TypeError, 'clock');
    });
  });
});
