import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import {
  DEFAULT_OUTBOUND_TIMEOUT_MS,
  OutboundFailure,
  outboundHttp,
  quoteRemoteText,
  readLimited,
  sendGuarded,
  startDeadline,
  withinDeadline,
  type Deadline,
  type FetchFunction,
} from '../src/partners/outbound-http.js';

/** A JWS-like run (header.payload), as a partner or STS might echo it. */
const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiIwMDAwMDAwMi0wMDAwLTBmZjEtY2UwMC0wMDAwMDAwMDAwMDAifQ';

/** A deadline whose timeout is a controller the test aborts, so no test waits on a timer. */
function manualDeadline(caller?: AbortController): { deadline: Deadline; expire: () => void } {
  const timeout = new AbortController();
  const signal = caller === undefined ? timeout.signal : AbortSignal.any([timeout.signal, caller.signal]);
  return { deadline: { signal, timeout: timeout.signal, caller: caller?.signal }, expire: () => timeout.abort(new DOMException('timed out', 'TimeoutError')) };
}

/** A fetch that answers only when the signal it was given aborts, and then rejects as fetch does. */
const hangingFetch: FetchFunction = (_url, init) =>
  new Promise((_resolve, reject) => {
    init.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
  });

async function failureOf(promise: Promise<unknown>): Promise<OutboundFailure> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(OutboundFailure);
    return error as OutboundFailure;
  }
  throw new Error('expected an OutboundFailure');
}

describe('outbound HTTP (partners/outbound-http.ts)', () => {
  const url = new URL('https://mail.contoso.com/api');

  describe('options', () => {
    it('defaults to https only, a 10 s deadline and the global fetch', () => {
      const http = outboundHttp({});
      expect(http.allowLoopbackHttp).to.equal(false);
      expect(http.timeoutMs).to.equal(DEFAULT_OUTBOUND_TIMEOUT_MS).and.to.equal(10_000);
      expect(http.fetch).to.be.a('function');
    });

    const bad: [string, object, RegExp][] = [
      ['an allowLoopbackHttp that is not a boolean', { allowLoopbackHttp: 'yes' }, /options\.allowLoopbackHttp must be a boolean/],
      ['a fetch that is not a function', { fetch: {} }, /options\.fetch must be a function/],
      ['a timeout of zero', { timeoutMs: 0 }, /options\.timeoutMs must be a positive number/],
      ['a timeout beyond what timers allow', { timeoutMs: 2 ** 31 }, /at most 2147483647/],
    ];
    for (const [name, options, message] of bad) {
      it(`refuses ${name} with a TypeError`, () => {
        expect(() => outboundHttp(options)).to.throw(TypeError, message);
      });
    }
  });

  describe('sendGuarded', () => {
    it('sends with redirect manual and the deadline signal, and hands back the answer', async () => {
      const seen: RequestInit[] = [];
      const deadline = startDeadline(60_000);
      const response = await sendGuarded(
        (_url, init) => {
          seen.push(init);
          return Promise.resolve(new Response('ok', { status: 201 }));
        },
        url,
        { method: 'POST', body: 'x' },
        deadline,
      );
      expect(response.status).to.equal(201);
      expect(seen[0]?.redirect).to.equal('manual');
      expect(seen[0]?.signal).to.equal(deadline.signal);
      expect(seen[0]?.method).to.equal('POST');
    });

    for (const status of [301, 302, 303, 307, 308]) {
      it(`refuses a ${status} redirect and releases its body`, async () => {
        let released = false;
        const body = new ReadableStream<Uint8Array>({
          pull: () => undefined,
          cancel: () => {
            released = true;
          },
        });
        const response = new Response(body, { status, headers: { location: 'https://elsewhere.example/' } });
        const failure = await failureOf(sendGuarded(() => Promise.resolve(response), url, {}, startDeadline(60_000)));
        expect(failure.kind).to.equal('redirect');
        expect(failure.status).to.equal(status);
        expect(released).to.equal(true);
      });
    }

    it('refuses an opaque redirect', async () => {
      const opaque = { type: 'opaqueredirect', status: 0, body: null } as unknown as Response;
      const failure = await failureOf(sendGuarded(() => Promise.resolve(opaque), url, {}, startDeadline(60_000)));
      expect(failure.kind).to.equal('redirect');
    });

    it('passes a 304 on', async () => {
      const response = await sendGuarded(() => Promise.resolve(new Response(null, { status: 304 })), url, {}, startDeadline(60_000));
      expect(response.status).to.equal(304);
    });

    it('fails with timeout when the deadline passes', async () => {
      const { deadline, expire } = manualDeadline();
      const sent = sendGuarded(hangingFetch, url, {}, deadline);
      expire();
      const failure = await failureOf(sent);
      expect(failure.kind).to.equal('timeout');
    });

    it('fails with timeout on a real deadline', async () => {
      const failure = await failureOf(sendGuarded(hangingFetch, url, {}, startDeadline(20)));
      expect(failure.kind).to.equal('timeout');
    });

    it('fails with aborted when the caller aborts, not timeout', async () => {
      const caller = new AbortController();
      const { deadline } = manualDeadline(caller);
      const sent = sendGuarded(hangingFetch, url, {}, deadline);
      caller.abort();
      const failure = await failureOf(sent);
      expect(failure.kind).to.equal('aborted');
    });

    it('names the errno of a connection that was refused', async () => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const http = outboundHttp({ allowLoopbackHttp: true });
      const failure = await failureOf(sendGuarded(http.fetch, new URL(`http://127.0.0.1:${port}/`), {}, startDeadline(60_000)));
      expect(failure.kind).to.equal('network');
      expect(failure.message).to.equal('ECONNREFUSED');
      expect(failure.cause).to.be.instanceOf(TypeError);
    });

    const reasons: [string, unknown, string][] = [
      ['an undici code', new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }) }), 'UND_ERR_SOCKET'],
      ['a cause without a code', new TypeError('fetch failed', { cause: new Error('socket hang up') }), 'socket hang up'],
      ['an error without a cause', new TypeError('bad port'), 'bad port'],
      ['something that is not an error', 'boom', 'unknown error'],
      ['a token in the cause', new TypeError('fetch failed', { cause: new Error(`refused ${TOKEN}`) }), 'refused [removed]'],
    ];
    for (const [name, thrown, reason] of reasons) {
      it(`gives the network reason of ${name}`, async () => {
        const failure = await failureOf(sendGuarded(() => Promise.reject(thrown), url, {}, startDeadline(60_000)));
        expect(failure.kind).to.equal('network');
        expect(failure.message).to.equal(reason);
      });
    }
  });

  describe('withinDeadline', () => {
    it('gives the value when it comes first', async () => {
      expect(await withinDeadline(Promise.resolve(7), startDeadline(60_000))).to.equal(7);
    });

    it('passes a rejection on as it is', async () => {
      const error = new Error('minting failed');
      try {
        await withinDeadline(Promise.reject(error), startDeadline(60_000));
        expect.fail('expected a rejection');
      } catch (caught) {
        expect(caught).to.equal(error);
      }
    });

    it('fails with timeout when the deadline passes first', async () => {
      const { deadline, expire } = manualDeadline();
      const waiting = withinDeadline(new Promise(() => undefined), deadline);
      expire();
      expect((await failureOf(waiting)).kind).to.equal('timeout');
    });

    it('fails at once with aborted for a caller signal that has already aborted', async () => {
      const caller = new AbortController();
      caller.abort();
      expect((await failureOf(withinDeadline(Promise.resolve(1), manualDeadline(caller).deadline))).kind).to.equal('aborted');
    });
  });

  describe('quoteRemoteText', () => {
    it('removes token-like runs', () => {
      expect(quoteRemoteText(`Client assertion ${TOKEN} has an invalid signature.`)).to.equal('Client assertion [removed] has an invalid signature.');
    });

    it('keeps words, GUIDs and issuer ids', () => {
      const text = 'The audience 00000002-0000-0ff1-ce00-000000000000@contoso.com is invalid.';
      expect(quoteRemoteText(text)).to.equal(text);
    });

    it('replaces control characters with spaces', () => {
      expect(quoteRemoteText('a\tb\nc\u0085d')).to.equal('a b c d');
    });

    it('bounds the length at 200 characters', () => {
      const quoted = quoteRemoteText('ab '.repeat(100));
      expect(quoted).to.have.length(201);
      expect(quoted.endsWith('…')).to.equal(true);
    });
  });

  describe('readLimited', () => {
    it('reads a body up to the limit', async () => {
      expect((await readLimited(new Response('12345'), 5))?.toString()).to.equal('12345');
    });

    it('gives undefined for a body over the limit', async () => {
      expect(await readLimited(new Response('123456'), 5)).to.equal(undefined);
    });

    it('reads an absent body as empty', async () => {
      expect((await readLimited(new Response(null, { status: 204 }), 5))?.length).to.equal(0);
    });
  });
});
