import { createServer, IncomingMessage, ServerResponse, type OutgoingHttpHeaders, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { expect } from 'chai';
import { describe, it } from 'mocha';
import { connect } from 'node:net';
import { runInChildProcess } from '@s2sauth/test-support/child-process';
import { refuseCookies } from '../src/cookie-guard.js';
import { describeWithExpress } from './express-versions.js';

/** Serves `handler` on 127.0.0.1, makes one GET, and returns what arrived on the wire. */
async function exchange(handler: RequestListener): Promise<{ status: number; cookies: string[]; headers: Headers; body: string }> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`);
    return { status: response.status, cookies: response.headers.getSetCookie(), headers: response.headers, body: await response.text() };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** What express-session does through on-headers: set its cookie while the headers are written. */
function sessionLikeWrapper(res: ServerResponse): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    this.setHeader('Set-Cookie', 'connect.sid=s%3Aabc');
    return Reflect.apply(writeHead, this, args) as ServerResponse;
  } as typeof res.writeHead;
}

describeWithExpress('refuseCookies', (express, { moduleName }) => {
  describe('on node:http responses', () => {
    it('drops cookies set with setHeader, appendHeader and res.end() writing the head', async () => {
      const answer = await exchange((_req, res) => {
        refuseCookies(res);
        res.setHeader('Set-Cookie', ['a=1', 'b=2']);
        res.appendHeader('SET-COOKIE', 'c=3');
        res.setHeader('X-Kept', 'yes');
        res.end('ok');
      });
      expect(answer.status).to.equal(200);
      expect(answer.cookies).to.deep.equal([]);
      expect(answer.headers.get('x-kept')).to.equal('yes');
      expect(answer.body).to.equal('ok');
    });

    it('drops cookies passed to writeHead as an object or a raw array, without changing the caller\'s values', async () => {
      const headers: OutgoingHttpHeaders = { 'Content-Type': 'text/plain', 'Set-Cookie': ['x=y'] };
      const raw = ['X-Raw', '1', 'set-cookie', 'x=y'];
      const asObject = await exchange((_req, res) => {
        refuseCookies(res);
        res.writeHead(201, 'Made', headers).end('ok');
      });
      const asArray = await exchange((_req, res) => {
        refuseCookies(res);
        res.writeHead(200, raw).end('ok');
      });
      expect(asObject.status).to.equal(201);
      expect(asObject.cookies).to.deep.equal([]);
      expect(asObject.headers.get('content-type')).to.equal('text/plain');
      expect(asArray.cookies).to.deep.equal([]);
      expect(asArray.headers.get('x-raw')).to.equal('1');
      expect(headers).to.deep.equal({ 'Content-Type': 'text/plain', 'Set-Cookie': ['x=y'] });
      expect(raw).to.deep.equal(['X-Raw', '1', 'set-cookie', 'x=y']);
    });

    it('drops a cookie added while the headers are written, whether that wrapper came before or after the guard', async () => {
      const before = await exchange((_req, res) => {
        sessionLikeWrapper(res);
        refuseCookies(res);
        res.end('ok');
      });
      const after = await exchange((_req, res) => {
        refuseCookies(res);
        sessionLikeWrapper(res);
        res.flushHeaders();
        res.end('ok');
      });
      expect(before.cookies).to.deep.equal([]);
      expect(after.cookies).to.deep.equal([]);
    });

    it('leaves the cookies of responses it was not asked to guard', async () => {
      const guarded = await exchange((_req, res) => {
        refuseCookies(res);
        res.setHeader('Set-Cookie', 'a=1');
        res.end();
      });
      const unguarded = await exchange((_req, res) => {
        res.setHeader('Set-Cookie', 'a=1');
        res.writeHead(200, { 'Set-Cookie': 'b=2' }).end();
      });
      expect(guarded.cookies).to.deep.equal([]);
      expect(unguarded.cookies).to.deep.equal(['b=2']);
    });

    it('installs one guard per process, and holds under a wrapper another library put on ServerResponse.prototype later', async () => {
      const prototype = ServerResponse.prototype as unknown as { writeHead: (...args: unknown[]) => unknown };
      refuseCookies(new ServerResponse(new IncomingMessage(new Socket())));
      const installed = prototype.writeHead;
      refuseCookies(new ServerResponse(new IncomingMessage(new Socket())));
      expect(prototype.writeHead).to.equal(installed);
      let wrapperCalls = 0;
      // What an APM agent does: wrap the prototype's method and call the one it found.
      prototype.writeHead = function (this: ServerResponse, ...args: unknown[]) {
        wrapperCalls++;
        return Reflect.apply(installed, this, args);
      };
      try {
        const answer = await exchange((_req, res) => {
          refuseCookies(res);
          res.setHeader('Set-Cookie', 'a=1');
          res.end();
        });
        expect(answer.cookies).to.deep.equal([]);
        expect(wrapperCalls).to.equal(1);
      } finally {
        prototype.writeHead = installed;
      }
    });

    it('drops cookies from writeHead headers given as [name, value] pairs, with nothing set before', async () => {
      const answer = await exchange((_req, res) => {
        refuseCookies(res);
        res.writeHead(200, [
          ['Set-Cookie', 'a=1'],
          ['X-Pair', 'yes'],
        ] as unknown as string[]).end('ok');
      });
      expect(answer.cookies).to.deep.equal([]);
      expect(answer.headers.get('x-pair')).to.equal('yes');
    });

    it('drops cookies from 103 Early Hints and from trailers', async () => {
      const server: Server = createServer((_req, res) => {
        refuseCookies(res);
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style', 'set-cookie': 'early=1' });
        res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'X-Trailer' });
        res.write('ok');
        res.addTrailers({ 'Set-Cookie': 'trailer=1', 'X-Trailer': 'yes' });
        res.end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        // fetch shows neither 1xx responses nor trailers: read the raw bytes.
        const raw = await new Promise<string>((resolve, reject) => {
          const socket = connect((server.address() as AddressInfo).port, '127.0.0.1', () => {
            socket.end('GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
          });
          let text = '';
          socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
          socket.on('end', () => resolve(text));
          socket.on('error', reject);
        });
        expect(raw).to.match(/^HTTP\/1\.1 103 Early Hints\r\n/);
        expect(raw.toLowerCase()).to.include('link: </style.css>').and.include('x-trailer: yes');
        expect(raw.toLowerCase()).to.not.include('set-cookie');
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('is in place before the first request: a session cookie set while the headers are written never leaves, even on the first bearer call of a process', async () => {
      // A fresh process: in this one an earlier test already installed the guard.
      const output = await runInChildProcess(`
        import express from '${moduleName}';
        import { s2sAuth } from '@s2sauth/middleware';
        const principal = { partner: 'p', scopes: [] };
        const verifier = { verify: async () => principal, verifyCached: () => principal, challenge: () => ({ realm: 'contoso.com', clientId: 'c', trustedIssuers: [] }), options: { audit: false }, close() {} };
        const app = express();
        // What express-session does through on-headers: keep the writeHead it finds, set the cookie in it.
        app.use((_req, res, next) => {
          const writeHead = res.writeHead;
          res.writeHead = function (...args) { this.setHeader('Set-Cookie', 'connect.sid=s%3Aabc'); return writeHead.apply(this, args); };
          next();
        });
        app.use(s2sAuth({ verifier }));
        app.get('/x', (_req, res) => { res.send('ok'); });
        const server = app.listen(0, '127.0.0.1', async () => {
          const cookies = [];
          for (let i = 0; i < 2; i++) {
            const response = await fetch('http://127.0.0.1:' + server.address().port + '/x', { headers: { authorization: 'Bearer a.b.c' } });
            cookies.push(response.status, response.headers.getSetCookie());
          }
          console.log(JSON.stringify(cookies));
          server.closeAllConnections();
          server.close();
        });
      `);
      expect(JSON.parse(output)).to.deep.equal([200, [], 200, []]);
    });

    it('holds in an Express sub-application mounted after it, which replaces the response prototype', async () => {
      const app = express();
      app.use((_req, res, next) => {
        refuseCookies(res);
        next();
      });
      const inner = express();
      inner.get('/x', (_req, res) => {
        res.cookie('inner', '1').send('ok');
      });
      app.use(inner);
      const answer = await exchange(app);
      expect(answer.status).to.equal(200);
      expect(answer.body).to.equal('ok');
      expect(answer.cookies).to.deep.equal([]);
    });
  });

  describe('on other response objects (test doubles, HTTP/2 compatibility responses)', () => {
    /** A response double that records the headers it is given. */
    function double() {
      const headers = new Map<string, unknown>();
      const heads: unknown[][] = [];
      const res = {
        setHeader(name: string, value: unknown) {
          headers.set(name.toLowerCase(), value);
          return res;
        },
        appendHeader(name: string, value: unknown) {
          headers.set(name.toLowerCase(), value);
          return res;
        },
        removeHeader(name: string) {
          headers.delete(name.toLowerCase());
        },
        writeHead(...args: unknown[]) {
          heads.push(args);
          return res;
        },
      };
      return { res, headers, heads, guarded: res as unknown as ServerResponse };
    }

    it('guards the object\'s own methods, once', () => {
      const { res, headers, heads, guarded } = double();
      refuseCookies(guarded);
      const setHeader = res.setHeader;
      refuseCookies(guarded);
      expect(res.setHeader).to.equal(setHeader);
      res.setHeader('Set-Cookie', 'a=b');
      res.appendHeader('set-cookie', 'c=d');
      res.appendHeader('X-Other', '1');
      headers.set('set-cookie', 'sneaked=in');
      res.writeHead(200, { 'Set-Cookie': 'e=f', 'X-Head': '2' });
      expect([...headers.keys()]).to.deep.equal(['x-other']);
      expect(heads).to.deep.equal([[200, { 'X-Head': '2' }]]);
    });

    it("uses Node's methods when a guard is called on an object it was not installed on", () => {
      const { res, guarded } = double();
      refuseCookies(guarded);
      const other = new ServerResponse(new IncomingMessage(new Socket()));
      res.setHeader.call(other, 'Set-Cookie', 'a=b');
      res.setHeader.call(other, 'X-One', '1');
      res.appendHeader.call(other, 'X-One', '2');
      expect(other.getHeaderNames()).to.deep.equal(['x-one']);
      expect(other.getHeader('x-one')).to.deep.equal(['1', '2']);
    });
  });
});
