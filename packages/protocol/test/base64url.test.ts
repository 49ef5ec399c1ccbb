import { expect } from 'chai';
import fc from 'fast-check';
import { decodeBase64url, encodeBase64url } from '../src/base64url.js';

describe('base64url', () => {
  describe('encodeBase64url', () => {
    for (const [input, expected] of [
      ['', ''],
      ['f', 'Zg'],
      ['fo', 'Zm8'],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg'],
      ['fooba', 'Zm9vYmE'],
      ['foobar', 'Zm9vYmFy'],
      ['{"alg":"RS256"}', 'eyJhbGciOiJSUzI1NiJ9'],
      ['é', 'w6k'],
    ] as const) {
      it(`encodes the string ${JSON.stringify(input)} as ${JSON.stringify(expected)} (RFC 4648 section 10)`, () => {
        expect(encodeBase64url(input)).to.equal(expected);
      });
    }

    it('uses - and _ and no padding', () => {
      expect(encodeBase64url(Uint8Array.from([0xfb, 0xff, 0xbf]))).to.equal('-_-_');
      expect(encodeBase64url(Uint8Array.from([0xff]))).to.equal('_w');
    });

    it('encodes only the bytes of a view, not its whole buffer', () => {
      const buffer = Uint8Array.from([1, 2, 3, 0xfb, 0xff, 0xbf, 4, 5]);
      expect(encodeBase64url(buffer.subarray(3, 6))).to.equal('-_-_');
      expect(encodeBase64url(Buffer.from('xxfooxx').subarray(2, 5))).to.equal('Zm9v');
    });
  });

  describe('decodeBase64url', () => {
    for (const [input, expected] of [
      ['', ''],
      ['Zg', '66'],
      ['Zm8', '666f'],
      ['Zm9v', '666f6f'],
      ['-_-_', 'fbffbf'],
      ['AA', '00'],
      ['AAA', '0000'],
      ['_w', 'ff'],
    ] as const) {
      it(`decodes ${JSON.stringify(input)} to ${expected || 'no bytes'}`, () => {
        expect(decodeBase64url(input)?.toString('hex')).to.equal(expected);
      });
    }

    for (const [label, input] of [
      ['padding', 'Zg=='],
      ['a single padding character', 'Zm8='],
      ['standard base64 +', '+/+/'],
      ['standard base64 /', 'ab/c'],
      ['a length of 4n+1', 'Zm9vY'],
      ['a single character', 'Z'],
      ['non-zero bits after the last byte (Zh for Zg)', 'Zh'],
      ['non-zero bits after the last byte (Zm9 for Zm8)', 'Zm9'],
      ['non-zero bits after the last byte (_x for _w)', '_x'],
      ['a space', 'Zm9v Zm9v'],
      ['a line break', 'Zm9v\nZm9v'],
      ['a trailing newline', 'Zm9v\n'],
      ['a dot', 'Zm9v.'],
      ['a non-ASCII letter', 'Zm9vé'],
      ['a fullwidth letter', 'Ｚm9v'],
      ['a NUL', 'Zm9v\u0000'],
    ] as const) {
      it(`refuses ${label}`, () => {
        expect(decodeBase64url(input)).to.equal(undefined);
      });
    }

    it('decodes exactly what encodeBase64url produced, for any bytes (property)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
          expect(decodeBase64url(encodeBase64url(bytes))?.equals(Buffer.from(bytes))).to.equal(true);
        }),
      );
    });

    it('accepts a text only if it is the canonical encoding of what it decodes to (property)', () => {
      fc.assert(
        fc.property(fc.stringMatching(/^[A-Za-z0-9_=+/ -]{0,12}$/), (text) => {
          const bytes = decodeBase64url(text);
          if (bytes !== undefined) expect(encodeBase64url(bytes)).to.equal(text);
        }),
      );
    });

    it('accepts every canonical 2- and 3-character tail and refuses every other one (exhaustive)', () => {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      let accepted = 0;
      for (const a of alphabet) {
        for (const b of alphabet) {
          for (const text of [`${a}${b}`, `Zm9v${a}${b}`, ...[...alphabet].map((c) => `${a}${b}${c}`)]) {
            const canonical = Buffer.from(text, 'base64url').toString('base64url') === text;
            const bytes = decodeBase64url(text);
            expect(bytes !== undefined, text).to.equal(canonical);
            if (bytes !== undefined) accepted++;
          }
        }
      }
      // 64 * 4 two-character tails (twice) and 64 * 64 * 16 three-character ones are canonical.
      expect(accepted).to.equal(2 * 64 * 4 + 64 * 64 * 16);
    });
  });
});
