/**
 * The password of the demo users. The servers seed their users on the first start only, so the
 * password that start used is kept in the data folder: a later start without the environment
 * variable prints the password that still works.
 */
import { randomInt } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The environment variable that sets the demo users' password. */
export const DEMO_PASSWORD_VARIABLE = 'S2SAUTH_DEMO_PASSWORD';
/** The file in the data folder that keeps the password (mode 0600). */
export const DEMO_PASSWORD_FILE = 'demo-password';

/** The demo users' password and where it came from. */
export interface DemoPassword {
  readonly password: string;
  /**
   * `environment`: `S2SAUTH_DEMO_PASSWORD`; `generated`: created now (first start);
   * `stored`: read from the data folder (a later start).
   */
  readonly source: 'environment' | 'generated' | 'stored';
  /** The file that keeps it. */
  readonly file: string;
  /**
   * True when `S2SAUTH_DEMO_PASSWORD` differs from the password kept in the data folder: users
   * created by an earlier start keep the kept one.
   */
  readonly differsFromStored: boolean;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** 16 letters and digits (95 random bits): typed easily, no shell, form or JSON quoting needed. */
function generatePassword(): string {
  return Array.from({ length: 16 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
}

/** Writes `password` to `file` unless the file exists; returns what the file holds afterwards. */
async function keep(file: string, password: string): Promise<{ kept: string; created: boolean }> {
  try {
    const handle = await open(file, 'wx', 0o600);
    try {
      // The umask may have loosened the mode given to open.
      await handle.chmod(0o600);
      await handle.writeFile(`${password}\n`, 'utf8');
    } finally {
      await handle.close();
    }
    return { kept: password, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const kept = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  if (kept === '') throw new TypeError(`The demo password file ${file} is empty; remove it, or remove the data folder to start over.`);
  return { kept, created: false };
}

/**
 * The demo users' password: `S2SAUTH_DEMO_PASSWORD` when set (and not empty), otherwise the one
 * kept in `<dataDir>/demo-password`, otherwise a generated one. The password used first is written
 * to that file (mode 0600, the folder created with mode 0700 when missing) and never replaced.
 *
 * @throws the file system's error when the folder cannot be created or written (`EACCES`, `EROFS`,
 *   `ENOTDIR`); `TypeError` when the file is empty.
 */
export async function resolveDemoPassword(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<DemoPassword> {
  const file = join(dataDir, DEMO_PASSWORD_FILE);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const fromEnvironment = env[DEMO_PASSWORD_VARIABLE];
  if (fromEnvironment !== undefined && fromEnvironment !== '') {
    const { kept } = await keep(file, fromEnvironment);
    return { password: fromEnvironment, source: 'environment', file, differsFromStored: kept !== fromEnvironment };
  }
  const { kept, created } = await keep(file, generatePassword());
  return { password: kept, source: created ? 'generated' : 'stored', file, differsFromStored: false };
}
