import { expect } from 'chai';
import { describe, it } from 'mocha';
import { optionNames, refuseUnknownOptions } from '../src/index.js';

interface Sample {
  readonly principal: string;
  readonly realm?: string;
}

describe('option names', () => {
  const known = optionNames<Sample>({ principal: true, realm: true });

  it('accepts an options object of known names only, optional ones left out', () => {
    expect(() => refuseUnknownOptions('new Sample', { principal: 'p' }, known)).not.to.throw();
    expect(() => refuseUnknownOptions('new Sample', { principal: 'p', realm: 'r' }, known)).not.to.throw();
  });

  it('refuses a misspelt name with a TypeError naming it and every accepted name', () => {
    expect(() => refuseUnknownOptions('new Sample', { principal: 'p', relam: 'r' }, known)).to.throw(
      TypeError,
      'new Sample: unknown option "relam"; the options are principal, realm.',
    );
  });

  it('names every unknown option at once, and appends the hint', () => {
    expect(() => refuseUnknownOptions('createSample', { a: 1, b: 2, principal: 'p' }, known, 'Verification cannot be turned off.')).to.throw(
      TypeError,
      'createSample: unknown options "a", "b"; the options are principal, realm. Verification cannot be turned off.',
    );
  });
});
