import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { expect } from 'chai';
import {
  encodeBase64url,
  InvalidTokenError,
  MAX_TOKEN_LENGTH,
  parseJws,
  x5t,
  x5tS256,
  type FailureCode,
  type ParseJwsOptions,
} from '../src/index.js';

/** A stand-in for a DER certificate: parseJws checks the encoding and the SEQUENCE tag, not X.509. */
const DER = Buffer.from('3082010a0282010100c0ffee0203010001', 'hex');
const DER_B64 = DER.toString('base64');
const THUMB = x5t(DER);
const THUMB256 = x5tS256(DER);

const SIGNATURE = encodeBase64url(Buffer.alloc(256, 0xa5));
const HEADER = `{"typ":"JWT","alg":"RS256","x5t":"${THUMB}","kid":"${THUMB}"}`;
const PAYLOAD =
  '{"aud":"00000002-0000-0ff1-ce00-000000000000/mail.contoso.com@contoso.com",' +
  '"iss":"00000004-0000-0ff1-ce00-000000000000@contoso.com",' +
  '"nameid":"00000004-0000-0ff1-ce00-000000000000@contoso.com","nbf":1700000000,"exp":1700003600}';

/** A compact token from raw header and payload JSON text. */
function token(header: string = HEADER, payload: string = PAYLOAD, signature: string = SIGNATURE): string {
  return `${encodeBase64url(header)}.${encodeBase64url(payload)}.${signature}`;
}

/** A header with the standard members, `alg` replaced by raw JSON text, plus raw extra members. */
function header(alg = '"RS256"', extra = ''): string {
  return `{"typ":"JWT","alg":${alg},"x5t":"${THUMB}"${extra}}`;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * The base64url of some bytes with the unused bits of its last character set: Node's decoder
 * reads it as the same bytes, a strict decoder refuses it. JSON text gets trailing spaces until its
 * length leaves unused bits (a multiple of 3 bytes has none).
 */
function nonCanonical(data: string | Buffer): string {
  let bytes = Buffer.from(data);
  while (bytes.length % 3 === 0) bytes = Buffer.concat([bytes, Buffer.from(' ')]);
  const segment = encodeBase64url(bytes);
  const unusedBits = bytes.length % 3 === 1 ? 0b1111 : 0b11;
  return segment.slice(0, -1) + ALPHABET.charAt(ALPHABET.indexOf(segment.slice(-1)) | unusedBits);
}

function thrown(tokenText: string, options?: ParseJwsOptions): InvalidTokenError {
  try {
    parseJws(tokenText, options);
  } catch (error) {
    expect(error).to.be.instanceOf(InvalidTokenError);
    return error as InvalidTokenError;
  }
  throw new Error('parseJws did not throw');
}

interface Row {
  readonly name: string;
  readonly token: string;
  readonly code: FailureCode;
  readonly options?: ParseJwsOptions;
}

const headerSegment = encodeBase64url(HEADER);
const payloadSegment = encodeBase64url(PAYLOAD);

const REJECTED: readonly Row[] = [
  // length
  { name: 'a token one character over 8192', token: `${token()}${'A'.repeat(MAX_TOKEN_LENGTH + 1 - token().length)}`, code: 'token_too_large' },
  { name: 'a token longer than a smaller maxLength', token: token(), code: 'token_too_large', options: { maxLength: 100 } },
  { name: 'a huge token before any other check', token: `${'.'.repeat(20_000)}`, code: 'token_too_large' },

  // segments
  { name: 'an empty token', token: '', code: 'token_segments' },
  { name: 'a token of one segment', token: headerSegment, code: 'token_segments' },
  { name: 'a token of two segments', token: `${headerSegment}.${payloadSegment}`, code: 'token_segments' },
  { name: 'a token of four segments', token: `${token()}.${SIGNATURE}`, code: 'token_segments' },
  { name: 'a JWE-like token of five segments', token: `${headerSegment}..${payloadSegment}.${SIGNATURE}.${SIGNATURE}`, code: 'token_segments' },
  { name: 'an empty header segment', token: `.${payloadSegment}.${SIGNATURE}`, code: 'token_segments' },
  { name: 'an empty payload segment', token: `${headerSegment}..${SIGNATURE}`, code: 'token_segments' },
  { name: 'a signed token with an empty signature segment', token: token(HEADER, PAYLOAD, ''), code: 'token_segments' },
  {
    name: 'an alg none token with a signature, even when unsigned tokens are allowed',
    token: token('{"typ":"JWT","alg":"none"}', PAYLOAD, SIGNATURE),
    code: 'token_segments',
    options: { allowUnsigned: true },
  },

  // base64url
  { name: 'padding = in the header segment', token: `${encodeBase64url('{"alg":"RS256"}')}=.${payloadSegment}.${SIGNATURE}`, code: 'token_base64url' },
  { name: 'padding = in the signature segment', token: `${headerSegment}.${payloadSegment}.${encodeBase64url('ab')}==`, code: 'token_base64url' },
  { name: 'a + character (standard base64) in the payload segment', token: `${headerSegment}.${payloadSegment.slice(0, -4)}ab+c.${SIGNATURE}`, code: 'token_base64url' },
  { name: 'a / character (standard base64) in the signature segment', token: `${headerSegment}.${payloadSegment}.${SIGNATURE.slice(0, -4)}ab/c`, code: 'token_base64url' },
  { name: 'non-canonical trailing bits in the header segment', token: `${nonCanonical(HEADER)}.${payloadSegment}.${SIGNATURE}`, code: 'token_base64url' },
  { name: 'non-canonical trailing bits in the payload segment', token: `${headerSegment}.${nonCanonical(PAYLOAD)}.${SIGNATURE}`, code: 'token_base64url' },
  { name: 'non-canonical trailing bits in the signature segment', token: `${headerSegment}.${payloadSegment}.${nonCanonical(Buffer.alloc(256, 1))}`, code: 'token_base64url' },
  { name: 'a segment whose length is 4n+1', token: `${headerSegment}.${payloadSegment}.AAAAA`, code: 'token_base64url' },
  { name: 'a space inside a segment', token: `${headerSegment}.${payloadSegment.slice(0, 8)} ${payloadSegment.slice(8)}.${SIGNATURE}`, code: 'token_base64url' },
  { name: 'a non-ASCII letter inside a segment', token: `${headerSegment}.${payloadSegment}é.${SIGNATURE}`, code: 'token_base64url' },
  {
    name: 'a bad signature segment even when the header is not JSON (base64url is checked before JSON)',
    token: `${encodeBase64url('not json')}.${payloadSegment}.${SIGNATURE}=`,
    code: 'token_base64url',
  },

  // UTF-8
  { name: 'an invalid UTF-8 byte in the payload', token: `${headerSegment}.${encodeBase64url(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))}.${SIGNATURE}`, code: 'token_utf8' },
  { name: 'an overlong UTF-8 encoding of / in the header', token: `${encodeBase64url(Buffer.concat([Buffer.from('{"alg":"RS256","x":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]))}.${payloadSegment}.${SIGNATURE}`, code: 'token_utf8' },
  { name: 'a UTF-8 encoded surrogate half (CESU) in the payload', token: `${headerSegment}.${encodeBase64url(Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]))}.${SIGNATURE}`, code: 'token_utf8' },
  { name: 'a truncated multi-byte sequence at the end of the payload', token: `${headerSegment}.${encodeBase64url(Buffer.concat([Buffer.from('{}'), Buffer.from([0xe2, 0x82])]))}.${SIGNATURE}`, code: 'token_utf8' },
  { name: 'a UTF-8 byte order mark before the header', token: `${encodeBase64url(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(HEADER)]))}.${payloadSegment}.${SIGNATURE}`, code: 'token_utf8' },
  { name: 'a UTF-8 byte order mark before the payload', token: `${headerSegment}.${encodeBase64url(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(PAYLOAD)]))}.${SIGNATURE}`, code: 'token_utf8' },
  { name: 'UTF-16 text in the payload', token: `${headerSegment}.${encodeBase64url(Buffer.from('\ufeff{}', 'utf16le'))}.${SIGNATURE}`, code: 'token_utf8' },

  // JSON
  { name: 'a header that is not JSON', token: token('alg=RS256'), code: 'token_json' },
  { name: 'a payload that is not JSON', token: token(HEADER, '{aud:1}'), code: 'token_json' },
  { name: 'a payload with trailing content', token: token(HEADER, `${PAYLOAD}{}`), code: 'token_json' },
  { name: 'a payload with 1e400 as exp', token: token(HEADER, '{"nbf":1,"exp":1e400}'), code: 'token_json' },
  { name: 'a payload with -1e400 as nbf', token: token(HEADER, '{"nbf":-1e400,"exp":1}'), code: 'token_json' },
  { name: 'a payload with a leading zero', token: token(HEADER, '{"exp":01700000000}'), code: 'token_json' },
  { name: 'a payload nested 33 levels deep', token: token(HEADER, `${'{"a":'.repeat(32)}{}${'}'.repeat(32)}`), code: 'token_json' },
  { name: 'a header with an unpaired surrogate escape', token: token(header('"RS256"', ',"x":"\\ud800"')), code: 'token_json' },
  { name: 'a payload with a raw control character in a string', token: token(HEADER, '{"aud":"a\u0001b"}'), code: 'token_json' },
  { name: 'a header of only whitespace', token: token(' '), code: 'token_json' },
  { name: 'a header text that starts with U+FEFF', token: token('\ufeff{"alg":"RS256"}'), code: 'token_utf8' },
  { name: 'a header with alg twice', token: token('{"alg":"none","alg":"RS256","x5t":"a"}'), code: 'token_duplicate_member' },
  { name: 'a header with alg twice, once escaped', token: token('{"alg":"RS256","\\u0061lg":"none","x5t":"a"}'), code: 'token_duplicate_member' },
  { name: 'a payload with aud twice', token: token(HEADER, '{"aud":"a","aud":"b"}'), code: 'token_duplicate_member' },
  { name: 'a payload with exp twice, once escaped', token: token(HEADER, '{"exp":1,"\\u0065xp":9999999999}'), code: 'token_duplicate_member' },
  { name: 'a duplicate in the payload even when the header has an unsupported alg (JSON is checked before alg)', token: token('{"alg":"HS256"}', '{"a":1,"a":1}'), code: 'token_duplicate_member' },

  // not objects
  { name: 'a payload that is an array', token: token(HEADER, '[]'), code: 'token_not_object' },
  { name: 'a payload that is a string', token: token(HEADER, '"x"'), code: 'token_not_object' },
  { name: 'a payload that is null', token: token(HEADER, 'null'), code: 'token_not_object' },
  { name: 'a payload that is a number', token: token(HEADER, '1'), code: 'token_not_object' },
  { name: 'a payload that is true', token: token(HEADER, 'true'), code: 'token_not_object' },
  { name: 'a header that is an array', token: token('[{"alg":"RS256"}]'), code: 'token_not_object' },
  { name: 'a header that is a string', token: token('"RS256"'), code: 'token_not_object' },
  { name: 'a header that is null', token: token('null'), code: 'token_not_object' },
  { name: 'a header that is a number', token: token('1'), code: 'token_not_object' },

  // forbidden header parameters
  { name: 'a crit header', token: token(header('"RS256"', ',"crit":["exp"],"exp":1')), code: 'token_forbidden_header' },
  { name: 'a crit header spelled with an escape', token: token(header('"RS256"', ',"\\u0063rit":[]')), code: 'token_forbidden_header' },
  { name: 'a b64 header (unencoded payload)', token: token(header('"RS256"', ',"b64":false')), code: 'token_forbidden_header' },
  { name: 'a jku header', token: token(header('"RS256"', ',"jku":"https://attacker.example/keys"')), code: 'token_forbidden_header' },
  { name: 'an x5u header', token: token(header('"RS256"', ',"x5u":"https://attacker.example/cert"')), code: 'token_forbidden_header' },
  { name: 'a jwk header', token: token(header('"RS256"', ',"jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}')), code: 'token_forbidden_header' },
  { name: 'an enc header (JWE)', token: token(header('"RS256"', ',"enc":"A256GCM"')), code: 'token_forbidden_header' },
  { name: 'a zip header', token: token(header('"RS256"', ',"zip":"DEF"')), code: 'token_forbidden_header' },
  { name: 'a cty header', token: token(header('"RS256"', ',"cty":"JWT"')), code: 'token_forbidden_header' },
  { name: 'a forbidden header that is null', token: token(header('"RS256"', ',"jku":null')), code: 'token_forbidden_header' },
  { name: 'a jku header even when alg is HS256 (header parameters are checked before alg)', token: token(header('"HS256"', ',"jku":"https://a.example"')), code: 'token_forbidden_header' },
  { name: 'a typ that is not a string', token: token(`{"typ":1,"alg":"RS256","x5t":"${THUMB}"}`), code: 'claim_type' },

  // x5c
  { name: 'an x5c header when x5c is not allowed', token: token(header('"RS256"', `,"x5c":["${DER_B64}"]`)), code: 'token_x5c_not_allowed' },
  { name: 'an x5c header when x5c is not allowed, even an unsigned one', token: token(`{"alg":"none","x5c":["${DER_B64}"]}`, PAYLOAD, ''), code: 'token_x5c_not_allowed', options: { allowUnsigned: true } },
  { name: 'an x5c header with two certificates', token: token(header('"RS256"', `,"x5c":["${DER_B64}","${DER_B64}"]`)), code: 'token_forbidden_header', options: { allowX5c: true } },
  { name: 'an empty x5c array', token: token(header('"RS256"', ',"x5c":[]')), code: 'token_forbidden_header', options: { allowX5c: true } },
  { name: 'an x5c that is a string, not an array', token: token(header('"RS256"', `,"x5c":"${DER_B64}"`)), code: 'token_forbidden_header', options: { allowX5c: true } },
  { name: 'an x5c element that is not a string', token: token(header('"RS256"', ',"x5c":[{}]')), code: 'token_forbidden_header', options: { allowX5c: true } },
  { name: 'an x5c element in base64url rather than standard base64', token: token(header('"RS256"', `,"x5c":["${encodeBase64url(Buffer.from([0x30, 0xfb, 0xff]))}"]`)), code: 'token_forbidden_header', options: { allowX5c: true } },
  { name: 'an x5c element without its padding', token: token(header('"RS256"', `,"x5c":["${DER_B64.replace(/=+$/, '')}"]`)), code: 'token_forbidden_header', options: { allowX5c: true } },
  { name: 'an x5c element with non-canonical trailing bits', token: token(header('"RS256"', ',"x5c":["MAF="]')), code: 'token_forbidden_header', options: { allowX5c: true } },
  { name: 'an empty x5c element', token: token(header('"RS256"', ',"x5c":[""]')), code: 'token_forbidden_header', options: { allowX5c: true } },
  { name: 'an x5c element that is not DER', token: token(header('"RS256"', `,"x5c":["${Buffer.from('-----BEGIN').toString('base64')}"]`)), code: 'token_forbidden_header', options: { allowX5c: true } },

  // alg
  ...(['"none"', '"None"', '"NONE"', '"nOnE"'] as const).map((alg) => ({
    name: `alg ${alg} when unsigned tokens are not allowed`,
    token: token(`{"typ":"JWT","alg":${alg}}`, PAYLOAD, ''),
    code: 'token_unsupported_alg' as const,
  })),
  ...(['"None"', '"NONE"', '"nOnE"', '"none "'] as const).map((alg) => ({
    name: `alg ${alg} even when unsigned tokens are allowed`,
    token: token(`{"typ":"JWT","alg":${alg}}`, PAYLOAD, ''),
    code: 'token_unsupported_alg' as const,
    options: { allowUnsigned: true },
  })),
  ...(['"HS256"', '"RS512"', '"RS384"', '"PS256"', '"ES256"', '"EdDSA"', '"rs256"', '"RS256 "', '"RS256\\u0000"', '""', 'null', '["RS256"]', '256', 'true', '{"name":"RS256"}'] as const).map(
    (alg) => ({ name: `alg ${alg}`, token: token(header(alg)), code: 'token_unsupported_alg' as const }),
  ),
  { name: 'a header without alg', token: token(`{"typ":"JWT","x5t":"${THUMB}"}`), code: 'token_unsupported_alg' },

  // key ids
  { name: 'kid different from x5t', token: token(`{"alg":"RS256","x5t":"${THUMB}","kid":"other"}`), code: 'token_key_id_mismatch' },
  { name: 'kid equal to x5t only case-insensitively', token: token(`{"alg":"RS256","x5t":"${THUMB}","kid":"${THUMB.toLowerCase() === THUMB ? THUMB.toUpperCase() : THUMB.toLowerCase()}"}`), code: 'token_key_id_mismatch' },
  { name: 'x5t that is not the thumbprint of the x5c certificate', token: token(`{"alg":"RS256","x5t":"${x5t(Buffer.from('other'))}","x5c":["${DER_B64}"]}`), code: 'token_key_id_mismatch', options: { allowX5c: true } },
  { name: 'kid (without x5t) that is not the thumbprint of the x5c certificate', token: token(`{"alg":"RS256","kid":"other","x5c":["${DER_B64}"]}`), code: 'token_key_id_mismatch', options: { allowX5c: true } },
  { name: 'x5t#S256 that is not the thumbprint of the x5c certificate', token: token(`{"alg":"RS256","x5t":"${THUMB}","x5t#S256":"${x5tS256(Buffer.from('other'))}","x5c":["${DER_B64}"]}`), code: 'token_key_id_mismatch', options: { allowX5c: true } },
  { name: 'a kid that is a number', token: token(`{"alg":"RS256","x5t":"${THUMB}","kid":1}`), code: 'claim_type' },
  { name: 'an x5t that is an array', token: token(`{"alg":"RS256","x5t":["${THUMB}"]}`), code: 'claim_type' },
  { name: 'an x5t that is an empty string', token: token('{"alg":"RS256","x5t":""}'), code: 'claim_type' },
  { name: 'an x5t that is null', token: token('{"alg":"RS256","x5t":null,"kid":"a"}'), code: 'claim_type' },
  { name: 'an x5t#S256 that is not a string', token: token(`{"alg":"RS256","x5t":"${THUMB}","x5t#S256":true}`), code: 'claim_type' },
  { name: 'a signed token with neither x5t nor kid', token: token('{"typ":"JWT","alg":"RS256"}'), code: 'claim_missing' },
  { name: 'a signed token with only x5t#S256', token: token(`{"alg":"RS256","x5t#S256":"${THUMB256}"}`), code: 'claim_missing' },
  { name: 'a signed token with only an x5c certificate', token: token(`{"alg":"RS256","x5c":["${DER_B64}"]}`), code: 'claim_missing', options: { allowX5c: true } },
];

describe('jws', () => {
  describe('parseJws rejects', () => {
    for (const row of REJECTED) {
      it(`rejects ${row.name} with ${row.code}`, () => {
        const error = thrown(row.token, row.options);
        expect(error.code).to.equal(row.code);
        expect(error.status).to.equal(401);
      });
    }

    it('never puts a segment of the token into the reason', () => {
      for (const row of REJECTED) {
        const { reason } = thrown(row.token, row.options);
        for (const segment of row.token.split('.')) {
          if (segment.length >= 8) expect(reason, row.name).not.to.contain(segment);
        }
        expect(reason, row.name).not.to.contain('attacker.example');
        expect(reason, row.name).not.to.contain(THUMB);
      }
    });
  });

  describe('parseJws reasons', () => {
    const rows: readonly { name: string; token: string; options?: ParseJwsOptions; reason: string }[] = [
      { name: 'the length and the cap', token: token(), options: { maxLength: 100 }, reason: `token has ${token().length} characters, more than 100` },
      { name: 'the segment count', token: 'a.b', reason: 'token has 2 segments, not 3' },
      { name: 'which segment is not base64url', token: `${headerSegment}.${payloadSegment}=.${SIGNATURE}`, reason: 'payload segment is not canonical base64url' },
      { name: 'a BOM', token: `${headerSegment}.${encodeBase64url(Buffer.from('\ufeff{}'))}.${SIGNATURE}`, reason: 'payload starts with a UTF-8 byte order mark' },
      { name: 'which part has a JSON problem and where', token: token(HEADER, '{"a":1,"a":2}'), reason: 'payload: invalid JSON: duplicate member name at offset 7' },
      { name: 'what the payload is instead of an object', token: token(HEADER, '[]'), reason: 'payload is an array, not a JSON object' },
      { name: 'the forbidden parameter', token: token(header('"RS256"', ',"jku":"x"')), reason: 'header has jku' },
      { name: 'a short alg by name', token: token(header('"HS256"')), reason: 'header alg is "HS256", not accepted here' },
      { name: 'a long or odd alg only by type', token: token(header('"RS256 secret stuff"')), reason: 'header alg is a string, not accepted here' },
      { name: 'a missing alg', token: token(`{"x5t":"${THUMB}"}`), reason: 'header has no alg' },
      { name: 'the x5c element count', token: token(header('"RS256"', `,"x5c":["${DER_B64}","${DER_B64}"]`)), options: { allowX5c: true }, reason: 'header x5c has 2 elements, not exactly one' },
      { name: 'an unsigned token with a signature', token: token('{"alg":"none"}'), options: { allowUnsigned: true }, reason: 'unsigned token has a signature' },
    ];
    for (const row of rows) {
      it(`say ${row.name}`, () => {
        expect(thrown(row.token, row.options).reason).to.equal(row.reason);
      });
    }
  });

  describe('parseJws accepts', () => {
    it('a well-formed RS256 token, whose signing input verifies with the signer key', () => {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const signingInput = `${encodeBase64url(HEADER)}.${encodeBase64url(PAYLOAD)}`;
      const signature = sign('sha256', Buffer.from(signingInput), privateKey);
      const compact = `${signingInput}.${encodeBase64url(signature)}`;

      const parsed = parseJws(compact);

      expect(parsed.header).to.deep.equal({ typ: 'JWT', alg: 'RS256', x5t: THUMB, kid: THUMB });
      expect(parsed.payload).to.deep.equal(JSON.parse(PAYLOAD));
      expect(parsed.signingInput).to.equal(signingInput);
      expect(parsed.signature.equals(signature)).to.equal(true);
      expect(parsed.token).to.equal(compact);
      expect(verify('sha256', Buffer.from(parsed.signingInput), publicKey, parsed.signature)).to.equal(true);
    });

    it('a Microsoft-style actor token with string nbf and exp and only x5t', () => {
      const parsed = parseJws(
        token(
          `{"typ":"JWT","alg":"RS256","x5t":"${THUMB}"}`,
          '{"aud":"00000003-0000-0ff1-ce00-000000000000/sp.contoso.com@contoso.com","iss":"00000002-0000-0ff1-ce00-000000000000@contoso.com",' +
            '"nbf":"1403212820","exp":"1403256020","nameid":"00000002-0000-0ff1-ce00-000000000000@contoso.com","trustedfordelegation":"true"}',
        ),
      );
      expect(parsed.payload['nbf']).to.equal('1403212820');
      expect(parsed.header.x5t).to.equal(THUMB);
      expect(parsed.header.kid).to.equal(undefined);
    });

    it('a token with only kid', () => {
      expect(parseJws(token(`{"alg":"RS256","kid":"${THUMB}"}`)).header.kid).to.equal(THUMB);
    });

    it('an unsigned Microsoft-style outer token when unsigned tokens are allowed', () => {
      const outer = parseJws(token('{"typ":"JWT","alg":"none"}', `{"aud":"a","iss":"b","nbf":"1","exp":"2","actortoken":"${token()}"}`, ''), {
        allowUnsigned: true,
      });
      expect(outer.header.alg).to.equal('none');
      expect(outer.signature).to.have.length(0);
      expect(outer.payload['actortoken']).to.equal(token());
    });

    it('an x5c header with one certificate whose thumbprints match, when x5c is allowed', () => {
      const parsed = parseJws(token(`{"alg":"RS256","x5t":"${THUMB}","kid":"${THUMB}","x5t#S256":"${THUMB256}","x5c":["${DER_B64}"]}`), { allowX5c: true });
      expect(parsed.header.x5c).to.deep.equal([DER_B64]);
      expect(parsed.header['x5t#S256']).to.equal(THUMB256);
    });

    it('an x5c header with a kid that is the certificate thumbprint', () => {
      expect(parseJws(token(`{"alg":"RS256","kid":"${THUMB}","x5c":["${DER_B64}"]}`), { allowX5c: true }).header.kid).to.equal(THUMB);
    });

    it('x5t#S256 next to x5t without x5c (the middleware matches it to the key)', () => {
      expect(parseJws(token(`{"alg":"RS256","x5t":"${THUMB}","x5t#S256":"${THUMB256}"}`)).header['x5t#S256']).to.equal(THUMB256);
    });

    it('a token of exactly maxLength characters', () => {
      const compact = token();
      expect(parseJws(compact, { maxLength: compact.length }).token).to.equal(compact);
    });

    it('a token of exactly 8192 characters by default', () => {
      // base64url never has a length of 4n+1, so pad both the header and the payload to hit 8192.
      const candidates = [0, 1, 2].flatMap((spaces) =>
        Array.from({ length: 1000 }, (_, i) => token(HEADER + ' '.repeat(spaces), `{"p":"${'x'.repeat(5500 + i)}"}`)),
      );
      const compact = candidates.find((candidate) => candidate.length === MAX_TOKEN_LENGTH) ?? '';
      expect(compact.length).to.equal(MAX_TOKEN_LENGTH);
      expect(parseJws(compact).token).to.equal(compact);
    });

    it('unknown header parameters and claims, which it leaves to the caller', () => {
      const parsed = parseJws(token(header('"RS256"', ',"x-custom":1'), '{"msexchuid":"x","appctx":{}}'));
      expect(parsed.header['x-custom']).to.equal(1);
      expect(parsed.payload['msexchuid']).to.equal('x');
    });

    it('a payload member named __proto__ as an ordinary member', () => {
      const parsed = parseJws(token(HEADER, '{"__proto__":{"aud":"forged"}}'));
      expect(Object.getPrototypeOf(parsed.payload)).to.equal(null);
      expect(parsed.payload['aud']).to.equal(undefined);
      expect(Object.keys(parsed.payload)).to.deep.equal(['__proto__']);
    });

    it('a payload whose strings contain escaped non-ASCII and astral characters', () => {
      expect(parseJws(token(HEADER, '{"nameid":"Zo\\u00eb \\ud83d\\ude00"}')).payload['nameid']).to.equal('Zoë 😀');
    });
  });

  describe('the non-canonical segments used above', () => {
    it('decode to the same bytes with a lenient decoder', () => {
      const bytes = Buffer.alloc(256, 1);
      const segment = nonCanonical(bytes);
      expect(segment).not.to.equal(encodeBase64url(bytes));
      expect(Buffer.from(segment, 'base64url').equals(bytes)).to.equal(true);
    });
  });

  describe('parseJws refuses programmer mistakes with TypeError', () => {
    it('a token that is not a string', () => {
      expect(() => parseJws(42 as unknown as string)).to.throw(TypeError, /token must be a string/);
    });

    for (const maxLength of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      it(`maxLength ${maxLength}`, () => {
        expect(() => parseJws(token(), { maxLength })).to.throw(TypeError, /options\.maxLength/);
      });
    }
  });
});
