import { expect } from 'chai';
import { hostNameMatches } from '../src/sts/host-name-pattern.js';

describe('hostNameMatches', () => {
  const matches: readonly (readonly [string, string])[] = [
    ['mail.contoso.com', 'mail.contoso.com'],
    ['mail.contoso.com', 'MAIL.Contoso.com'],
    ['Mail.Contoso.com', 'mail.contoso.com'],
    ['mail.contoso.com:8443', 'mail.contoso.com:8443'],
    ['*.contoso.com', 'mail.contoso.com'],
    ['*.contoso.com', 'a.b.contoso.com'],
    ['*.contoso.com:4443', 'pool.contoso.com:4443'],
    ['127.0.0.1:4402', '127.0.0.1:4402'],
    ['[::1]:4402', '[::1]:4402'],
  ];
  for (const [pattern, authority] of matches) {
    it(`matches ${authority} against ${pattern}`, () => {
      expect(hostNameMatches(pattern, authority)).to.equal(true);
    });
  }

  const misses: readonly (readonly [string, string])[] = [
    ['mail.contoso.com', 'mail.contoso.com:443'],
    ['mail.contoso.com:8443', 'mail.contoso.com'],
    ['mail.contoso.com:8443', 'mail.contoso.com:8444'],
    ['*.contoso.com', 'contoso.com'],
    ['*.contoso.com', 'evilcontoso.com'],
    ['*.contoso.com', 'contoso.com.evil.example'],
    ['*.contoso.com', 'mail.contoso.com:8443'],
    ['*.contoso.com:8443', 'mail.contoso.com'],
    ['*.com', 'contoso.com'],
    ['*', 'contoso.com'],
    ['a*.contoso.com', 'ab.contoso.com'],
    ['*.*.contoso.com', 'a.b.contoso.com'],
    ['*.0.0.1', '127.0.0.1'],
    ['*.[::1]', '[::1]'],
    ['*.contoso.com', '10.0.0.1'],
    ['*.contoso.com', '[::1]'],
    ['mail.contoso.com', 'mail.contoso.com/x'],
    ['bad host', 'bad host'],
    ['mail.contoso.com', ''],
  ];
  for (const [pattern, authority] of misses) {
    it(`does not match ${JSON.stringify(authority)} against ${JSON.stringify(pattern)}`, () => {
      expect(hostNameMatches(pattern, authority)).to.equal(false);
    });
  }

  it('matches nothing for values that are not strings', () => {
    expect(hostNameMatches(7 as never, 'a.com')).to.equal(false);
    expect(hostNameMatches('a.com', undefined as never)).to.equal(false);
  });
});
