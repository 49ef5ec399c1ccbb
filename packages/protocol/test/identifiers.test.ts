import { expect } from 'chai';
import {
  audiencesEqual,
  authorityOf,
  formatAudience,
  formatIssuerId,
  formatTrustedIssuer,
  isAuthority,
  isPrincipalId,
  isRealm,
  issuerIdsEqual,
  parseAudience,
  parseIssuerId,
  parseTrustedIssuer,
  trustedIssuerCovers,
  WellKnownPrincipal,
} from '../src/identifiers.js';

const LYNC = WellKnownPrincipal.lync;
const EXCHANGE = WellKnownPrincipal.exchange;
const TENANT = 'af90cc03-4a26-45e9-906a-609cebcebbde';

describe('identifiers', () => {
  it('names the four well-known principals of protocol.md section 1', () => {
    expect(WellKnownPrincipal).to.deep.equal({
      sts: '00000001-0000-0000-c000-000000000000',
      exchange: '00000002-0000-0ff1-ce00-000000000000',
      sharepoint: '00000003-0000-0ff1-ce00-000000000000',
      lync: '00000004-0000-0ff1-ce00-000000000000',
    });
    for (const principal of Object.values(WellKnownPrincipal)) expect(isPrincipalId(principal)).to.equal(true);
  });

  describe('isPrincipalId', () => {
    for (const [value, expected] of [
      [LYNC, true],
      [TENANT, true],
      ['00000004-0000-0FF1-CE00-000000000000', false], // uppercase GUID refused
      ['{00000004-0000-0ff1-ce00-000000000000}', false],
      ['000000040000-0ff1-ce00-000000000000', false],
      ['00000004-0000-0ff1-ce00-00000000000', false],
      ['00000004-0000-0ff1-ce00-0000000000000', false],
      ['00000004-0000-0ff1-ce00-00000000000g', false],
      [` ${LYNC}`, false],
      [`${LYNC}\n`, false],
      ['０0000004-0000-0ff1-ce00-000000000000', false], // fullwidth digit
      ['', false],
    ] as const) {
      it(`${expected ? 'accepts' : 'refuses'} ${JSON.stringify(value)}`, () => {
        expect(isPrincipalId(value)).to.equal(expected);
      });
    }
  });

  describe('isRealm', () => {
    for (const [value, expected] of [
      ['contoso.com', true],
      ['sip.contoso.co.uk', true],
      ['localhost', true],
      ['xn--bcher-kva.example', true], // IDNs only in their ASCII form
      [TENANT, true],
      ['a-b.c0', true],
      [`${'a'.repeat(63)}.com`, true],
      [`${'a'.repeat(64)}.com`, false],
      [Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.'), false], // 255 characters
      ['Contoso.com', false], // realms are stored lowercase and compared exactly
      ['AF90CC03-4A26-45E9-906A-609CEBCEBBDE', false],
      ['contoso.com.', false],
      ['.contoso.com', false],
      ['contoso..com', false],
      ['-contoso.com', false],
      ['contoso-.com', false],
      ['conto_so.com', false],
      ['*', false], // `*` is only a trusted-issuer wildcard
      ['*.contoso.com', false],
      [' contoso.com', false],
      ['contoso.com ', false],
      ['contoso.com\n', false],
      ['contoso.com\u0000', false],
      ['contöso.com', false],
      ['contoso\u200b.com', false],
      ['contoso.com:443', false],
      ['', false],
    ] as const) {
      it(`${expected ? 'accepts' : 'refuses'} ${JSON.stringify(value)}`, () => {
        expect(isRealm(value)).to.equal(expected);
      });
    }
  });

  describe('isAuthority', () => {
    for (const [value, expected] of [
      ['mail.contoso.com', true],
      ['Mail.Contoso.COM', true], // authorities are compared case-insensitively
      ['mail.contoso.com:8443', true],
      ['mail.contoso.com:1', true],
      ['mail.contoso.com:65535', true],
      ['mail.contoso.com:65536', false],
      ['mail.contoso.com:0', false],
      ['mail.contoso.com:0443', false],
      ['mail.contoso.com:', false],
      ['mail.contoso.com:https', false],
      ['mail.contoso.com:443:443', false],
      ['127.0.0.1', true],
      ['127.0.0.1:8080', true],
      ['10.0.0.255', true],
      ['[::1]', true],
      ['[::1]:8443', true],
      ['[2001:DB8::1]', true],
      ['[::ffff:192.0.2.1]', true],
      ['[::1]:', false],
      ['[::1]:0', false],
      ['[::1]8443', false],
      ['[::1', false],
      ['::1', false],
      ['[]', false],
      ['[fe80::1%25eth0]', false],
      ['[contoso.com]', false],
      ['user@mail.contoso.com', false],
      ['mail.contoso.com/owa', false],
      ['mail_contoso.com', false],
      ['mail.contoso.com ', false],
      ['mäil.contoso.com', false],
      ['', false],
    ] as const) {
      it(`${expected ? 'accepts' : 'refuses'} ${JSON.stringify(value)}`, () => {
        expect(isAuthority(value)).to.equal(expected);
      });
    }
  });

  describe('parseIssuerId', () => {
    it('parses an issuer id of a well-known principal', () => {
      expect(parseIssuerId(`${LYNC}@contoso.com`)).to.deep.equal({ principal: LYNC, realm: 'contoso.com' });
    });

    it('parses an issuer id whose realm is a tenant GUID', () => {
      expect(parseIssuerId(`${EXCHANGE}@${TENANT}`)).to.deep.equal({ principal: EXCHANGE, realm: TENANT });
    });

    for (const [label, value] of [
      ['no @', `${LYNC}contoso.com`],
      ['two @', `${LYNC}@contoso.com@fabrikam.com`],
      ['an empty realm', `${LYNC}@`],
      ['an empty principal', '@contoso.com'],
      ['an uppercase principal', `${LYNC.toUpperCase()}@contoso.com`],
      ['an uppercase realm', `${LYNC}@CONTOSO.COM`],
      ['a `*` realm', `${LYNC}@*`],
      ['a slash (an audience)', `${LYNC}/lync.contoso.com@contoso.com`],
      ['leading whitespace', ` ${LYNC}@contoso.com`],
      ['trailing whitespace', `${LYNC}@contoso.com `],
      ['a trailing newline', `${LYNC}@contoso.com\n`],
      ['a principal that is a name', 'lync@contoso.com'],
      ['a fullwidth @', `${LYNC}＠contoso.com`],
      ['a realm with a port', `${LYNC}@contoso.com:443`],
    ] as const) {
      it(`refuses an issuer id with ${label}`, () => {
        expect(parseIssuerId(value)).to.equal(undefined);
      });
    }

    it('formats what it parses back to the same text', () => {
      const text = `${LYNC}@${TENANT}`;
      expect(formatIssuerId(parseIssuerId(text)!)).to.equal(text);
    });
  });

  describe('parseAudience', () => {
    for (const [value, expected] of [
      [`${EXCHANGE}/mail.contoso.com@contoso.com`, { principal: EXCHANGE, authority: 'mail.contoso.com', realm: 'contoso.com' }],
      [`${EXCHANGE}/Mail.Contoso.com@contoso.com`, { principal: EXCHANGE, authority: 'Mail.Contoso.com', realm: 'contoso.com' }],
      [`${LYNC}/lync.contoso.com:4443@contoso.com`, { principal: LYNC, authority: 'lync.contoso.com:4443', realm: 'contoso.com' }],
      [`${LYNC}/[::1]:8443@contoso.com`, { principal: LYNC, authority: '[::1]:8443', realm: 'contoso.com' }],
      [`${LYNC}/127.0.0.1@${TENANT}`, { principal: LYNC, authority: '127.0.0.1', realm: TENANT }],
    ] as const) {
      it(`parses ${value}`, () => {
        expect(parseAudience(value)).to.deep.equal(expected);
      });
    }

    for (const [label, value] of [
      ['two slashes', `${EXCHANGE}/a/b@contoso.com`],
      ['no slash (an issuer id)', `${EXCHANGE}@contoso.com`],
      ['no @', `${EXCHANGE}/mail.contoso.com`],
      ['two @', `${EXCHANGE}/mail.contoso.com@contoso.com@contoso.com`],
      ['an @ in the authority', `${EXCHANGE}/user@mail.contoso.com@contoso.com`],
      ['an empty authority', `${EXCHANGE}/@contoso.com`],
      ['an uppercase principal', `${EXCHANGE.toUpperCase()}/mail.contoso.com@contoso.com`],
      ['an uppercase realm', `${EXCHANGE}/mail.contoso.com@Contoso.com`],
      ['a `*` realm', `${EXCHANGE}/mail.contoso.com@*`],
      ['a URL as authority', `${EXCHANGE}/https://mail.contoso.com@contoso.com`],
      ['a bad port', `${EXCHANGE}/mail.contoso.com:99999@contoso.com`],
      ['a space in the authority', `${EXCHANGE}/mail .contoso.com@contoso.com`],
      ['a non-ASCII authority', `${EXCHANGE}/mäil.contoso.com@contoso.com`],
      ['an unbracketed IPv6 address', `${EXCHANGE}/::1@contoso.com`],
      ['trailing whitespace', `${EXCHANGE}/mail.contoso.com@contoso.com `],
    ] as const) {
      it(`refuses an audience with ${label}`, () => {
        expect(parseAudience(value)).to.equal(undefined);
      });
    }

    it('formats an audience with the authority lower-cased', () => {
      expect(formatAudience({ principal: EXCHANGE, authority: 'Mail.Contoso.COM:8443', realm: 'contoso.com' })).to.equal(
        `${EXCHANGE}/mail.contoso.com:8443@contoso.com`,
      );
    });
  });

  describe('comparison', () => {
    const audience = { principal: EXCHANGE, authority: 'mail.contoso.com', realm: 'contoso.com' };

    for (const [label, other, expected] of [
      ['the same audience', audience, true],
      ['the authority in another case', { ...audience, authority: 'MAIL.Contoso.Com' }, true],
      ['another authority', { ...audience, authority: 'owa.contoso.com' }, false],
      ['the authority with a port', { ...audience, authority: 'mail.contoso.com:443' }, false],
      ['the realm in another case', { ...audience, realm: 'Contoso.com' }, false],
      ['the principal in another case', { ...audience, principal: EXCHANGE.toUpperCase() }, false],
      ['another principal', { ...audience, principal: LYNC }, false],
      ['another realm', { ...audience, realm: 'fabrikam.com' }, false],
    ] as const) {
      it(`audiencesEqual is ${expected} for ${label}`, () => {
        expect(audiencesEqual(audience, other)).to.equal(expected);
        expect(audiencesEqual(other, audience)).to.equal(expected);
      });
    }

    for (const [label, other, expected] of [
      ['the same issuer', { principal: LYNC, realm: 'contoso.com' }, true],
      ['the realm in another case', { principal: LYNC, realm: 'CONTOSO.COM' }, false],
      ['the principal in another case', { principal: LYNC.toUpperCase(), realm: 'contoso.com' }, false],
      ['another realm', { principal: LYNC, realm: 'fabrikam.com' }, false],
      ['another principal', { principal: EXCHANGE, realm: 'contoso.com' }, false],
    ] as const) {
      it(`issuerIdsEqual is ${expected} for ${label}`, () => {
        expect(issuerIdsEqual({ principal: LYNC, realm: 'contoso.com' }, other)).to.equal(expected);
      });
    }
  });

  describe('authorityOf', () => {
    for (const [url, expected] of [
      ['https://mail.contoso.com/owa', 'mail.contoso.com'],
      ['https://mail.contoso.com:443/owa', 'mail.contoso.com'],
      ['http://mail.contoso.com:80/', 'mail.contoso.com'],
      ['https://mail.contoso.com:80/', 'mail.contoso.com:80'],
      ['http://mail.contoso.com:443/', 'mail.contoso.com:443'],
      ['https://Mail.CONTOSO.com:8443/x?y#z', 'mail.contoso.com:8443'],
      ['https://user:pw@mail.contoso.com/', 'mail.contoso.com'],
      ['https://[::1]:8443/', '[::1]:8443'],
      ['https://[2001:DB8::1]/', '[2001:db8::1]'],
      ['http://127.0.0.1:3000/', '127.0.0.1:3000'],
    ] as const) {
      it(`gives ${expected} for ${url}`, () => {
        expect(authorityOf(url)).to.equal(expected);
        expect(authorityOf(new URL(url))).to.equal(expected);
      });
    }

    it('throws TypeError for text that is not a URL', () => {
      expect(() => authorityOf('mail.contoso.com')).to.throw(TypeError);
    });
  });

  describe('trusted issuers', () => {
    it('parses a `*` realm entry and a concrete one', () => {
      expect(parseTrustedIssuer(`${WellKnownPrincipal.sts}@*`)).to.deep.equal({ principal: WellKnownPrincipal.sts, realm: '*' });
      expect(parseTrustedIssuer(`${LYNC}@contoso.com`)).to.deep.equal({ principal: LYNC, realm: 'contoso.com' });
    });

    for (const [label, value] of [
      ['an uppercase principal', 'D3776938-3DBA-481F-A652-4BEDFCAB7CD8@*'],
      ['a URL (as SharePoint Online lists)', 'https://sts.windows.net/*/'],
      ['a partial wildcard', `${LYNC}@*.contoso.com`],
      ['a wildcard principal', '*@contoso.com'],
      ['two @', `${LYNC}@*@*`],
      ['whitespace', ` ${LYNC}@*`],
      ['an empty realm', `${LYNC}@`],
    ] as const) {
      it(`refuses an entry with ${label}`, () => {
        expect(parseTrustedIssuer(value)).to.equal(undefined);
      });
    }

    it('formats what it parses back to the same text', () => {
      expect(formatTrustedIssuer(parseTrustedIssuer(`${LYNC}@*`)!)).to.equal(`${LYNC}@*`);
    });

    for (const [label, entry, issuer, expected] of [
      ['a `*` entry covers any realm of its principal', `${WellKnownPrincipal.sts}@*`, `${WellKnownPrincipal.sts}@${TENANT}`, true],
      ['a `*` entry does not cover another principal', `${WellKnownPrincipal.sts}@*`, `${LYNC}@contoso.com`, false],
      ['a realm entry covers exactly its realm', `${LYNC}@contoso.com`, `${LYNC}@contoso.com`, true],
      ['a realm entry does not cover another realm', `${LYNC}@contoso.com`, `${LYNC}@fabrikam.com`, false],
      ['a realm entry does not cover a subdomain', `${LYNC}@contoso.com`, `${LYNC}@sip.contoso.com`, false],
    ] as const) {
      it(label, () => {
        expect(trustedIssuerCovers(parseTrustedIssuer(entry)!, parseIssuerId(issuer)!)).to.equal(expected);
      });
    }
  });
});
