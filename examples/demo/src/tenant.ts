/**
 * The cloud tenant of the cloud and hybrid scenarios: a GUID realm, as an Office 365 tenant id,
 * generated on the first start and kept in the scenario folder so that the STS, the certificates
 * and the registrations of a later start still agree with it.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isPrincipalId } from '@s2sauth/protocol';

/** The file in the scenario folder that keeps the tenant GUID. */
export const TENANT_FILE = 'tenant';

/** The tenant and whether this start created it. */
export interface Tenant {
  /** The tenant realm: a lowercase GUID. */
  readonly realm: string;
  /** The file that keeps it. */
  readonly file: string;
  /** True on the first start (the GUID was generated now). */
  readonly created: boolean;
}

/**
 * The tenant kept in `<scenarioDir>/tenant`, or a new random GUID written there (the folder is
 * created with mode 0700 when missing). The file is never replaced.
 *
 * @throws TypeError when the file holds anything but a lowercase GUID; the file system's error
 *   when the folder cannot be created or written.
 */
export async function resolveTenant(scenarioDir: string): Promise<Tenant> {
  const file = join(scenarioDir, TENANT_FILE);
  await mkdir(scenarioDir, { recursive: true, mode: 0o700 });
  const generated = randomUUID();
  try {
    const handle = await open(file, 'wx', 0o644);
    try {
      await handle.writeFile(`${generated}\n`, 'utf8');
    } finally {
      await handle.close();
    }
    return { realm: generated, file, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const kept = (await readFile(file, 'utf8')).trim();
  if (!isPrincipalId(kept)) {
    throw new TypeError(`The tenant file ${file} does not hold a lowercase GUID; remove the scenario folder to start over.`);
  }
  return { realm: kept, file, created: false };
}
