import { expect } from 'chai';
import { Organization } from '../src/organization.js';

const TENANT = '0b7e2c4a-1f3d-4e5a-9c8b-6d2f1a0e3b47';

describe('Organization', () => {
  const onPremises = new Organization({ realms: ['contoso.com', 'fabrikam.com'] });
  const online = new Organization({ realms: [TENANT], tenant: TENANT });
  const hybrid = new Organization({ realms: ['contoso.com', 'fabrikam.com'], tenant: TENANT });

  it('puts a user in the realm their address domain names when it is one of the organization\'s, else in the primary realm', () => {
    expect(onPremises.realmOf('alice@contoso.com')).to.equal('contoso.com');
    expect(onPremises.realmOf('sip:Dave@Fabrikam.COM')).to.equal('fabrikam.com');
    expect(onPremises.realmOf('erin@example.org')).to.equal('contoso.com');
    expect(onPremises.realmOf('S-1-5-21-1004')).to.equal('contoso.com');
    // Online the realm is a tenant GUID no address names: every user is the tenant's.
    expect(online.realmOf('alice@contoso.com')).to.equal(TENANT);
  });

  const decisions: [string, Organization, string, string, boolean][] = [
    ['a partner of the user\'s realm', onPremises, 'contoso.com', 'alice@contoso.com', true],
    ['a partner of the user\'s realm, another SIP domain', onPremises, 'fabrikam.com', 'dave@fabrikam.com', true],
    ['a partner of another realm of the same server', onPremises, 'fabrikam.com', 'alice@contoso.com', false],
    ['a partner of the primary realm for another SIP domain\'s user', onPremises, 'contoso.com', 'dave@fabrikam.com', false],
    ['a partner of a realm the organization does not have', onPremises, 'northwind.com', 'alice@contoso.com', false],
    ['a tenant partner online', online, TENANT, 'alice@contoso.com', true],
    ['a partner of another tenant online', online, '11111111-2222-3333-4444-555555555555', 'alice@contoso.com', false],
    ['a tenant partner in a hybrid deployment', hybrid, TENANT, 'alice@contoso.com', true],
    ['an on-premises partner of the user\'s realm in a hybrid deployment', hybrid, 'contoso.com', 'alice@contoso.com', true],
    ['an on-premises partner of another realm in a hybrid deployment', hybrid, 'fabrikam.com', 'alice@contoso.com', false],
  ];
  for (const [who, organization, partnerRealm, user, allowed] of decisions) {
    it(`${allowed ? 'lets' : 'does not let'} ${who} act for ${user}`, () => {
      expect(organization.mayActFor(partnerRealm, user)).to.equal(allowed);
    });
  }

  it('needs the primary realm', () => {
    expect(() => new Organization({ realms: [] })).to.throw(TypeError, 'primary realm');
  });
});
