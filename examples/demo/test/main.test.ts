import { expect } from 'chai';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnwritableDatabaseError } from '@s2sauth/example-support';
import { describeFailure, main, parseDemoArguments, UsageError } from '../src/main.js';
import { freePort, removeTemporaryFolders, temporaryFolder } from './support.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MAIN = join(root, 'examples', 'demo', 'src', 'main.ts');

/** The environment of a child: no coverage collection (c8's own files stay consistent), no npm cwd. */
function childEnvironment(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_V8_COVERAGE: '', ...extra };
  delete env['INIT_CWD'];
  delete env['S2SAUTH_DEMO_PASSWORD'];
  return env;
}

interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `npm start`'s command: node with tsx on main.ts. */
const DEMO_COMMAND: readonly string[] = [process.execPath, '--conditions=s2sauth-source', '--import=tsx', MAIN];

/** Runs `npm start`'s command (or `command`) with `args` and collects its output. */
function startDemo(
  args: readonly string[],
  env: NodeJS.ProcessEnv = childEnvironment(),
  command: readonly string[] = DEMO_COMMAND,
  detached = false,
): { child: ChildProcess; output: { stdout: string; stderr: string }; exit: Promise<Finished> } {
  const [file, ...leading] = command as [string, ...string[]];
  // detached: a process group of its own, as a terminal gives a command (Ctrl-C signals the whole group).
  const child = spawn(file, [...leading, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached });
  const output = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output.stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output.stderr += chunk));
  const exit = new Promise<Finished>((resolve) => child.once('exit', (code) => resolve({ code, ...output })));
  return { child, output, exit };
}

/** Resolves once stdout has a line starting with `Ready:`; rejects if the process exits first. */
function ready(run: ReturnType<typeof startDemo>): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (/^Ready: /m.test(run.output.stdout)) resolve(run.output.stdout);
    };
    run.child.stdout?.on('data', check);
    check();
    run.exit.then((finished) => reject(new Error(`the demo exited (${finished.code}) before it was ready: ${finished.stderr}`)), reject);
  });
}

function sh(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], { cwd: root, env: childEnvironment() }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The ids of the processes whose command line contains `text` (the test's own data folder). */
function processesWith(text: string): Promise<number[]> {
  return new Promise((resolve) => {
    // pgrep exits 1 when nothing matches: no process, not an error.
    execFile('pgrep', ['-f', '--', text], (_error, stdout) => resolve(stdout.split('\n').filter((line) => line !== '').map(Number)));
  });
}

/** Kills what is left of a test's demo (the processes whose command line contains `text`). */
async function killAll(text: string): Promise<void> {
  for (const pid of await processesWith(text)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone in the meantime.
    }
  }
}

/** Resolves once none of `pids` is running; rejects after 20 s (then they are killed by the caller). */
async function exited(pids: readonly number[]): Promise<void> {
  const running = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let attempt = 0; attempt < 200; attempt += 1) {
    if (!pids.some(running)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`still running: ${pids.filter(running).join(', ')}`);
}

/** True when nothing accepts connections on 127.0.0.1:`port`. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

/** Calls main() in this process with standard output and error captured (only for runs that do not start). */
async function mainCaptured(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const captured = { stdout: '', stderr: '' };
  const write = { stdout: process.stdout.write, stderr: process.stderr.write };
  process.stdout.write = ((chunk: string) => ((captured.stdout += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((captured.stderr += chunk), true)) as typeof process.stderr.write;
  try {
    return { code: await main(argv, env), ...captured };
  } finally {
    process.stdout.write = write.stdout;
    process.stderr.write = write.stderr;
  }
}

describe('npm start (examples/demo/src/main.ts)', () => {
  after(removeTemporaryFolders);

  it('exports the argument parser', () => {
    expect(parseDemoArguments([], {})).to.have.property('kind', 'run');
  });

  it('prints the help and exits 0 for --help', async () => {
    const result = await mainCaptured(['--help']);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.include('Usage: npm start -- [options]').and.include('--scenario <name>');
  });

  it('answers a command-line mistake with one line and exit code 2', async () => {
    for (const argv of [['--scenario', 'moon'], ['--scenario', 'cloud', '--sts-port', '4401'], ['--lync-port', 'x'], ['--nope']]) {
      const result = await mainCaptured(argv);
      expect(result.code, argv.join(' ')).to.equal(2);
      expect(result.stderr.trimEnd().split('\n'), argv.join(' ')).to.have.length(1);
    }
    expect((await mainCaptured(['--scenario', 'moon'])).stderr).to.equal('Unknown scenario "moon": choose onprem, cloud or hybrid.\n');
  });

  it('answers a data folder that cannot be written with one line and exit code 1', async () => {
    const file = join(await temporaryFolder(), 'not-a-folder');
    await writeFile(file, '');
    const result = await mainCaptured(['--data', join(file, 'data')]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.equal(`Cannot use ${join(file, 'data', 'onprem')} (ENOTDIR): choose a writable data folder with --data or S2SAUTH_DATA.\n`);
  });

  it('describes each failure in one line, without a stack trace', () => {
    const inUse = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:4401'), { code: 'EADDRINUSE', port: 4401, address: '127.0.0.1' });
    const ports = { lyncPort: 4401, exchangePort: 4402 };
    expect(describeFailure(inUse, ports)).to.equal('Port 4401 on 127.0.0.1 is in use: stop what uses it, or choose another port for Lync (--lync-port or LYNC_PORT).');
    expect(describeFailure({ ...inUse, port: 4402 }, ports)).to.include('another port for Exchange (--exchange-port or EXCHANGE_PORT)');
    expect(describeFailure({ code: 'EADDRINUSE' }, undefined)).to.equal('A port is in use: stop what uses it, or choose other ports.');
    expect(describeFailure({ code: 'EADDRINUSE', port: 9 }, ports)).to.equal('Port 9 is in use: stop what uses it, or choose other ports.');
    expect(describeFailure({ ...inUse, port: 4400 }, { ...ports, stsPort: 4400, scenario: 'cloud' })).to.equal(
      'Port 4400 on 127.0.0.1 is in use: stop what uses it, or choose another port for the STS (--sts-port or STS_PORT).',
    );
    // On premises no STS runs, so its port is not the one in use.
    expect(describeFailure({ ...inUse, port: 4400 }, { ...ports, stsPort: 4400, scenario: 'onprem' })).to.include('or choose other ports.');
    expect(describeFailure({ code: 'EACCES', path: '/srv/x' }, ports)).to.equal('Cannot use /srv/x (EACCES): choose a writable data folder with --data or S2SAUTH_DATA.');
    expect(describeFailure({ code: 'EROFS' }, ports)).to.equal('Cannot use the data folder (EROFS): choose a writable data folder with --data or S2SAUTH_DATA.');
    // A database that cannot be written is named with what to change (issue 9).
    expect(describeFailure(new UnwritableDatabaseError('/srv/x/lync.sqlite', 'SQLITE_READONLY'), ports)).to.match(
      /^Cannot write \/srv\/x\/lync\.sqlite \(SQLITE_READONLY\): give the user running the server \(uid \d+\) write permission on it and on its folder \(chown or chmod u\+w\), or move the data folder to a writable disk\. \(--data or S2SAUTH_DATA chooses another data folder\.\)$/,
    );
    expect(describeFailure(new UsageError('Bad.'), ports)).to.equal('Bad.');
    expect(describeFailure(new TypeError('first line\nsecond line'), ports)).to.equal('first line');
    expect(describeFailure('odd', ports)).to.equal('odd');
  });

  /** What each scenario's 401 challenge (the last printed command) says, for its tenant. */
  const challenges = {
    onprem: () => /^WWW-Authenticate: Bearer realm="contoso\.com", client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000004-0000-0ff1-ce00-000000000000@contoso\.com"/im,
    cloud: (tenant: string) =>
      new RegExp(`^WWW-Authenticate: Bearer realm="${tenant}", client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="[^"]*00000001-0000-0000-c000-000000000000@${tenant}[^"]*".*authorization_uri="http://127\\.0\\.0\\.1:\\d+/${tenant}/tokens/OAuth/2"`, 'im'),
    hybrid: (tenant: string) =>
      new RegExp(`^WWW-Authenticate: Bearer realm="${tenant}", client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="[^"]*00000001-0000-0000-c000-000000000000@${tenant}[^"]*".*authorization_uri=`, 'im'),
  } as const;

  for (const scenario of ['onprem', 'cloud', 'hybrid'] as const) {
    it(`runs the ${scenario} scenario, every printed curl command works as printed, and Ctrl-C stops it with exit code 0`, async function () {
      this.timeout(90_000);
      const data = join(await temporaryFolder(), 'data');
      const [lyncPort, exchangePort, stsPort] = [await freePort(), await freePort(), await freePort()];
      const args = ['--data', data, '--lync-port', String(lyncPort), '--exchange-port', String(exchangePort)];
      const run = startDemo(scenario === 'onprem' ? args : [...args, '--scenario', scenario, '--sts-port', String(stsPort)]);
      try {
        const guide = await ready(run);
        expect(guide).to.include(`http://127.0.0.1:${lyncPort}`).and.include(`http://127.0.0.1:${exchangePort}`);
        expect(guide).to.include('alice@contoso.com, bob@contoso.com, carol@contoso.com');
        expect(guide).to.match(/Password {2}[A-Za-z0-9]{16} {2}\(generated on this first start/);
        let tenant = '';
        if (scenario === 'onprem') {
          expect(guide).to.not.include('STS');
          expect(guide).to.match(/^Ready: Lync \S+, Exchange \S+\. Ctrl-C stops both\.$/m);
        } else {
          tenant = (await readFile(join(data, scenario, 'tenant'), 'utf8')).trim();
          expect(guide.split('\n')[0]).to.include(`tenant ${tenant}`);
          expect(guide).to.include(`  STS       http://127.0.0.1:${stsPort}      issues tokens for tenant ${tenant}`);
          expect(guide).to.match(new RegExp(`^Ready: STS http://127\\.0\\.0\\.1:${stsPort}, Lync \\S+, Exchange \\S+\\. Ctrl-C stops all three\\.$`, 'm'));
        }

        const commands = guide.split('\n').filter((line) => line.startsWith('curl '));
        expect(commands).to.have.length(11);
        const outputs: string[] = [];
        for (const command of commands) {
          const result = await sh(command);
          // --fail-with-body: exit 0 means a 2xx answer.
          expect(result.code, `${command}\n${result.stdout}${result.stderr}`).to.equal(0);
          outputs.push(result.stdout);
        }
        const [lyncLogin, added, exchangeLogin, exchangeContacts, started, message, ended, , meeting, conferences, challenge] = outputs as string[];
        expect(JSON.parse(lyncLogin as string)).to.have.nested.property('user.username', 'alice@contoso.com');
        expect(JSON.parse(added as string)).to.include({ displayName: 'Bob Brown', email: 'bob@contoso.com' });
        expect(JSON.parse(exchangeLogin as string)).to.have.nested.property('user.username', 'alice@contoso.com');
        expect((JSON.parse(exchangeContacts as string) as { email: string }[]).map((contact) => contact.email)).to.include('bob@contoso.com');
        const conversation = JSON.parse(started as string) as { id: string };
        expect(JSON.parse(message as string)).to.include({ from: 'alice@contoso.com', text: 'Lunch at noon?' });
        expect(JSON.parse(ended as string)).to.include({ id: conversation.id });
        expect(JSON.parse(meeting as string)).to.include({ subject: 'Design review', organizer: 'alice@contoso.com' });
        expect((JSON.parse(conferences as string) as { subject: string }[]).map((conference) => conference.subject)).to.include('Design review');
        expect(challenge).to.match(/^HTTP\/1\.1 401 /);
        expect(challenge).to.match(challenges[scenario](tenant));

        // Archiving is asynchronous (Lync's outbox): the printed mail command shows the transcript once delivered.
        const mailCommand = commands[7] as string;
        let mail: { conversationId: string }[] = [];
        for (let attempt = 0; attempt < 100 && !mail.some((item) => item.conversationId === conversation.id); attempt += 1) {
          mail = JSON.parse((await sh(mailCommand)).stdout) as { conversationId: string }[];
          if (!mail.some((item) => item.conversationId === conversation.id)) await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(mail.map((item) => item.conversationId)).to.include(conversation.id);

        if (scenario !== 'onprem') {
          // The STS's decisions are in the audit log beside the servers': it issued tokens to both.
          const audit = await readFile(join(data, scenario, 'audit.log'), 'utf8');
          const issued = audit
            .split('\n')
            .filter((line) => line.includes('"sts decision"'))
            .map((line) => JSON.parse(line) as { decision: string; clientId?: string });
          const clients = new Set(issued.filter((event) => event.decision === 'issue').map((event) => event.clientId));
          expect([...clients]).to.have.members([`00000004-0000-0ff1-ce00-000000000000@${tenant}`, `00000002-0000-0ff1-ce00-000000000000@${tenant}`]);
          for (const folder of ['sts', 'lync', 'exchange']) expect((await stat(join(data, scenario, folder))).isDirectory(), folder).to.equal(true);
        }

        run.child.kill('SIGINT');
        const finished = await run.exit;
        expect(finished.code).to.equal(0);
        expect(finished.stderr).to.equal('');
      } finally {
        run.child.kill('SIGKILL');
      }
    });
  }

  it('adds Bob once when the printed commands run twice (the contact command checks first)', async function () {
    this.timeout(90_000);
    const data = join(await temporaryFolder(), 'data');
    const run = startDemo(['--data', data, '--lync-port', '0', '--exchange-port', '0']);
    try {
      const commands = (await ready(run)).split('\n').filter((line) => line.startsWith('curl '));
      const outputs: string[] = [];
      for (const round of [1, 2]) {
        for (const command of commands) {
          const result = await sh(command);
          expect(result.code, `round ${round}: ${command}\n${result.stdout}${result.stderr}`).to.equal(0);
          outputs.push(result.stdout);
        }
      }
      expect(outputs[commands.length + 1]).to.equal('Bob is already a contact.\n');
      const contacts = JSON.parse(outputs[commands.length + 3] as string) as { email: string }[];
      expect(contacts.filter((contact) => contact.email === 'bob@contoso.com')).to.have.length(1);
      run.child.kill('SIGINT');
      expect((await run.exit).code).to.equal(0);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('reuses the data on a restart and stops on SIGTERM with exit code 0', async function () {
    this.timeout(60_000);
    const data = join(await temporaryFolder(), 'data');
    const args = ['--data', data, '--lync-port', '0', '--exchange-port', '0'];
    const first = startDemo(args);
    const password = /Password {2}(\S+)/.exec(await ready(first))?.[1];
    first.child.kill('SIGTERM');
    expect((await first.exit).code).to.equal(0);

    const second = startDemo(args);
    try {
      const guide = await ready(second);
      expect(guide).to.include(`Password  ${password}  (generated on the first start, kept in ${join(data, 'demo-password')})`);
      second.child.kill('SIGINT');
      expect((await second.exit).code).to.equal(0);
    } finally {
      second.child.kill('SIGKILL');
    }
  });

  it('npm start stops when a supervisor sends SIGTERM to the npm process only: npm and the demo exit 0, the ports close', async function () {
    this.timeout(90_000);
    const data = join(await temporaryFolder(), 'data');
    const run = startDemo(['start', '--silent', '--', '--data', data, '--lync-port', '0', '--exchange-port', '0'], childEnvironment(), ['npm']);
    let demo: number[] = [];
    try {
      const ports = /^Ready: Lync http:\/\/127\.0\.0\.1:(\d+), Exchange http:\/\/127\.0\.0\.1:(\d+)\./m.exec(await ready(run))?.slice(1).map(Number) ?? [];
      expect(ports).to.have.length(2);
      demo = await processesWith(data);
      expect(demo).to.have.length.greaterThan(0);
      run.child.kill('SIGTERM');
      const finished = await run.exit;
      expect(finished.code).to.equal(0);
      await exited(demo);
      for (const port of ports) expect(await refused(port), `port ${port}`).to.equal(true);
    } finally {
      run.child.kill('SIGKILL');
      await killAll(data);
    }
  });

  it('npm start: Ctrl-C (SIGINT to the process group, which npm forwards again) stops the demo, and npm exits 0', async function () {
    this.timeout(90_000);
    const data = join(await temporaryFolder(), 'data');
    const run = startDemo(['start', '--silent', '--', '--data', data, '--lync-port', '0', '--exchange-port', '0'], childEnvironment(), ['npm'], true);
    try {
      await ready(run);
      process.kill(-(run.child.pid as number), 'SIGINT');
      const finished = await run.exit;
      expect(finished.code).to.equal(0);
      expect(finished.stderr).to.equal('');
      expect(await processesWith(data)).to.deep.equal([]);
    } finally {
      await killAll(data);
    }
  });

  it('takes a second signal right after the first for the same stop (npm forwards what its process group already got): exit 0', async function () {
    this.timeout(60_000);
    const data = join(await temporaryFolder(), 'data');
    const run = startDemo(['--data', data, '--lync-port', '0', '--exchange-port', '0']);
    try {
      await ready(run);
      // Two different signals, so that the system cannot merge them into one.
      run.child.kill('SIGINT');
      run.child.kill('SIGTERM');
      const finished = await run.exit;
      expect(finished.code).to.equal(0);
      expect(finished.stderr).to.equal('');
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('stops by itself, with its ports closed, when the process that started it is gone', async function () {
    this.timeout(90_000);
    const data = join(await temporaryFolder(), 'data');
    // A shell that stays the parent (no exec: it has more to run), as npm's shell was before `exec`.
    const script = `${DEMO_COMMAND.map((word) => JSON.stringify(word)).join(' ')} "$@"; exit $?`;
    const run = startDemo(['--data', data, '--lync-port', '0', '--exchange-port', '0'], childEnvironment(), ['sh', '-c', script, 'sh']);
    try {
      const ports = /^Ready: Lync http:\/\/127\.0\.0\.1:(\d+), Exchange http:\/\/127\.0\.0\.1:(\d+)\./m.exec(await ready(run))?.slice(1).map(Number) ?? [];
      expect(ports).to.have.length(2);
      const demo = (await processesWith(data)).filter((pid) => pid !== run.child.pid);
      expect(demo).to.have.length(1);
      run.child.kill('SIGKILL');
      await exited(demo);
      for (const port of ports) expect(await refused(port), `port ${port}`).to.equal(true);
    } finally {
      run.child.kill('SIGKILL');
      await killAll(data);
    }
  });

  it('reuses the tenant of the cloud scenario on a restart', async function () {
    this.timeout(90_000);
    const data = join(await temporaryFolder(), 'data');
    const args = ['--data', data, '--scenario', 'cloud', '--sts-port', '0', '--lync-port', '0', '--exchange-port', '0'];
    const first = startDemo(args);
    const tenant = /tenant ([0-9a-f-]{36})/.exec(await ready(first))?.[1];
    expect(tenant).to.be.a('string');
    first.child.kill('SIGTERM');
    expect((await first.exit).code).to.equal(0);

    const second = startDemo(args);
    try {
      expect(/tenant ([0-9a-f-]{36})/.exec(await ready(second))?.[1]).to.equal(tenant);
      second.child.kill('SIGINT');
      expect((await second.exit).code).to.equal(0);
    } finally {
      second.child.kill('SIGKILL');
    }
  });

  it('answers the STS port in use with one line naming --sts-port and exit code 1', async function () {
    this.timeout(60_000);
    const blocker = createServer();
    const port = await listen(blocker);
    try {
      const data = join(await temporaryFolder(), 'data');
      const finished = await startDemo(['--data', data, '--scenario', 'hybrid', '--sts-port', String(port), '--lync-port', '0', '--exchange-port', '0']).exit;
      expect(finished.code).to.equal(1);
      expect(finished.stdout).to.equal('');
      expect(finished.stderr).to.equal(`Port ${port} on 127.0.0.1 is in use: stop what uses it, or choose another port for the STS (--sts-port or STS_PORT).\n`);
    } finally {
      blocker.close();
    }
  });

  it('answers a port in use with one line and exit code 1', async function () {
    this.timeout(60_000);
    const blocker = createServer();
    const port = await listen(blocker);
    try {
      const data = join(await temporaryFolder(), 'data');
      const finished = await startDemo(['--data', data, '--lync-port', String(port), '--exchange-port', String(await freePort())]).exit;
      expect(finished.code).to.equal(1);
      expect(finished.stdout).to.equal('');
      expect(finished.stderr).to.equal(`Port ${port} on 127.0.0.1 is in use: stop what uses it, or choose another port for Lync (--lync-port or LYNC_PORT).\n`);
    } finally {
      blocker.close();
    }
  });
});
