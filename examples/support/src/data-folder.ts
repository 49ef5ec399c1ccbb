/**
 * A demo server's data folder (docs/architecture.md, "Persistence"): everything the server keeps, in
 * files an administrator can find, back up or replace. Created on the first start, reused
 * afterwards: the OAuth certificate and its key, the session secret, the server's own database and
 * the partner registry.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OAuthCertificate } from '@s2sauth/issuer';

/** The files of a data folder, as paths. */
export interface DataFolder {
  readonly path: string;
  /** The server's own database (accounts, sessions and what the server keeps for its users). */
  readonly database: string;
  /** The partner registry (`SqliteStore`, `s2sauth.sqlite`), kept apart so the s2sauth tools own their file. */
  readonly registryDatabase: string;
  /** `oauth-cert.pem`. */
  readonly certificate: string;
  /** `oauth-key.pem`. */
  readonly privateKey: string;
  /** `session-secret`. */
  readonly sessionSecret: string;
}

/**
 * Creates the folder, or takes the existing one, readable by its owner only (mode 0700, set on
 * every start: it holds the private key, the session secret and the password hashes), and names
 * its files; `databaseFile` is the name of the server's own database in it, e.g. `exchange.sqlite`.
 */
export async function openDataFolder(path: string, databaseFile: string): Promise<DataFolder> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  await chmod(path, 0o700);
  return {
    path,
    database: join(path, databaseFile),
    registryDatabase: join(path, 's2sauth.sqlite'),
    certificate: join(path, 'oauth-cert.pem'),
    privateKey: join(path, 'oauth-key.pem'),
    sessionSecret: join(path, 'session-secret'),
  };
}

function hasCode(error: unknown, code: string): boolean {
  return error instanceof Error && 'code' in error && error.code === code;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return false;
    throw error;
  }
}

/**
 * The server's OAuth certificate (protocol.md section 2): loaded from `oauth-cert.pem` and
 * `oauth-key.pem` when both exist, else created (CN = first realm, SAN = every realm) and saved.
 * Both files get mode 0600, a loaded key too (it may have been copied in with a looser mode). A
 * loaded certificate must be valid now and cover every realm, so a changed realm list or an
 * expired certificate stops the start with a clear message instead of issuing tokens partners
 * would refuse.
 *
 * @throws `CertificateError` (a `TypeError`) when the files are unusable; `TypeError` when only one
 *   of the two files exists.
 */
export async function loadOrCreateCertificate(folder: DataFolder, realms: readonly string[]): Promise<{ certificate: OAuthCertificate; created: boolean }> {
  const [hasCertificate, hasKey] = await Promise.all([exists(folder.certificate), exists(folder.privateKey)]);
  if (hasCertificate && hasKey) {
    const certificate = await OAuthCertificate.load(folder.certificate, folder.privateKey);
    certificate.validate({ realms, now: Date.now() });
    await chmod(folder.privateKey, 0o600);
    return { certificate, created: false };
  }
  if (hasCertificate || hasKey) {
    throw new TypeError(
      `The data folder ${folder.path} has ${hasCertificate ? 'oauth-cert.pem but no oauth-key.pem' : 'oauth-key.pem but no oauth-cert.pem'}; restore the missing file or remove both to create a new certificate.`,
    );
  }
  const certificate = await OAuthCertificate.create({ realms });
  await certificate.save(folder.certificate, folder.privateKey);
  await chmod(folder.certificate, 0o600);
  return { certificate, created: true };
}

/** Bytes of a new session secret: 256 bits, what HMAC-SHA-256 (the cookie signature) can use. */
const SECRET_BYTES = 32;

/**
 * The secret that signs session cookies: read from `session-secret` (its mode set to 0600), or
 * generated (256 random bits, hex) and written with mode 0600 on the first start; the file is
 * created exclusively, so two starts racing each other agree on one secret. Keeping it means a
 * restart does not sign everyone out.
 *
 * @throws TypeError when the file holds fewer than 32 characters.
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
    if (!hasCode(error, 'EEXIST')) throw error;
  }
  const secret = (await readFile(folder.sessionSecret, 'utf8')).trim();
  if (secret.length < SECRET_BYTES) {
    throw new TypeError(`The session secret in ${folder.sessionSecret} is too short; remove the file to generate a new one.`);
  }
  await chmod(folder.sessionSecret, 0o600);
  return secret;
}
