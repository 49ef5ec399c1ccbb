/**
 * The OAuth certificate of protocol.md section 2: the X.509 certificate and RSA key a server signs
 * its tokens with (Lync's "OAuthTokenIssuer" certificate, as Lync Server 2013's `Set-CsCertificate` names it).
 *
 * New certificates are built with `@peculiar/x509` over Web Crypto; everything else (reading,
 * checking, thumbprints) uses node:crypto's `X509Certificate`. `@peculiar/x509` resolves its
 * services through tsyringe, which needs the `reflect-metadata` polyfill loaded first.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isRealm, optionNames, refuseUnknownOptions, systemClock, x5t, x5tS256 } from '@s2sauth/protocol';
import type { Clock } from '@s2sauth/protocol';

/** Stable codes of {@link CertificateError}. */
export type CertificateErrorCode =
  /** The certificate PEM could not be parsed. */
  | 'certificate_unreadable'
  /** The private key PEM could not be parsed (encrypted, not a private key, malformed). */
  | 'certificate_key_unreadable'
  /** A certificate or key file could not be read. */
  | 'certificate_file_unreadable'
  /** The private key does not belong to the certificate. */
  | 'certificate_key_mismatch'
  /** The certificate's key is not an RSA key. */
  | 'certificate_not_rsa'
  /** The RSA key is smaller than 2048 or larger than 4096 bits. */
  | 'certificate_key_size'
  /** The RSA public exponent is not 65537. */
  | 'certificate_exponent'
  /** The certificate's validity ended before the time in question. */
  | 'certificate_expired'
  /** The certificate's validity starts after the time in question. */
  | 'certificate_not_yet_valid'
  /** A realm the server signs for is not among the certificate's DNS Subject Alternative Names. */
  | 'certificate_realm_missing'
  /** The subject has no CN, or the CN is not among the DNS Subject Alternative Names. */
  | 'certificate_subject'
  /** Rollover staged with less than 24 hours left on the current certificate, without `force`. */
  | 'certificate_rollover_too_late'
  /** Rollover effective only after the current certificate expires: nothing could sign in between. */
  | 'certificate_effective_after_expiry'
  /** The staged certificate is not valid at its effective time. */
  | 'certificate_next_not_valid'
  /** The staged certificate is the current one. */
  | 'certificate_already_current';

/**
 * A problem with an OAuth certificate or with a rollover (protocol.md section 2). Extends
 * `TypeError` because it is a configuration problem, found at start-up or by an administrator's
 * action; `code` is stable, `message` is for a person and never contains key material. A
 * certificate that expires while the server runs is not this error but the run-time
 * `SigningCertificateError` (an `S2SAuthError`) of `CertificateSet.signing`.
 */
export class CertificateError extends TypeError {
  /** Stable machine-readable code. */
  readonly code: CertificateErrorCode;

  constructor(code: CertificateErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CertificateError';
    this.code = code;
  }
}

/** Why a certificate is not valid at a given time: see {@link OAuthCertificate.validityProblemAt}. */
export interface CertificateValidityProblem {
  readonly code: 'certificate_expired' | 'certificate_not_yet_valid';
  /** For a person: names the certificate by thumbprint and the end or start of its validity. */
  readonly message: string;
}

/** Options of {@link OAuthCertificate.create}. */
export interface CreateCertificateOptions {
  /**
   * The realms the server signs for (protocol.md section 1), lowercase DNS names or GUIDs. The
   * first is the primary realm and becomes the subject CN; all of them, the primary included,
   * become DNS Subject Alternative Names.
   */
  readonly realms: readonly string[];
  /** RSA modulus length in bits: 2048 to 4096, a multiple of 8. Default 2048. */
  readonly keySize?: number;
  /** Days from the issue time to the end of validity; more than 0, at most 36500. Default 365. */
  readonly validityDays?: number;
  /**
   * Start of validity, exactly as given (truncated to the second). Default: the clock's time minus
   * five minutes, so that partners whose clocks run a little slow accept it at once.
   */
  readonly notBefore?: Date;
  /** Time source for the default `notBefore`. Default: the system clock. */
  readonly clock?: Clock;
}

/** Options of {@link OAuthCertificate.validate}. */
export interface ValidateCertificateOptions {
  /** Realms that must all be DNS Subject Alternative Names of the certificate. Default: none. */
  readonly realms?: readonly string[];
  /** Time in ms at which the certificate must be valid. Default: `Date.now()`. */
  readonly now?: number;
}

const CREATE_OPTION_NAMES = optionNames<CreateCertificateOptions>({ realms: true, keySize: true, validityDays: true, notBefore: true, clock: true });
const VALIDATE_OPTION_NAMES = optionNames<ValidateCertificateOptions>({ realms: true, now: true });

const MIN_KEY_SIZE = 2048;
const MAX_KEY_SIZE = 4096;
const RSA_EXPONENT = 65537;
const DAY_MS = 86_400_000;
const BACKDATE_MS = 5 * 60_000;
const MAX_VALIDITY_DAYS = 36_500;
const LAST_ENCODABLE_TIME = Date.UTC(9999, 11, 31, 23, 59, 59);

/**
 * An OAuth certificate with its private key (protocol.md section 2): an X.509 v3 certificate with
 * an RSA key of 2048 to 4096 bits and exponent 65537, subject CN = the primary realm, DNS Subject
 * Alternative Names = every realm.
 *
 * Every instance has passed the structural checks (the key belongs to the certificate, RSA, size,
 * exponent). Time and realms depend on the moment and the configuration, so they are checked by
 * {@link OAuthCertificate.validate}, {@link OAuthCertificate.isValidAt} and `CertificateSet`.
 * The private key is parsed once into a `KeyObject`; signing never re-parses PEM.
 */
export class OAuthCertificate {
  /** The certificate. */
  readonly certificate: X509Certificate;
  /** The certificate's DER encoding. */
  readonly der: Buffer;
  /** The certificate as PEM. */
  readonly pem: string;
  /** The RSA private key. */
  readonly privateKey: KeyObject;
  /** The RSA public key of the certificate. */
  readonly publicKey: KeyObject;
  /** `x5t`: base64url SHA-1 of the DER (RFC 7515 section 4.1.7). */
  readonly x5t: string;
  /** `x5t#S256`: base64url SHA-256 of the DER (RFC 7515 section 4.1.8). */
  readonly x5tS256: string;
  /** Start of validity, ms since the epoch (inclusive). */
  readonly notBefore: number;
  /** End of validity, ms since the epoch (inclusive, as in RFC 5280 section 4.1.2.5). */
  readonly notAfter: number;
  /**
   * The DNS Subject Alternative Names in certificate order, ASCII-lower-cased because DNS names
   * compare case-insensitively (RFC 5280 section 7.2) while realms are written in lowercase.
   */
  readonly realms: readonly string[];
  /** The subject CN, ASCII-lower-cased, or `undefined` when the subject has no CN. */
  readonly subjectName: string | undefined;
  /** RSA modulus length in bits. */
  readonly keySize: number;

  private constructor(certificate: X509Certificate, privateKey: KeyObject) {
    const publicKey = certificate.publicKey;
    this.keySize = checkStructure(publicKey, privateKey);
    this.certificate = certificate;
    this.der = certificate.raw;
    this.pem = certificate.toString();
    this.privateKey = privateKey;
    this.publicKey = publicKey;
    this.x5t = x5t(this.der);
    this.x5tS256 = x5tS256(this.der);
    this.notBefore = Date.parse(certificate.validFrom);
    this.notAfter = Date.parse(certificate.validTo);
    this.realms = Object.freeze(
      parseSubjectAltName(certificate.subjectAltName)
        .filter((name) => name.type === 'DNS')
        .map((name) => asciiLowerCase(name.value)),
    );
    this.subjectName = commonName(certificate.subject);
  }

  /**
   * Creates a self-signed OAuth certificate and its key: RSA (`keySize`, exponent 65537), signed
   * with RSASSA-PKCS1-v1_5 SHA-256, a random positive 127-bit serial, BasicConstraints cA false and
   * KeyUsage digitalSignature (both critical), a Subject Key Identifier, subject CN = `realms[0]`,
   * SAN = every realm. Key generation runs off the main thread and takes a moment.
   *
   * @throws TypeError when an option is out of range or unknown, or a realm is malformed.
   */
  static async create(options: CreateCertificateOptions): Promise<OAuthCertificate> {
    const realms = checkRealms(options?.realms);
    refuseUnknownOptions('OAuthCertificate.create', options, CREATE_OPTION_NAMES);
    const keySize = options.keySize ?? MIN_KEY_SIZE;
    if (!Number.isInteger(keySize) || keySize < MIN_KEY_SIZE || keySize > MAX_KEY_SIZE || keySize % 8 !== 0) {
      throw new TypeError(`keySize must be a multiple of 8 from ${MIN_KEY_SIZE} to ${MAX_KEY_SIZE} bits; got ${String(keySize)}.`);
    }
    const validityDays = options.validityDays ?? 365;
    if (typeof validityDays !== 'number' || !(validityDays > 0 && validityDays <= MAX_VALIDITY_DAYS)) {
      throw new TypeError(`validityDays must be a number of days above 0 and at most ${MAX_VALIDITY_DAYS}; got ${String(validityDays)}.`);
    }
    if (options.notBefore !== undefined && !(options.notBefore instanceof Date && Number.isFinite(options.notBefore.getTime()))) {
      throw new TypeError('notBefore must be a valid Date.');
    }
    const issuedAt = options.notBefore?.getTime() ?? (options.clock ?? systemClock)();
    const notBefore = wholeSeconds(options.notBefore ? issuedAt : issuedAt - BACKDATE_MS);
    const notAfter = wholeSeconds(issuedAt + validityDays * DAY_MS);
    if (notBefore < 0 || notAfter > LAST_ENCODABLE_TIME) {
      throw new TypeError('The certificate validity must lie between 1970 and the end of year 9999.');
    }

    const { der, privateKey } = await buildSelfSigned({ realms, keySize, notBefore, notAfter });
    return new OAuthCertificate(new X509Certificate(der), privateKey);
  }

  /**
   * An OAuth certificate from a PEM certificate and an unencrypted PEM private key, PKCS#1
   * (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`). Runs the structural checks; time and
   * realms are checked by {@link OAuthCertificate.validate}.
   *
   * @throws CertificateError (`certificate_unreadable`, `certificate_key_unreadable`,
   *   `certificate_not_rsa`, `certificate_key_size`, `certificate_exponent`, `certificate_key_mismatch`).
   */
  static fromPem(certificatePem: string, privateKeyPem: string): OAuthCertificate {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(certificatePem);
    } catch (error) {
      throw new CertificateError('certificate_unreadable', 'The OAuth certificate could not be read: expected a PEM X.509 certificate.', { cause: error });
    }
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: privateKeyPem, format: 'pem' });
    } catch {
      // The cause is left out on purpose: parser errors may quote the key.
      throw new CertificateError(
        'certificate_key_unreadable',
        'The OAuth certificate private key could not be read: expected an unencrypted PEM RSA private key (PKCS#1 or PKCS#8).',
      );
    }
    return new OAuthCertificate(certificate, privateKey);
  }

  /**
   * Reads a PEM certificate file and a PEM private key file, then as {@link OAuthCertificate.fromPem}.
   *
   * @throws CertificateError (`certificate_file_unreadable` naming the file, or as `fromPem`).
   */
  static async load(certificatePath: string, privateKeyPath: string): Promise<OAuthCertificate> {
    const [certificatePem, privateKeyPem] = await Promise.all([
      readText(certificatePath, 'certificate'),
      readText(privateKeyPath, 'private key'),
    ]);
    return OAuthCertificate.fromPem(certificatePem, privateKeyPem);
  }

  /**
   * Writes the certificate PEM and the PKCS#8 private key PEM. Each file is written to a temporary
   * file in the same directory and renamed into place; the key's temporary file is created with
   * mode 0600, so the key is never readable by others, not even for a moment.
   */
  async save(certificatePath: string, privateKeyPath: string): Promise<void> {
    const keyPem = this.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await writeFileAtomically(privateKeyPath, keyPem, 0o600);
    await writeFileAtomically(certificatePath, this.pem, 0o644);
  }

  /** True when `ms` lies within the certificate's validity (both ends inclusive). */
  isValidAt(ms: number): boolean {
    return ms >= this.notBefore && ms <= this.notAfter;
  }

  /**
   * Throws unless the certificate is valid at `ms`. `role` starts the message, so an operator
   * reads which certificate it is ("The OAuth certificate", "The signing certificate").
   *
   * @throws CertificateError (`certificate_expired`, `certificate_not_yet_valid`).
   */
  checkValidAt(ms: number, role = 'The OAuth certificate'): void {
    const problem = this.validityProblemAt(ms, role);
    if (problem !== undefined) throw new CertificateError(problem.code, problem.message);
  }

  /**
   * Why the certificate is not valid at `ms` (code and a message starting with `role`), or
   * `undefined` when it is. `checkValidAt` throws it as a start-up `CertificateError`,
   * `CertificateSet.signing` as a run-time `SigningCertificateError`.
   */
  validityProblemAt(ms: number, role = 'The OAuth certificate'): CertificateValidityProblem | undefined {
    if (ms > this.notAfter) return { code: 'certificate_expired', message: `${role} ${this.x5t} expired on ${iso(this.notAfter)}.` };
    if (ms < this.notBefore) return { code: 'certificate_not_yet_valid', message: `${role} ${this.x5t} is not valid before ${iso(this.notBefore)}.` };
    return undefined;
  }

  /**
   * Checks the certificate for use at `now` by a server signing for `realms`: valid at `now`, its
   * subject CN among its DNS Subject Alternative Names, and every realm given among them too.
   * (The structural checks already ran when the object was made.)
   *
   * @throws CertificateError (`certificate_expired`, `certificate_not_yet_valid`,
   *   `certificate_subject`, `certificate_realm_missing`); TypeError for an unknown option.
   */
  validate(options: ValidateCertificateOptions = {}): void {
    refuseUnknownOptions('OAuthCertificate.validate', options, VALIDATE_OPTION_NAMES);
    this.checkValidAt(options.now ?? systemClock());
    if (this.subjectName === undefined) {
      throw new CertificateError('certificate_subject', `The OAuth certificate ${this.x5t} has no subject CN; protocol.md section 2 requires CN = the primary realm.`);
    }
    if (!this.realms.includes(this.subjectName)) {
      throw new CertificateError(
        'certificate_subject',
        `The OAuth certificate's subject CN "${this.subjectName}" is not among its DNS Subject Alternative Names (${describeNames(this.realms)}); the primary realm must be in both.`,
      );
    }
    for (const realm of options.realms ?? []) {
      if (!this.realms.includes(realm)) {
        throw new CertificateError(
          'certificate_realm_missing',
          `The OAuth certificate does not cover the realm "${realm}": its DNS Subject Alternative Names are ${describeNames(this.realms)}.`,
        );
      }
    }
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function describeNames(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.join(', ');
}

function checkRealms(realms: unknown): readonly string[] {
  if (!Array.isArray(realms) || realms.length === 0) {
    throw new TypeError('realms must be a non-empty array of realms; the first is the primary realm (the subject CN).');
  }
  const seen = new Set<string>();
  for (const realm of realms as unknown[]) {
    if (typeof realm !== 'string' || !isRealm(realm)) {
      throw new TypeError(`realms: ${JSON.stringify(realm)} is not a realm (a lowercase DNS name or a lowercase GUID).`);
    }
    if (seen.has(realm)) throw new TypeError(`realms: "${realm}" is listed twice.`);
    seen.add(realm);
  }
  return [...seen];
}

/** The structural checks of protocol.md section 2; returns the key size. */
function checkStructure(publicKey: KeyObject, privateKey: KeyObject): number {
  if (publicKey.asymmetricKeyType !== 'rsa') {
    throw new CertificateError(
      'certificate_not_rsa',
      `The OAuth certificate's key type is ${String(publicKey.asymmetricKeyType).toUpperCase()}; protocol.md section 2 requires RSA.`,
    );
  }
  const details = publicKey.asymmetricKeyDetails ?? {};
  const keySize = details.modulusLength ?? 0;
  if (keySize < MIN_KEY_SIZE || keySize > MAX_KEY_SIZE) {
    throw new CertificateError(
      'certificate_key_size',
      `The OAuth certificate has a ${keySize}-bit RSA key; protocol.md section 2 requires ${MIN_KEY_SIZE} to ${MAX_KEY_SIZE} bits.`,
    );
  }
  if (details.publicExponent !== BigInt(RSA_EXPONENT)) {
    throw new CertificateError(
      'certificate_exponent',
      `The OAuth certificate's RSA public exponent is ${String(details.publicExponent)}; protocol.md section 2 requires ${RSA_EXPONENT}.`,
    );
  }
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const keysSpki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  if (!spki.equals(keysSpki)) {
    throw new CertificateError('certificate_key_mismatch', 'The private key does not belong to the OAuth certificate (their public keys differ).');
  }
  return keySize;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'read error';
    throw new CertificateError('certificate_file_unreadable', `Could not read the OAuth ${what} file ${path} (${reason}).`, { cause: error });
  }
}

/**
 * Writes `text` to `path` through a temporary sibling created exclusively with `mode` (then set to
 * exactly `mode`, whatever the umask), so `path` is either the old file or the whole new one.
 */
async function writeFileAtomically(path: string, text: string, mode: number): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx', mode);
  try {
    try {
      await handle.chmod(mode);
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

interface GeneralName {
  readonly type: string;
  readonly value: string;
}

/**
 * Parses node:crypto's `subjectAltName` text: entries `TYPE:value` joined by ", ", where a value
 * holding a comma, quote or other special character is written as a JSON string (Node >= 17.3.1),
 * so splitting on commas alone would let a crafted name smuggle in another entry.
 */
function parseSubjectAltName(text: string | undefined): GeneralName[] {
  const names: GeneralName[] = [];
  let at = 0;
  while (text !== undefined && at < text.length) {
    const colon = text.indexOf(':', at);
    if (colon < 0) break;
    const type = text.slice(at, colon);
    let end: number;
    let value: string;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      end += 1;
      try {
        value = JSON.parse(text.slice(colon + 1, end)) as string;
      } catch {
        break;
      }
    } else {
      const separator = text.indexOf(', ', colon + 1);
      end = separator < 0 ? text.length : separator;
      value = text.slice(colon + 1, end);
    }
    names.push({ type, value });
    at = end + 2;
  }
  return names;
}

/** The first CN of node:crypto's `subject` text (one `NAME=value` attribute per line). */
function commonName(subject: string): string | undefined {
  const line = subject.split('\n').find((attribute) => attribute.startsWith('CN='));
  return line === undefined ? undefined : asciiLowerCase(line.slice(3));
}

function asciiLowerCase(text: string): string {
  return text.replace(/[A-Z]/g, (letter) => letter.toLowerCase());
}

function wholeSeconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

// --- Building a self-signed certificate (RFC 5280 section 4.1) with @peculiar/x509 ------------

/** The Web Crypto type `@peculiar/x509` is written against (the DOM's `Crypto`); Node's `webcrypto` implements it. */
type X509Crypto = NonNullable<Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1]>;

interface CertificateContent {
  readonly realms: readonly string[];
  readonly keySize: number;
  readonly notBefore: number;
  readonly notAfter: number;
}

/** RSASSA-PKCS1-v1_5 with SHA-256 and exponent 65537: the one algorithm of protocol.md section 2. */
function rsaAlgorithm(modulusLength: number): webcrypto.RsaHashedKeyGenParams {
  return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength };
}

async function buildSelfSigned(content: CertificateContent): Promise<{ der: Buffer; privateKey: KeyObject }> {
  const crypto = webcrypto as unknown as X509Crypto;
  const algorithm = rsaAlgorithm(content.keySize);
  const keys = await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  // 16 random bytes with the top bit clear: a positive serial of at most 127 bits (RFC 5280 4.1.2.2).
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  const [primary = ''] = content.realms;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      // Realms are lowercase DNS names or GUIDs (isRealm), so the CN needs no RFC 4514 escaping.
      name: `CN=${primary}`,
      notBefore: new Date(content.notBefore),
      notAfter: new Date(content.notAfter),
      signingAlgorithm: algorithm,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.SubjectAlternativeNameExtension(content.realms.map((realm) => ({ type: 'dns' as const, value: realm }))),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { der: Buffer.from(certificate.rawData), privateKey: KeyObject.from(keys.privateKey as unknown as webcrypto.CryptoKey) };
}
