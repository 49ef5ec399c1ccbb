import { expect } from 'chai';
import { DEFAULT_RENEW_BEFORE_SECONDS, normalizeScopes, TokenCache, tokenCacheKey, type TokenCacheOptions } from '../src/partners/token-cache.js';
import type { IssuedToken } from '../src/identity/token-issuer.js';

const SECOND = 1000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2031, 5, 1);
const AUDIENCE = '00000002-0000-0ff1-ce00-000000000000/mail.contoso.com@contoso.com';

describe('TokenCache', () => {
  let now: number;
  const clock = (): number => now;
  let minted: number;

  /** A token valid from now for `lifetimeMs`, numbered so tests can tell tokens apart. */
  function mint(lifetimeMs = HOUR): () => IssuedToken {
    return () => {
      minted += 1;
      return { token: `token-${minted}`, jti: `jti-${minted}`, notBefore: now, expiresAt: now + lifetimeMs };
    };
  }

  function cache(extra: TokenCacheOptions = {}): TokenCache {
    return new TokenCache({ clock, ...extra });
  }

  beforeEach(() => {
    now = T0;
    minted = 0;
  });

  describe('tokenCacheKey', () => {
    it('ignores the order and repetition of scopes', () => {
      expect(tokenCacheKey(AUDIENCE, undefined, ['b', 'a', 'b'])).to.equal(tokenCacheKey(AUDIENCE, undefined, ['a', 'b']));
      expect(normalizeScopes(['b', 'a', 'b'])).to.deep.equal(['a', 'b']);
    });

    it('tells absent scopes from an empty scope list', () => {
      expect(tokenCacheKey(AUDIENCE, undefined, undefined)).not.to.equal(tokenCacheKey(AUDIENCE, undefined, []));
    });

    it('tells users apart by every identity claim, and app-only from any user', () => {
      const alice = { nameid: 'alice@contoso.com' };
      const keys = [
        tokenCacheKey(AUDIENCE, undefined, undefined),
        tokenCacheKey(AUDIENCE, alice, undefined),
        tokenCacheKey(AUDIENCE, { nameid: 'bob@contoso.com' }, undefined),
        tokenCacheKey(AUDIENCE, { ...alice, smtp: 'alice@contoso.com' }, undefined),
        tokenCacheKey(AUDIENCE, { ...alice, sip: 'alice@contoso.com' }, undefined),
        tokenCacheKey(AUDIENCE, { ...alice, upn: 'alice@contoso.com' }, undefined),
        tokenCacheKey(AUDIENCE, { ...alice, nii: 'urn:federation:microsoftonline' }, undefined),
        tokenCacheKey(AUDIENCE.replace('mail.', 'mail2.'), alice, undefined),
      ];
      expect(new Set(keys).size).to.equal(keys.length);
    });

    it('treats the default nii and an absent nii as the same user', () => {
      expect(tokenCacheKey(AUDIENCE, { nameid: 'alice', nii: 'urn:office:idp:activedirectory' }, undefined)).to.equal(
        tokenCacheKey(AUDIENCE, { nameid: 'alice' }, undefined),
      );
    });

    it('cannot be confused by separators inside values', () => {
      expect(tokenCacheKey('a","b', undefined, undefined)).not.to.equal(tokenCacheKey('a', undefined, ['b']));
      expect(tokenCacheKey(AUDIENCE, { nameid: 'a', smtp: 'b' }, undefined)).not.to.equal(tokenCacheKey(AUDIENCE, { nameid: 'a,b' }, undefined));
    });
  });

  it('mints once and hands out the same token until the renewal margin', async () => {
    const tokens = cache();
    const first = await tokens.get('k', mint());
    expect(first).to.deep.include({ fresh: true });
    expect(first.token.token).to.equal('token-1');
    now = T0 + HOUR - DEFAULT_RENEW_BEFORE_SECONDS * SECOND - 1;
    const again = await tokens.get('k', mint());
    expect(again.fresh).to.equal(false);
    expect(again.token.token).to.equal('token-1');
    expect(minted).to.equal(1);
  });

  it('renews a token once it is within the renewal margin of its expiry', async () => {
    const tokens = cache();
    await tokens.get('k', mint());
    now = T0 + HOUR - DEFAULT_RENEW_BEFORE_SECONDS * SECOND;
    const renewed = await tokens.get('k', mint());
    expect(renewed.fresh).to.equal(true);
    expect(renewed.token.token).to.equal('token-2');
    expect(tokens.size).to.equal(1);
  });

  it('uses at most half the lifetime as the renewal margin', async () => {
    const tokens = cache({ renewBeforeSeconds: 3600 });
    await tokens.get('k', mint(120 * SECOND));
    now = T0 + 59 * SECOND;
    expect((await tokens.get('k', mint(120 * SECOND))).token.token).to.equal('token-1');
    now = T0 + 60 * SECOND;
    expect((await tokens.get('k', mint(120 * SECOND))).token.token).to.equal('token-2');
  });

  it('with a margin of zero, keeps a token until its expiry', async () => {
    const tokens = cache({ renewBeforeSeconds: 0 });
    await tokens.get('k', mint());
    now = T0 + HOUR - 1;
    expect((await tokens.get('k', mint())).token.token).to.equal('token-1');
    now = T0 + HOUR;
    expect((await tokens.get('k', mint())).token.token).to.equal('token-2');
  });

  it('shares one mint between concurrent requests for a key', async () => {
    const tokens = cache();
    let release: (token: IssuedToken) => void = () => undefined;
    let calls = 0;
    const slow = (): Promise<IssuedToken> => {
      calls += 1;
      return new Promise((resolve) => {
        release = resolve;
      });
    };
    const waiting = [tokens.get('k', slow), tokens.get('k', slow), tokens.get('k', slow)];
    release({ token: 't', jti: 'j', notBefore: now, expiresAt: now + HOUR });
    const results = await Promise.all(waiting);
    expect(calls).to.equal(1);
    expect(results.map((r) => [r.token.token, r.fresh])).to.deep.equal([
      ['t', true],
      ['t', true],
      ['t', true],
    ]);
    expect((await tokens.get('k', slow)).fresh).to.equal(false);
  });

  it('forgets a mint that threw, so the next request mints again', async () => {
    const tokens = cache();
    const failing = (): IssuedToken => {
      throw new TypeError('no certificate can sign now');
    };
    let caught: unknown;
    await tokens.get('k', failing).catch((error: unknown) => (caught = error));
    expect(caught).to.be.instanceOf(TypeError);
    expect(tokens.size).to.equal(0);
    expect((await tokens.get('k', mint())).token.token).to.equal('token-1');
  });

  it('forgets a mint that rejected', async () => {
    const tokens = cache();
    const rejected = tokens.get('k', () => Promise.reject(new Error('STS down')));
    const waiter = tokens.get('k', mint());
    for (const pending of [rejected, waiter]) {
      let caught: unknown;
      await pending.catch((error: unknown) => (caught = error));
      expect((caught as Error).message).to.equal('STS down');
    }
    expect(tokens.size).to.equal(0);
  });

  it('does not let a failed renewal remove the token that replaced it', async () => {
    const tokens = cache();
    let fail: (error: Error) => void = () => undefined;
    const failing = tokens.get('k', () => new Promise<IssuedToken>((_resolve, reject) => (fail = reject)));
    tokens.delete('k');
    await tokens.get('k', mint());
    fail(new Error('late failure'));
    await failing.catch(() => undefined);
    expect((await tokens.get('k', mint())).token.token).to.equal('token-1');
  });

  it('deletes a token only when it is the one held', async () => {
    const tokens = cache();
    await tokens.get('k', mint());
    expect(tokens.delete('k', 'token-other')).to.equal(false);
    expect(tokens.delete('absent')).to.equal(false);
    expect(tokens.delete('k', 'token-1')).to.equal(true);
    expect(tokens.size).to.equal(0);
  });

  it('keeps at most maxEntries tokens, dropping the least recently used', async () => {
    const tokens = cache({ maxEntries: 2 });
    await tokens.get('a', mint());
    await tokens.get('b', mint());
    await tokens.get('a', mint());
    await tokens.get('c', mint());
    expect(tokens.size).to.equal(2);
    expect((await tokens.get('a', mint())).token.token).to.equal('token-1');
    expect((await tokens.get('b', mint())).fresh).to.equal(true);
  });

  it('forgets everything on clear', async () => {
    const tokens = cache();
    await tokens.get('a', mint());
    tokens.clear();
    expect(tokens.size).to.equal(0);
  });

  it('uses the system clock and defaults when given no options', async () => {
    const tokens = new TokenCache();
    const issued = { token: 't', jti: 'j', notBefore: Date.now(), expiresAt: Date.now() + HOUR };
    await tokens.get('k', () => issued);
    expect((await tokens.get('k', () => issued)).fresh).to.equal(false);
  });

  const badOptions: [string, unknown, RegExp][] = [
    ['options that are not an object', null, /options must be an object/],
    ['a maxEntries of zero', { maxEntries: 0 }, /maxEntries/],
    ['a fractional maxEntries', { maxEntries: 1.5 }, /maxEntries/],
    ['a negative renewBeforeSeconds', { renewBeforeSeconds: -1 }, /renewBeforeSeconds/],
    ['an infinite renewBeforeSeconds', { renewBeforeSeconds: Infinity }, /renewBeforeSeconds/],
    ['a clock that is not a function', { clock: 5 }, /clock/],
  ];
  for (const [name, options, pattern] of badOptions) {
    it(`refuses ${name}`, () => {
      expect(() => new TokenCache(options as TokenCacheOptions)).to.throw(TypeError, pattern);
    });
  }
});
