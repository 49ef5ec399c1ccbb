import { expect } from 'chai';
import {
  ASSERTION_CLOCK_SKEW_SECONDS,
  checkLifetime,
  effectiveScopes,
  encodeBase64url,
  InvalidTokenError,
  isScopeToken,
  MAX_ASSERTION_LIFETIME_SECONDS,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_TOKEN_LIFETIME_SECONDS,
  parseJws,
  parseScopes,
  readActorClaims,
  readNumericDate,
  readOuterClaims,
  stsIssuerId,
  USER_CLAIM_NAMES,
  type FailureCode,
  type LifetimeRules,
} from '../src/index.js';

const AUD = '00000002-0000-0ff1-ce00-000000000000/mail.contoso.com@contoso.com';
const LYNC = '00000004-0000-0ff1-ce00-000000000000@contoso.com';
const HEADER = '{"typ":"JWT","alg":"RS256","x5t":"abc","kid":"abc"}';
const SIGNATURE = encodeBase64url(Buffer.alloc(256, 1));

/** The payload of a token built from raw claim JSON text, as parseJws hands it over. */
function payloadOf(claimsText: string, header = HEADER, signature = SIGNATURE): Readonly<Record<string, unknown>> {
  const compact = `${encodeBase64url(header)}.${encodeBase64url(claimsText)}.${signature}`;
  return parseJws(compact, { allowUnsigned: true }).payload;
}

/** Actor claims text: the required ones (overridable by raw JSON text) plus raw extra members. */
function actor(overrides: Readonly<Record<string, string | undefined>> = {}, extra = ''): string {
  const members: Record<string, string | undefined> = {
    aud: `"${AUD}"`,
    iss: `"${LYNC}"`,
    nameid: `"${LYNC}"`,
    nbf: '1700000000',
    exp: '1700003600',
    ...overrides,
  };
  const text = Object.entries(members)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `"${name}":${value}`)
    .join(',');
  return `{${text}${extra}}`;
}

function outer(overrides: Readonly<Record<string, string | undefined>> = {}, extra = ''): string {
  const members: Record<string, string | undefined> = {
    aud: `"${AUD}"`,
    iss: `"${LYNC}"`,
    nbf: '"1700000000"',
    exp: '"1700003600"',
    actortoken: '"a.b.c"',
    ...overrides,
  };
  const text = Object.entries(members)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `"${name}":${value}`)
    .join(',');
  return `{${text}${extra}}`;
}

function thrownBy(fn: () => unknown): InvalidTokenError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(InvalidTokenError);
    return error as InvalidTokenError;
  }
  throw new Error('did not throw');
}

interface Row {
  readonly name: string;
  readonly claims: string;
  readonly code: FailureCode;
  readonly reason?: string;
}

describe('claims', () => {
  describe('readNumericDate', () => {
    const accepted: readonly { name: string; value: unknown; date: number }[] = [
      { name: 'zero', value: 0, date: 0 },
      { name: 'negative zero, as zero', value: -0, date: 0 },
      { name: 'a whole number', value: 1700000000, date: 1700000000 },
      { name: 'a fractional number', value: 1700000000.5, date: 1700000000.5 },
      { name: 'the largest ten-digit number', value: 9999999999, date: 9999999999 },
      { name: 'a Microsoft-style string of ten digits', value: '1403212820', date: 1403212820 },
      { name: 'a string of one digit', value: '0', date: 0 },
      { name: 'a string with leading zeros within ten digits', value: '0000000123', date: 123 },
      { name: 'the string 9999999999', value: '9999999999', date: 9999999999 },
    ];
    for (const row of accepted) {
      it(`reads ${row.name}`, () => {
        expect(Object.is(readNumericDate(row.value), row.date)).to.equal(true);
      });
    }

    const refused: readonly { name: string; value: unknown }[] = [
      { name: 'a negative number', value: -1 },
      { name: 'a tiny negative number', value: -0.5 },
      { name: 'a number above 9999999999', value: 10000000000 },
      { name: 'a millisecond timestamp', value: 1700000000000 },
      { name: 'NaN', value: Number.NaN },
      { name: 'Infinity', value: Number.POSITIVE_INFINITY },
      { name: '-Infinity', value: Number.NEGATIVE_INFINITY },
      { name: 'true', value: true },
      { name: 'false', value: false },
      { name: 'null', value: null },
      { name: 'undefined', value: undefined },
      { name: 'an object', value: {} },
      { name: 'an array of one number', value: [1700000000] },
      { name: 'a bigint', value: 1700000000n },
      { name: 'an empty string', value: '' },
      { name: 'a string with a leading space', value: ' 12' },
      { name: 'a string with a trailing space', value: '12 ' },
      { name: 'a string with a trailing newline', value: '12\n' },
      { name: 'a string with a letter', value: '12a' },
      { name: 'a string in exponent notation', value: '1e3' },
      { name: 'a string with a plus sign', value: '+12' },
      { name: 'a string with a minus sign', value: '-12' },
      { name: 'a string with a fraction', value: '1.5' },
      { name: 'a hexadecimal string', value: '0x10' },
      { name: 'a string of eleven digits', value: '12345678901' },
      { name: 'a string of full-width digits', value: '１２３' },
      { name: 'a string of Arabic-Indic digits', value: '١٢٣' },
      { name: 'the string Infinity', value: 'Infinity' },
    ];
    for (const row of refused) {
      it(`refuses ${row.name}`, () => {
        expect(readNumericDate(row.value)).to.equal(undefined);
      });
    }
  });

  describe('readActorClaims', () => {
    it('reads the required claims of a self-issued actor token', () => {
      expect(readActorClaims(payloadOf(actor()))).to.deep.equal({ aud: AUD, iss: LYNC, nameid: LYNC, nbf: 1700000000, exp: 1700003600 });
    });

    it('reads a Microsoft-style actor token with string nbf and exp as numbers', () => {
      const claims = readActorClaims(payloadOf(actor({ nbf: '"1403212820"', exp: '"1403256020"' }, ',"trustedfordelegation":"true"')));
      expect(claims.nbf).to.equal(1403212820);
      expect(claims.exp).to.equal(1403256020);
      expect(claims.trustedfordelegation).to.equal('true');
    });

    it('reads every optional claim of an STS-issued delegating actor token', () => {
      const claims = readActorClaims(
        payloadOf(
          actor(
            { iss: '"00000001-0000-0000-c000-000000000000@contoso.com"' },
            ',"iat":1699999990,"jti":"q1w2e3","trustedfordelegation":"true","scp":"calendar.read mail.send",' +
              '"identityprovider":"00000001-0000-0000-c000-000000000000@contoso.com","cnf":{"x5t#S256":"thumb"}',
          ),
        ),
      );
      expect(claims).to.deep.equal({
        aud: AUD,
        iss: '00000001-0000-0000-c000-000000000000@contoso.com',
        nameid: LYNC,
        nbf: 1700000000,
        exp: 1700003600,
        iat: 1699999990,
        jti: 'q1w2e3',
        trustedfordelegation: 'true',
        scp: 'calendar.read mail.send',
        identityprovider: '00000001-0000-0000-c000-000000000000@contoso.com',
        cnf: { 'x5t#S256': 'thumb' },
      });
    });

    it('leaves out optional claims that are absent rather than setting them to undefined', () => {
      expect(Object.keys(readActorClaims(payloadOf(actor())))).to.deep.equal(['aud', 'iss', 'nameid', 'nbf', 'exp']);
    });

    it('ignores claims it does not know', () => {
      expect(readActorClaims(payloadOf(actor({}, ',"appctx":{"x":[1]},"ver":"1.0"')))).not.to.have.property('appctx');
    });

    it('reads only own members, not inherited ones', () => {
      const inherited = Object.create({ aud: AUD, iss: LYNC, nameid: LYNC, nbf: 1, exp: 2 }) as Record<string, unknown>;
      expect(thrownBy(() => readActorClaims(inherited)).code).to.equal('claim_missing');
    });

    it('is not fooled by a member named __proto__', () => {
      const error = thrownBy(() => readActorClaims(payloadOf(`{"__proto__":${actor()}}`)));
      expect(error.code).to.equal('claim_missing');
      expect(error.reason).to.equal('actor token has no aud');
    });

    it('reads -0 as nbf as 0', () => {
      expect(Object.is(readActorClaims(payloadOf(actor({ nbf: '-0' }))).nbf, 0)).to.equal(true);
    });

    const rows: readonly Row[] = [
      ...(['aud', 'iss', 'nameid', 'nbf', 'exp'] as const).map((name) => ({
        name: `an actor token without ${name}`,
        claims: actor({ [name]: undefined }),
        code: 'claim_missing' as const,
        reason: `actor token has no ${name}`,
      })),
      { name: 'an aud that is an array', claims: actor({ aud: `["${AUD}"]` }), code: 'claim_type', reason: 'actor token aud is an array, not a string' },
      { name: 'an aud that is an array of two audiences', claims: actor({ aud: `["${AUD}","other"]` }), code: 'claim_type' },
      { name: 'an aud that is null', claims: actor({ aud: 'null' }), code: 'claim_type', reason: 'actor token aud is null, not a string' },
      { name: 'an iss that is a number', claims: actor({ iss: '4' }), code: 'claim_type', reason: 'actor token iss is a number, not a string' },
      { name: 'a nameid that is an object', claims: actor({ nameid: `{"id":"${LYNC}"}` }), code: 'claim_type', reason: 'actor token nameid is an object, not a string' },
      { name: 'an exp that is a string of 11 digits', claims: actor({ exp: '"17000036000"' }), code: 'claim_type', reason: 'actor token exp is a string of 11 digits' },
      { name: 'an nbf with a letter', claims: actor({ nbf: '"12a"' }), code: 'claim_type', reason: 'actor token nbf is a string of 3 characters that are not all ASCII digits' },
      { name: 'an nbf with a leading space', claims: actor({ nbf: '" 12"' }), code: 'claim_type' },
      { name: 'an exp in exponent notation as a string', claims: actor({ exp: '"1e3"' }), code: 'claim_type' },
      { name: 'an exp that is an empty string', claims: actor({ exp: '""' }), code: 'claim_type', reason: 'actor token exp is an empty string' },
      { name: 'an exp that is true', claims: actor({ exp: 'true' }), code: 'claim_type', reason: 'actor token exp is a boolean' },
      { name: 'an exp that is null', claims: actor({ exp: 'null' }), code: 'claim_type', reason: 'actor token exp is null' },
      { name: 'an exp that is an object', claims: actor({ exp: '{}' }), code: 'claim_type' },
      { name: 'an nbf that is negative', claims: actor({ nbf: '-1' }), code: 'claim_type', reason: 'actor token nbf is a negative number' },
      { name: 'an exp in milliseconds', claims: actor({ exp: '1700003600000' }), code: 'claim_type', reason: 'actor token exp is a number above 9999999999' },
      { name: 'an iat that is a string with a sign', claims: actor({}, ',"iat":"+1"'), code: 'claim_type' },
      { name: 'an iat that is an array', claims: actor({}, ',"iat":[1]'), code: 'claim_type', reason: 'actor token iat is an array' },
      { name: 'a jti that is a number', claims: actor({}, ',"jti":1'), code: 'claim_type' },
      { name: 'a trustedfordelegation that is the boolean true', claims: actor({}, ',"trustedfordelegation":true'), code: 'claim_type', reason: 'actor token trustedfordelegation is a boolean, not a string' },
      { name: 'an scp that is an array', claims: actor({}, ',"scp":["a","b"]'), code: 'claim_type' },
      { name: 'an identityprovider that is null', claims: actor({}, ',"identityprovider":null'), code: 'claim_type' },
      { name: 'a cnf that is a string', claims: actor({}, ',"cnf":"thumb"'), code: 'claim_type', reason: 'actor token cnf is a string, not an object' },
      { name: 'a cnf that is null', claims: actor({}, ',"cnf":null'), code: 'claim_type' },
      { name: 'a cnf that is an array', claims: actor({}, ',"cnf":[{"x5t#S256":"t"}]'), code: 'claim_type' },
      { name: 'an empty cnf', claims: actor({}, ',"cnf":{}'), code: 'claim_type', reason: 'actor token cnf is an object with 0 members, not exactly x5t#S256' },
      { name: 'a cnf with a jwk instead of x5t#S256', claims: actor({}, ',"cnf":{"jwk":{"kty":"RSA"}}'), code: 'claim_type' },
      { name: 'a cnf with a second member', claims: actor({}, ',"cnf":{"x5t#S256":"t","jwk":{}}'), code: 'claim_type', reason: 'actor token cnf is an object with 2 members, not exactly x5t#S256' },
      { name: 'a cnf whose x5t#S256 is a number', claims: actor({}, ',"cnf":{"x5t#S256":1}'), code: 'claim_type', reason: 'actor token cnf x5t#S256 is a number, not a string' },
      { name: 'a cnf with a duplicate x5t#S256', claims: actor({}, ',"cnf":{"x5t#S256":"a","x5t#S256":"b"}'), code: 'token_duplicate_member' },
      ...USER_CLAIM_NAMES.map((name) => ({
        name: `an actor token carrying ${name}`,
        claims: actor({}, `,"${name}":"alice@contoso.com"`),
        code: 'actor_user_claims' as const,
        reason: `actor token carries user claims: ${name}`,
      })),
      { name: 'an actor token carrying a user claim whose value is null', claims: actor({}, ',"upn":null'), code: 'actor_user_claims' },
      { name: 'an actor token carrying several user claims and missing aud', claims: actor({ aud: undefined }, ',"smtp":"a","sip":"b"'), code: 'actor_user_claims', reason: 'actor token carries user claims: smtp, sip' },
    ];
    for (const row of rows) {
      it(`rejects ${row.name} with ${row.code}`, () => {
        const error = thrownBy(() => readActorClaims(payloadOf(row.claims)));
        expect(error.code).to.equal(row.code);
        if (row.reason !== undefined) expect(error.reason).to.equal(row.reason);
      });
    }

    it('never echoes claim values in its reasons', () => {
      const error = thrownBy(() => readActorClaims(payloadOf(actor({ iss: '["SECRET-ISSUER"]', exp: '"SECRET"' }))));
      expect(error.reason).not.to.contain('SECRET');
      const date = thrownBy(() => readActorClaims(payloadOf(actor({ exp: '"SECRET"' }))));
      expect(date.reason).to.equal('actor token exp is a string of 6 characters that are not all ASCII digits');
    });
  });

  describe('readOuterClaims', () => {
    it('reads a Microsoft-style unsigned outer token with string nbf and exp', () => {
      const payload = payloadOf(
        outer({}, ',"nameid":"s-1-5-21-1","nii":"urn:office:idp:activedirectory","smtp":"alice@contoso.com","sip":"alice@contoso.com","msexchuid":"x"'),
        '{"typ":"JWT","alg":"none"}',
        '',
      );
      expect(readOuterClaims(payload)).to.deep.equal({
        aud: AUD,
        iss: LYNC,
        nbf: 1700000000,
        exp: 1700003600,
        actortoken: 'a.b.c',
        nameid: 's-1-5-21-1',
        nii: 'urn:office:idp:activedirectory',
        smtp: 'alice@contoso.com',
        sip: 'alice@contoso.com',
      });
    });

    it('reads iat and upn when present', () => {
      const claims = readOuterClaims(payloadOf(outer({}, ',"iat":1700000000,"upn":"alice@contoso.com"')));
      expect(claims.iat).to.equal(1700000000);
      expect(claims.upn).to.equal('alice@contoso.com');
    });

    it('leaves out absent optional claims', () => {
      expect(Object.keys(readOuterClaims(payloadOf(outer())))).to.deep.equal(['aud', 'iss', 'nbf', 'exp', 'actortoken']);
    });

    const rows: readonly Row[] = [
      ...(['aud', 'iss', 'nbf', 'exp', 'actortoken'] as const).map((name) => ({
        name: `an outer token without ${name}`,
        claims: outer({ [name]: undefined }),
        code: 'claim_missing' as const,
        reason: `outer token has no ${name}`,
      })),
      { name: 'an aud that is an array', claims: outer({ aud: `["${AUD}"]` }), code: 'claim_type', reason: 'outer token aud is an array, not a string' },
      { name: 'an actortoken that is an object', claims: outer({ actortoken: '{"alg":"none"}' }), code: 'claim_type' },
      { name: 'an exp that is a string of 11 digits', claims: outer({ exp: '"17000036000"' }), code: 'claim_type', reason: 'outer token exp is a string of 11 digits' },
      { name: 'an nbf that is a boolean', claims: outer({ nbf: 'false' }), code: 'claim_type' },
      { name: 'an iat that is not a NumericDate', claims: outer({}, ',"iat":"soon"'), code: 'claim_type' },
      { name: 'a nameid that is a number', claims: outer({}, ',"nameid":42'), code: 'claim_type', reason: 'outer token nameid is a number, not a string' },
      { name: 'an smtp that is an array', claims: outer({}, ',"smtp":["alice@contoso.com"]'), code: 'claim_type' },
      { name: 'an nii that is null', claims: outer({}, ',"nii":null'), code: 'claim_type' },
      { name: 'a sip that is an object', claims: outer({}, ',"sip":{}'), code: 'claim_type' },
      { name: 'a upn that is a boolean', claims: outer({}, ',"upn":true'), code: 'claim_type' },
    ];
    for (const row of rows) {
      it(`rejects ${row.name} with ${row.code}`, () => {
        const error = thrownBy(() => readOuterClaims(payloadOf(row.claims)));
        expect(error.code).to.equal(row.code);
        if (row.reason !== undefined) expect(error.reason).to.equal(row.reason);
      });
    }
  });

  describe('checkLifetime', () => {
    const NOW = 1_700_000_000;
    const rules: LifetimeRules = { now: NOW, skew: 300, maxLifetime: 3600 };

    const accepted: readonly { name: string; claims: { nbf: number; exp: number; iat?: number } }[] = [
      { name: 'a token valid now', claims: { nbf: NOW - 60, exp: NOW + 3000 } },
      { name: 'a token that expired less than the skew ago', claims: { nbf: NOW - 3000, exp: NOW - 299 } },
      { name: 'a token valid from exactly now plus the skew', claims: { nbf: NOW + 300, exp: NOW + 600 } },
      { name: 'a token issued exactly now plus the skew', claims: { nbf: NOW, exp: NOW + 600, iat: NOW + 300 } },
      { name: 'a lifetime of exactly the maximum', claims: { nbf: NOW - 100, exp: NOW + 3500, iat: NOW - 100 } },
      { name: 'an iat before nbf within the maximum from exp', claims: { nbf: NOW, exp: NOW + 1800, iat: NOW - 1800 } },
      { name: 'fractional seconds', claims: { nbf: NOW - 0.5, exp: NOW + 0.5 } },
    ];
    for (const row of accepted) {
      it(`accepts ${row.name}`, () => {
        expect(() => checkLifetime(row.claims, rules)).not.to.throw();
      });
    }

    const rejected: readonly { name: string; claims: { nbf: number; exp: number; iat?: number }; rules?: LifetimeRules; code: FailureCode; reason?: string }[] = [
      { name: 'exp equal to nbf', claims: { nbf: NOW, exp: NOW }, code: 'claim_type', reason: 'exp is not after nbf (by 0 s)' },
      { name: 'exp before nbf', claims: { nbf: NOW + 10, exp: NOW }, code: 'claim_type' },
      { name: 'exp before nbf even when also expired', claims: { nbf: NOW - 10, exp: NOW - 5000 }, code: 'claim_type' },
      { name: 'a token that expired exactly the skew ago', claims: { nbf: NOW - 3000, exp: NOW - 300 }, code: 'token_expired', reason: 'expired 300 s ago, skew 300 s' },
      { name: 'a token that expired an hour ago', claims: { nbf: NOW - 7200, exp: NOW - 3600 }, code: 'token_expired' },
      { name: 'a token whose exp is now, with no skew', claims: { nbf: NOW - 100, exp: NOW }, rules: { ...rules, skew: 0 }, code: 'token_expired' },
      { name: 'a token valid only after now plus the skew', claims: { nbf: NOW + 301, exp: NOW + 900 }, code: 'token_not_yet_valid', reason: 'not valid for another 301 s, skew 300 s' },
      { name: 'a token issued after now plus the skew', claims: { nbf: NOW, exp: NOW + 900, iat: NOW + 301 }, code: 'token_issued_in_future', reason: 'iat is 301 s in the future, skew 300 s' },
      { name: 'exp - nbf over the maximum lifetime', claims: { nbf: NOW - 10, exp: NOW + 3591 }, code: 'token_lifetime_too_long', reason: 'exp - nbf is 3601 s, more than 3600 s' },
      { name: 'exp - iat over the maximum lifetime', claims: { nbf: NOW, exp: NOW + 1800, iat: NOW - 1801 }, code: 'token_lifetime_too_long', reason: 'exp - iat is 3601 s, more than 3600 s' },
      { name: 'a ten-year token', claims: { nbf: NOW, exp: NOW + 315_360_000 }, code: 'token_lifetime_too_long' },
    ];
    for (const row of rejected) {
      it(`rejects ${row.name} with ${row.code}`, () => {
        const error = thrownBy(() => checkLifetime(row.claims, row.rules ?? rules));
        expect(error.code).to.equal(row.code);
        if (row.reason !== undefined) expect(error.reason).to.equal(row.reason);
      });
    }

    const badRules: readonly { name: string; rules: LifetimeRules; message: RegExp }[] = [
      { name: 'a skew above 300 s', rules: { ...rules, skew: 301 }, message: /rules\.skew/ },
      { name: 'a negative skew', rules: { ...rules, skew: -1 }, message: /rules\.skew/ },
      { name: 'a NaN skew', rules: { ...rules, skew: Number.NaN }, message: /rules\.skew/ },
      { name: 'a zero maximum lifetime', rules: { ...rules, maxLifetime: 0 }, message: /rules\.maxLifetime/ },
      { name: 'an infinite maximum lifetime', rules: { ...rules, maxLifetime: Number.POSITIVE_INFINITY }, message: /rules\.maxLifetime/ },
      { name: 'a NaN now', rules: { ...rules, now: Number.NaN }, message: /rules\.now/ },
    ];
    for (const row of badRules) {
      it(`throws TypeError for ${row.name}`, () => {
        expect(() => checkLifetime({ nbf: NOW, exp: NOW + 60 }, row.rules)).to.throw(TypeError, row.message);
      });
    }

    it('works on the numbers readActorClaims returns for string dates', () => {
      const claims = readActorClaims(payloadOf(actor({ nbf: `"${NOW - 60}"`, exp: `"${NOW + 3000}"` })));
      expect(() => checkLifetime(claims, rules)).not.to.throw();
    });
  });

  describe('parseScopes', () => {
    const rows: readonly { name: string; scp: string; scopes: string[] }[] = [
      { name: 'space-separated words', scp: 'calendar.read mail.send', scopes: ['calendar.read', 'mail.send'] },
      { name: 'repeated spaces and spaces at the ends', scp: '  a   b ', scopes: ['a', 'b'] },
      { name: 'an empty string', scp: '', scopes: [] },
      { name: 'only spaces', scp: '   ', scopes: [] },
      { name: 'a repeated scope', scp: 'a b a', scopes: ['a', 'b'] },
      { name: 'case as given', scp: 'Read read', scopes: ['Read', 'read'] },
      { name: 'a tab as part of a word, not a separator', scp: 'a\tb', scopes: ['a\tb'] },
    ];
    for (const row of rows) {
      it(`splits ${row.name}`, () => {
        expect(parseScopes(row.scp)).to.deep.equal(row.scopes);
      });
    }
  });

  describe('effectiveScopes', () => {
    const granted = ['calendar.read', 'mail.send'];
    const rows: readonly { name: string; scp: string | undefined; granted: readonly string[]; scopes: string[] }[] = [
      { name: 'the grant when the token has no scp', scp: undefined, granted, scopes: granted },
      { name: 'nothing for an empty scp', scp: '', granted, scopes: [] },
      { name: 'nothing for an scp of only spaces', scp: ' ', granted, scopes: [] },
      { name: 'the token scopes that are granted', scp: 'mail.send', granted, scopes: ['mail.send'] },
      { name: 'not a token scope that is not granted', scp: 'mail.send admin', granted, scopes: ['mail.send'] },
      { name: 'not a scope that differs in case', scp: 'Mail.Send', granted, scopes: [] },
      { name: 'not a scope that only starts with a granted one', scp: 'mail.send.all mail', granted, scopes: [] },
      { name: 'nothing when nothing is granted', scp: 'mail.send', granted: [], scopes: [] },
      { name: 'each scope once', scp: 'mail.send mail.send', granted, scopes: ['mail.send'] },
      { name: 'each granted scope once when the grant repeats one', scp: undefined, granted: ['a', 'a'], scopes: ['a'] },
    ];
    for (const row of rows) {
      it(`gives ${row.name}`, () => {
        expect(effectiveScopes(row.scp, row.granted)).to.deep.equal(row.scopes);
      });
    }

    it('returns a new array, not the grant itself', () => {
      expect(effectiveScopes(undefined, granted)).not.to.equal(granted);
    });

    it('gives the granted token scopes in the order of their first occurrence, each once', () => {
      expect(effectiveScopes('  b a  b c a ', ['a', 'b', 'a'])).to.deep.equal(['b', 'a']);
      expect(effectiveScopes('c b a b', ['c', 'a', 'b'])).to.deep.equal(['c', 'b', 'a']);
    });
  });

  describe('USER_CLAIM_NAMES', () => {
    it('lists the user claims an actor token must not carry', () => {
      expect([...USER_CLAIM_NAMES]).to.deep.equal(['nii', 'smtp', 'sip', 'upn', 'actortoken', 'unique_name', 'altsecid']);
    });

    it('cannot be changed at run time', () => {
      expect(Object.isFrozen(USER_CLAIM_NAMES)).to.equal(true);
    });
  });
});

describe('iat is a JSON number only (protocol.md section 3: digit strings for nbf and exp alone)', () => {
  it('refuses an actor token whose iat is a string of digits', () => {
    const error = thrownBy(() => readActorClaims(payloadOf(actor({}, ',"iat":"1700000000"'))));
    expect(error.code).to.equal('claim_type');
  });

  it('refuses an outer token whose iat is a string of digits', () => {
    const error = thrownBy(() => readOuterClaims(payloadOf(outer({}, ',"iat":"1700000000"'))));
    expect(error.code).to.equal('claim_type');
  });

  it('still reads a numeric iat and string nbf/exp', () => {
    expect(readOuterClaims(payloadOf(outer({}, ',"iat":1700000000')))).to.include({ iat: 1700000000, nbf: 1700000000, exp: 1700003600 });
  });
});

describe('scope tokens and protocol limits', () => {
  it('takes one RFC 6749 scope-token: visible ASCII but space, quote and backslash', () => {
    for (const word of ['contacts.read', 'a', 'urn:x:y/z', '!#$%&()*+,-./09:;<=>?@AZ[]^_`az{|}~']) {
      expect(isScopeToken(word), word).to.equal(true);
    }
    for (const word of ['', 'two words', 'quote"d', 'back\\slash', 'tab\t', 'é', 'line\n']) {
      expect(isScopeToken(word), JSON.stringify(word)).to.equal(false);
    }
  });

  it('names the STS issuer of a realm, and the largest skew and lifetime', () => {
    expect(stsIssuerId('contoso.com')).to.equal('00000001-0000-0000-c000-000000000000@contoso.com');
    expect(MAX_CLOCK_SKEW_SECONDS).to.equal(300);
    expect(MAX_TOKEN_LIFETIME_SECONDS).to.equal(86_400);
    expect(ASSERTION_CLOCK_SKEW_SECONDS).to.equal(MAX_CLOCK_SKEW_SECONDS);
    expect(MAX_ASSERTION_LIFETIME_SECONDS).to.equal(300);
  });
});
