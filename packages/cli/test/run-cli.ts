/**
 * Helpers of the CLI tests: running `runCli` in-process with captured output, a temporary folder
 * for registry files, and the check that no certificate or key text ever reaches the output.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { SqliteStore } from '@s2sauth/store';
import { runCli } from '../src/cli.js';

/** What one run printed and returned. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `s2sauth <args>` in this process with `env` (default: none) and captures its output. */
export async function s2sauth(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env,
  });
  return { code, stdout, stderr };
}

/** The notice an `add` writes on standard error when it created the registry file. */
export const CREATED_NOTICE = /^s2sauth: created a new registry at [^\n]+\n/;

/**
 * Expects exit code 0 and nothing on standard error but, from an `add` that created the registry
 * file, the notice saying so (tested on its own in store-access.test.ts); returns standard output.
 */
export function succeeded(run: CliRun): string {
  expect(run.stderr.replace(CREATED_NOTICE, ''), run.stderr).to.equal('');
  expect(run.code).to.equal(0);
  return run.stdout;
}

/** Expects exit code `code`, nothing on standard output and exactly one `s2sauth: ` line on standard error; returns that line. */
export function failed(run: CliRun, code: 1 | 2): string {
  expect(run.stdout).to.equal('');
  expect(run.code, run.stderr).to.equal(code);
  expect(run.stderr).to.match(/^s2sauth: [^\n]+\n$/);
  return run.stderr.trim();
}

/** A temporary folder for registry and certificate files, removed by `remove()`. */
export function temporaryFolder(): { readonly path: string; file(name: string): string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 's2sauth-cli-'));
  return { path, file: (name) => join(path, name), remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Pieces of `certificates`' PEM bodies and private keys, each lying within one 64-character PEM
 * line, so that certificate or key text printed in any layout is caught.
 */
export function secretMarkers(certificates: readonly OAuthCertificate[]): string[] {
  const markers: string[] = [];
  for (const certificate of certificates) {
    const der = certificate.der.toString('base64');
    const key = certificate.privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64');
    for (const text of [der, key]) markers.push(text.slice(64 + 8, 64 + 40), text.slice(4 * 64 + 8, 4 * 64 + 40));
  }
  return markers;
}

/** Expects none of `markers` and no PEM armour in any of `outputs`. */
export function expectNoSecrets(outputs: readonly string[], markers: readonly string[]): void {
  for (const output of outputs) {
    expect(output).not.to.include('-----BEGIN');
    expect(output).not.to.include('PRIVATE KEY');
    for (const marker of markers) expect(output).not.to.include(marker);
  }
}

/** Runs `s2sauth <args> --store <file>`, checking that none of `markers` (nor any PEM) is printed. */
export async function runOn(file: string, markers: readonly string[], ...args: string[]): Promise<CliRun> {
  const result = await s2sauth([...args, '--store', file]);
  expectNoSecrets([result.stdout, result.stderr], markers);
  return result;
}

/** What `read` gives of the registry file `file`, through a store of its own (closed after). */
export function readStore<T>(file: string, read: (store: SqliteStore) => T): T {
  const store = SqliteStore.open(file);
  try {
    return read(store);
  } finally {
    store.close();
  }
}
