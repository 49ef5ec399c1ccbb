/** Shared set-up of Lync's tests: temporary data folders and a silent server. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startLync, type LyncOptions, type LyncServer } from '../src/index.js';

export const PASSWORD = 'correct horse battery staple';
export const USERS = [
  { username: 'alice@contoso.com', password: PASSWORD, displayName: 'Alice Adams' },
  { username: 'bob@contoso.com', password: PASSWORD, displayName: 'Bob Brown' },
  { username: 'carol@contoso.com', password: PASSWORD },
];

const folders: string[] = [];

/** A fresh temporary data folder, removed by {@link removeDataFolders}. */
export async function dataFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'lync-test-'));
  folders.push(folder);
  return join(folder, 'data');
}

export async function removeDataFolders(): Promise<void> {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
}

/** Starts Lync on 127.0.0.1:0 with the test users, no logs and no audit. */
export function start(dataDir: string, options: Partial<LyncOptions> = {}): Promise<LyncServer> {
  return startLync({ dataDir, realm: 'contoso.com', port: 0, users: USERS, logger: pino({ level: 'silent' }), audit: false, ...options });
}
