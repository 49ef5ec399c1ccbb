import { expect } from 'chai';
import fc from 'fast-check';
import { buildChallenge, parseChallenges, readBearerChallenge, type ChallengeParams } from '../src/challenge.js';

const LYNC = '00000004-0000-0ff1-ce00-000000000000';
const EXCHANGE = '00000002-0000-0ff1-ce00-000000000000';
const SHAREPOINT = '00000003-0000-0ff1-ce00-000000000000';
const STS = '00000001-0000-0000-c000-000000000000';

/** Header shapes real Exchange and SharePoint servers send (docs/protocol.md section 7). */
const SHAREPOINT_ONLINE =
  'Bearer realm="6c482541-f706-4168-9e58-8e35a9f97255",client_id="00000003-0000-0ff1-ce00-000000000000",' +
  'trusted_issuers="00000001-0000-0000-c000-000000000000@*,D3776938-3DBA-481F-A652-4BEDFCAB7CD8@*,https://sts.windows.net/*/,' +
  '00000003-0000-0ff1-ce00-000000000000@90140122-8516-11e1-8eff-49304924019b",' +
  'authorization_uri="https://login.windows.net/common/oauth2/authorize"';
const EXCHANGE_WITH_OTHER_SCHEMES =
  'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000004-0000-0ff1-ce00-000000000000@contoso.com", ' +
  'token_types="app_asserted_user_v1 service_asserted_app_v1", error="invalid_token",Negotiate,NTLM,Basic realm="autodiscover.contoso.com"';

describe('challenge', () => {
  describe('buildChallenge', () => {
    it('puts realm first, then client_id and the trusted issuers joined by commas', () => {
      expect(
        buildChallenge({ realm: 'contoso.com', clientId: LYNC, trustedIssuers: [`${EXCHANGE}@contoso.com`, `${STS}@*`] }),
      ).to.equal(`Bearer realm="contoso.com", client_id="${LYNC}", trusted_issuers="${EXCHANGE}@contoso.com,${STS}@*"`);
    });

    it('adds authorization_uri, error, error_description and scope in that order when given', () => {
      expect(
        buildChallenge({
          realm: 'contoso.com',
          clientId: LYNC,
          trustedIssuers: [],
          authorizationUri: 'https://sts.contoso.com/token',
          error: 'insufficient_scope',
          errorDescription: 'Not enough.',
          scope: 'calendar.read mail.send',
        }),
      ).to.equal(
        `Bearer realm="contoso.com", client_id="${LYNC}", trusted_issuers="", authorization_uri="https://sts.contoso.com/token", ` +
          'error="insufficient_scope", error_description="Not enough.", scope="calendar.read mail.send"',
      );
    });

    it('escapes quotes and backslashes inside quoted-strings', () => {
      expect(buildChallenge({ realm: 'a"b\\c', clientId: 'x', trustedIssuers: [] })).to.equal(
        'Bearer realm="a\\"b\\\\c", client_id="x", trusted_issuers=""',
      );
    });

    for (const [label, bad] of [
      ['a carriage return', 'contoso.com\r'],
      ['a line feed', 'contoso.com\nSet-Cookie: a=b'],
      ['a CRLF pair', 'x\r\ny'],
      ['a NUL', 'x\u0000'],
      ['a non-ASCII character', 'contöso.com'],
    ] as const) {
      it(`throws TypeError for ${label} in a value`, () => {
        expect(() => buildChallenge({ realm: bad, clientId: LYNC, trustedIssuers: [] })).to.throw(TypeError, /realm/);
        expect(() => buildChallenge({ realm: 'r', clientId: LYNC, trustedIssuers: [], errorDescription: bad })).to.throw(
          TypeError,
          /error_description/,
        );
      });
    }

    it('round-trips values with quotes, backslashes and commas through readBearerChallenge', () => {
      const params: ChallengeParams = {
        realm: 'we"ird\\realm',
        clientId: '\\"',
        trustedIssuers: [`${STS}@*`, `${EXCHANGE}@contoso.com`],
        authorizationUri: 'https://sts.contoso.com/token?a="1"&b=\\2',
        error: 'invalid_token',
        errorDescription: 'Say "no", twice\\thrice.',
        scope: 'a b',
      };
      expect(readBearerChallenge(buildChallenge(params))).to.deep.equal({
        realm: params.realm,
        clientId: params.clientId,
        trustedIssuers: params.trustedIssuers,
        authorizationUri: params.authorizationUri,
        error: params.error,
        errorDescription: params.errorDescription,
        scope: params.scope,
      });
    });

    it('round-trips any printable realm and client id (property)', () => {
      fc.assert(
        fc.property(fc.stringMatching(/^[\t\x20-\x7e]*$/), fc.stringMatching(/^[\t\x20-\x7e]*$/), (realm, clientId) => {
          const read = readBearerChallenge(buildChallenge({ realm, clientId, trustedIssuers: [] }));
          // An empty value is read back as absent.
          expect(read?.realm).to.equal(realm === '' ? undefined : realm);
          expect(read?.clientId).to.equal(clientId === '' ? undefined : clientId);
        }),
      );
    });
  });

  describe('parseChallenges', () => {
    it('parses the SharePoint Online challenge with no spaces after commas and commas inside trusted_issuers', () => {
      const [bearer, ...rest] = parseChallenges(SHAREPOINT_ONLINE);
      expect(rest).to.deep.equal([]);
      expect(bearer?.scheme).to.equal('bearer');
      expect(bearer?.params).to.deep.equal({
        realm: '6c482541-f706-4168-9e58-8e35a9f97255',
        client_id: SHAREPOINT,
        trusted_issuers:
          '00000001-0000-0000-c000-000000000000@*,D3776938-3DBA-481F-A652-4BEDFCAB7CD8@*,https://sts.windows.net/*/,' +
          '00000003-0000-0ff1-ce00-000000000000@90140122-8516-11e1-8eff-49304924019b',
        authorization_uri: 'https://login.windows.net/common/oauth2/authorize',
      });
    });

    it('splits the Exchange line that joins Bearer with Negotiate, NTLM and Basic', () => {
      expect(parseChallenges(EXCHANGE_WITH_OTHER_SCHEMES)).to.deep.equal([
        {
          scheme: 'bearer',
          params: {
            client_id: EXCHANGE,
            trusted_issuers: `${LYNC}@contoso.com`,
            token_types: 'app_asserted_user_v1 service_asserted_app_v1',
            error: 'invalid_token',
          },
        },
        { scheme: 'negotiate', params: {} },
        { scheme: 'ntlm', params: {} },
        { scheme: 'basic', params: { realm: 'autodiscover.contoso.com' } },
      ]);
    });

    it('parses several header values given as an array, in order', () => {
      expect(parseChallenges(['Negotiate', 'NTLM', `Bearer realm="contoso.com", client_id="${LYNC}"`])).to.deep.equal([
        { scheme: 'negotiate', params: {} },
        { scheme: 'ntlm', params: {} },
        { scheme: 'bearer', params: { realm: 'contoso.com', client_id: LYNC } },
      ]);
    });

    it('reads token68 forms, with and without padding, before other challenges', () => {
      expect(parseChallenges('Negotiate YIIGhgYGKwYBBQUCoII+/abc==, Basic realm="x", Foo a.b-c~d_e')).to.deep.equal([
        { scheme: 'negotiate', params: {}, token68: 'YIIGhgYGKwYBBQUCoII+/abc==' },
        { scheme: 'basic', params: { realm: 'x' } },
        { scheme: 'foo', params: {}, token68: 'a.b-c~d_e' },
      ]);
    });

    it('unescapes quoted-pairs and keeps commas inside quoted-strings', () => {
      expect(parseChallenges('Bearer realm="a\\"b\\\\c\\d", error_description="one, two"')[0]?.params).to.deep.equal({
        realm: 'a"b\\cd',
        error_description: 'one, two',
      });
    });

    it('reads unquoted token values and whitespace around "="', () => {
      expect(parseChallenges('Bearer error=invalid_token, realm = contoso.com ,scope\t=\t"a b"')[0]?.params).to.deep.equal({
        error: 'invalid_token',
        realm: 'contoso.com',
        scope: 'a b',
      });
    });

    it('treats scheme and parameter names case-insensitively', () => {
      expect(parseChallenges('BEARER Realm="contoso.com", CLIENT_ID="x"')).to.deep.equal([
        { scheme: 'bearer', params: { realm: 'contoso.com', client_id: 'x' } },
      ]);
    });

    it('keeps the first of a repeated parameter', () => {
      expect(parseChallenges('Bearer realm="first", realm="second"')[0]?.params).to.deep.equal({ realm: 'first' });
    });

    it('treats a parameter named __proto__ or constructor as an ordinary parameter', () => {
      const [challenge] = parseChallenges('Bearer __proto__="x", constructor="y"');
      expect(Object.keys(challenge?.params ?? {})).to.deep.equal(['__proto__', 'constructor']);
      expect(challenge?.params['__proto__']).to.equal('x');
      expect(Object.getPrototypeOf(challenge?.params)).to.equal(null);
    });

    it('accepts a missing comma between parameters and a second challenge after a space', () => {
      expect(parseChallenges('Bearer realm="x" error="invalid_token" Basic realm="y"')).to.deep.equal([
        { scheme: 'bearer', params: { realm: 'x', error: 'invalid_token' } },
        { scheme: 'basic', params: { realm: 'y' } },
      ]);
    });

    it('skips empty elements, empty values and empty input', () => {
      expect(parseChallenges('')).to.deep.equal([]);
      expect(parseChallenges([])).to.deep.equal([]);
      expect(parseChallenges(' , ,, Bearer ,, realm=, x="1"')).to.deep.equal([{ scheme: 'bearer', params: { x: '1' } }]);
    });

    for (const [label, header, expected] of [
      ['an unterminated quoted-string', 'Bearer error="x", realm="contoso.com, client_id=x', [{ scheme: 'bearer', params: { error: 'x' } }]],
      ['a quoted-string that ends earlier than meant', 'Bearer realm="a, client_id="x', [{ scheme: 'bearer', params: { realm: 'a, client_id=' } }, { scheme: 'x', params: {} }]],
      ['a backslash at the very end', 'Bearer realm="x\\', [{ scheme: 'bearer', params: {} }]],
      ['a parameter without a scheme', 'realm="x", Basic', [{ scheme: 'basic', params: {} }]],
      ['a quoted-string glued to the scheme', 'Bearer"x,y", Basic', [{ scheme: 'basic', params: {} }]],
      ['a quoted-string in place of the scheme', '"a,b" , Basic', [{ scheme: 'basic', params: {} }]],
      ['an unterminated quoted-string in place of the scheme', '"a, Basic', []],
      ['words that are neither params nor token68', 'Bearer some words here, Basic', [{ scheme: 'bearer', params: {} }, { scheme: 'basic', params: {} }]],
      ['control characters and non-ASCII', '\u0000\u00ff Basic, Bearer \u2028 realm="x"', [{ scheme: 'bearer', params: {} }]],
      ['only separators and equals signs', '=,,==, =', []],
    ] as const) {
      it(`returns what parsed around ${label}`, () => {
        expect(parseChallenges(header)).to.deep.equal(expected);
      });
    }

    it('never throws and always terminates on arbitrary input (property)', () => {
      fc.assert(
        fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[a-zA-Z =",\\\t]*$/), fc.array(fc.string())), (header) => {
          const challenges = parseChallenges(header);
          expect(challenges).to.be.an('array');
          for (const c of challenges) expect(c.scheme).to.match(/^[!#$%&'*+\-.^_`|~0-9a-z]+$/);
        }),
      );
    });

    it('returns nothing for input that is not a string or an array of strings', () => {
      expect(parseChallenges(undefined as unknown as string)).to.deep.equal([]);
      expect(parseChallenges([42, 'Basic'] as unknown as string[])).to.deep.equal([{ scheme: 'basic', params: {} }]);
    });
  });

  describe('readBearerChallenge', () => {
    it('reads realm, client_id, all trusted issuers and authorization_uri from SharePoint Online', () => {
      expect(readBearerChallenge(SHAREPOINT_ONLINE)).to.deep.equal({
        realm: '6c482541-f706-4168-9e58-8e35a9f97255',
        clientId: SHAREPOINT,
        trustedIssuers: [
          `${STS}@*`,
          'D3776938-3DBA-481F-A652-4BEDFCAB7CD8@*',
          'https://sts.windows.net/*/',
          `${SHAREPOINT}@90140122-8516-11e1-8eff-49304924019b`,
        ],
        authorizationUri: 'https://login.windows.net/common/oauth2/authorize',
      });
    });

    it('reads the Exchange challenge without a realm and ignores the Basic realm', () => {
      expect(readBearerChallenge(EXCHANGE_WITH_OTHER_SCHEMES)).to.deep.equal({
        clientId: EXCHANGE,
        trustedIssuers: [`${LYNC}@contoso.com`],
        error: 'invalid_token',
      });
    });

    it('finds the Bearer challenge among several header values', () => {
      expect(readBearerChallenge(['Negotiate', 'bearer realm="contoso.com", trusted_issuers="a@*, b@c"'])).to.deep.equal({
        realm: 'contoso.com',
        trustedIssuers: ['a@*', 'b@c'],
      });
    });

    it('uses the first Bearer challenge when there are two', () => {
      expect(readBearerChallenge('Bearer realm="one", Bearer realm="two"')?.realm).to.equal('one');
    });

    it('reads the trustedissuers spelling of MS-SPS2SAUTH when trusted_issuers is absent', () => {
      expect(readBearerChallenge(`Bearer trustedissuers="${STS}@*"`)?.trustedIssuers).to.deep.equal([`${STS}@*`]);
      expect(readBearerChallenge(`Bearer trustedissuers="x@*", trusted_issuers="${STS}@*"`)?.trustedIssuers).to.deep.equal([
        `${STS}@*`,
      ]);
    });

    it('returns an empty trusted issuer list for a bare Bearer challenge', () => {
      expect(readBearerChallenge('Bearer')).to.deep.equal({ trustedIssuers: [] });
      expect(readBearerChallenge('Bearer abc==')).to.deep.equal({ trustedIssuers: [] });
    });

    it('returns undefined when there is no Bearer challenge', () => {
      expect(readBearerChallenge('Negotiate, NTLM, Basic realm="x"')).to.equal(undefined);
      expect(readBearerChallenge('')).to.equal(undefined);
      expect(readBearerChallenge('BearerX realm="x"')).to.equal(undefined);
    });
  });
});
