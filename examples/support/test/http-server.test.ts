import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { answerClientErrors, requestTarget } from '../src/http-server.js';

/** Writes `request` on a new connection and resolves with everything the server sent until it closed. */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => (chunks.length > 0 ? undefined : reject(error)));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.write(request);
  });
}

function parse(answer: string): { status: number; headers: string; body: unknown } {
  const end = answer.indexOf('\r\n\r\n');
  const body = answer.slice(end + 4);
  return { status: Number(answer.slice(9, 12)), headers: answer.slice(0, end).toLowerCase(), body: body === '' ? undefined : JSON.parse(body) };
}

describe('requestTarget and answerClientErrors', () => {
  let server: Server;
  let port: number;
  const seen: { url: string; originalUrl: string; host: string | undefined }[] = [];

  before(async () => {
    const app = express();
    app.use(requestTarget());
    app.get('/where', (req, res) => {
      seen.push({ url: req.url, originalUrl: req.originalUrl, host: req.headers.host });
      res.json({ path: req.path });
    });
    app.use((_req, res) => {
      res.status(404).json({ error: 'not_found', message: 'There is no such route.' });
    });
    server = createServer(app);
    answerClientErrors(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const send = async (head: string): Promise<ReturnType<typeof parse>> => parse(await raw(port, `${head}\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));

  it('answers OPTIONS * with 200, Allow and no body; * with another method with 400 JSON', async () => {
    const options = await send('OPTIONS * HTTP/1.1');
    expect(options.status).to.equal(200);
    expect(options.headers).to.contain('allow: get, head, post, put, delete, options');
    expect(options.body).to.equal(undefined);
    for (const method of ['GET', 'POST', 'DELETE']) {
      const other = await send(`${method} * HTTP/1.1`);
      expect(other.status, method).to.equal(400);
      expect(other.body).to.deep.equal({ error: 'invalid_request', message: 'The request target "*" is only for OPTIONS.' });
    }
  });

  it('serves the absolute form as the path it names, with the host it names (RFC 9112 section 3.2.2)', async () => {
    seen.length = 0;
    const answer = await send('GET http://other.example:8080/where?x=1 HTTP/1.1');
    expect(answer.status).to.equal(200);
    expect(answer.body).to.deep.equal({ path: '/where' });
    expect(seen).to.deep.equal([{ url: '/where?x=1', originalUrl: '/where?x=1', host: 'other.example:8080' }]);
    expect((await send('GET https://other.example/nowhere HTTP/1.1')).status).to.equal(404);
  });

  it('refuses a target that is neither a path nor an http URL with 400 JSON', async () => {
    for (const target of ['where', 'ftp://x/where', 'http:where', 'mailto:a@b']) {
      const answer = await send(`GET ${target} HTTP/1.1`);
      expect(answer.status, target).to.equal(400);
      expect(answer.body, target).to.have.property('error', 'invalid_request');
    }
  });

  it('answers what Node refuses (too large headers, not HTTP, CONNECT) with the same status and a JSON body', async () => {
    const huge = await send(`GET /where HTTP/1.1\r\nX-Filler: ${'a'.repeat(100_000)}`);
    expect(huge.status).to.equal(431);
    expect(huge.headers).to.contain('content-type: application/json; charset=utf-8');
    expect(huge.body).to.deep.equal({ error: 'header_too_large', message: 'The request\'s header fields are too large: at most 16 KiB in all.' });
    const garbage = parse(await raw(port, 'HELLO\r\n\r\n'));
    expect(garbage.status).to.equal(400);
    expect(garbage.body).to.deep.equal({ error: 'invalid_request', message: 'The request is not valid HTTP/1.1.' });
    const tunnel = await send(`CONNECT 127.0.0.1:${port} HTTP/1.1`);
    expect(tunnel.status).to.equal(405);
    expect(tunnel.body).to.have.property('error', 'method_not_allowed');
    // The server goes on serving.
    expect((await send('GET /where HTTP/1.1')).status).to.equal(200);
  });
});
