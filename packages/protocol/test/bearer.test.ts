import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import fc from 'fast-check';
import { BearerError, extractBearerToken, InvalidRequestError, MAX_AUTHORIZATION_LENGTH, type BearerRequest } from '../src/index.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl';

/** A request with the given raw headers, as Node would present it (first header wins in `headers`). */
function requestWith(raw: readonly string[], extra: Partial<BearerRequest> = {}): BearerRequest {
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    headers[name] ??= raw[i + 1] as string;
  }
  return { headers, rawHeaders: raw, ...extra };
}

function failureOf(request: BearerRequest): BearerError {
  try {
    extractBearerToken(request);
  } catch (error) {
    expect(error).to.be.instanceOf(InvalidRequestError);
    return error as BearerError;
  }
  throw new Error('expected the request to be refused');
}

describe('extractBearerToken', () => {
  describe('credentials it accepts', () => {
    it('returns the token of a single Bearer header', () => {
      expect(extractBearerToken(requestWith(['Authorization', `Bearer ${TOKEN}`]))).to.deep.equal({ kind: 'token', token: TOKEN });
    });

    it('matches the scheme and the header name case-insensitively', () => {
      expect(extractBearerToken(requestWith(['AUTHORIZATION', `bEaReR ${TOKEN}`]))).to.deep.equal({ kind: 'token', token: TOKEN });
    });

    it('accepts several spaces after the scheme, as RFC 6750 section 2.1 (1*SP) allows', () => {
      expect(extractBearerToken(requestWith(['authorization', `Bearer   ${TOKEN}`]))).to.deep.equal({ kind: 'token', token: TOKEN });
    });

    it('accepts every token68 character and trailing padding', () => {
      const token = 'Az09-._~+/==';
      expect(extractBearerToken(requestWith(['authorization', `Bearer ${token}`]))).to.deep.equal({ kind: 'token', token });
    });

    it('strips optional whitespace around the value for callers that did not', () => {
      expect(extractBearerToken(requestWith(['authorization', ` \tBearer ${TOKEN}\t `]))).to.deep.equal({ kind: 'token', token: TOKEN });
    });

    it('accepts a header of exactly the maximum length', () => {
      const token = 'a'.repeat(MAX_AUTHORIZATION_LENGTH - 'Bearer '.length);
      expect(extractBearerToken(requestWith(['authorization', `Bearer ${token}`]))).to.deep.equal({ kind: 'token', token });
    });

    it('uses the parsed header when the request has no raw headers', () => {
      expect(extractBearerToken({ headers: { authorization: `Bearer ${TOKEN}` }, rawHeaders: [] })).to.deep.equal({ kind: 'token', token: TOKEN });
    });

    it('uses the first element of a parsed header array of one', () => {
      const headers = { authorization: [`Bearer ${TOKEN}`] } as unknown as BearerRequest['headers'];
      expect(extractBearerToken({ headers, rawHeaders: [] })).to.deep.equal({ kind: 'token', token: TOKEN });
    });

    it('ignores query parameters and body members with other names', () => {
      const request = requestWith(['authorization', `Bearer ${TOKEN}`], {
        url: '/x?token=1&access_tokens=2#access_token=3',
        query: { token: '1' },
        body: { accessToken: 'x' },
      });
      expect(extractBearerToken(request)).to.deep.equal({ kind: 'token', token: TOKEN });
    });
  });

  describe('requests without a bearer token', () => {
    it('returns none without an Authorization header', () => {
      expect(extractBearerToken(requestWith(['Host', 'example.com'], { url: '/a?b=c' }))).to.deep.equal({ kind: 'none' });
    });

    it('returns none for the Basic scheme, so the caller gets the challenge', () => {
      expect(extractBearerToken(requestWith(['Authorization', 'Basic dXNlcjpwYXNz']))).to.deep.equal({ kind: 'none' });
    });

    it('returns none for the Negotiate scheme without credentials', () => {
      expect(extractBearerToken(requestWith(['Authorization', 'Negotiate']))).to.deep.equal({ kind: 'none' });
    });

    it('returns empty for Bearer alone (realm discovery)', () => {
      expect(extractBearerToken(requestWith(['Authorization', 'Bearer']))).to.deep.equal({ kind: 'empty' });
    });

    it('returns empty for Bearer followed only by whitespace', () => {
      expect(extractBearerToken(requestWith(['Authorization', 'bearer  \t ']))).to.deep.equal({ kind: 'empty' });
    });
  });

  describe('requests it refuses', () => {
    it('refuses two Authorization headers even though Node keeps only the first', () => {
      const error = failureOf(requestWith(['Authorization', `Bearer ${TOKEN}`, 'authorization', `Bearer ${TOKEN}`]));
      expect(error.code).to.equal('multiple_credentials');
      expect(error.status).to.equal(400);
    });

    it('refuses a Bearer and a Basic header together', () => {
      expect(failureOf(requestWith(['Authorization', 'Basic dXNlcjpwYXNz', 'AUTHORIZATION', `Bearer ${TOKEN}`])).code).to.equal('multiple_credentials');
    });

    it('refuses a parsed header array with two values', () => {
      const headers = { authorization: ['Bearer a', 'Bearer b'] } as unknown as BearerRequest['headers'];
      expect(failureOf({ headers, rawHeaders: [] }).code).to.equal('multiple_credentials');
    });

    it('refuses a header longer than 8 KiB', () => {
      const token = 'a'.repeat(MAX_AUTHORIZATION_LENGTH - 'Bearer '.length + 1);
      expect(failureOf(requestWith(['Authorization', `Bearer ${token}`])).code).to.equal('header_too_large');
    });

    it('refuses an access_token query parameter next to a header (two credentials)', () => {
      expect(failureOf(requestWith(['Authorization', `Bearer ${TOKEN}`], { url: `/r?access_token=${TOKEN}` })).code).to.equal('token_in_query');
    });

    it('refuses an access_token query parameter without a header', () => {
      expect(failureOf(requestWith([], { url: '/r?a=1&access_token' })).code).to.equal('token_in_query');
    });

    it('refuses a percent-encoded access_token query parameter', () => {
      expect(failureOf(requestWith([], { url: '/r?access%5Ftoken=x' })).code).to.equal('token_in_query');
    });

    it('refuses an access_token in a parsed query', () => {
      expect(failureOf(requestWith([], { query: { access_token: ['a', 'b'] } })).code).to.equal('token_in_query');
    });

    it('refuses an access_token in a parsed query that is the request\'s own property, whatever the URL', () => {
      for (const url of ['/r', '/r?a=1', undefined]) {
        expect(failureOf(requestWith([], { url, query: { access_token: 'x' } })).code, String(url)).to.equal('token_in_query');
      }
    });

    it('reads a query getter of the request\'s prototype (Express 5) when the URL has a query string', () => {
      // A query parser may find what URLSearchParams does not (qs: access_token[a]=1).
      const express5 = (url: string | undefined): BearerRequest =>
        Object.assign(
          Object.create({
            get query() {
              return { access_token: { a: '1' } };
            },
          }) as object,
          requestWith([], url === undefined ? {} : { url }),
        ) as BearerRequest;
      expect(failureOf(express5('/r?access_token[a]=1')).code).to.equal('token_in_query');
      expect(failureOf(express5(undefined)).code).to.equal('token_in_query');
    });

    it('refuses an access_token in a parsed body next to a header', () => {
      expect(failureOf(requestWith(['Authorization', `Bearer ${TOKEN}`], { body: { access_token: TOKEN } })).code).to.equal('token_in_body');
    });

    it('refuses an empty access_token in a body with a null prototype', () => {
      const body = Object.assign(Object.create(null) as object, { access_token: '' });
      expect(failureOf(requestWith([], { body })).code).to.equal('token_in_body');
    });

    const malformed: ReadonlyArray<[string, string]> = [
      ['an empty header', ''],
      ['a comma-separated list of credentials', `Bearer ${TOKEN}, Basic dXNlcjpwYXNz`],
      ['a comma inside the token', 'Bearer a,b'],
      ['two tokens separated by a space', `Bearer ${TOKEN} ${TOKEN}`],
      ['a tab between scheme and token', `Bearer\t${TOKEN}`],
      ['a quote in the token', 'Bearer "abc"'],
      ['padding inside the token', 'Bearer ab=cd'],
      ['auth-params instead of a token68', 'Bearer realm="x"'],
      ['a non-ASCII character', 'Bearer abc\u00e9'],
      ['a scheme that is not a token', '(Bearer) abc'],
    ];
    for (const [what, value] of malformed) {
      it(`refuses ${what} as malformed`, () => {
        const error = failureOf(requestWith(['Authorization', value]));
        expect(error.code).to.equal('malformed_authorization');
        expect(error.error).to.equal('invalid_request');
      });
    }

    it('never puts the header value into the reason', () => {
      const error = failureOf(requestWith(['Authorization', 'Bearer secret-value secret-value']));
      expect(error.reason).not.to.include('secret-value');
      expect(error.message).not.to.include('secret-value');
    });
  });

  describe('with a real Node HTTP server', () => {
    let server: Server;
    let port: number;
    let seen: Array<ReturnType<typeof extractBearerToken> | string> = [];

    before(async () => {
      server = createServer((req: IncomingMessage, res) => {
        try {
          seen.push(extractBearerToken(req));
        } catch (error) {
          seen.push((error as BearerError).code);
        }
        res.end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });

    after(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    beforeEach(() => {
      seen = [];
    });

    function send(headers: string[], path = '/'): Promise<void> {
      return new Promise((resolve, reject) => {
        // With an array of raw headers Node adds no Host header, and its server refuses a request without one.
        const raw = ['Host', `127.0.0.1:${port}`, ...headers];
        const req = httpRequest({ host: '127.0.0.1', port, path, headers: raw, agent: false }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end();
      });
    }

    it('sees duplicate Authorization headers that req.headers hides', async () => {
      await send(['Authorization', `Bearer ${TOKEN}`, 'Authorization', 'Bearer other']);
      expect(seen).to.deep.equal(['multiple_credentials']);
    });

    it('reads a single header from a real request', async () => {
      await send(['Authorization', `Bearer ${TOKEN}`]);
      expect(seen).to.deep.equal([{ kind: 'token', token: TOKEN }]);
    });

    it('reads the query string of a real request', async () => {
      await send([], `/path?access_token=${TOKEN}`);
      expect(seen).to.deep.equal(['token_in_query']);
    });
  });

  describe('the Authorization header grammar, against its regular-expression statement', () => {
    // The grammar as it was first written (RFC 6750 section 2.1, RFC 9110 token and token68).
    const reference = (header: string): unknown => {
      const trimmed = header.replace(/^[ \t]+|[ \t]+$/g, '');
      const [, scheme = '', rest = ''] = /^([^ ]*) *(.*)$/s.exec(trimmed) as RegExpExecArray;
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(scheme)) return 'malformed_authorization';
      if (scheme.toLowerCase() !== 'bearer') return { kind: 'none' };
      if (rest === '') return { kind: 'empty' };
      if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(rest)) return 'malformed_authorization';
      return { kind: 'token', token: rest };
    };
    const outcome = (header: string): unknown => {
      try {
        return extractBearerToken(requestWith(['Authorization', header]));
      } catch (error) {
        return (error as BearerError).code;
      }
    };
    const piece = fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'B\u0130arer', ' ', '  ', '\t', '=', ',', 'a', 'A.b-c_d~e+f/', '\u00e9', '\n', '"', '');

    it('gives the same answer for any header made of scheme-like pieces, spaces and token characters', () => {
      fc.assert(
        fc.property(fc.array(piece, { maxLength: 8 }), (pieces) => {
          const header = pieces.join('');
          expect(outcome(header), JSON.stringify(header)).to.deep.equal(reference(header));
        }),
        { numRuns: 3000 },
      );
    });

    it('gives the same answer for arbitrary strings', () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 40, unit: 'binary' }), (header) => {
          expect(outcome(header), JSON.stringify(header)).to.deep.equal(reference(header));
        }),
        { numRuns: 3000 },
      );
    });
  });
});
