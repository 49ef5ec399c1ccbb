import { createPrivateKey, createPublicKey, generateKeyPairSync, verify, type JsonWebKey } from 'node:crypto';
import { expect } from 'chai';
import { Rs256Signer, signCompactJws } from '../src/identity/jws-signer.js';

// RFC 7520 ("Examples of Protecting Content Using JSON Object Signing and Encryption"), public test
// vectors. Whitespace the RFC adds for layout is removed; the values are otherwise verbatim.

/** RFC 7520 section 3.4, Figure 4: RSA 2048-bit private key. */
const RFC7520_RSA_PRIVATE_JWK: JsonWebKey = {
  kty: 'RSA',
  kid: 'bilbo.baggins@hobbiton.example',
  use: 'sig',
  n:
    'n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT' +
    '-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqV' +
    'wGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-' +
    'oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde' +
    '3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuC' +
    'LqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5g' +
    'HdrNP5zw',
  e: 'AQAB',
  d:
    'bWUC9B-EFRIo8kpGfh0ZuyGPvMNKvYWNtB_ikiH9k20eT-O1q_I78e' +
    'iZkpXxXQ0UTEs2LsNRS-8uJbvQ-A1irkwMSMkK1J3XTGgdrhCku9gRld' +
    'Y7sNA_AKZGh-Q661_42rINLRCe8W-nZ34ui_qOfkLnK9QWDDqpaIsA-b' +
    'MwWWSDFu2MUBYwkHTMEzLYGqOe04noqeq1hExBTHBOBdkMXiuFhUq1BU' +
    '6l-DqEiWxqg82sXt2h-LMnT3046AOYJoRioz75tSUQfGCshWTBnP5uDj' +
    'd18kKhyv07lhfSJdrPdM5Plyl21hsFf4L_mHCuoFau7gdsPfHPxxjVOc' +
    'OpBrQzwQ',
  p:
    '3Slxg_DwTXJcb6095RoXygQCAZ5RnAvZlno1yhHtnUex_fp7AZ_9nR' +
    'aO7HX_-SFfGQeutao2TDjDAWU4Vupk8rw9JR0AzZ0N2fvuIAmr_WCsmG' +
    'peNqQnev1T7IyEsnh8UMt-n5CafhkikzhEsrmndH6LxOrvRJlsPp6Zv8' +
    'bUq0k',
  q:
    'uKE2dh-cTf6ERF4k4e_jy78GfPYUIaUyoSSJuBzp3Cubk3OCqs6grT' +
    '8bR_cu0Dm1MZwWmtdqDyI95HrUeq3MP15vMMON8lHTeZu2lmKvwqW7an' +
    'V5UzhM1iZ7z4yMkuUwFWoBvyY898EXvRD-hdqRxHlSqAZ192zB3pVFJ0' +
    's7pFc',
  dp:
    'B8PVvXkvJrj2L-GYQ7v3y9r6Kw5g9SahXBwsWUzp19TVlgI-YV85q' +
    '1NIb1rxQtD-IsXXR3-TanevuRPRt5OBOdiMGQp8pbt26gljYfKU_E9xn' +
    '-RULHz0-ed9E9gXLKD4VGngpz-PfQ_q29pk5xWHoJp009Qf1HvChixRX' +
    '59ehik',
  dq:
    'CLDmDGduhylc9o7r84rEUVn7pzQ6PF83Y-iBZx5NT-TpnOZKF1pEr' +
    'AMVeKzFEl41DlHHqqBLSM0W1sOFbwTxYWZDm6sI6og5iTbwQGIC3gnJK' +
    'bi_7k_vJgGHwHxgPaX2PnvP-zyEkDERuf-ry4c_Z11Cq9AqC2yeL6kdK' +
    'T1cYF8',
  qi:
    '3PiqvXQN0zwMeE-sBvZgi289XP9XCQF3VWqPzMKnIgQp7_Tugo6-N' +
    'ZBKCQsMf3HaEGBjTVJs_jcK8-TRXvaKe-7ZMaQj8VfBdYkssbu0NKDDh' +
    'jJ-GtiseaDVWt7dcH0cfwxgFUHpQh7FoCrjFJ6h6ZEpMF6xmujs4qMpP' +
    'z8aaI4',
};

/** RFC 7520 section 4, Figure 7: the payload content (U+2019 written as an escape). */
const RFC7520_PAYLOAD =
  'It\u2019s a dangerous business, Frodo, going out your ' +
  "door. You step onto the road, and if you don't keep your feet, " +
  'there\u2019s no knowing where you might be swept off ' +
  'to.';

/** RFC 7520 section 4, Figure 8: the payload, base64url-encoded. */
const RFC7520_PAYLOAD_B64 =
  'SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH' +
  'lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk' +
  'b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm' +
  'UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4';

/** RFC 7520 section 4.1.2, Figure 9 (without layout whitespace) and Figure 10. */
const RFC7520_4_1_HEADER_JSON = '{"alg":"RS256","kid":"bilbo.baggins@hobbiton.example"}';
const RFC7520_4_1_HEADER_B64 = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX' + 'hhbXBsZSJ9';

/** RFC 7520 section 4.1.3, Figure 13: the JWS Compact Serialization. */
const RFC7520_4_1_COMPACT =
  'eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX' +
  'hhbXBsZSJ9' +
  '.' +
  'SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH' +
  'lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk' +
  'b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm' +
  'UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4' +
  '.' +
  'MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmK' +
  'ZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4J' +
  'IwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8w' +
  'W1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluP' +
  'xUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_f' +
  'cIe8u9ipH84ogoree7vjbU5y18kDquDg';

const rfcKey = createPrivateKey({ key: RFC7520_RSA_PRIVATE_JWK, format: 'jwk' });

describe('jws-signer', () => {
  describe('the RFC 7520 section 4.1 example', () => {
    it('uses the payload bytes and header of the RFC', () => {
      expect(Buffer.from(RFC7520_PAYLOAD, 'utf8').toString('base64url')).to.equal(RFC7520_PAYLOAD_B64);
      expect(Buffer.from(RFC7520_4_1_HEADER_JSON, 'utf8').toString('base64url')).to.equal(RFC7520_4_1_HEADER_B64);
    });

    it('signCompactJws reproduces the compact serialization byte for byte', () => {
      expect(signCompactJws(RFC7520_4_1_HEADER_JSON, RFC7520_PAYLOAD, rfcKey)).to.equal(RFC7520_4_1_COMPACT);
    });

    it('signCompactJws gives the same result for the payload as bytes', () => {
      const bytes = new Uint8Array(Buffer.from(`xx${RFC7520_PAYLOAD}`, 'utf8')).subarray(2);
      expect(signCompactJws(RFC7520_4_1_HEADER_JSON, bytes, rfcKey)).to.equal(RFC7520_4_1_COMPACT);
    });

    it('Rs256Signer encodes the RFC header once and reproduces the serialization byte for byte', () => {
      const signer = new Rs256Signer(rfcKey, { alg: 'RS256', kid: 'bilbo.baggins@hobbiton.example' });
      expect(signer.headerSegment).to.equal(RFC7520_4_1_HEADER_B64);
      expect(signer.signPayload(RFC7520_PAYLOAD)).to.equal(RFC7520_4_1_COMPACT);
      expect(signer.signPayload(Buffer.from(RFC7520_PAYLOAD, 'utf8'))).to.equal(RFC7520_4_1_COMPACT);
    });

    it('produces a signature the RFC public key verifies', () => {
      const [h, p, s] = RFC7520_4_1_COMPACT.split('.') as [string, string, string];
      const publicKey = createPublicKey({ key: { kty: 'RSA', n: RFC7520_RSA_PRIVATE_JWK.n as string, e: 'AQAB' }, format: 'jwk' });
      expect(verify('sha256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'))).to.equal(true);
    });
  });

  describe('Rs256Signer.sign', () => {
    it('serializes the claims in the order given and keeps the header order', () => {
      const signer = new Rs256Signer(rfcKey, { typ: 'JWT', alg: 'RS256', x5t: 'abc', kid: 'abc' });
      const token = signer.sign({ aud: 'a', iss: 'b', nbf: 1, exp: 2 });
      const [h, p, s] = token.split('.') as [string, string, string];
      expect(Buffer.from(h, 'base64url').toString('utf8')).to.equal('{"typ":"JWT","alg":"RS256","x5t":"abc","kid":"abc"}');
      expect(Buffer.from(p, 'base64url').toString('utf8')).to.equal('{"aud":"a","iss":"b","nbf":1,"exp":2}');
      expect(verify('sha256', Buffer.from(`${h}.${p}`), createPublicKey(rfcKey), Buffer.from(s, 'base64url'))).to.equal(true);
    });

    it('encodes non-ASCII claim values as UTF-8', () => {
      const signer = new Rs256Signer(rfcKey, { alg: 'RS256' });
      const p = signer.sign({ name: 'Zoë \u{1F600}' }).split('.')[1] as string;
      expect(JSON.parse(Buffer.from(p, 'base64url').toString('utf8'))).to.deep.equal({ name: 'Zoë \u{1F600}' });
    });

    it('is not affected by later changes to the header object it was given', () => {
      const header: Record<string, unknown> = { alg: 'RS256', kid: 'one' };
      const signer = new Rs256Signer(rfcKey, header);
      header['kid'] = 'two';
      expect(signer.header).to.deep.equal({ alg: 'RS256', kid: 'one' });
      expect(Object.isFrozen(signer.header)).to.equal(true);
      const h = signer.sign({}).split('.')[0] as string;
      expect(Buffer.from(h, 'base64url').toString('utf8')).to.equal('{"alg":"RS256","kid":"one"}');
    });

    it('signAsync gives the same token as sign (RS256 signatures are deterministic), off the calling thread', async () => {
      const signer = new Rs256Signer(rfcKey, { typ: 'JWT', alg: 'RS256', x5t: 'abc' });
      const claims = { aud: 'a', name: 'Zoë', nbf: 1, exp: 2 };
      const pending = signer.signAsync(claims);
      expect(pending).to.be.instanceOf(Promise);
      expect(await pending).to.equal(signer.sign(claims));
    });
  });

  describe('refusing what cannot produce RS256', () => {
    const { privateKey: small } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const { privateKey: pss } = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
    const { privateKey: ec } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

    const badKeys: Array<[string, unknown]> = [
      ['a public key', createPublicKey(rfcKey)],
      ['a PEM string', rfcKey.export({ format: 'pem', type: 'pkcs8' })],
      ['an RSA key under 2048 bits', small],
      ['an RSA-PSS key', pss],
      ['an EC key', ec],
    ];
    for (const [what, key] of badKeys) {
      it(`rejects ${what} as the signing key`, () => {
        expect(() => new Rs256Signer(key as never, { alg: 'RS256' })).to.throw(TypeError, /privateKey/);
        expect(() => signCompactJws('{"alg":"RS256"}', 'x', key as never)).to.throw(TypeError, /privateKey/);
      });
    }

    const badHeaders: Array<[string, string]> = [
      ['a header that is not JSON', '{"alg":"RS256"'],
      ['a header that is an array', '["RS256"]'],
      ['a header that is null', 'null'],
      ['a header without alg', '{"kid":"x"}'],
      ['a header with alg none', '{"alg":"none"}'],
      ['a header with alg rs256', '{"alg":"rs256"}'],
    ];
    for (const [what, header] of badHeaders) {
      it(`rejects ${what}`, () => {
        expect(() => signCompactJws(header, 'x', rfcKey)).to.throw(TypeError, /protectedHeader/);
      });
    }

    it('rejects a header object whose alg is not RS256', () => {
      expect(() => new Rs256Signer(rfcKey, { alg: 'HS256' })).to.throw(TypeError, /header/);
      expect(() => new Rs256Signer(rfcKey, {})).to.throw(TypeError, /header/);
      expect(() => new Rs256Signer(rfcKey, null as never)).to.throw(TypeError, /header/);
      expect(() => new Rs256Signer(rfcKey, ['RS256'] as never)).to.throw(TypeError, /header/);
    });
  });
});
