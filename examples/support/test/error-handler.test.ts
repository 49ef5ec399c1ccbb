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

  it('answers every error that carries a 4xx status with that status and JSON, whatever threw it; anything else with the fixed 500', async () => {
    const lines: string[] = [];
    const logger = pino(new Writable({ write: (chunk: Buffer, _encoding, done) => { lines.push(chunk.toString()); done(); } }));
    const app = express();
    app.set('env', 'test');
    app.post('/json', express.json(), (_req, res) => {
      res.status(204).end();
    });
    app.get('/items/:id', (req, res) => {
      res.json({ id: req.params.id });
    });
    const throwing = (error: unknown) => () => {
      throw error;
    };
    app.get('/passport', throwing(Object.assign(new Error('Unauthorized'), { name: 'AuthenticationError', status: 401 })));
    app.get('/limited', throwing(Object.assign(new Error('secret detail 429'), { statusCode: 429 })));
    app.get('/teapot', throwing(Object.assign(new Error('secret detail 418'), { status: 418 })));
    app.get('/string-status', throwing(Object.assign(new Error('secret detail string'), { status: '400' })));
    app.get('/server-status', throwing(Object.assign(new Error('secret detail 502'), { status: 502 })));
    app.get('/redirect-status', throwing(Object.assign(new Error('secret detail 302'), { status: 302 })));
    app.use(errorHandler(logger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const post = (encoding: string): Promise<Response> =>
      fetch(`${url}/json`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': encoding }, body: '{"not":"compressed"}' });
    const lie = { error: 'invalid_body_encoding', message: 'The request body is not encoded as its Content-Encoding header says.' };
    const internal = { error: 'internal_error', message: 'The server could not complete the request.' };
    try {
      const answers: [string, Response, number, unknown][] = [
        ['gzip lie', await post('gzip'), 400, lie],
        ['deflate lie', await post('deflate'), 400, lie],
        ['br lie', await post('br'), 400, lie],
        ['unknown encoding', await post('x-unknown'), 415, { error: 'unsupported_encoding', message: 'The request body\'s content encoding is not supported.' }],
        ['bad percent-encoding', await fetch(`${url}/items/%E0%A4%A`), 400, { error: 'invalid_request', message: 'The request URL has a malformed percent-encoding.' }],
        ['bad percent-encoding %ZZ', await fetch(`${url}/items/%ZZ`), 400, { error: 'invalid_request', message: 'The request URL has a malformed percent-encoding.' }],
        ['Passport 401', await fetch(`${url}/passport`), 401, { error: 'unauthorized', message: 'The request needs credentials.' }],
        ['statusCode 429', await fetch(`${url}/limited`), 429, { error: 'too_many_requests', message: 'Too many requests; try again later.' }],
        ['status 418', await fetch(`${url}/teapot`), 418, { error: 'i_m_a_teapot', message: 'The request was refused: I\'m a Teapot.' }],
        ['a status that is not a number', await fetch(`${url}/string-status`), 500, internal],
        ['a 5xx status', await fetch(`${url}/server-status`), 500, internal],
        ['a 3xx status', await fetch(`${url}/redirect-status`), 500, internal],
      ];
      for (const [what, response, status, body] of answers) {
        expect(response.status, what).to.equal(status);
        expect(response.headers.get('content-type'), what).to.equal('application/json; charset=utf-8');
        const text = await response.text();
        expect(JSON.parse(text), what).to.deep.equal(body);
        expect(text, what).not.to.contain('secret');
      }
      // Only the three errors that are not the client's were logged.
      expect(lines).to.have.length(3);
      expect(lines.join('')).to.contain('secret detail string').and.to.contain('secret detail 502').and.to.contain('secret detail 302');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
