import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { x5t, x5tS256 } from '../src/thumbprint.js';

const fixtureUrl = new URL('./fixtures/metadata-exchange.json', import.meta.url);
const exchange = JSON.parse(readFileSync(fixtureUrl, 'utf8')) as { keys: [{ keyvalue: { value: string } }] };
const DER = Buffer.from(exchange.keys[0].keyvalue.value, 'base64');

/**
 * `openssl x509 -noout -fingerprint -sha1` and `-sha256` of the Exchange fixture certificate,
 * recorded when the fixture was generated.
 */
const OPENSSL_SHA1 = '28:9E:01:86:B9:97:AA:CB:E4:2A:0F:F0:70:CB:34:40:C1:58:F8:D3';
const OPENSSL_SHA256 = '74:8C:66:AF:47:EF:1C:9F:C0:0C:25:FB:24:6C:25:D9:2B:C8:1F:75:E7:45:39:03:16:8B:31:36:AF:46:25:BE';

/** OpenSSL's `AA:BB:…` fingerprint as the base64url JOSE uses. */
const fromOpensslHex = (fingerprint: string): string => Buffer.from(fingerprint.replace(/:/g, ''), 'hex').toString('base64url');

function openssl(digest: 'sha1' | 'sha256'): string | undefined {
  const pem = new X509Certificate(DER).toString();
  try {
    const out = execFileSync('openssl', ['x509', '-noout', '-fingerprint', `-${digest}`], { input: pem, encoding: 'utf8' });
    return /Fingerprint=([0-9A-F:]+)/i.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

describe('thumbprint', () => {
  it('computes x5t as base64url of the SHA-1 fingerprint OpenSSL reports', () => {
    expect(x5t(DER)).to.equal(fromOpensslHex(OPENSSL_SHA1));
    expect(x5t(DER)).to.equal('KJ4BhrmXqsvkKg_wcMs0QMFY-NM');
  });

  it('computes x5t#S256 as base64url of the SHA-256 fingerprint OpenSSL reports', () => {
    expect(x5tS256(DER)).to.equal(fromOpensslHex(OPENSSL_SHA256));
  });

  it('agrees with node:crypto fingerprints of the same certificate', () => {
    const certificate = new X509Certificate(DER);
    expect(x5t(certificate.raw)).to.equal(fromOpensslHex(certificate.fingerprint));
    expect(x5tS256(certificate.raw)).to.equal(fromOpensslHex(certificate.fingerprint256));
  });

  const sha1 = openssl('sha1');
  const sha256 = openssl('sha256');
  (sha1 === undefined || sha256 === undefined ? it.skip : it)('agrees with the openssl command line when it is installed', () => {
    expect(x5t(DER)).to.equal(fromOpensslHex(sha1 ?? ''));
    expect(x5tS256(DER)).to.equal(fromOpensslHex(sha256 ?? ''));
  });

  it('produces unpadded base64url of 27 and 43 characters', () => {
    expect(x5t(DER)).to.match(/^[A-Za-z0-9_-]{27}$/);
    expect(x5tS256(DER)).to.match(/^[A-Za-z0-9_-]{43}$/);
  });

  it('hashes only the bytes of a view', () => {
    const padded = Buffer.concat([Buffer.from([1, 2, 3]), DER, Buffer.from([4])]);
    expect(x5t(padded.subarray(3, 3 + DER.length))).to.equal(x5t(DER));
    expect(x5tS256(new Uint8Array(padded.buffer, padded.byteOffset + 3, DER.length))).to.equal(x5tS256(DER));
  });

  it('matches the SHA-1 and SHA-256 test vectors of FIPS 180 for "abc"', () => {
    const abc = Buffer.from('abc');
    expect(x5t(abc)).to.equal(fromOpensslHex('a9993e364706816aba3e25717850c26c9cd0d89d'));
    expect(x5tS256(abc)).to.equal(fromOpensslHex('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'));
  });
});
