import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mock } from 'node:test';
import { expect } from 'chai';
import express from 'express';
import { pino } from 'pino';
import { ApiError } from '../src/api-error.js';
import { errorHandler } from '../src/error-handler.js';
import { DEFAULT_SIGN_IN_LIMITS, signInThrottle } from '../src/sign-in-throttle.js';

interface Answer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  readonly body: { error?: string; message?: string; user?: string };
}

/** POST /login from `localAddress` (another loopback address is another client). */
function login(port: number, username: string, password: string, localAddress = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ username, password });
    const req = request({ host: '127.0.0.1', port, localAddress, method: 'POST', path: '/login', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined, body: JSON.parse(text) as Answer['body'] });
      });
    });
    req.once('error', reject);
    req.end(body);
  });
}

describe('signInThrottle', () => {
  let server: ReturnType<express.Express['listen']> | undefined;
  let port: number;

  /** A /login with one password for everyone, behind the throttle of `limits`. */
  async function start(limits: Parameters<typeof signInThrottle>[0] = {}): Promise<void> {
    const app = express();
    app.post('/login', express.json(), ...signInThrottle(limits), (req, res) => {
      if ((req.body as { password?: string }).password !== 'right') throw new ApiError(401, 'invalid_credentials', 'Wrong.');
      res.json({ user: (req.body as { username: string }).username });
    });
    app.use(errorHandler(pino({ level: 'silent' })));
    const listening = app.listen(0, '127.0.0.1');
    server = listening;
    await new Promise((resolve) => listening.once('listening', resolve));
    port = (listening.address() as AddressInfo).port;
  }

  afterEach(async () => {
    // A test that started no server (the option checks) leaves nothing to close, whatever ran before.
    const started = server;
    server = undefined;
    if (started !== undefined) await new Promise((resolve) => started.close(resolve));
  });

  it('refuses a user after perUser failures with 429 and Retry-After, the right password included; others are unaffected', async () => {
    await start();
    for (let attempt = 0; attempt < DEFAULT_SIGN_IN_LIMITS.perUser; attempt += 1) {
      expect((await login(port, 'alice@contoso.com', `wrong${attempt}`)).status).to.equal(401);
    }
    const locked = await login(port, 'Alice@Contoso.com', 'right');
    expect(locked.status).to.equal(429);
    expect(locked.body).to.include({ error: 'too_many_sign_ins' });
    expect(locked.body.message).to.be.a('string');
    expect(Number(locked.retryAfter)).to.be.within(1, DEFAULT_SIGN_IN_LIMITS.windowMs / 1000);
    // Another user from the same address, and the same user from another address? The user stays locked.
    expect((await login(port, 'bob@contoso.com', 'right')).status).to.equal(200);
    expect((await login(port, 'alice@contoso.com', 'right', '127.0.0.2')).status).to.equal(429);
  });

  it('does not count successful sign-ins', async () => {
    await start({ perUser: 2 });
    for (let attempt = 0; attempt < 10; attempt += 1) expect((await login(port, 'alice@contoso.com', 'right')).status).to.equal(200);
    expect((await login(port, 'alice@contoso.com', 'wrong')).status).to.equal(401);
    expect((await login(port, 'alice@contoso.com', 'right')).status).to.equal(200);
  });

  it('refuses an address after perAddress failures, whatever the user names; other addresses are unaffected', async () => {
    await start({ perUser: 100, perAddress: 3 });
    for (const username of ['a@contoso.com', 'b@contoso.com', 'c@contoso.com']) expect((await login(port, username, 'wrong')).status).to.equal(401);
    const refused = await login(port, 'd@contoso.com', 'right');
    expect(refused.status).to.equal(429);
    expect(refused.retryAfter).to.match(/^\d+$/);
    expect((await login(port, 'd@contoso.com', 'right', '127.0.0.2')).status).to.equal(200);
  });

  it('lets the user sign in again once the window has passed', async () => {
    // The limiter's clock is Date.now(): mocked, so the window passes without waiting for it.
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      await start({ perUser: 2, windowMs: 60_000 });
      for (let attempt = 0; attempt < 2; attempt += 1) expect((await login(port, 'alice@contoso.com', 'wrong')).status).to.equal(401);
      expect((await login(port, 'alice@contoso.com', 'right')).status).to.equal(429);
      mock.timers.tick(59_000);
      expect((await login(port, 'alice@contoso.com', 'right')).status).to.equal(429);
      mock.timers.tick(1_000);
      expect((await login(port, 'alice@contoso.com', 'right')).status).to.equal(200);
    } finally {
      mock.timers.reset();
    }
  });

  it('refuses limits that are not positive integers', () => {
    expect(() => signInThrottle({ perUser: 0 })).to.throw(TypeError, /perUser/);
    expect(() => signInThrottle({ windowMs: 1.5 })).to.throw(TypeError, /windowMs/);
  });
});
