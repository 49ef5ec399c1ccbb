import { expect } from 'chai';
import { generateKeyPairSync, sign } from 'node:crypto';
import { signingKeyFromCertificate, type SigningKey } from '@s2sauth/protocol';
import { MemoryStore } from '@s2sauth/store';
import { ClientAssertionError } from '@s2sauth/issuer';
import {
  clientCertificateKeys,
  parseClientAssertion,
  verifyClientAssertion,
  verifyParsedClientAssertion,
  verifyRs256,
  type ClientAssertionOptions,
} from '../src/sts/client-assertion.js';
import { assertion, assertionClaims, assertionHeader, createTestClient, EXCHANGE_ID, rawAssertion, REALM, STS_ID, type TestClient } from './sts-support.js';

describe('verifyClientAssertion', () => {
  let client: TestClient;
  let key: SigningKey;
  let now: number;
  let replay: MemoryStore;

  before(async () => {
    client = await createTestClient();
  });

  beforeEach(() => {
    now = Date.now();
    key = signingKeyFromCertificate(client.certificate.certificate, now);
    replay = new MemoryStore({ clock: () => now });
  });

  const options = (): ClientAssertionOptions => ({ clientId: EXCHANGE_ID, audience: STS_ID, keys: [key], replay, now });
  const seconds = (): number => Math.floor(now / 1000);

  async function code(token: string, overrides: Partial<ClientAssertionOptions> = {}): Promise<string | undefined> {
    try {
      await verifyClientAssertion(token, { ...options(), ...overrides });
      return undefined;
    } catch (error) {
      expect(error).to.be.instanceOf(ClientAssertionError);
      return (error as ClientAssertionError).code;
    }
  }

  const raw = (payload: string, header = assertionHeader(client)): string => rawAssertion(header, payload, client.key);

  it('accepts a well-formed assertion once, returning its jti, key and expiry', async () => {
    const token = assertion(client, EXCHANGE_ID, seconds(), { jti: 'unique-1', nbf: seconds() });
    const verified = await verifyClientAssertion(token, options());
    expect(verified).to.deep.equal({ jti: 'unique-1', key, expiresAt: (seconds() + 300) * 1000 });
    expect(await code(token)).to.equal('assertion_replayed');
  });

  it('accepts an x5t#S256 header naming the same certificate, and a kid alone', async () => {
    expect(await code(raw(JSON.stringify(assertionClaims(EXCHANGE_ID, seconds())), assertionHeader(client, `,"x5t#S256":"${key.x5tS256}"`)))).to.equal(undefined);
    const kidOnly = `{"typ":"client-authentication+jwt","alg":"RS256","kid":"${client.x5t}"}`;
    expect(await code(raw(JSON.stringify(assertionClaims(EXCHANGE_ID, seconds())), kidOnly))).to.equal(undefined);
  });

  const cases: readonly (readonly [string, (n: number) => string, string])[] = [
    ['malformed text', () => 'not.a.jws', 'assertion_malformed'],
    ['an x5t#S256 naming another certificate', (n) => raw(JSON.stringify(assertionClaims(EXCHANGE_ID, n)), assertionHeader(client, ',"x5t#S256":"AAAA"')), 'assertion_key_unknown'],
    ['no iss', (n) => raw(JSON.stringify(assertionClaims(EXCHANGE_ID, n, { iss: undefined }))), 'assertion_claim_missing'],
    ['an iss that is a number', (n) => raw(JSON.stringify(assertionClaims(EXCHANGE_ID, n, { iss: 5 }))), 'assertion_claim_type'],
    ['no aud', (n) => raw(JSON.stringify(assertionClaims(EXCHANGE_ID, n, { aud: undefined }))), 'assertion_claim_missing'],
    ['no exp', (n) => raw(JSON.stringify(assertionClaims(EXCHANGE_ID, n, { exp: undefined }))), 'assertion_claim_missing'],
    ['a negative iat', (n) => raw(JSON.stringify(assertionClaims(EXCHANGE_ID, n, { iat: -1 }))), 'assertion_claim_type'],
    ['an 11-digit exp', (n) => raw(`{"iss":"${EXCHANGE_ID}","sub":"${EXCHANGE_ID}","aud":"${STS_ID}","jti":"j","iat":${n},"exp":10000000000}`), 'assertion_claim_type'],
    ['exp before iat', (n) => raw(JSON.stringify(assertionClaims(EXCHANGE_ID, n, { exp: n - 1 }))), 'assertion_claim_type'],
    ['exp at nbf', (n) => raw(JSON.stringify(assertionClaims(EXCHANGE_ID, n, { nbf: n + 300 }))), 'assertion_claim_type'],
    ['an nbf far in the future', (n) => raw(JSON.stringify(assertionClaims(EXCHANGE_ID, n + 290, { nbf: n + 301, exp: n + 500 }))), 'assertion_not_yet_valid'],
    ['an empty jti', (n) => raw(JSON.stringify(assertionClaims(EXCHANGE_ID, n, { jti: '' }))), 'assertion_claim_type'],
    ['a jti of 257 characters', (n) => raw(JSON.stringify(assertionClaims(EXCHANGE_ID, n, { jti: 'j'.repeat(257) }))), 'assertion_claim_type'],
    ['a sub of another client', (n) => raw(JSON.stringify(assertionClaims(EXCHANGE_ID, n, { sub: `x@${REALM}` }))), 'assertion_subject'],
    ['an expired exp', (n) => raw(JSON.stringify(assertionClaims(EXCHANGE_ID, n - 300))), 'assertion_expired'],
  ];
  for (const [name, build, expected] of cases) {
    it(`refuses an assertion with ${name} (${expected})`, async () => {
      expect(await code(build(seconds()))).to.equal(expected);
    });
  }

  it('accepts an iat up to 300 s ahead, as clock skew', async () => {
    expect(await code(assertion(client, EXCHANGE_ID, seconds() + 300))).to.equal(undefined);
    expect(await code(assertion(client, EXCHANGE_ID, seconds() + 301))).to.equal('assertion_issued_in_future');
  });

  it('refuses every assertion when the client has no keys', async () => {
    expect(await code(assertion(client, EXCHANGE_ID, seconds()), { keys: [] })).to.equal('assertion_key_unknown');
  });

  it('passes on errors that are not about the token', async () => {
    const error: unknown = await verifyClientAssertion(42 as never, options()).then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(TypeError);
  });

  it('reads the syntax, typ and key id without any key, and verifies the parsed assertion later', async () => {
    const parsed = parseClientAssertion(assertion(client, EXCHANGE_ID, seconds(), { jti: 'parsed-1' }));
    expect(parsed.keyId).to.equal(client.x5t);
    expect(() => parseClientAssertion('a.b.c')).to.throw(ClientAssertionError).with.property('code', 'assertion_malformed');
    const jwtTyp = raw(JSON.stringify(assertionClaims(EXCHANGE_ID, seconds())), assertionHeader(client).replace('client-authentication+jwt', 'JWT'));
    expect(() => parseClientAssertion(jwtTyp)).to.throw(ClientAssertionError).with.property('code', 'assertion_typ');
    expect((await verifyParsedClientAssertion(parsed, options())).jti).to.equal('parsed-1');
  });

  it('checks the signature against the stand-in key when the key id is unknown, and still refuses', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    let used = 0;
    const standInKey = new Proxy(publicKey, {
      get(target, name) {
        if (name === 'asymmetricKeyType') used += 1;
        const value = Reflect.get(target, name, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    expect(await code(assertion(client, EXCHANGE_ID, seconds()), { keys: [], standInKey })).to.equal('assertion_key_unknown');
    expect(used).to.equal(1);
    const otherSha = raw(JSON.stringify(assertionClaims(EXCHANGE_ID, seconds())), assertionHeader(client, ',"x5t#S256":"AAAA"'));
    expect(await code(otherSha, { standInKey })).to.equal('assertion_key_unknown');
    expect(used).to.equal(2);
  });
});

describe('verifyRs256', () => {
  it('refuses a key that is not RSA, and a signature that is not bytes of the right size', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(await verifyRs256('a.b', Buffer.alloc(64), publicKey)).to.equal(false);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    expect(await verifyRs256('a.b', Buffer.alloc(3), rsa)).to.equal(false);
  });

  it('answers true for a valid signature and false for a changed signing input, without throwing for a bad signature argument', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const signature = sign('sha256', Buffer.from('a.b'), privateKey);
    expect(await verifyRs256('a.b', signature, publicKey)).to.equal(true);
    expect(await verifyRs256('a.c', signature, publicKey)).to.equal(false);
    expect(await verifyRs256('a.b', 'not a buffer' as unknown as Buffer, publicKey)).to.equal(false);
  });
});

describe('clientCertificateKeys', () => {
  it('keeps the readable, valid certificates and drops the others', async () => {
    const client = await createTestClient();
    const now = Date.now();
    const record = { certificates: [client.pem, 'garbage', client.certificate.der.toString('base64')] } as never;
    expect(clientCertificateKeys(record, now).map((key) => key.x5t)).to.deep.equal([client.x5t, client.x5t]);
    expect(clientCertificateKeys(record, now + 400 * 86_400_000)).to.deep.equal([]);
  });

  it('remembers a certificate it read, but checks its validity against now on every call', async () => {
    const client = await createTestClient();
    const key = signingKeyFromCertificate(client.pem, Date.now());
    const record = { certificates: [client.pem, 'garbage'] } as never;
    // First read while the certificate is not yet valid: nothing, and nothing remembered for it.
    expect(clientCertificateKeys(record, key.notBefore - 1)).to.deep.equal([]);
    const first = clientCertificateKeys(record, key.notBefore);
    expect(first.map((k) => k.x5t)).to.deep.equal([client.x5t]);
    // Remembered: the same (frozen) key again, with the same thumbprints as a fresh read.
    const again = clientCertificateKeys(record, key.notAfter);
    expect(again[0]).to.equal(first[0]);
    expect(Object.isFrozen(again[0])).to.equal(true);
    expect(again[0]?.x5tS256).to.equal(key.x5tS256);
    // ... but never outside the validity period, bounds inclusive, nor at a time that is not one.
    expect(clientCertificateKeys(record, key.notBefore - 1)).to.deep.equal([]);
    expect(clientCertificateKeys(record, key.notAfter + 1)).to.deep.equal([]);
    expect(clientCertificateKeys(record, Number.NaN)).to.deep.equal([]);
    expect(clientCertificateKeys(record, 9e15)).to.deep.equal([]);
    // A record without the certificate has no key from it (the text is the cache key, not the client).
    expect(clientCertificateKeys({ certificates: ['garbage'] } as never, key.notBefore)).to.deep.equal([]);
  });
});
