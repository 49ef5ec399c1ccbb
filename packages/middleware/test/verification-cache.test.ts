import { expect } from 'chai';
import { describe, it } from 'mocha';
import { createHash } from 'node:crypto';
import type { S2SPrincipal } from '../src/principal.js';
import { DEFAULT_CACHE_ENTRIES, VerificationCache, type CachedVerification } from '../src/verification-cache.js';

function entry(expiresAt: number, partner = 'microsoft.lync'): CachedVerification {
  const principal: S2SPrincipal = {
    partner,
    applicationId: '00000004-0000-0ff1-ce00-000000000000',
    realm: 'contoso.com',
    issuer: '00000004-0000-0ff1-ce00-000000000000@contoso.com',
    audience: '00000002-0000-0ff1-ce00-000000000000/mail.contoso.com@contoso.com',
    scopes: [],
    trust: 'metadata',
    expiresAt,
  };
  return { principal, registryRevision: 1, partnerUpdatedAt: 1, keySetVersion: 1, keyId: 'x5t', keyThumbprint: 'x5t#S256' };
}

describe('VerificationCache', () => {
  it('keys entries by the base64url SHA-256 of the token, never the token text', () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln';
    const key = VerificationCache.keyOf(token);
    expect(key).to.equal(createHash('sha256').update(token).digest('base64url'));
    expect(key).to.not.contain('eyJ');
    expect(VerificationCache.keyOf(`${token}A`)).to.not.equal(key);
  });

  it('keys any string by the SHA-256 of its UTF-8 bytes, as createHash did (non-ASCII, lone surrogates, empty, long)', () => {
    for (const text of ['', 'caf\u00e9.\u4e2d\u6587', 'a\ud800b', '\udc00', 'x'.repeat(20_000)]) {
      expect(VerificationCache.keyOf(text), JSON.stringify(text.slice(0, 20))).to.equal(createHash('sha256').update(text, 'utf8').digest('base64url'));
    }
  });

  it('returns an entry until its token expires, then drops it', () => {
    const cache = new VerificationCache();
    const stored = entry(10_000);
    cache.set('k', stored);
    expect(cache.get('k', 9_999)).to.equal(stored);
    expect(cache.size).to.equal(1);
    expect(cache.get('k', 10_000)).to.equal(undefined);
    expect(cache.size).to.equal(0);
    expect(cache.get('k', 0)).to.equal(undefined);
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const cache = new VerificationCache({ maxEntries: 2 });
    cache.set('a', entry(10_000, 'a'));
    cache.set('b', entry(10_000, 'b'));
    cache.get('a', 0);
    cache.set('c', entry(10_000, 'c'));
    expect(cache.size).to.equal(2);
    expect(cache.get('b', 0)).to.equal(undefined);
    expect(cache.get('a', 0)?.principal.partner).to.equal('a');
    expect(cache.get('c', 0)?.principal.partner).to.equal('c');
  });

  it('deletes one entry or all of them', () => {
    const cache = new VerificationCache();
    cache.set('a', entry(10_000));
    cache.set('b', entry(10_000));
    cache.delete('a');
    expect(cache.get('a', 0)).to.equal(undefined);
    expect(cache.size).to.equal(1);
    cache.clear();
    expect(cache.size).to.equal(0);
  });

  it('holds 10000 entries by default', () => {
    expect(DEFAULT_CACHE_ENTRIES).to.equal(10_000);
    const cache = new VerificationCache();
    for (let i = 0; i <= DEFAULT_CACHE_ENTRIES; i++) cache.set(String(i), entry(10_000));
    expect(cache.size).to.equal(DEFAULT_CACHE_ENTRIES);
  });

  for (const maxEntries of [0, -1, 1.5, Number.NaN]) {
    it(`throws a TypeError for maxEntries ${maxEntries}`, () => {
      expect(() => new VerificationCache({ maxEntries })).to.throw(TypeError, 'maxEntries');
    });
  }
});
