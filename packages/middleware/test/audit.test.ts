import { expect } from 'chai';
import { describe, it } from 'mocha';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { pinoAuditSink } from '../src/audit.js';

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
});
