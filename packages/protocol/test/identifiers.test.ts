import { expect } from 'chai';
import { parseAudience, parseIssuerId, WellKnownPrincipal } from '@s2sauth/protocol';

describe('identifiers', () => {
  it('parses an issuer id of a well-known principal', () => {
    expect(parseIssuerId(`${WellKnownPrincipal.lync}@contoso.com`)).to.deep.equal({
      principal: WellKnownPrincipal.lync,
      realm: 'contoso.com',
    });
  });

  it('rejects an audience with two slashes', () => {
    expect(parseAudience(`${WellKnownPrincipal.exchange}/a/b@contoso.com`)).to.equal(undefined);
  });
});
