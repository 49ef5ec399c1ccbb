import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { ApiError } from '../src/api-error.js';
import { errorHandler, notFound } from '../src/error-handler.js';

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

  it('answers an ApiError as it is, body-parser errors as the client\'s 4xx, and an unknown route with 404', async () => {
    const lines: string[] = [];
    const logger = pino(new Writable({ write: (chunk: Buffer, _encoding, done) => { lines.push(chunk.toString()); done(); } }));
    const app = express();
    app.set('env', 'test');
    app.post('/json', express.json({ limit: '64b' }), (_req, res) => {
      res.status(204).end();
    });
    app.get('/teapot', () => {
      throw new ApiError(418, 'teapot', 'I am a teapot.', { cause: new Error('internal') });
    });
    app.get('/unread', () => {
      // A body-parser error type this handler has no entry for, with its 400.
      throw Object.assign(new Error('stream.not.readable'), { type: 'stream.not.readable', status: 400 });
    });
    app.use(notFound());
    app.use(errorHandler(logger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const post = (body: string): Promise<Response> => fetch(`${url}/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    try {
      const answers: [Response, number, unknown][] = [
        [await post('{"a": '), 400, { error: 'invalid_json', message: 'The request body is not valid JSON.' }],
        [await post(JSON.stringify({ text: 'x'.repeat(100) })), 413, { error: 'body_too_large', message: 'The request body is too large.' }],
        [await fetch(`${url}/teapot`), 418, { error: 'teapot', message: 'I am a teapot.' }],
        [await fetch(`${url}/unread`), 400, { error: 'invalid_request', message: 'The request body could not be read.' }],
        [await fetch(`${url}/nothing`), 404, { error: 'not_found', message: 'There is no such route.' }],
      ];
      for (const [response, status, body] of answers) {
        expect(response.status).to.equal(status);
        expect(await response.json()).to.deep.equal(body);
      }
      expect(lines).to.deep.equal([]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
