import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { mock } from 'node:test';
import { expect } from 'chai';
import { parseStrictJson } from '@s2sauth/protocol';
import { pino } from 'pino';
import { AUDIT_LOG_LIMITS, openDemoLogs } from '../src/demo-logs.js';
import { startCloud, type StsScenario, type StsScenarioOptions } from '../src/sts-scenarios.js';
import { removeTemporaryFolders, temporaryFolder } from './support.js';

const PASSWORD = 'correct horse battery staple';

/** A stream that keeps what is written to it, line by line. */
function capture(): { stream: Writable; lines: () => string[] } {
  let text = '';
  const stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, lines: () => text.split('\n').filter((line) => line !== '') };
}

/**
 * Gives every logger of a running scenario something to write: sign-ins, a contact added through
 * Lync (a token from the STS, accepted by Exchange), a refused token at each server.
 */
async function exercise(scenario: StsScenario): Promise<void> {
  const login = await fetch(`${scenario.lync.url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'alice@contoso.com', password: PASSWORD }),
  });
  expect(login.status).to.equal(200);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
  const added = await fetch(`${scenario.lync.url}/me/contacts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify({ displayName: 'Bob Brown', email: 'bob@contoso.com' }),
  });
  expect(added.status).to.equal(201);
  for (const url of [`${scenario.exchange.url}/api/ucs/contacts`, `${scenario.lync.url}/api/conferences`]) {
    expect((await fetch(url, { headers: { authorization: 'Bearer not.a.token' } })).status).to.equal(401);
  }
}

/** Every line parsed with the project's strict parser (which refuses a duplicate member name). */
function strictlyParsed(lines: readonly string[]): Record<string, unknown>[] {
  return lines.map((line) => parseStrictJson(line) as Record<string, unknown>);
}

describe('the demo logs (examples/demo/src/demo-logs.ts)', () => {
  after(removeTemporaryFolders);

  function options(dataDir: string, extra: Partial<StsScenarioOptions>): StsScenarioOptions {
    return { dataDir, stsPort: 0, lyncPort: 0, exchangePort: 0, password: PASSWORD, ...extra };
  }

  it('writes lines with one member per name, as npm start sets them up (servers, STS, audit)', async function () {
    this.timeout(60_000);
    const folder = await temporaryFolder();
    const log = capture();
    const logs = await openDemoLogs({ verbose: true, auditLog: join(folder, 'audit.log'), log: log.stream });
    const scenario = await startCloud(options(join(folder, 'cloud'), { logger: logs.logger, audit: logs.audit, stsLogger: logs.stsLogger }));
    try {
      await exercise(scenario);
    } finally {
      await scenario.close();
      await logs.close();
    }
    const serverLines = strictlyParsed(log.lines());
    expect(new Set(serverLines.map((line) => line['name']))).to.deep.equal(new Set(['s2sauth-demo']));
    expect(new Set(serverLines.map((line) => line['server']))).to.include('lync').and.include('exchange');
    const auditLines = strictlyParsed((await readFile(join(folder, 'audit.log'), 'utf8')).split('\n').filter((line) => line !== ''));
    const names = new Set(auditLines.map((line) => line['name']));
    expect(names).to.deep.equal(new Set(['s2sauth-audit', 's2sauth-sts']));
    expect(auditLines.filter((line) => line['msg'] === 'sts decision')).to.not.be.empty;
    expect(auditLines.filter((line) => line['msg'] === 's2sauth accept')).to.not.be.empty;
    expect(auditLines.filter((line) => line['msg'] === 's2sauth reject')).to.have.length(2);
  });

  it('writes lines with one member per name with the servers\' and the STS\'s own default loggers', async function () {
    this.timeout(60_000);
    const folder = await temporaryFolder();
    const log = capture();
    // No audit sink and no STS logger: each server audits through its own child logger, the STS logs through one too.
    const logger = pino({ name: 's2sauth-demo', level: 'info' }, log.stream);
    const scenario = await startCloud(options(folder, { logger }));
    try {
      await exercise(scenario);
    } finally {
      await scenario.close();
    }
    const lines = strictlyParsed(log.lines());
    expect(new Set(lines.map((line) => line['server']))).to.deep.equal(new Set(['sts', 'lync', 'exchange']));
    expect(new Set(lines.map((line) => line['component']))).to.include('s2sauth-audit').and.include('s2sauth-sts-audit');
    expect(lines.filter((line) => line['msg'] === 's2sauth reject')).to.have.length(2);
  });

  describe('audit log rotation', () => {
    /** Writes `count` audit events numbered from `from` (their tokenId). */
    function writeEvents(audit: (event: { decision: 'accept'; tokenId: string; partner: string }) => void, from: number, count: number): void {
      for (let n = from; n < from + count; n += 1) audit({ decision: 'accept', tokenId: String(n), partner: 'microsoft.lync' });
    }

    /** The files of `folder` and the token ids of their lines, oldest file first. */
    async function filesOf(folder: string): Promise<{ name: string; size: number; ids: number[] }[]> {
      const names = (await readdir(folder)).filter((name) => name.startsWith('audit.log'));
      const order = (name: string): number => (name === 'audit.log' ? 0 : Number(name.slice('audit.log.'.length)));
      names.sort((a, b) => order(b) - order(a));
      return Promise.all(
        names.map(async (name) => {
          const text = await readFile(join(folder, name), 'utf8');
          const ids = text.split('\n').filter((line) => line !== '').map((line) => Number((parseStrictJson(line) as { tokenId: string }).tokenId));
          return { name, size: (await stat(join(folder, name))).size, ids };
        }),
      );
    }

    it('rotates by size to audit.log.1, .2, ... and loses no line across the rotations', async () => {
      const folder = await temporaryFolder();
      const logs = await openDemoLogs({ verbose: false, auditLog: join(folder, 'audit.log'), log: capture().stream, auditLimits: { size: '2K', keep: 10 } });
      writeEvents(logs.audit, 0, 100);
      await logs.close();
      const files = await filesOf(folder);
      const lineBytes = Math.max(...(await readFile(join(folder, 'audit.log.1'), 'utf8')).split('\n').map((line) => line.length + 1));
      // About 140 bytes a line, 100 lines: 14 KB in files of 2 KB, so 6 or 7 rotated and the current one.
      expect(files.length).to.be.within(7, 8);
      expect(files.map((file) => file.name).slice(-2)).to.deep.equal(['audit.log.1', 'audit.log']);
      for (const file of files.slice(0, -1)) expect(file.size, file.name).to.be.within(2048, 2048 + lineBytes - 1);
      expect(files.flatMap((file) => file.ids)).to.deep.equal([...Array(100).keys()]);
    });

    it('keeps only the newest `keep` rotated files besides audit.log, with the newest lines', async () => {
      const folder = await temporaryFolder();
      const logs = await openDemoLogs({ verbose: false, auditLog: join(folder, 'audit.log'), log: capture().stream, auditLimits: { size: '1K', keep: 3 } });
      writeEvents(logs.audit, 0, 200);
      await logs.close();
      const files = await filesOf(folder);
      expect(files.map((file) => file.name)).to.deep.equal(['audit.log.3', 'audit.log.2', 'audit.log.1', 'audit.log']);
      const ids = files.flatMap((file) => file.ids);
      // The lines kept are the newest ones, in order, none missing among them.
      expect(ids).to.deep.equal([...Array(ids.length).keys()].map((n) => 200 - ids.length + n));
    });

    it('appends to an existing audit.log after a restart and rotates it by its age', async () => {
      const folder = await temporaryFolder();
      const auditLog = join(folder, 'audit.log');
      const first = await openDemoLogs({ verbose: false, auditLog, log: capture().stream });
      writeEvents(first.audit, 0, 3);
      await first.close();
      mock.timers.enable({ apis: ['Date', 'setTimeout'], now: Date.now() });
      try {
        const second = await openDemoLogs({ verbose: false, auditLog, log: capture().stream, auditLimits: { interval: '1h' } });
        writeEvents(second.audit, 3, 2);
        // Written to the file (an empty write's callback runs after the writes before it) before the hour passes.
        await new Promise((resolve) => second.auditStream.write('', resolve));
        mock.timers.tick(60 * 60_000);
        writeEvents(second.audit, 5, 2);
        await second.close();
      } finally {
        mock.timers.reset();
      }
      const files = await filesOf(folder);
      expect(files.map((file) => [file.name, file.ids])).to.deep.equal([
        ['audit.log.1', [0, 1, 2, 3, 4]],
        ['audit.log', [5, 6]],
      ]);
    });

    it('reports a failing audit log once on the servers\' log, and later audit lines do not throw', async () => {
      const folder = await temporaryFolder();
      const log = capture();
      const logs = await openDemoLogs({ verbose: false, auditLog: join(folder, 'audit.log'), log: log.stream });
      const closed = new Promise((resolve) => logs.auditStream.once('close', resolve));
      logs.auditStream.destroy(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
      await closed;
      expect(() => writeEvents(logs.audit, 0, 3)).to.not.throw();
      await logs.close();
      const lines = strictlyParsed(log.lines());
      expect(lines).to.have.length(1);
      expect(lines[0]).to.include({ level: 50, msg: 'cannot write the audit log; audit lines are lost until a restart', file: join(folder, 'audit.log') });
    });

    it('has the documented defaults', () => {
      expect(AUDIT_LOG_LIMITS).to.deep.equal({ size: '10M', interval: '1d', keep: 5 });
    });
  });
});
