import { expect } from 'chai';
import fc from 'fast-check';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  buildJwks,
  buildMetadataDocument,
  MAX_METADATA_BYTES,
  MAX_METADATA_KEYS,
  MetadataError,
  parseMetadataDocument,
  signingKeyFromCertificate,
  type MetadataErrorCode,
} from '../src/index.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

const EXCHANGE = '00000002-0000-0ff1-ce00-000000000000';
const SHAREPOINT = '00000003-0000-0ff1-ce00-000000000000';
const LYNC = '00000004-0000-0ff1-ce00-000000000000';

/** Every fixture certificate is valid from late 2026 for 20 years; tests run at a fixed time. */
const NOW = Date.parse('2030-01-01T00:00:00Z');

const EXCHANGE_JSON = fixture('metadata-exchange.json');
const SHAREPOINT_JSON = fixture('metadata-sharepoint.json');
const ACS_JSON = fixture('metadata-acs.json');

interface FixtureKey {
  keyinfo?: { x5t: string };
  keyvalue?: { value: string };
  keyValue?: { value: string };
}
const keysOf = (json: string): FixtureKey[] => (JSON.parse(json) as { keys: FixtureKey[] }).keys;
const valueOf = (key: FixtureKey | undefined): string => (key?.keyvalue ?? key?.keyValue)?.value ?? '';

/** Standard base64 DER of four distinct valid RSA 2048 certificates. */
const [CERT_A, CERT_B, CERT_C, CERT_D] = [
  valueOf(keysOf(EXCHANGE_JSON)[0]),
  valueOf(keysOf(SHAREPOINT_JSON)[0]),
  ...keysOf(ACS_JSON).map(valueOf),
] as [string, string, string, string, string];
const X5T_A = keysOf(EXCHANGE_JSON)[0]?.keyinfo?.x5t ?? '';
const certificate = (base64: string): X509Certificate => new X509Certificate(Buffer.from(base64, 'base64'));

const pemBody = (pem: string): string => pem.replace(/-----[A-Z ]+-----|\s/g, '');
const RSA1024 = fixture('certificate-rsa1024.pem');
const EC_P256 = fixture('certificate-ec-p256.pem');
const EXPIRED_2000 = fixture('certificate-expired-2000.pem');

/** The deliberate private key of refuse-private-key.json (PKCS#8 DER, standard base64). */
const PRIVATE_PKCS8 = valueOf(keysOf(fixture('refuse-private-key.json'))[0]);
const privateKey = createPrivateKey({ key: Buffer.from(PRIVATE_PKCS8, 'base64'), format: 'der', type: 'pkcs8' });

/** A key entry as raw JSON text, so tests control exactly what the parser sees. */
function entry(value: string, options: { usage?: string; type?: string; keyinfo?: string; extra?: string } = {}): string {
  const keyinfo = options.keyinfo === undefined ? '' : `"keyinfo":${options.keyinfo},`;
  return `{"usage":"${options.usage ?? 'signing'}",${keyinfo}"keyvalue":{"type":"${options.type ?? 'x509Certificate'}","value":"${value}"}${options.extra ?? ''}}`;
}
function document(keys: readonly string[], extra = ''): string {
  return `{"issuer":"${LYNC}@contoso.com"${extra},"keys":[${keys.join(',')}]}`;
}
const parse = (body: string | Uint8Array, now = NOW) => parseMetadataDocument(body, { now });

/** The code of the MetadataError `fn` throws; fails the test if it throws nothing or something else. */
function refusal(fn: () => unknown): MetadataErrorCode {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(MetadataError);
    expect((error as MetadataError).name).to.equal('MetadataError');
    return (error as MetadataError).code;
  }
  return expect.fail('expected a MetadataError') as never;
}

describe('metadata', () => {
  describe('buildMetadataDocument', () => {
    it('builds the Microsoft document of protocol.md section 4', () => {
      const doc = buildMetadataDocument({ principal: LYNC, realm: 'contoso.com', certificates: [certificate(CERT_A)] });
      expect(Object.keys(doc)).to.deep.equal([
        'id',
        'version',
        'name',
        'realm',
        'serviceName',
        'issuer',
        'allowedAudiences',
        'keys',
        'endpoints',
      ]);
      expect(doc).to.deep.include({
        version: '1.0',
        name: LYNC,
        realm: 'contoso.com',
        serviceName: LYNC,
        issuer: `${LYNC}@contoso.com`,
        allowedAudiences: [`${LYNC}@contoso.com`],
        keys: [{ usage: 'signing', keyinfo: { x5t: X5T_A }, keyvalue: { type: 'x509Certificate', value: CERT_A } }],
        endpoints: [],
      });
    });

    it('derives a stable id from the issuer id', () => {
      const build = (realm: string, certs: readonly string[]) =>
        buildMetadataDocument({ principal: LYNC, realm, certificates: certs.map(certificate) }).id;
      expect(build('contoso.com', [CERT_A])).to.equal(build('contoso.com', [CERT_B, CERT_C]));
      expect(build('contoso.com', [CERT_A])).to.not.equal(build('fabrikam.com', [CERT_A]));
      expect(build('contoso.com', [CERT_A])).to.match(/^_[0-9a-f]{32}$/);
    });

    it('lists the certificates in the given order with thumbprints computed from their DER', () => {
      const doc = buildMetadataDocument({
        principal: LYNC,
        realm: 'contoso.com',
        certificates: [CERT_C, CERT_A, CERT_B].map(certificate),
      });
      expect(doc.keys.map((k) => k.keyvalue.value)).to.deep.equal([CERT_C, CERT_A, CERT_B]);
      for (const key of doc.keys) {
        expect(key.keyinfo.x5t).to.equal(createHash('sha1').update(Buffer.from(key.keyvalue.value, 'base64')).digest('base64url'));
      }
    });

    it('uses the given name and copies only location, protocol and usage of endpoints', () => {
      const endpoint = { location: 'https://sts.contoso.com/token', protocol: 'OAuth2', usage: 'issuance', extra: 'x' };
      const doc = buildMetadataDocument({
        principal: LYNC,
        realm: 'contoso.com',
        name: 'Lync pool',
        certificates: [certificate(CERT_A)],
        endpoints: [endpoint],
      });
      expect(doc.name).to.equal('Lync pool');
      expect(doc.endpoints).to.deep.equal([{ location: 'https://sts.contoso.com/token', protocol: 'OAuth2', usage: 'issuance' }]);
    });

    it('round-trips through JSON and parseMetadataDocument', () => {
      const doc = buildMetadataDocument({
        principal: LYNC,
        realm: 'contoso.com',
        certificates: [certificate(CERT_A), certificate(CERT_B)],
        endpoints: [{ location: 'https://lync.contoso.com/metadata/json/1', protocol: 'OAuth2', usage: 'metadata' }],
      });
      const parsed = parse(JSON.stringify(doc));
      expect(parsed).to.deep.include({ issuer: `${LYNC}@contoso.com`, realm: 'contoso.com', serviceName: LYNC, name: LYNC });
      expect(parsed.keys.map((k) => k.x5t)).to.deep.equal(doc.keys.map((k) => k.keyinfo.x5t));
      expect(parsed.endpoints).to.deep.equal(doc.endpoints);
    });

    for (const [label, options, pattern] of [
      ['an uppercase principal', { principal: LYNC.toUpperCase(), realm: 'contoso.com' }, /options\.principal/],
      ['a realm with a trailing dot', { principal: LYNC, realm: 'contoso.com.' }, /options\.realm/],
      ['a non-string name', { principal: LYNC, realm: 'contoso.com', name: 7 }, /options\.name/],
      ['a certificate given as PEM text', { principal: LYNC, realm: 'contoso.com', certificates: [RSA1024] }, /certificates\[0\]/],
      ['certificates that are not an array', { principal: LYNC, realm: 'contoso.com', certificates: 'x' }, /certificates must be/],
      ['an endpoint without a usage', { principal: LYNC, realm: 'contoso.com', endpoints: [{ location: 'x', protocol: 'y' }] }, /endpoints\[0\]/],
      ['an endpoint that is null', { principal: LYNC, realm: 'contoso.com', endpoints: [null] }, /endpoints\[0\]/],
    ] as const) {
      it(`throws TypeError naming the option for ${label}`, () => {
        const build = () => buildMetadataDocument({ certificates: [certificate(CERT_A)], ...options } as never);
        expect(build).to.throw(TypeError, pattern);
      });
    }
  });

  describe('buildJwks', () => {
    it('builds public RSA JWKs with kid = x5t, x5t#S256 and x5c', () => {
      const cert = certificate(CERT_A);
      const { keys } = buildJwks([cert]);
      expect(keys).to.have.length(1);
      const jwk = keys[0]!;
      expect(Object.keys(jwk).sort()).to.deep.equal(['alg', 'e', 'kid', 'kty', 'n', 'use', 'x5c', 'x5t', 'x5t#S256']);
      expect(jwk).to.deep.include({ kty: 'RSA', use: 'sig', alg: 'RS256', kid: X5T_A, x5t: X5T_A, e: 'AQAB', x5c: [CERT_A] });
      expect(jwk['x5t#S256']).to.equal(createHash('sha256').update(cert.raw).digest('base64url'));
      expect(createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e }, format: 'jwk' }).equals(cert.publicKey)).to.equal(true);
    });

    it('keeps the order of the certificates', () => {
      const { keys } = buildJwks([CERT_D, CERT_B].map(certificate));
      expect(keys.map((k) => k.x5c[0])).to.deep.equal([CERT_D, CERT_B]);
    });

    it('throws TypeError for a certificate without an RSA key', () => {
      expect(() => buildJwks([new X509Certificate(EC_P256)])).to.throw(TypeError, /certificates\[0\].*RSA/);
    });

    it('throws TypeError for something that is not a certificate', () => {
      expect(() => buildJwks([CERT_A] as never)).to.throw(TypeError, /certificates\[0\]/);
    });
  });

  describe('parseMetadataDocument', () => {
    describe('real shapes', () => {
      it('loads the Exchange document', () => {
        const parsed = parse(EXCHANGE_JSON);
        expect(parsed).to.deep.include({
          issuer: `${EXCHANGE}@contoso.com`,
          realm: 'contoso.com',
          serviceName: EXCHANGE,
          name: 'Exchange',
          endpoints: [{ location: 'https://mail.contoso.com:443/autodiscover/metadata/json/1', protocol: 'OAuth2', usage: 'metadata' }],
        });
        expect(parsed.keys).to.have.length(1);
        const key = parsed.keys[0]!;
        expect(key.x5t).to.equal(X5T_A);
        expect(key.x5tS256).to.equal(createHash('sha256').update(Buffer.from(CERT_A, 'base64')).digest('base64url'));
        expect(key.certificate.raw.toString('base64')).to.equal(CERT_A);
        expect(key.publicKey.equals(key.certificate.publicKey)).to.equal(true);
        expect(key.notBefore).to.equal(Date.parse(key.certificate.validFrom));
        expect(key.notAfter).to.equal(Date.parse(key.certificate.validTo));
        expect(key.notBefore).to.be.below(NOW);
        expect(key.notAfter).to.be.above(NOW);
      });

      it('loads the SharePoint document (keyValue, Signing, x509certificate, escaped slashes)', () => {
        expect(SHAREPOINT_JSON).to.contain('\\/');
        const parsed = parse(SHAREPOINT_JSON);
        expect(parsed).to.deep.equal({
          issuer: `${SHAREPOINT}@af90cc03-4a26-45e9-906a-609cebcebbde`,
          name: SHAREPOINT,
          serviceName: SHAREPOINT,
          keys: parsed.keys,
          endpoints: [],
        });
        expect(parsed.keys.map((k) => k.certificate.raw.toString('base64'))).to.deep.equal([CERT_B]);
      });

      it('loads every key of the ACS document, in order, and its three endpoints', () => {
        const parsed = parse(ACS_JSON);
        expect(parsed).to.not.have.any.keys('issuer', 'realm', 'serviceName', 'name');
        expect(parsed.keys.map((k) => k.certificate.raw.toString('base64'))).to.deep.equal(keysOf(ACS_JSON).map(valueOf));
        expect(parsed.keys).to.have.length(3);
        expect(parsed.endpoints).to.deep.equal([
          { location: 'https://accounts.accesscontrol.windows.net/tokens/OAuth/2', protocol: 'OAuth2', usage: 'issuance' },
          { location: 'https://accounts.accesscontrol.windows.net/tokens/delegation/1', protocol: 'DelegationIssuance1.0', usage: 'issuance' },
          { location: 'https://accounts.accesscontrol.windows.net/mgmt/delegation/1', protocol: 'DelegationManagement1.0', usage: 'management' },
        ]);
      });

      it('accepts the document as bytes, with or without a UTF-8 byte order mark', () => {
        expect(parse(Buffer.from(EXCHANGE_JSON)).keys[0]?.x5t).to.equal(X5T_A);
        expect(parse(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(EXCHANGE_JSON)])).keys[0]?.x5t).to.equal(X5T_A);
        expect(parse(new Uint8Array(Buffer.from(EXCHANGE_JSON))).keys[0]?.x5t).to.equal(X5T_A);
        expect(parse(`\ufeff${EXCHANGE_JSON}`).keys[0]?.x5t).to.equal(X5T_A);
      });
    });

    describe('leniency in form', () => {
      it('matches member names and the values signing and x509Certificate in any ASCII case', () => {
        const body = `{"ISSUER":"${LYNC}@contoso.com","Realm":"contoso.com","Keys":[{"USAGE":"SiGnInG","KeyInfo":{"X5T":"${X5T_A}"},"KEYVALUE":{"Type":"X509CERTIFICATE","VALUE":"${CERT_A}"}}],"EndPoints":[{"Location":"https://x","PROTOCOL":"OAuth2","usage":"issuance"}]}`;
        const parsed = parse(body);
        expect(parsed.issuer).to.equal(`${LYNC}@contoso.com`);
        expect(parsed.realm).to.equal('contoso.com');
        expect(parsed.keys[0]?.x5t).to.equal(X5T_A);
        expect(parsed.endpoints).to.deep.equal([{ location: 'https://x', protocol: 'OAuth2', usage: 'issuance' }]);
      });

      it('does not fold non-ASCII letters: a Kelvin sign is not a k', () => {
        // "\u212Aeys" lower-cases to "keys" under Unicode rules; it must not be read as the keys member.
        expect(refusal(() => parse(`{"\u212Aeys":[${entry(CERT_A)}]}`))).to.equal('metadata_shape');
      });

      it('treats null members as absent', () => {
        const parsed = parse(`{"issuer":null,"realm":null,"name":null,"serviceName":null,"endpoints":null,"keys":[${entry(CERT_A, { keyinfo: 'null' })}]}`);
        expect(parsed).to.deep.equal({ keys: parsed.keys, endpoints: [] });
        expect(parsed.keys).to.have.length(1);
      });

      it('ignores keys whose usage is not signing, and entries without a usage', () => {
        const parsed = parse(document([entry(CERT_B, { usage: 'encryption' }), `{"keyvalue":{"type":"x509Certificate","value":"${CERT_C}"}}`, entry(CERT_A)]));
        expect(parsed.keys.map((k) => k.x5t)).to.deep.equal([X5T_A]);
      });

      it('does not check the content of non-signing keys', () => {
        expect(parse(document([entry('not base64!', { usage: 'encryption', type: 'whatever' }), entry(CERT_A)])).keys).to.have.length(1);
      });

      it('loads a certificate listed twice once', () => {
        expect(parse(document([entry(CERT_A), entry(CERT_B), entry(CERT_A)])).keys.map((k) => k.certificate.raw.toString('base64'))).to.deep.equal([
          CERT_A,
          CERT_B,
        ]);
      });

      it('accepts a published x5t#S256 that matches', () => {
        const s256 = createHash('sha256').update(Buffer.from(CERT_A, 'base64')).digest('base64url');
        expect(parse(document([entry(CERT_A, { keyinfo: `{"x5t":"${X5T_A}","x5t#S256":"${s256}"}` })])).keys).to.have.length(1);
      });

      it('ignores endpoints that are not objects with string location, protocol and usage', () => {
        const endpoints = `,"endpoints":[1,null,"x",{"location":"a","protocol":"b"},{"location":"a","protocol":"b","usage":3},{"location":"a","protocol":"b","usage":"c","extra":1}]`;
        expect(parse(document([entry(CERT_A)], endpoints)).endpoints).to.deep.equal([{ location: 'a', protocol: 'b', usage: 'c' }]);
      });

      it('treats a member named __proto__ as an ordinary member', () => {
        const parsed = parse(`{"__proto__":{"issuer":"evil"},"keys":[${entry(CERT_A)}]}`);
        expect(parsed.issuer).to.equal(undefined);
        expect(parsed.keys).to.have.length(1);
      });

      it('leaves out an expired certificate beside a valid one (an old previous certificate)', () => {
        const parsed = parse(document([entry(CERT_A), entry(pemBody(EXPIRED_2000))]));
        expect(parsed.keys.map((k) => k.x5t)).to.deep.equal([X5T_A]);
      });

      it('leaves out a certificate not valid yet beside a valid one (a staged next certificate)', () => {
        const notBefore = parse(EXCHANGE_JSON).keys[0]!.notBefore;
        const older = parse(document([entry(pemBody(EXPIRED_2000))]), Date.parse('2000-06-01T00:00:00Z'));
        expect(older.keys).to.have.length(1);
        const parsed = parse(document([entry(pemBody(EXPIRED_2000)), entry(CERT_A)]), Date.parse('2000-06-01T00:00:00Z'));
        expect(parsed.keys.map((k) => k.x5t)).to.deep.equal([older.keys[0]!.x5t]);
        expect(notBefore).to.be.above(Date.parse('2000-06-01T00:00:00Z'));
      });

      it('accepts a certificate valid exactly at its last instant and refuses it one millisecond later', () => {
        const notAfter = parse(EXCHANGE_JSON).keys[0]!.notAfter;
        expect(parse(EXCHANGE_JSON, notAfter).keys).to.have.length(1);
        expect(refusal(() => parse(EXCHANGE_JSON, notAfter + 1))).to.equal('metadata_certificate_expired');
      });
    });

    describe('refusals', () => {
      const der = (base64: string) => Buffer.from(base64, 'base64');
      const ecPrivate = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const cases: ReadonlyArray<readonly [string, MetadataErrorCode, string | Uint8Array]> = [
        // Size and syntax.
        ['a document over 256 KiB', 'metadata_too_large', document([entry(CERT_A)], `,"pad":"${'x'.repeat(262_144)}"`)],
        ['a document over 256 KiB as bytes', 'metadata_too_large', Buffer.alloc(262_145, 0x20)],
        ['a document over 256 KiB in UTF-8 though not in characters', 'metadata_too_large', document([entry(CERT_A)], `,"pad":"${'é'.repeat(131_000)}"`)],
        ['text that is not JSON', 'metadata_not_json', '<html>Sign in</html>'],
        ['an empty body', 'metadata_not_json', ''],
        ['a truncated document', 'metadata_not_json', EXCHANGE_JSON.slice(0, 200)],
        ['bytes that are not UTF-8', 'metadata_not_json', Buffer.concat([Buffer.from('{"keys":["'), Buffer.from([0xc3, 0x28]), Buffer.from('"]}')])],
        // Shape.
        ['a JSON array', 'metadata_shape', `[${EXCHANGE_JSON}]`],
        ['JSON null', 'metadata_shape', 'null'],
        ['a JSON string', 'metadata_shape', '"keys"'],
        ['a JSON number', 'metadata_shape', '1'],
        ['a document without keys', 'metadata_shape', `{"issuer":"${LYNC}@contoso.com"}`],
        ['keys that are an object', 'metadata_shape', `{"keys":{"0":${entry(CERT_A)}}}`],
        ['a member present in two casings', 'metadata_shape', `{"keys":[${entry(CERT_A)}],"Keys":[]}`],
        ['an issuer that is not a string', 'metadata_shape', document([entry(CERT_A)], ',"realm":["contoso.com"]')],
        ['endpoints that are not an array', 'metadata_shape', document([entry(CERT_A)], ',"endpoints":{}')],
        ['a key entry that is not an object', 'metadata_shape', document([entry(CERT_A), '"MIIC"'])],
        ['a usage that is not a string', 'metadata_shape', document([`{"usage":1,"keyvalue":{"type":"x509Certificate","value":"${CERT_A}"}}`])],
        ['a signing key without keyvalue', 'metadata_shape', document(['{"usage":"signing","keyinfo":{"x5t":"abc"}}'])],
        ['a keyvalue that is a string', 'metadata_shape', document([`{"usage":"signing","keyvalue":"${CERT_A}"}`])],
        ['an unknown key type', 'metadata_shape', document([entry(CERT_A, { type: 'RsaKeyValue' })])],
        ['a keyvalue without a type', 'metadata_shape', document([`{"usage":"signing","keyvalue":{"value":"${CERT_A}"}}`])],
        ['a value that is not a string', 'metadata_shape', document(['{"usage":"signing","keyvalue":{"type":"x509Certificate","value":["MIIC"]}}'])],
        ['a keyinfo that is not an object', 'metadata_shape', document([entry(CERT_A, { keyinfo: `"${X5T_A}"` })])],
        ['an x5t that is not a string', 'metadata_shape', document([entry(CERT_A, { keyinfo: '{"x5t":1}' })])],
        ['a key entry nested absurdly deep', 'metadata_shape', document([entry(CERT_A, { extra: `,"x":${'['.repeat(20)}${']'.repeat(20)}` })])],
        // Counts.
        ['an empty keys array', 'metadata_no_keys', '{"keys":[]}'],
        ['only non-signing keys', 'metadata_no_keys', document([entry(CERT_A, { usage: 'encryption' })])],
        ['21 keys', 'metadata_too_many_keys', document(Array.from({ length: 21 }, () => entry(CERT_A)))],
        ['21 entries of which one signs', 'metadata_too_many_keys', document([entry(CERT_A), ...Array.from({ length: 20 }, () => '{"usage":"encryption"}')])],
        // Private key material.
        ['the private-key fixture (PKCS#8 DER as the value)', 'metadata_private_key', fixture('refuse-private-key.json')],
        ['a PKCS#1 private key as the value', 'metadata_private_key', document([entry(privateKey.export({ type: 'pkcs1', format: 'der' }).toString('base64'))])],
        [
          'an encrypted PKCS#8 private key as the value',
          'metadata_private_key',
          document([entry(privateKey.export({ type: 'pkcs8', format: 'der', cipher: 'aes-256-cbc', passphrase: 'x' }).toString('base64'))]),
        ],
        ['an EC (SEC1) private key as the value', 'metadata_private_key', document([entry(ecPrivate.export({ type: 'sec1', format: 'der' }).toString('base64'))])],
        ['a PKCS#12 container as the value', 'metadata_private_key', document([entry(Buffer.from([0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03, 0x30, 0x00]).toString('base64'))])],
        ['a PKCS#12 container with a short length as the value', 'metadata_private_key', document([entry(Buffer.from([0x30, 0x05, 0x02, 0x01, 0x03, 0x30, 0x00]).toString('base64'))])],
        ['a PEM private key as the value', 'metadata_private_key', document([entry(JSON.stringify(privateKey.export({ type: 'pkcs8', format: 'pem' })).slice(1, -1))])],
        ['PEM private key text encoded as base64', 'metadata_private_key', document([entry(Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' })).toString('base64'))])],
        ['JWK private members beside a valid certificate', 'metadata_private_key', document([entry(CERT_A, { extra: ',"d":"AQAB","p":"AQAB","q":"AQAB"' })])],
        ['a privateKey member inside keyvalue', 'metadata_private_key', document([`{"usage":"signing","keyvalue":{"type":"x509Certificate","value":"${CERT_A}","PrivateKey":"x"}}`])],
        ['a pfx member in an encryption key', 'metadata_private_key', document([entry(CERT_A), '{"usage":"encryption","keyvalue":{"pfx":"MIIK"}}'])],
        ['a private key in a non-signing entry', 'metadata_private_key', document([entry(CERT_A), entry(PRIVATE_PKCS8.slice(0, 8), { usage: 'encryption', extra: ',"note":"-----BEGIN RSA PRIVATE KEY-----"' })])],
        ['a private member that also looks symmetric', 'metadata_private_key', document([`{"usage":"signing","k":"x","d":"y","keyvalue":{"type":"x509Certificate","value":"${CERT_A}"}}`])],
        // Symmetric keys.
        ['a key of type Symmetric', 'metadata_symmetric_key', document([entry(Buffer.alloc(32, 7).toString('base64'), { type: 'Symmetric' })])],
        ['a key of type BinarySecret', 'metadata_symmetric_key', document([entry(Buffer.alloc(32, 7).toString('base64'), { type: 'BinarySecret' })])],
        ['a JWK of kty oct', 'metadata_symmetric_key', document([entry(CERT_A), '{"usage":"signing","kty":"oct","k":"c2VjcmV0"}'])],
        ['a k member beside a certificate', 'metadata_symmetric_key', document([entry(CERT_A, { extra: ',"k":"c2VjcmV0"' })])],
        ['a secret given as an x509Certificate value', 'metadata_symmetric_key', document([entry(Buffer.alloc(32, 0xa5).toString('base64'))])],
        // Weak keys.
        ['a 1024-bit RSA certificate', 'metadata_weak_key', document([entry(pemBody(RSA1024))])],
        ['an EC certificate', 'metadata_weak_key', document([entry(CERT_A), entry(pemBody(EC_P256))])],
        // Certificates.
        ['a certificate that expired in 2001', 'metadata_certificate_expired', document([entry(pemBody(EXPIRED_2000))])],
        ['base64url instead of base64', 'metadata_certificate_invalid', document([entry(der(CERT_A).toString('base64url'))])],
        ['base64 without padding', 'metadata_certificate_invalid', document([entry(CERT_D.replace(/=+$/, ''))])],
        ['base64 with line breaks', 'metadata_certificate_invalid', document([entry(`${CERT_A.slice(0, 64)}\\n${CERT_A.slice(64)}`)])],
        ['base64 with non-zero padding bits', 'metadata_certificate_invalid', document([entry('MB==')])],
        ['an empty value', 'metadata_certificate_invalid', document([entry('')])],
        ['a lone SEQUENCE tag', 'metadata_certificate_invalid', document([entry('MA==')])],
        ['a certificate with bytes after it', 'metadata_certificate_invalid', document([entry(Buffer.concat([der(CERT_A), Buffer.from([0, 0, 0])]).toString('base64'))])],
        ['a public key instead of a certificate', 'metadata_certificate_invalid', document([entry(certificate(CERT_A).publicKey.export({ type: 'spki', format: 'der' }).toString('base64'))])],
        ['a truncated certificate', 'metadata_certificate_invalid', document([entry(der(CERT_A).subarray(0, 300).toString('base64'))])],
        ['PEM text encoded as base64', 'metadata_certificate_invalid', document([entry(Buffer.from(RSA1024).toString('base64'))])],
        // Thumbprints.
        ['a published x5t of another certificate', 'metadata_thumbprint_mismatch', document([entry(CERT_B, { keyinfo: `{"x5t":"${X5T_A}"}` })])],
        ['a published x5t in another case', 'metadata_thumbprint_mismatch', document([entry(CERT_A, { keyinfo: `{"x5t":"${X5T_A.toLowerCase()}"}` })])],
        ['a published x5t in hex', 'metadata_thumbprint_mismatch', document([entry(CERT_A, { keyinfo: `{"x5t":"${createHash('sha1').update(der(CERT_A)).digest('hex')}"}` })])],
        ['a published x5t#S256 that does not match', 'metadata_thumbprint_mismatch', document([entry(CERT_A, { keyinfo: `{"x5t#S256":"${X5T_A}"}` })])],
      ];
      for (const [label, code, body] of cases) {
        it(`refuses ${label} (${code})`, () => {
          expect(refusal(() => parse(body))).to.equal(code);
        });
      }

      it('refuses a certificate before it is valid', () => {
        expect(refusal(() => parse(EXCHANGE_JSON, Date.parse('2020-01-01T00:00:00Z')))).to.equal('metadata_certificate_expired');
      });

      it('refuses the whole document when one of several keys is weak', () => {
        expect(refusal(() => parse(document([entry(CERT_A), entry(CERT_B), entry(pemBody(RSA1024))])))).to.equal('metadata_weak_key');
      });

      it('refuses when every signing key is outside its validity', () => {
        expect(refusal(() => parse(document([entry(pemBody(EXPIRED_2000)), entry(pemBody(EXPIRED_2000))])))).to.equal(
          'metadata_certificate_expired',
        );
      });

      it('checks the published thumbprint of a certificate outside its validity too', () => {
        expect(refusal(() => parse(document([entry(CERT_A), entry(pemBody(EXPIRED_2000), { keyinfo: `{"x5t":"${X5T_A}"}` })])))).to.equal(
          'metadata_thumbprint_mismatch',
        );
      });

      it('applies the maxBytes and maxKeys options', () => {
        const body = document([entry(CERT_A), entry(CERT_B)]);
        expect(refusal(() => parseMetadataDocument(body, { now: NOW, maxBytes: body.length - 1 }))).to.equal('metadata_too_large');
        expect(parseMetadataDocument(body, { now: NOW, maxBytes: body.length }).keys).to.have.length(2);
        expect(refusal(() => parseMetadataDocument(body, { now: NOW, maxKeys: 1 }))).to.equal('metadata_too_many_keys');
        expect(parseMetadataDocument(body, { now: NOW, maxKeys: 2 }).keys).to.have.length(2);
      });

      it('defaults to the limits of protocol.md section 4: 256 KiB and 20 keys', () => {
        expect(MAX_METADATA_BYTES).to.equal(256 * 1024);
        expect(MAX_METADATA_KEYS).to.equal(20);
      });

      it('accepts exactly 20 keys by default', () => {
        const all = [CERT_A, CERT_B, CERT_C, CERT_D];
        expect(parse(document(Array.from({ length: 20 }, (_, i) => entry(all[i % 4]!)))).keys).to.have.length(4);
      });

      it('never puts key material in an error message', () => {
        for (const body of [fixture('refuse-private-key.json'), document([entry(CERT_A, { extra: ',"k":"c2VjcmV0"' })])]) {
          // The assertion that it is refused stays outside any catch, so it cannot be swallowed.
          let caught: unknown;
          try {
            parse(body);
          } catch (error) {
            caught = error;
          }
          expect(caught, 'not refused').to.be.instanceOf(MetadataError);
          const message = (caught as MetadataError).message;
          expect(message).to.not.contain(PRIVATE_PKCS8.slice(0, 40));
          expect(message).to.not.contain('c2VjcmV0');
          expect(message).to.not.contain(CERT_A.slice(0, 40));
        }
      });

      it('throws only MetadataError for any JSON value (property)', () => {
        fc.assert(
          fc.property(fc.jsonValue(), (value) => {
            const code = refusal(() => parse(JSON.stringify(value)));
            expect(code).to.be.a('string');
          }),
          { numRuns: 200 },
        );
      });

      it('throws TypeError for a time or limit that is not a number', () => {
        expect(() => parseMetadataDocument(EXCHANGE_JSON, { now: Number.NaN })).to.throw(TypeError, /options\.now/);
        expect(() => parseMetadataDocument(EXCHANGE_JSON, { now: 9e15 })).to.throw(TypeError, /options\.now/);
        expect(() => parseMetadataDocument(EXCHANGE_JSON, {} as never)).to.throw(TypeError, /options\.now/);
        expect(() => parseMetadataDocument(EXCHANGE_JSON, { now: NOW, maxBytes: 0 })).to.throw(TypeError, /options\.maxBytes/);
        expect(() => parseMetadataDocument(EXCHANGE_JSON, { now: NOW, maxKeys: 1.5 })).to.throw(TypeError, /options\.maxKeys/);
      });
    });
  });

  describe('signingKeyFromCertificate', () => {
    const pem = `-----BEGIN CERTIFICATE-----\n${CERT_A.match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`;

    it('loads an X509Certificate, PEM text and base64 DER alike', () => {
      for (const input of [certificate(CERT_A), pem, pem.replace(/\n/g, '\r\n'), `\n  ${pem}\n`, CERT_A]) {
        const key = signingKeyFromCertificate(input, NOW);
        expect(key.x5t).to.equal(X5T_A);
        expect(key.certificate.raw.toString('base64')).to.equal(CERT_A);
      }
    });

    for (const [label, code, input] of [
      ['PEM text with a private key after the certificate', 'metadata_private_key', `${pem}${privateKey.export({ type: 'pkcs8', format: 'pem' })}`],
      ['a PEM private key alone', 'metadata_private_key', privateKey.export({ type: 'pkcs1', format: 'pem' })],
      ['a private key as base64 DER', 'metadata_private_key', PRIVATE_PKCS8],
      ['two PEM certificates', 'metadata_certificate_invalid', `${pem}${pem}`],
      ['PEM text of a public key', 'metadata_certificate_invalid', certificate(CERT_A).publicKey.export({ type: 'spki', format: 'pem' })],
      ['PEM text with a broken body', 'metadata_certificate_invalid', pem.replace('MII', 'MI!')],
      ['text that is neither PEM nor base64', 'metadata_certificate_invalid', 'contoso.com'],
      ['a 1024-bit RSA certificate', 'metadata_weak_key', RSA1024],
      ['an EC certificate', 'metadata_weak_key', EC_P256],
      ['an expired certificate', 'metadata_certificate_expired', EXPIRED_2000],
    ] as const) {
      it(`refuses ${label} (${code})`, () => {
        expect(refusal(() => signingKeyFromCertificate(input as string, NOW))).to.equal(code);
      });
    }

    it('refuses an X509Certificate outside its validity', () => {
      expect(refusal(() => signingKeyFromCertificate(certificate(CERT_A), Date.parse('2060-01-01T00:00:00Z')))).to.equal(
        'metadata_certificate_expired',
      );
    });

    it('throws TypeError for input of the wrong type or a bad time', () => {
      expect(() => signingKeyFromCertificate(Buffer.from(CERT_A, 'base64') as never, NOW)).to.throw(TypeError, /certificate must be/);
      expect(() => signingKeyFromCertificate(CERT_A, Number.POSITIVE_INFINITY)).to.throw(TypeError, /now/);
    });
  });
});

describe('partner keys outside protocol.md section 2', () => {
  const rows: Array<[string, string]> = [
    ['an RSA public exponent other than 65537', 'certificate-rsa-exponent3.pem'],
    ['an RSA modulus above 4096 bits', 'certificate-rsa8192.pem'],
  ];
  for (const [what, file] of rows) {
    const certificate = new X509Certificate(fixture(file));
    it(`refuses a pinned certificate with ${what}`, () => {
      expect(() => signingKeyFromCertificate(certificate, NOW))
        .to.throw(MetadataError)
        .with.property('code', 'metadata_weak_key');
    });
    it(`refuses a metadata document whose certificate has ${what}`, () => {
      const document = JSON.stringify({
        keys: [{ usage: 'signing', keyvalue: { type: 'x509Certificate', value: certificate.raw.toString('base64') } }],
      });
      expect(() => parseMetadataDocument(document, { now: NOW }))
        .to.throw(MetadataError)
        .with.property('code', 'metadata_weak_key');
    });
  }
});
