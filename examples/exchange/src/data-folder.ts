/**
 * The server's data folder (architecture.md, "Persistence"): everything the server keeps, in files
 * an administrator can find, back up or replace. Created on the first start, reused afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OAuthCertificate } from '@s2sauth/issuer';

/** The files of a data folder. */
export interface DataFolder {
  readonly path: string;
  /** Mailboxes, accounts and sessions of this demo server. */
  readonly mailboxDatabase: string;
  /** The partner registry (`SqliteStore`), kept apart so the s2sauth tools own their file. */
  readonly registryDatabase: string;
  readonly certificate: string;
  readonly privateKey: string;
  readonly sessionSecret: string;
}

/** Creates the folder (mode 0700 when new) and names its files. */
export async function openDataFolder(path: string): Promise<DataFolder> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  return {
    path,
    mailboxDatabase: join(path, 'exchange.sqlite'),
    registryDatabase: join(path, 's2sauth.sqlite'),
    certificate: join(path, 'oauth-cert.pem'),
    privateKey: join(path, 'oauth-key.pem'),
    sessionSecret: join(path, 'session-secret'),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * The server's OAuth certificate (protocol.md section 2): loaded from `oauth-cert.pem` and
 * `oauth-key.pem` when both exist, else created (CN = first realm, SAN = every realm) and saved,
 * the key with mode 0600. A loaded certificate must be valid now and cover every realm, so a
 * changed realm list or an expired certificate stops the start with a clear message instead of
 * issuing tokens partners would refuse.
 *
 * @throws `CertificateError` (a `TypeError`) when the files are unusable; `TypeError` when only one
 *   of the two files exists.
 */
export async function loadOrCreateCertificate(folder: DataFolder, realms: readonly string[]): Promise<{ certificate: OAuthCertificate; created: boolean }> {
  const [hasCertificate, hasKey] = await Promise.all([exists(folder.certificate), exists(folder.privateKey)]);
  if (hasCertificate && hasKey) {
    const certificate = await OAuthCertificate.load(folder.certificate, folder.privateKey);
    certificate.validate({ realms });
    return { certificate, created: false };
  }
  if (hasCertificate || hasKey) {
    throw new TypeError(
      `The data folder ${folder.path} has ${hasCertificate ? 'oauth-cert.pem but no oauth-key.pem' : 'oauth-key.pem but no oauth-cert.pem'}; restore the missing file or remove both to create a new certificate.`,
    );
  }
  const certificate = await OAuthCertificate.create({ realms });
  await certificate.save(folder.certificate, folder.privateKey);
  return { certificate, created: true };
}

/** Bytes of a new session secret: 256 bits, what HMAC-SHA-256 (the cookie signature) can use. */
const SECRET_BYTES = 32;

/**
 * The secret that signs session cookies: read from `session-secret`, or generated (256 random bits,
 * hex) and written with mode 0600 on the first start. Keeping it means a restart does not sign
 * everyone out.
 */
export async function loadOrCreateSessionSecret(folder: DataFolder): Promise<string> {
  try {
    const handle = await open(folder.sessionSecret, 'wx', 0o600);
    try {
      const secret = randomBytes(SECRET_BYTES).toString('hex');
      await handle.chmod(0o600);
      await handle.writeFile(secret, 'utf8');
      return secret;
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const secret = (await readFile(folder.sessionSecret, 'utf8')).trim();
  if (secret.length < SECRET_BYTES) {
    throw new TypeError(`The session secret in ${folder.sessionSecret} is too short; remove the file to generate a new one.`);
  }
  return secret;
}
