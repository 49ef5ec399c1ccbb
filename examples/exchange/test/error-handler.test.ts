import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { errorHandler } from '../src/error-handler.js';

describe('errorHandler', () => {
  it('answers an unexpected error with a fixed 500 and logs it without telling the client', async () => {
    const lines: string[] = [];
    const logger = pino(new Writable({ write: (chunk: Buffer, _encoding, done) => { lines.push(chunk.toString()); done(); } }));
    const app = express();
    // Express's final handler prints errors to stderr unless the environment is 'test'.
    app.set('env', 'test');
    app.get('/boom', () => {
      throw new Error('secret internal detail');
    });
    app.get('/late', (_req, res, next) => {
      res.status(200).write('partial');
      next(new Error('after the headers'));
    });
    app.use(errorHandler(logger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const response = await fetch(`${url}/boom`);
      expect(response.status).to.equal(500);
      const text = await response.text();
      expect(JSON.parse(text)).to.deep.equal({ error: 'internal_error', message: 'The server could not complete the request.' });
      expect(text).not.to.contain('secret');
      expect(lines.join('')).to.contain('secret internal detail');

      // Once the headers are out, Express's final handler ends the connection.
      let failure: unknown;
      try {
        const late = await fetch(`${url}/late`);
        await late.text();
      } catch (error) {
        failure = error;
      }
      expect(failure).to.be.instanceOf(Error);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
