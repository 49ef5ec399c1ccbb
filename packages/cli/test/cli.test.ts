import { expect } from 'chai';
import { after, before, describe, it } from 'mocha';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { PartnerRegistry } from '@s2sauth/middleware';
import { SqliteStore } from '@s2sauth/store';
import type { OAuthCertificate } from '@s2sauth/issuer';
import { createCertificate } from '@s2sauth/test-support/partners';
import { firstLine } from '../src/context.js';
import { inFlagTerms } from '../src/cli.js';
import { CliError, runCli } from '../src/index.js';
import { failed, s2sauth, succeeded, temporaryFolder, type CliRun } from './run-cli.js';

const CRM = '5b1f8d6e-3f5a-4c1e-9a57-0c9e2d6f4b21';
const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));
const execFileAsync = promisify(execFile);

/** Runs the real `s2sauth` program (bin.ts) in a new process, from source, as `npm run s2sauth` does. */
async function runBin(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, ['--conditions=s2sauth-source', '--import=tsx', 'packages/cli/src/bin.ts', ...args], {
      cwd: repositoryRoot,
      // No coverage from the child: merged with this process's, it garbles c8's report.
      env: { ...process.env, NODE_V8_COVERAGE: '' },
      timeout: 15_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failure.code !== 'number') throw error;
    return { code: failure.code, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

describe('s2sauth', () => {
  const folder = temporaryFolder();
  let certificate: OAuthCertificate;

  before(async () => {
    certificate = await createCertificate(['contoso.com']);
    writeFileSync(folder.file('crm.pem'), certificate.pem);
  });

  after(() => {
    folder.remove();
  });

  const addCrm = (store: string): Promise<CliRun> =>
    s2sauth(['partner', 'add', 'contoso.crm', '--certificate', folder.file('crm.pem'), '--application-id', CRM, '--realm', 'contoso.com', '--store', store]);

  describe('help and usage', () => {
    it('prints help for the program, naming the registry files of the demo servers and STS', async () => {
      const out = succeeded(await s2sauth(['--help']));
      expect(out).to.match(/^Usage: s2sauth \[options\] \[command\]/);
      for (const text of ['--store <file>', 'S2SAUTH_STORE', '<data>/<scenario>/<server>/s2sauth.sqlite', '.data/onprem/exchange/s2sauth.sqlite', 'sts/sts.sqlite', '--json', 'partner', 'oauth-server', 'client']) {
        expect(out).to.include(text);
      }
      expect(succeeded(await s2sauth(['help', 'partner']))).to.match(/^Usage: s2sauth partner \[options\] \[command\]/);
      expect(succeeded(await s2sauth(['--version']))).to.equal('0.1.0\n');
    });

    it('prints help for every command', async () => {
      for (const group of ['partner', 'oauth-server', 'client']) {
        for (const command of ['add', 'set', 'get', 'list', 'remove', 'enable', 'disable']) {
          const out = succeeded(await s2sauth([group, command, '--help']));
          expect(out).to.match(new RegExp(`^Usage: s2sauth ${group} ${command} `));
        }
      }
      expect(succeeded(await s2sauth(['partner', 'add', '--help']))).to.include('Exactly one key source: --metadata-url, --certificate or --use-oauth-server');
      expect(succeeded(await s2sauth(['client', 'add', '--help']))).to.include('<resource-guid>=<scope>,<scope>[+delegation]');
      expect(succeeded(await s2sauth(['oauth-server', 'add', '--help']))).to.include('00000001-0000-0000-c000-000000000000@<realm>');
    });

    it('shows the help on standard error with exit 2 when no command is given', async () => {
      for (const args of [[], ['partner'], ['client']]) {
        const result = await s2sauth(args);
        expect(result.code).to.equal(2);
        expect(result.stdout).to.equal('');
        expect(result.stderr).to.match(/^Usage: s2sauth/);
      }
    });

    it('reports a command-line mistake as one line with exit 2', async () => {
      const store = folder.file('usage.sqlite');
      expect(failed(await s2sauth(['partner', 'lst', '--store', store]), 2)).to.equal("s2sauth: unknown command 'lst' (Did you mean list?) (see --help)");
      expect(failed(await s2sauth(['certificate', 'list']), 2)).to.equal("s2sauth: unknown command 'certificate' (see --help)");
      expect(failed(await s2sauth(['partner', 'list', '--bogus', '--store', store]), 2)).to.equal("s2sauth: unknown option '--bogus' (see --help)");
      expect(failed(await s2sauth(['partner', 'get', '--store', store]), 2)).to.equal("s2sauth: missing required argument 'identity' (see --help)");
      expect(failed(await s2sauth(['partner', 'get', 'a', 'b', '--store', store]), 2)).to.match(/^s2sauth: too many arguments for 'get'/);
      expect(failed(await s2sauth(['partner', 'list', '--store']), 2)).to.equal("s2sauth: option '--store <file>' argument missing (see --help)");
      expect(existsSync(store)).to.equal(false);
    });
  });

  describe('the registry file', () => {
    it('is --store, else S2SAUTH_STORE (empty counts as unset); neither is a usage error', async () => {
      const fromFlag = folder.file('flag.sqlite');
      const fromEnvironment = folder.file('environment.sqlite');
      succeeded(await addCrm(fromFlag));
      expect(failed(await s2sauth(['partner', 'list']), 2)).to.equal('s2sauth: no registry file: give --store <file> or set S2SAUTH_STORE');
      expect(failed(await s2sauth(['partner', 'list'], { S2SAUTH_STORE: '' }), 2)).to.equal('s2sauth: no registry file: give --store <file> or set S2SAUTH_STORE');
      expect(failed(await s2sauth(['partner', 'list', '--store', ''], { S2SAUTH_STORE: fromFlag }), 2)).to.match(/no registry file/);
      expect(succeeded(await s2sauth(['partner', 'list'], { S2SAUTH_STORE: fromFlag }))).to.include('contoso.crm');
      // The flag wins over the environment.
      expect(failed(await s2sauth(['partner', 'list', '--store', fromEnvironment], { S2SAUTH_STORE: fromFlag }), 1)).to.equal(`s2sauth: no registry at ${fromEnvironment}`);
      // Global options may come before the command too.
      expect(succeeded(await s2sauth(['--json', '--store', fromFlag, 'partner', 'list']))).to.match(/^\[\n {2}\{\n {4}"identity": "contoso\.crm"/);
    });

    it('is never created by a command other than add: "no registry at <file>", exit 1', async () => {
      const missing = folder.file('missing/registry.sqlite');
      const commands = [
        ['partner', 'list'],
        ['partner', 'get', 'contoso.crm'],
        ['partner', 'set', 'contoso.crm', '--disabled'],
        ['partner', 'remove', 'contoso.crm'],
        ['partner', 'disable', 'contoso.crm'],
        ['oauth-server', 'list'],
        ['oauth-server', 'enable', 'microsoft.sts'],
        ['client', 'list'],
        ['client', 'remove', `${CRM}@contoso.com`],
        ['client', 'set', `${CRM}@contoso.com`, '--disabled'],
      ];
      for (const command of commands) {
        expect(failed(await s2sauth([...command, '--store', missing, '--json']), 1)).to.equal(`s2sauth: no registry at ${missing}`);
      }
      expect(existsSync(folder.file('missing'))).to.equal(false);
    });

    it('is created by add, with its folder, readable by its owner only', async () => {
      const created = folder.file('new/folder/registry.sqlite');
      succeeded(await addCrm(created));
      expect(existsSync(created)).to.equal(true);
      if (process.platform !== 'win32') expect(statSync(created).mode & 0o777).to.equal(0o600);
      succeeded(await s2sauth(['client', 'add', `${CRM}@contoso.com`, '--store', folder.file('new/sts.sqlite')]));
      if (process.platform !== 'win32') expect(statSync(folder.file('new/sts.sqlite')).mode & 0o777).to.equal(0o600);
    });

    it('is not left behind, empty, by an add that was refused', async () => {
      const refused = folder.file('refused/registry.sqlite');
      failed(await s2sauth(['partner', 'add', 'crm', '--metadata-url', 'http://127.0.0.1:9/metadata/json/1', '--store', refused]), 1);
      for (const file of [refused, `${refused}-wal`, `${refused}-shm`]) expect(existsSync(file), file).to.equal(false);
    });

    it('refuses, in one line, a folder, a file that is not a registry, and a registry of a newer version', async () => {
      mkdirSync(folder.file('a-folder'));
      expect(failed(await s2sauth(['partner', 'list', '--store', folder.file('a-folder')]), 1)).to.equal(`s2sauth: ${folder.file('a-folder')} is a folder, not a registry file`);
      writeFileSync(folder.file('notes.txt'), 'not a database, just some notes that are long enough to be read as a header. '.repeat(20));
      expect(failed(await s2sauth(['partner', 'list', '--store', folder.file('notes.txt')]), 1)).to.equal(
        `s2sauth: not an s2sauth registry: ${folder.file('notes.txt')}`,
      );
      const newer = folder.file('newer.sqlite');
      SqliteStore.open(newer).close();
      const database = new Database(newer);
      database.pragma('user_version = 9999');
      database.close();
      expect(failed(await s2sauth(['partner', 'list', '--store', newer]), 1)).to.match(/^s2sauth: .*schema version 9999, newer than version \d+/);
    });
  });

  describe('failures', () => {
    it("name the command line's flags where the registry names its options", () => {
      expect(inFlagTerms('metadataUrl: must be an https URL (plain http only to a loopback host, with allowLoopback)')).to.equal(
        '--metadata-url: must be an https URL (plain http only to a loopback host, with --allow-loopback)',
      );
      expect(inFlagTerms('certificate: expired')).to.equal('--certificate: expired');
      expect(inFlagTerms('realm: OAuth server "x" is already registered for realm contoso.com')).to.equal(
        '--realm: OAuth server "x" is already registered for realm contoso.com',
      );
      expect(inFlagTerms('identity: a partner named "a" is already registered')).to.equal('identity: a partner named "a" is already registered');
    });

    it('are one line without a stack trace, whatever was thrown', () => {
      expect(firstLine(new Error('first\n    at somewhere (file.ts:1:1)'))).to.equal('first');
      expect(firstLine('a string')).to.equal('a string');
      expect(firstLine(new Error(''))).to.equal('failed');
      expect(new CliError('refused').exitCode).to.equal(1);
    });

    it('never throws out of runCli, even when writing fails', async () => {
      const io = {
        stdout: {
          write: (): never => {
            throw new Error('EPIPE: broken pipe\nwith a second line');
          },
        },
        stderr: { write: (text: string) => (stderr += text) },
        env: {},
      };
      let stderr = '';
      const store = folder.file('writes.sqlite');
      succeeded(await addCrm(store));
      expect(await runCli(['partner', 'list', '--store', store], io)).to.equal(1);
      expect(stderr).to.equal('s2sauth: EPIPE: broken pipe\n');
    });
  });

  describe('the s2sauth program (bin), in another process', () => {
    it('disables a partner that a PartnerRegistry running in this process sees disabled within 2 s', async () => {
      const file = folder.file('running-server.sqlite');
      succeeded(await addCrm(file));
      // What a running server has: a registry on the same file, watching it (PRAGMA data_version).
      const store = SqliteStore.open(file);
      const registry = new PartnerRegistry({ store });
      try {
        const changes: unknown[][] = [];
        registry.onChange((identity, kind) => changes.push([identity, kind]));
        const revision = registry.revision;
        expect(registry.get('contoso.crm')?.enabled).to.equal(true);

        const result = await runBin(['partner', 'disable', 'contoso.crm', '--store', file]);
        expect(result).to.deep.include({ code: 0, stderr: '' });
        expect(result.stdout).to.match(/^disabled partner application contoso\.crm\n/);

        const deadline = Date.now() + 2000;
        while (changes.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        expect(changes, 'the registry was not told of the change within 2 s').to.deep.equal([[undefined, undefined]]);
        expect(registry.revision).to.be.greaterThan(revision);
        expect(registry.get('contoso.crm')?.enabled).to.equal(false);
      } finally {
        registry.close();
        store.close();
      }
    });

    it('exits with 1 for a refusal and 2 for a usage mistake, one line on standard error', async () => {
      const file = folder.file('refusals.sqlite');
      succeeded(await addCrm(file));
      expect(await runBin(['partner', 'get', 'nobody', '--store', file])).to.deep.equal({ code: 1, stdout: '', stderr: 's2sauth: no partner application named "nobody"\n' });
      expect(await runBin(['partner', 'bogus'])).to.deep.equal({ code: 2, stdout: '', stderr: "s2sauth: unknown command 'bogus' (see --help)\n" });
    });

    it('ends quietly when its reader goes away (s2sauth --help | head -1)', async () => {
      const child = spawn(process.execPath, ['--conditions=s2sauth-source', '--import=tsx', 'packages/cli/src/bin.ts', '--help'], {
        cwd: repositoryRoot,
        env: { ...process.env, NODE_V8_COVERAGE: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      // Like head -1: take the first chunk, then close the pipe before the rest is written.
      child.stdout.once('data', () => child.stdout.destroy());
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
    });
  });
});
