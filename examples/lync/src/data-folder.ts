/**
 * Lync's data folder: created on first start, then reused. It holds the OAuth certificate and its
 * key (`oauth-cert.pem`, `oauth-key.pem`, the key mode 0600), the session secret (mode 0600), Lync's
 * database and the partner registrations.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OAuthCertificate } from '@s2sauth/issuer';

/** File names inside the data folder. */
export const DATA_FILES = {
  certificate: 'oauth-cert.pem',
  privateKey: 'oauth-key.pem',
  sessionSecret: 'session-secret',
  database: 'lync.sqlite',
  partners: 's2sauth.sqlite',
} as const;

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return false;
    throw error;
  }
}

/** Creates the folder (mode 0700) when it does not exist. */
export async function ensureDataFolder(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
}

/**
 * The OAuth certificate: loaded from the data folder, or created for `realms` (the first is the CN,
 * all are SANs) and saved there on first start. A loaded certificate is checked: valid now and
 * covering every realm (an extra SIP domain added later needs a new certificate).
 */
export async function loadOrCreateCertificate(dataDir: string, realms: readonly string[]): Promise<{ certificate: OAuthCertificate; created: boolean }> {
  const certificatePath = join(dataDir, DATA_FILES.certificate);
  const keyPath = join(dataDir, DATA_FILES.privateKey);
  if (await exists(certificatePath)) {
    const certificate = await OAuthCertificate.load(certificatePath, keyPath);
    certificate.validate({ realms, now: Date.now() });
    // The key may have been copied in with a looser mode; it is a secret either way.
    await chmod(keyPath, 0o600);
    return { certificate, created: false };
  }
  const certificate = await OAuthCertificate.create({ realms });
  await certificate.save(certificatePath, keyPath);
  await chmod(certificatePath, 0o600);
  await chmod(keyPath, 0o600);
  return { certificate, created: true };
}

/** The session-signing secret: read from the data folder, or generated (256 bits) and saved with mode 0600. */
export async function loadOrCreateSessionSecret(dataDir: string): Promise<string> {
  const path = join(dataDir, DATA_FILES.sessionSecret);
  if (await exists(path)) {
    const secret = (await readFile(path, 'utf8')).trim();
    if (secret.length < 32) throw new Error(`The session secret in ${path} is too short; delete the file to generate a new one.`);
    await chmod(path, 0o600);
    return secret;
  }
  const secret = randomBytes(32).toString('base64url');
  await writeFile(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}
