/**
 * A real full disk for tests: a small tmpfs mounted on a temporary folder (root only; elsewhere
 * the tests that need one skip), and a filler file that takes every free byte of it.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A mounted tmpfs of `megabytes`, or undefined when this process cannot mount one. */
export function mountTinyDisk(megabytes: number): { readonly path: string; unmount(): void } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const path = mkdtempSync(join(tmpdir(), 's2sauth-tiny-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', path], { stdio: 'ignore' });
  } catch {
    rmdirSync(path);
    return undefined;
  }
  return {
    path,
    unmount: () => {
      execFileSync('umount', ['-l', path], { stdio: 'ignore' });
      rmdirSync(path);
    },
  };
}

/** Fills the disk under `folder` with a file until the disk is full; returns a function that frees it again. */
export function fillDisk(folder: string): () => void {
  const filler = join(folder, 'filler');
  const fd = openSync(filler, 'w');
  const block = Buffer.alloc(4096);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return () => rmSync(filler);
}
