import { expect } from 'chai';
import { after, before, describe, it } from 'mocha';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { runInChildProcess } from '@s2sauth/test-support/child-process';
import { auditDestination, pinoAuditSink, type AuditEvent } from '../src/audit.js';

function capture(): { lines: Array<Record<string, unknown>>; stream: Writable } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe('pinoAuditSink', () => {
  it('writes accepts at info and rejects at warn, one JSON line per event', async () => {
    const { lines, stream } = capture();
    const sink = pinoAuditSink(pino({ name: 'test-audit' }, stream));
    sink({ decision: 'accept', partner: 'microsoft.lync', audience: 'a', status: 200, cached: true });
    sink({ decision: 'reject', code: 'token_expired', reason: 'expired 5 s ago, skew 0 s', status: 401 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).to.have.length(2);
    expect(lines[0]).to.include({ level: 30, msg: 's2sauth accept', decision: 'accept', partner: 'microsoft.lync', cached: true, name: 'test-audit' });
    expect(lines[1]).to.include({ level: 40, msg: 's2sauth reject', code: 'token_expired', status: 401 });
  });

  it('creates a default logger when none is given', () => {
    expect(pinoAuditSink()).to.be.a('function');
  });

  it('hands the event to the logger without changing it', async () => {
    const { lines, stream } = capture();
    const sink = pinoAuditSink(pino({ name: 'test-audit' }, stream));
    const event: AuditEvent = Object.freeze({ decision: 'reject', code: 'token_expired', reason: 'expired', status: 401, method: 'GET', path: '/x' });
    sink(event);
    await new Promise((resolve) => setImmediate(resolve));
    expect(event).to.deep.equal({ decision: 'reject', code: 'token_expired', reason: 'expired', status: 401, method: 'GET', path: '/x' });
    expect(lines[0]).to.include({ decision: 'reject', code: 'token_expired', method: 'GET', path: '/x' });
  });

  describe('the default, buffered destination', () => {
    const COUNT = 3000;
    const writeEvents = `
      import { pinoAuditSink } from '@s2sauth/middleware';
      const sink = pinoAuditSink();
      for (let i = 0; i < ${COUNT}; i++) sink({ decision: i % 7 === 0 ? 'reject' : 'accept', status: 200, partner: 'p' + i, path: '/api/contacts' });
    `;

    function expectEveryLine(stdout: string): void {
      const lines = stdout.split('\n').filter((line) => line !== '');
      expect(lines).to.have.length(COUNT);
      lines.forEach((line, i) => expect((JSON.parse(line) as { partner: string }).partner).to.equal(`p${i}`));
    }

    it('shares one stream among every default sink, so lines of different verifiers stay whole and in order', async () => {
      const stdout = await runInChildProcess(`
        import { pinoAuditSink } from '@s2sauth/middleware';
        const sinks = [pinoAuditSink(), pinoAuditSink(), pinoAuditSink()];
        for (let i = 0; i < ${COUNT}; i++) sinks[i % 3]({ decision: 'accept', status: 200, partner: 'p' + i });
      `);
      expectEveryLine(stdout);
    });

    it('writes every line by the time the process ends on its own', async () => {
      expectEveryLine(await runInChildProcess(writeEvents));
    });

    it('writes every line when the process calls process.exit() right after auditing', async () => {
      expectEveryLine(await runInChildProcess(`${writeEvents}\nprocess.exit(0);`));
    });

    it('writes every line when the process ends with an uncaught exception', async () => {
      const failed = await runInChildProcess(`${writeEvents}\nthrow new Error('boom');`).then(
        () => undefined,
        (error: unknown) => error as { code: number; stdout: string },
      );
      expect(failed?.code).to.equal(1);
      expectEveryLine(failed?.stdout ?? '');
    });
  });

  describe('auditDestination', () => {
    let folder: string;
    before(() => {
      folder = mkdtempSync(join(tmpdir(), 's2sauth-audit-'));
    });
    after(() => {
      rmSync(folder, { recursive: true, force: true });
    });

    it('with sync: true, has written the line when the sink returns', () => {
      const file = join(folder, 'sync.log');
      const destination = auditDestination({ dest: file, sync: true });
      const sink = pinoAuditSink(pino({ name: 'test-audit' }, destination));
      sink({ decision: 'accept', status: 200, partner: 'a' });
      expect(JSON.parse(readFileSync(file, 'utf8'))).to.include({ decision: 'accept', partner: 'a' });
      sink({ decision: 'reject', code: 'token_expired', status: 401 });
      expect(readFileSync(file, 'utf8').trim().split('\n')).to.have.length(2);
      destination.end();
    });

    it('buffered, writes the gathered lines within the flush interval even when no more come', async () => {
      const file = join(folder, 'buffered.log');
      const destination = auditDestination({ dest: file, flushIntervalMs: 20 });
      const sink = pinoAuditSink(pino({ name: 'test-audit' }, destination));
      await new Promise((resolve) => destination.once('ready', resolve));
      sink({ decision: 'accept', status: 200, partner: 'a' });
      expect(readFileSync(file, 'utf8')).to.equal('');
      let text = '';
      for (let i = 0; i < 100 && text === ''; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        text = readFileSync(file, 'utf8');
      }
      expect(JSON.parse(text)).to.include({ decision: 'accept', partner: 'a' });
      destination.end();
    });

    it('flushSync writes what is gathered', async () => {
      const file = join(folder, 'flush.log');
      const destination = auditDestination({ dest: file, flushIntervalMs: 0 });
      await new Promise((resolve) => destination.once('ready', resolve));
      const sink = pinoAuditSink(pino({ name: 'test-audit' }, destination));
      sink({ decision: 'accept', status: 200, partner: 'a' });
      expect(readFileSync(file, 'utf8')).to.equal('');
      destination.flushSync();
      expect(JSON.parse(readFileSync(file, 'utf8'))).to.include({ partner: 'a' });
      destination.end();
    });

    it('refuses bad options', () => {
      expect(() => auditDestination({ dest: '' })).to.throw(TypeError, /dest/);
      expect(() => auditDestination({ sync: 'yes' as unknown as boolean })).to.throw(TypeError, /sync/);
      expect(() => auditDestination({ minLength: -1 })).to.throw(TypeError, /minLength/);
      expect(() => auditDestination({ minLength: 20_000 })).to.throw(TypeError, /minLength/);
      expect(() => auditDestination({ flushIntervalMs: 1.5 })).to.throw(TypeError, /flushIntervalMs/);
    });
  });
});
