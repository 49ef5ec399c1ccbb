import { expect } from 'chai';
import { oauthServerRecord } from '../src/oauth-server.js';
import { sts } from './store-behaviour.js';

describe('OAuth server records', () => {
  it('returns a frozen copy with only the known fields, stamped with the given times', () => {
    const record = oauthServerRecord({ ...sts, extra: 'dropped' }, 10, 20);
    expect(record).to.deep.equal({ ...sts, createdAt: 10, updatedAt: 20 }).and.be.frozen;
    expect(record).to.not.have.property('allowLoopback');
  });

  it('refuses times that are not finite numbers', () => {
    expect(() => oauthServerRecord(sts, 1, Number.POSITIVE_INFINITY)).to.throw(
      TypeError,
      /OAuth server "microsoft\.sts": updatedAt must be a finite number/,
    );
  });
});
