/** Temporary data folders for the servers of one test, removed afterwards. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const created: string[] = [];

/** A new empty temporary folder (the servers create their data folders inside it). */
export async function temporaryFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 's2sauth-e2e-'));
  created.push(folder);
  return folder;
}

/** Removes every folder made by {@link temporaryFolder}. */
export async function removeTemporaryFolders(): Promise<void> {
  for (const folder of created.splice(0)) await rm(folder, { recursive: true, force: true });
}
