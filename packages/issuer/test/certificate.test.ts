import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { KeyObject, sign, verify } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateError, OAuthCertificate } from '../src/identity/certificate.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2030, 5, 15, 12, 0, 0);

/** Runs openssl in `dir` and returns its standard output. */
function openssl(dir: string, ...args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** "AB:CD:..." (openssl -fingerprint) to base64url. */
function fingerprintToBase64url(output: string): string {
  const hex = output.trim().split('=')[1] ?? '';
  return Buffer.from(hex.replace(/:/g, ''), 'hex').toString('base64url');
}

/** Makes a self-signed certificate for `keyFile` with openssl. */
function opensslCertificate(dir: string, keyFile: string, certFile: string, san = 'DNS:contoso.com'): void {
  openssl(dir, 'req', '-x509', '-new', '-key', keyFile, '-out', certFile, '-subj', '/CN=contoso.com', '-days', '30', '-addext', `subjectAltName=${san}`);
}

function read(dir: string, file: string): string {
  return readFileSync(join(dir, file), 'utf8');
}

function expectCertificateError(action: () => unknown, code: string): CertificateError {
  try {
    action();
  } catch (error) {
    expect(error).to.be.instanceOf(CertificateError);
    expect(error).to.be.instanceOf(TypeError);
    expect((error as CertificateError).code).to.equal(code);
    expect((error as Error).message).not.to.match(/PRIVATE KEY|MII/);
    return error as CertificateError;
  }
  throw new Error(`expected a CertificateError ${code}`);
}

async function expectRejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

describe('OAuthCertificate', () => {
  let dir: string;
  let created: OAuthCertificate;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 's2sauth-certificate-'));
    created = await OAuthCertificate.create({ realms: ['contoso.com', 'fabrikam.com', 'litware.com'], clock: () => NOW });
    writeFileSync(join(dir, 'created.pem'), created.pem);

    openssl(dir, 'genrsa', '-traditional', '-out', 'pkcs1.key', '2048');
    openssl(dir, 'pkcs8', '-topk8', '-nocrypt', '-in', 'pkcs1.key', '-out', 'pkcs8.key');
    opensslCertificate(dir, 'pkcs1.key', 'rsa.pem');
    openssl(dir, 'genrsa', '-out', 'small.key', '1024');
    opensslCertificate(dir, 'small.key', 'small.pem');
    openssl(dir, 'genrsa', '-3', '-out', 'e3.key', '2048');
    opensslCertificate(dir, 'e3.key', 'e3.pem');
    openssl(dir, 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ec.key');
    opensslCertificate(dir, 'ec.key', 'ec.pem');
    openssl(dir, 'genrsa', '-aes128', '-passout', 'pass:secret', '-out', 'encrypted.key', '2048');
    openssl(dir, 'genpkey', '-algorithm', 'RSA-PSS', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'pss.key');
    opensslCertificate(dir, 'pss.key', 'pss.pem');
    opensslCertificate(dir, 'pkcs1.key', 'other-cn.pem', 'DNS:other.contoso.com');
    openssl(dir, 'req', '-x509', '-new', '-key', 'pkcs1.key', '-out', 'no-san.pem', '-subj', '/CN=contoso.com', '-days', '30');
    openssl(dir, 'req', '-x509', '-new', '-key', 'pkcs1.key', '-out', 'no-cn.pem', '-subj', '/O=Contoso', '-days', '30', '-addext', 'subjectAltName=DNS:contoso.com');
    writeFileSync(
      join(dir, 'san.cnf'),
      [
        '[req]',
        'distinguished_name = dn',
        '[dn]',
        '[ext]',
        'subjectAltName = @alt',
        '[alt]',
        'DNS.1 = Contoso.COM',
        'URI.1 = https://x.example/a, DNS:evil.example',
        'DNS.2 = fabrikam.com',
        'email.1 = admin@contoso.com',
        'IP.1 = 10.0.0.1',
        '',
      ].join('\n'),
    );
    openssl(dir, 'req', '-x509', '-new', '-key', 'pkcs1.key', '-out', 'odd-san.pem', '-subj', '/CN=contoso.com', '-days', '30', '-config', 'san.cnf', '-extensions', 'ext');
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('create', () => {
    it('computes x5t and x5t#S256 exactly as openssl fingerprints the certificate', () => {
      const sha1 = openssl(dir, 'x509', '-in', 'created.pem', '-noout', '-fingerprint', '-sha1');
      const sha256 = openssl(dir, 'x509', '-in', 'created.pem', '-noout', '-fingerprint', '-sha256');
      expect(created.x5t).to.equal(fingerprintToBase64url(sha1));
      expect(created.x5tS256).to.equal(fingerprintToBase64url(sha256));
    });

    it('lists every realm, the primary included, as a DNS Subject Alternative Name', () => {
      const san = openssl(dir, 'x509', '-in', 'created.pem', '-noout', '-ext', 'subjectAltName');
      expect(san).to.contain('DNS:contoso.com, DNS:fabrikam.com, DNS:litware.com');
      expect(created.realms).to.deep.equal(['contoso.com', 'fabrikam.com', 'litware.com']);
    });

    it('names the primary realm as the subject CN', () => {
      expect(openssl(dir, 'x509', '-in', 'created.pem', '-noout', '-subject').trim()).to.equal('subject=CN = contoso.com');
      expect(created.subjectName).to.equal('contoso.com');
    });

    it('makes a 2048-bit RSA key with exponent 65537, signed with SHA-256, for signatures only', () => {
      const text = openssl(dir, 'x509', '-in', 'created.pem', '-noout', '-text');
      expect(text).to.contain('Version: 3 (0x2)');
      expect(text).to.contain('Public-Key: (2048 bit)');
      expect(text).to.contain('Exponent: 65537 (0x10001)');
      expect(text).to.contain('Signature Algorithm: sha256WithRSAEncryption');
      expect(text).to.match(/Basic Constraints: critical\s+CA:FALSE/);
      expect(text).to.match(/Key Usage: critical\s+Digital Signature\n/);
      expect(text).to.contain('Subject Key Identifier');
      expect(created.keySize).to.equal(2048);
    });

    it('signs the certificate itself correctly', () => {
      expect(openssl(dir, 'verify', '-attime', String(NOW / 1000), '-CAfile', 'created.pem', 'created.pem').trim()).to.equal('created.pem: OK');
    });

    it('gives the certificate a random positive serial number', () => {
      const serial = openssl(dir, 'x509', '-in', 'created.pem', '-noout', '-serial').trim().split('=')[1] ?? '';
      expect(serial).to.match(/^[4-7][0-9A-F]{31}$/);
    });

    it('backdates the default validity by five minutes and lasts 365 days', () => {
      expect(created.notBefore).to.equal(NOW - 5 * 60_000);
      expect(created.notAfter).to.equal(NOW + 365 * DAY);
      const dates = openssl(dir, 'x509', '-in', 'created.pem', '-noout', '-startdate', '-enddate');
      expect(dates).to.contain('notBefore=Jun 15 11:55:00 2030 GMT');
      expect(dates).to.contain('notAfter=Jun 15 12:00:00 2031 GMT');
    });

    it('keeps the private key as a KeyObject that signs what the certificate verifies', () => {
      expect(created.privateKey).to.be.instanceOf(KeyObject);
      expect(created.privateKey.type).to.equal('private');
      const signature = sign('sha256', Buffer.from('payload'), created.privateKey);
      expect(verify('sha256', Buffer.from('payload'), created.certificate.publicKey, signature)).to.equal(true);
      expect(verify('sha256', Buffer.from('payload'), created.publicKey, signature)).to.equal(true);
    });

    it('exposes the DER and PEM of the same certificate', () => {
      expect(created.der.equals(created.certificate.raw)).to.equal(true);
      expect(created.pem).to.match(/^-----BEGIN CERTIFICATE-----\n/);
    });

    it('uses an explicit notBefore as given, and GeneralizedTime from 2050 on', async () => {
      const certificate = await OAuthCertificate.create({
        realms: ['contoso.com'],
        keySize: 2056,
        notBefore: new Date('2049-12-31T00:00:00.500Z'),
        validityDays: 2,
      });
      expect(certificate.keySize).to.equal(2056);
      expect(certificate.notBefore).to.equal(Date.UTC(2049, 11, 31));
      expect(certificate.notAfter).to.equal(Date.UTC(2050, 0, 2));
      writeFileSync(join(dir, 'late.pem'), certificate.pem);
      const dates = openssl(dir, 'x509', '-in', 'late.pem', '-noout', '-startdate', '-enddate');
      expect(dates).to.contain('notBefore=Dec 31 00:00:00 2049 GMT');
      expect(dates).to.contain('notAfter=Jan  2 00:00:00 2050 GMT');
    });

    const badOptions: [string, Record<string, unknown>, RegExp][] = [
      ['a key smaller than 2048 bits', { realms: ['contoso.com'], keySize: 1024 }, /keySize/],
      ['a key larger than 4096 bits', { realms: ['contoso.com'], keySize: 4104 }, /keySize/],
      ['a key size that is not a multiple of 8', { realms: ['contoso.com'], keySize: 2050 }, /keySize/],
      ['a fractional key size', { realms: ['contoso.com'], keySize: 2048.5 }, /keySize/],
      ['no realms', { realms: [] }, /realms/],
      ['realms that are not an array', { realms: 'contoso.com' }, /realms/],
      ['a realm in capitals', { realms: ['Contoso.com'] }, /"Contoso.com" is not a realm/],
      ['a realm that is not a string', { realms: [42] }, /42 is not a realm/],
      ['a realm listed twice', { realms: ['contoso.com', 'contoso.com'] }, /listed twice/],
      ['zero validity days', { realms: ['contoso.com'], validityDays: 0 }, /validityDays/],
      ['a validity that is not a number', { realms: ['contoso.com'], validityDays: '30' }, /validityDays/],
      ['more than 100 years of validity', { realms: ['contoso.com'], validityDays: 36_501 }, /validityDays/],
      ['an invalid notBefore date', { realms: ['contoso.com'], notBefore: new Date('nope') }, /notBefore/],
      ['a notBefore that is not a Date', { realms: ['contoso.com'], notBefore: '2030-01-01' }, /notBefore/],
      ['a validity before 1970', { realms: ['contoso.com'], notBefore: new Date('1960-01-01') }, /1970/],
      ['a validity past year 9999', { realms: ['contoso.com'], notBefore: new Date('9990-01-01'), validityDays: 36_500 }, /9999/],
      [
        'a misspelt option name',
        { realms: ['contoso.com'], validDays: 30 },
        /^OAuthCertificate\.create: unknown option "validDays"; the options are realms, keySize, validityDays, notBefore, clock\.$/,
      ],
    ];
    for (const [name, options, message] of badOptions) {
      it(`refuses ${name} with a TypeError`, async () => {
        const error = await expectRejection(OAuthCertificate.create(options as never));
        expect(error).to.be.instanceOf(TypeError);
        expect(error).not.to.be.instanceOf(CertificateError);
        expect((error as Error).message).to.match(message);
      });
    }
  });

  describe('fromPem', () => {
    it('loads a certificate with a PKCS#1 private key', () => {
      const certificate = OAuthCertificate.fromPem(read(dir, 'rsa.pem'), read(dir, 'pkcs1.key'));
      expect(read(dir, 'pkcs1.key')).to.contain('BEGIN RSA PRIVATE KEY');
      expect(certificate.keySize).to.equal(2048);
      expect(certificate.realms).to.deep.equal(['contoso.com']);
      expect(certificate.privateKey).to.be.instanceOf(KeyObject);
    });

    it('loads the same certificate with the key in PKCS#8', () => {
      expect(read(dir, 'pkcs8.key')).to.contain('BEGIN PRIVATE KEY');
      const pkcs1 = OAuthCertificate.fromPem(read(dir, 'rsa.pem'), read(dir, 'pkcs1.key'));
      const pkcs8 = OAuthCertificate.fromPem(read(dir, 'rsa.pem'), read(dir, 'pkcs8.key'));
      expect(pkcs8.x5t).to.equal(pkcs1.x5t);
      expect(pkcs8.x5t).to.equal(fingerprintToBase64url(openssl(dir, 'x509', '-in', 'rsa.pem', '-noout', '-fingerprint', '-sha1')));
    });

    it('refuses a key that belongs to another certificate', () => {
      const error = expectCertificateError(() => OAuthCertificate.fromPem(created.pem, read(dir, 'pkcs8.key')), 'certificate_key_mismatch');
      expect(error.message).to.equal('The private key does not belong to the OAuth certificate (their public keys differ).');
    });

    it('refuses a 1024-bit RSA key', () => {
      const error = expectCertificateError(() => OAuthCertificate.fromPem(read(dir, 'small.pem'), read(dir, 'small.key')), 'certificate_key_size');
      expect(error.message).to.contain('1024-bit');
    });

    it('refuses an RSA key with public exponent 3', () => {
      const error = expectCertificateError(() => OAuthCertificate.fromPem(read(dir, 'e3.pem'), read(dir, 'e3.key')), 'certificate_exponent');
      expect(error.message).to.contain('exponent is 3;');
    });

    it('refuses an EC key', () => {
      const error = expectCertificateError(() => OAuthCertificate.fromPem(read(dir, 'ec.pem'), read(dir, 'ec.key')), 'certificate_not_rsa');
      expect(error.message).to.equal("The OAuth certificate's key type is EC; protocol.md section 2 requires RSA.");
    });

    it('refuses an RSA-PSS key', () => {
      expectCertificateError(() => OAuthCertificate.fromPem(read(dir, 'pss.pem'), read(dir, 'pss.key')), 'certificate_not_rsa');
    });

    it('refuses an EC key offered for an RSA certificate', () => {
      expectCertificateError(() => OAuthCertificate.fromPem(read(dir, 'rsa.pem'), read(dir, 'ec.key')), 'certificate_key_mismatch');
    });

    it('refuses an encrypted private key without quoting it', () => {
      expectCertificateError(() => OAuthCertificate.fromPem(read(dir, 'rsa.pem'), read(dir, 'encrypted.key')), 'certificate_key_unreadable');
    });

    it('refuses a certificate where the private key should be', () => {
      expectCertificateError(() => OAuthCertificate.fromPem(read(dir, 'rsa.pem'), read(dir, 'rsa.pem')), 'certificate_key_unreadable');
    });

    it('refuses text that is not a certificate', () => {
      expectCertificateError(() => OAuthCertificate.fromPem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', read(dir, 'pkcs8.key')), 'certificate_unreadable');
    });

    it('reads only the DNS names of the Subject Alternative Names, in lowercase', () => {
      const certificate = OAuthCertificate.fromPem(read(dir, 'odd-san.pem'), read(dir, 'pkcs1.key'));
      expect(certificate.realms).to.deep.equal(['contoso.com', 'fabrikam.com']);
    });

    it('does not take a DNS name hidden inside another name that contains a comma', () => {
      const certificate = OAuthCertificate.fromPem(read(dir, 'odd-san.pem'), read(dir, 'pkcs1.key'));
      expect(certificate.certificate.subjectAltName).to.contain('evil.example');
      expect(certificate.realms).not.to.include('evil.example');
    });
  });

  describe('validate', () => {
    it('accepts a certificate valid now that covers every realm given', () => {
      expect(() => created.validate({ realms: ['contoso.com', 'litware.com'], now: NOW })).not.to.throw();
    });

    it('refuses an unknown option name rather than checking against a default', () => {
      expect(() => created.validate({ realm: ['adatum.com'], now: NOW } as never)).to.throw(
        TypeError,
        'OAuthCertificate.validate: unknown option "realm"; the options are realms, now.',
      );
    });

    it('checks against the system time by default', () => {
      const loaded = OAuthCertificate.fromPem(read(dir, 'rsa.pem'), read(dir, 'pkcs1.key'));
      expect(() => loaded.validate()).not.to.throw();
      expectCertificateError(() => created.validate(), Date.now() < created.notBefore ? 'certificate_not_yet_valid' : 'certificate_expired');
    });

    it('refuses an expired certificate and says when it expired', async () => {
      const expired = await OAuthCertificate.create({ realms: ['contoso.com'], notBefore: new Date('2025-01-01T00:00:00Z'), validityDays: 365 });
      const error = expectCertificateError(() => expired.validate({ now: Date.UTC(2026, 0, 1, 0, 0, 1) }), 'certificate_expired');
      expect(error.message).to.equal(`The OAuth certificate ${expired.x5t} expired on 2026-01-01T00:00:00.000Z.`);
      expect(() => expired.validate({ now: Date.UTC(2026, 0, 1) })).not.to.throw();
    });

    it('refuses a certificate that is not valid yet', () => {
      const error = expectCertificateError(() => created.validate({ now: NOW - DAY }), 'certificate_not_yet_valid');
      expect(error.message).to.equal(`The OAuth certificate ${created.x5t} is not valid before 2030-06-15T11:55:00.000Z.`);
    });

    it('refuses a certificate that does not cover a realm and names the realm', () => {
      const error = expectCertificateError(() => created.validate({ realms: ['contoso.com', 'adatum.com'], now: NOW }), 'certificate_realm_missing');
      expect(error.message).to.equal(
        'The OAuth certificate does not cover the realm "adatum.com": its DNS Subject Alternative Names are contoso.com, fabrikam.com, litware.com.',
      );
    });

    it('refuses a certificate whose subject CN is not among its Subject Alternative Names', () => {
      const certificate = OAuthCertificate.fromPem(read(dir, 'other-cn.pem'), read(dir, 'pkcs1.key'));
      const error = expectCertificateError(() => certificate.validate({ now: certificate.notBefore }), 'certificate_subject');
      expect(error.message).to.contain('subject CN "contoso.com" is not among its DNS Subject Alternative Names (other.contoso.com)');
    });

    it('refuses a certificate without Subject Alternative Names', () => {
      const certificate = OAuthCertificate.fromPem(read(dir, 'no-san.pem'), read(dir, 'pkcs1.key'));
      expect(certificate.realms).to.deep.equal([]);
      const error = expectCertificateError(() => certificate.validate({ now: certificate.notBefore }), 'certificate_subject');
      expect(error.message).to.contain('DNS Subject Alternative Names (none)');
    });

    it('refuses a certificate without a subject CN', () => {
      const certificate = OAuthCertificate.fromPem(read(dir, 'no-cn.pem'), read(dir, 'pkcs1.key'));
      expect(certificate.subjectName).to.equal(undefined);
      expectCertificateError(() => certificate.validate({ now: certificate.notBefore }), 'certificate_subject');
    });
  });

  describe('isValidAt', () => {
    it('includes both ends of the validity period', () => {
      expect(created.isValidAt(created.notBefore)).to.equal(true);
      expect(created.isValidAt(created.notAfter)).to.equal(true);
      expect(created.isValidAt(created.notBefore - 1)).to.equal(false);
      expect(created.isValidAt(created.notAfter + 1)).to.equal(false);
    });
  });

  describe('save and load', () => {
    it('writes the key readable by its owner only and reads both back', async () => {
      const certificatePath = join(dir, 'saved.pem');
      const keyPath = join(dir, 'saved.key');
      await created.save(certificatePath, keyPath);
      expect(statSync(keyPath).mode & 0o777).to.equal(0o600);
      expect(readFileSync(keyPath, 'utf8')).to.match(/^-----BEGIN PRIVATE KEY-----\n/);
      const loaded = await OAuthCertificate.load(certificatePath, keyPath);
      expect(loaded.x5tS256).to.equal(created.x5tS256);
      expect(loaded.privateKey.export({ type: 'pkcs8', format: 'der' }).equals(created.privateKey.export({ type: 'pkcs8', format: 'der' }))).to.equal(true);
    });

    it('replaces a world-readable key file with one only its owner can read', async () => {
      const keyPath = join(dir, 'replaced.key');
      writeFileSync(keyPath, 'old');
      chmodSync(keyPath, 0o644);
      await created.save(join(dir, 'replaced.pem'), keyPath);
      expect(statSync(keyPath).mode & 0o777).to.equal(0o600);
      expect(readFileSync(keyPath, 'utf8')).to.contain('BEGIN PRIVATE KEY');
    });

    it('leaves no temporary file behind when the target cannot be replaced', async () => {
      const target = join(dir, 'busy');
      mkdirSync(join(target, 'key'), { recursive: true });
      const before = readdirSync(target);
      const error = await expectRejection(created.save(join(target, 'cert.pem'), join(target, 'key')));
      expect((error as NodeJS.ErrnoException).code).to.be.a('string');
      expect(readdirSync(target)).to.deep.equal(before);
    });

    it('names the file it cannot read', async () => {
      const missing = join(dir, 'missing.pem');
      const error = await expectRejection(OAuthCertificate.load(missing, join(dir, 'pkcs8.key')));
      expect(error).to.be.instanceOf(CertificateError);
      expect((error as CertificateError).code).to.equal('certificate_file_unreadable');
      expect((error as Error).message).to.equal(`Could not read the OAuth certificate file ${missing} (ENOENT).`);
    });

    it('runs the structural checks when loading', async () => {
      const error = await expectRejection(OAuthCertificate.load(join(dir, 'small.pem'), join(dir, 'small.key')));
      expect((error as CertificateError).code).to.equal('certificate_key_size');
    });
  });
});
