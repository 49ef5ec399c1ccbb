import { expect } from 'chai';
import { PARTNER_KEY_SOURCE_KINDS, TRUST_LEVELS } from '@s2sauth/store';
import { partnerApplicationRecord } from '../src/partner-application.js';
import { exchange } from './store-behaviour.js';

describe('partner application records', () => {
  it('lists the trust levels from most to least trusted, and the key source kinds', () => {
    expect(TRUST_LEVELS).to.deep.equal(['full', 'application', 'user']).and.be.frozen;
    expect(PARTNER_KEY_SOURCE_KINDS).to.deep.equal(['metadata', 'certificate', 'oauthServer']).and.be.frozen;
  });

  it('returns a deeply frozen copy stamped with the given times', () => {
    const record = partnerApplicationRecord(exchange, 10, 20);
    expect(record).to.deep.equal({ ...exchange, acceptUnsignedUserContext: false, createdAt: 10, updatedAt: 20 });
    expect(record).to.be.frozen;
    expect(record.keySource).to.be.frozen.and.not.equal(exchange.keySource);
    expect(record.scopes).to.be.frozen.and.not.equal(exchange.scopes);
  });

  it('refuses times that are not finite numbers', () => {
    expect(() => partnerApplicationRecord(exchange, Number.NaN, 1)).to.throw(
      TypeError,
      /"microsoft\.exchange": createdAt must be a finite number/,
    );
    expect(() => partnerApplicationRecord(exchange, 1, '2' as never)).to.throw(TypeError, /updatedAt must be a finite number/);
  });
});
